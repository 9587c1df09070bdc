"""The signed decision log through real parts: a running service, the CLI, the OS keyring (gnome-keyring under
D-Bus in scripts/test.sh), and the Go reference implementation of C2SP notes and RFC 6962 as a second opinion."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import APPROVER, ROOT, SDK_SERVER, ApproverHome, Service

pytestmark = pytest.mark.e2e

GO_VERIFIER_SOURCE = ROOT / "tests" / "c2sp" / "verify_checkpoint.go"


@pytest.fixture(scope="session")
def go_verifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None or not Path("/usr/share/gocode/src/golang.org/x/mod/sumdb/note").exists():
        pytest.fail(
            "Go and golang.org/x/mod are needed (Debian golang-go, golang-golang-x-mod-dev): run scripts/test.sh"
        )
    out = tmp_path_factory.mktemp("go") / "verify_checkpoint"
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": "/usr/share/gocode", "GOCACHE": str(out.parent / "cache")}
    subprocess.run([go, "build", "-o", str(out), str(GO_VERIFIER_SOURCE)], env=env, check=True, timeout=300)
    return out


async def make_calls(home: ApproverHome, *calls: tuple[str, dict[str, Any]]) -> None:
    command = home.proxy_command("sdk", sys.executable, SDK_SERVER)
    async with Client(StdioServerParameters(command=command[0], args=command[1:], env=home.env), mode="legacy") as c:
        for tool, arguments in calls:
            await c.call_tool(tool, arguments)


def wait_for_outcomes(home: ApproverHome, count: int) -> None:
    """Outcomes are reported after the response went to the client: poll until the service has logged them."""
    log_file = home.root / "data" / "decisions.jsonl"
    deadline = time.monotonic() + 10
    while log_file.read_text().count('"kind":"outcome"') < count:
        assert time.monotonic() < deadline, "the outcome entries never arrived"
        time.sleep(0.02)


async def test_a_checkpoint_verifies_with_the_go_reference_code(
    home: ApproverHome, start_service: Any, go_verifier: Path
) -> None:
    start_service({"effect": "allow", "schema": "any", "tool": "add"}, {"effect": "deny", "tool": "delete_file"})
    await make_calls(home, ("add", {"a": 1, "b": 2}), ("delete_file", {"path": "/etc/hosts"}))
    wait_for_outcomes(home, 1)
    checkpoint = home.approver("log", "checkpoint")
    assert checkpoint.returncode == 0, checkpoint.stderr
    vkey = home.approver("log", "vkey").stdout.strip()
    note = home.root / "anchor.note"
    note.write_text(checkpoint.stdout)
    origin, size, _root = checkpoint.stdout.split("\n")[:3]
    assert vkey.startswith(origin + "+")
    log_file = home.root / "data" / "decisions.jsonl"
    go = subprocess.run([str(go_verifier), vkey, str(note), str(log_file)], capture_output=True, text=True, check=False)
    assert go.returncode == 0, go.stderr
    assert go.stdout.strip() == f"ok {size}"
    kinds = [json.loads(line)["kind"] for line in home.approver("log", "export").stdout.splitlines()]
    # genesis, the rules in force at start, a pin for each tool the client listed, two decisions, and what came
    # back for the allowed one
    listed = ("tool-definition", "outcome")
    assert [kind for kind in kinds if kind not in listed] == ["genesis", "rule-change", "decision", "decision"]
    assert kinds.count("tool-definition") == 9
    assert kinds.count("outcome") == 1
    assert int(size) == len(kinds)

    verify = home.approver("log", "verify", "--anchor", str(note))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert f"intact: {size} entries" in verify.stdout
    assert "trusted key" in verify.stdout


async def test_verify_names_the_first_bad_line_and_catches_truncation(home: ApproverHome, start_service: Any) -> None:
    service = start_service({"effect": "allow", "schema": "any", "tool": "*"})
    await make_calls(home, *[("add", {"a": n, "b": 1}) for n in range(5)])
    anchor = home.root / "anchor.note"
    anchor.write_text(home.approver("log", "checkpoint").stdout)
    service.stop()
    log_file = home.root / "data" / "decisions.jsonl"
    original = log_file.read_bytes()
    lines = original.splitlines(keepends=True)

    [target] = [index for index, line in enumerate(lines) if b'"a":2' in line]
    log_file.write_bytes(b"".join([*lines[:target], lines[target].replace(b'"a":2', b'"a":9'), *lines[target + 1 :]]))
    tampered = home.approver("log", "verify")
    assert tampered.returncode == 1
    assert f"NOT INTACT: line {target + 1}: the entry was changed: its signature does not verify" in tampered.stdout

    log_file.write_bytes(b"".join(lines[:4]))
    truncated = home.approver("log", "verify", "--anchor", str(anchor))
    assert truncated.returncode == 1
    assert "it was truncated or rolled back" in truncated.stdout

    restart = home.approver("serve", "--headless")
    assert restart.returncode == 1
    assert "truncated or rolled back" in restart.stderr  # the keyring's checkpoint caught it: no half-start
    log_file.write_bytes(original)


async def test_exports_for_siems(home: ApproverHome, start_service: Any) -> None:
    start_service({"effect": "allow", "schema": "any", "tool": "add"})
    await make_calls(home, ("add", {"a": 1, "b": 2}), ("delete_file", {"path": "/x"}))
    wait_for_outcomes(home, 1)
    jsonl = [json.loads(line) for line in home.approver("log", "export").stdout.splitlines()]
    pins = [n for n, e in enumerate(jsonl) if e["kind"] == "tool-definition"]  # the tools the client listed
    # The outcome of the allowed call is logged when its proxy reports it: after the allow, maybe after the deny.
    kinds = [e["kind"] for e in jsonl]
    assert kinds.count("outcome") == 1 and kinds.index("outcome") > kinds.index("decision")
    others = [n for n, kind in enumerate(kinds) if kind in ("tool-definition", "outcome")]

    def decisions_and_rules(lines: list[Any]) -> list[Any]:
        return [line for n, line in enumerate(lines) if n not in others]

    assert [e["kind"] for e in decisions_and_rules(jsonl)] == ["genesis", "rule-change", "decision", "decision"]
    cef_all = home.approver("log", "export", "--format", "cef").stdout.splitlines()
    assert all(line.startswith("CEF:0|MCP Approver|mcp-approver|") for line in cef_all)
    assert "|tool-definition|Decision log tool-definition|" in cef_all[pins[0]]
    cef = decisions_and_rules(cef_all)
    assert "|decision-allow|Tool call allowed|3|" in cef[2]
    assert "cs2Label=tool cs2=add" in cef[2]
    assert "cs2Label" not in cef[1]  # a rule change names no tool
    syslog = decisions_and_rules(home.approver("log", "export", "--format", "syslog").stdout.splitlines())
    assert syslog[3].startswith("<84>1 ")  # authpriv.warning for a denial
    assert 'decision="deny"' in syslog[3]
    shown = home.approver("log", "show", "--json", "--decision", "deny", "--tool", "delete_file")
    assert [json.loads(line)["tool"] for line in shown.stdout.splitlines()] == ["delete_file"]


def test_kill_9_never_loses_an_acknowledged_decision(home: ApproverHome, start_service: Any) -> None:
    start_service({"effect": "allow", "schema": "any", "tool": "add"})
    service_pid = int(home.approver("status").stdout.split("pid ")[1].split(",")[0])
    command = home.proxy_command("sdk", sys.executable, SDK_SERVER)
    proxy = subprocess.Popen(
        command, env=home.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proxy.stdin is not None and proxy.stdout is not None

    def send(message: dict[str, Any]) -> None:
        assert proxy.stdin is not None
        proxy.stdin.write(json.dumps(message).encode() + b"\n")
        proxy.stdin.flush()

    send(
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "kill-test", "version": "0"},
            },
        }
    )
    proxy.stdout.readline()
    acknowledged: list[int] = []
    killed_at = 40
    for n in range(1, 80):
        send(
            {
                "jsonrpc": "2.0",
                "id": n,
                "method": "tools/call",
                "params": {"name": "add", "arguments": {"a": n, "b": 0}},
            }
        )
        if n == killed_at:
            os.kill(service_pid, signal.SIGKILL)
        reply = json.loads(proxy.stdout.readline())
        if not reply["result"].get("isError"):
            acknowledged.append(n)
    proxy.stdin.close()
    proxy.wait(timeout=15)
    proxy.stdout.close()
    assert len(acknowledged) >= killed_at - 1
    restarted = Service(home, "--policy", str(home.policy_file))  # takes the spool in, recovers any torn tail
    try:
        logged = {int(e["request_id"]) for e in home.log() if e["decision"] == "allow"}
        assert set(acknowledged) <= logged
        denied_while_down = [e for e in home.log() if e["decision"] == "deny"]
        assert denied_while_down
        assert all(e["source"] == "proxy" for e in denied_while_down)
    finally:
        restarted.stop()
    assert home.approver("log", "verify").returncode == 0


def test_the_real_keyring_holds_the_key_when_there_is_one(home: ApproverHome, start_service: Any) -> None:
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        pytest.fail("run the suite with scripts/test.sh: it provides a D-Bus session with gnome-keyring")
    start_service()
    doctor = home.approver("doctor")
    assert "[ok] secrets: OS keyring (keyring.backends.SecretService.Keyring)" in doctor.stdout
    genesis = json.loads(home.approver("log", "export").stdout.splitlines()[0])
    origin = genesis["origin"]
    assert genesis["key_store"] == "OS keyring (keyring.backends.SecretService.Keyring)"
    found = subprocess.run(
        ["secret-tool", "lookup", "service", "mcp-approver", "username", f"{origin}/signing-seed"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert len(found.stdout.strip()) == 64  # the seed is in the Secret Service, as hex
    # ... in the suite's own keyring, never the user's: the daemon keeps it under the sandbox's HOME.
    sandbox = Path(os.environ["APPROVER_TEST_SANDBOX"])
    assert Path.home().is_relative_to(sandbox)
    assert list((Path.home() / ".local" / "share" / "keyrings").glob("*.keyring"))
    assert not (home.root / "data" / "keys-fallback.json").exists()


@pytest.mark.parametrize(
    ("environment", "reason"),
    [
        ({"DBUS_SESSION_BUS_ADDRESS": None, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}, "no keyring"),
        # No D-Bus with keyrings.alt installed: keyring silently picks a plaintext file, which we refuse.
        ({"DBUS_SESSION_BUS_ADDRESS": None}, "plaintext file is not a keyring"),
        ({"PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}, "the null keyring backend stores nothing"),
        ({"PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}, "plaintext file is not a keyring"),
        (
            {"PYTHON_KEYRING_BACKEND": "tests.servers.hanging_keyring.HangingKeyring", "APPROVER_KEYRING_TIMEOUT": "1"},
            "the keyring did not answer within 1 s",
        ),
    ],
)
def test_without_a_usable_keyring_the_fallback_is_labelled(
    home: ApproverHome, environment: dict[str, str | None], reason: str
) -> None:
    env = {**home.env, "PYTHONPATH": str(ROOT)}
    for key, value in environment.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    fallback_home = ApproverHome(home.root)
    service = subprocess.Popen(
        [*APPROVER, "serve", "--headless"],
        env=env,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while fallback_home.approver("status").returncode != 0:
            assert service.poll() is None, service.stderr.read() if service.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.1)
        doctor = subprocess.run(
            [*APPROVER, "doctor"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    finally:
        service.send_signal(signal.SIGTERM)
        _, stderr = service.communicate(timeout=20)
    assert "WARNING: no usable OS keyring" in stderr
    assert reason in stderr
    # Headless machines have no OS keyring: the fallback works as documented, so it is a warning with its
    # consequence, not a failure.
    assert doctor.returncode == 0, doctor.stdout
    assert "[warn] secrets: FALLBACK key file" in doctor.stdout
    assert "anything that can read your files, backups included, can read them" in doctor.stdout
    assert "[!!]" not in doctor.stdout
    genesis = json.loads(fallback_home.approver("log", "export").stdout.splitlines()[0])
    assert genesis["key_store"].startswith("FALLBACK key file")
    assert reason in genesis["key_store"]
    keys = home.root / "data" / "keys-fallback.json"
    assert keys.stat().st_mode & 0o777 == 0o600


async def test_rotating_the_key_from_the_cli(home: ApproverHome, start_service: Any) -> None:
    service = start_service({"effect": "allow", "schema": "any", "tool": "add"})
    await make_calls(home, ("add", {"a": 1, "b": 2}))
    refused = home.approver("log", "rotate-key")
    assert refused.returncode == 1
    assert "stop it first" in refused.stderr
    old_vkey = home.approver("log", "vkey").stdout.strip()
    service.stop()
    rotated = home.approver("log", "rotate-key")
    assert rotated.returncode == 0, rotated.stderr
    new_vkey = home.approver("log", "vkey").stdout.strip()
    assert new_vkey != old_vkey
    assert new_vkey in rotated.stdout
    start_service({"effect": "allow", "schema": "any", "tool": "add"})
    await make_calls(home, ("add", {"a": 3, "b": 4}))
    verify = home.approver("log", "verify")
    assert verify.returncode == 0, verify.stdout
    assert f"signed by: {old_vkey}, {new_vkey} (trusted key)" in verify.stdout


def test_doctor_fails_only_for_what_is_broken(home: ApproverHome, start_service: Any) -> None:
    never_started = home.approver("doctor")
    assert never_started.returncode == 0, never_started.stdout
    assert "[warn] service: not running" in never_started.stdout
    start_service().stop()
    log = home.root / "data" / "decisions.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(lines[0].replace(b'"seq":0', b'"seq":7') + b"".join(lines[1:]))
    tampered = home.approver("doctor")
    assert tampered.returncode == 1
    assert "[!!] log:" in tampered.stdout
