"""`approver backup` and `approver restore` through real parts: a headless service decides real calls from the
`mcp` SDK client through `approver proxy` and server-everything; the rules are sealed by the app's own code
(what Save runs); the archives are made and restored by the real command line.

"Another machine" is a home whose secrets are in its own store: the keyring library's `fail` backend makes
MCP Approver use the home's fallback key file, so nothing of the first home's keyring is there.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from approver.core.tlog import parse_vkey
from approver.platform.keystore import FileStore
from approver.service.decision_log import audit_file
from approver.service.policy_store import Integrity, PolicyStore
from approver.service.rules_tools import open_rules
from tests.conftest import APPROVER, ApproverHome, Service
from tests.e2e.test_rules_seal import ALLOW_ECHO, DENY_SECRETS, app_home, echo

pytestmark = pytest.mark.e2e
PASSPHRASE = "a long passphrase for tests"


@dataclass
class OtherMachine(ApproverHome):
    """A home whose secrets live in its own key file, not in this session's keyring."""

    passphrase: str | None = None

    @property
    def env(self) -> dict[str, str]:
        env = {**super().env, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
        if self.passphrase is not None:
            env["APPROVER_BACKUP_PASSPHRASE"] = self.passphrase
        return env


def with_passphrase(home: ApproverHome, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**home.env, "APPROVER_BACKUP_PASSPHRASE": PASSPHRASE}
    return subprocess.run([*APPROVER, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def entries(home: ApproverHome) -> list[dict[str, Any]]:
    exported = home.approver("log", "export")
    assert exported.returncode == 0, exported.stderr
    return [json.loads(line) for line in exported.stdout.splitlines()]


def decisions(home: ApproverHome) -> list[tuple[str, str | None]]:
    return [(entry["decision"], entry.get("rule")) for entry in home.log()]


async def set_up(home: ApproverHome) -> None:
    """Rules a person confirmed in the app, two decisions by them, the service stopped."""
    open_rules(app_home(home)).replace_user_rules([ALLOW_ECHO, DENY_SECRETS])
    service = Service(home)
    try:
        assert not (await echo(home, "hello")).is_error
        assert (await echo(home, "a secret")).is_error
    finally:
        service.stop()


def backup(home: ApproverHome, archive: Path, *extra: str) -> None:
    made = with_passphrase(home, "backup", str(archive), *extra)
    assert made.returncode == 0, made.stderr


def one_line_error(result: Any) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return str(lines[0])


async def test_restore_with_keys_on_another_machine_continues_the_log_and_keeps_the_rules(
    home: ApproverHome, tmp_path: Path
) -> None:
    await set_up(home)
    archive = tmp_path / "setup.tar.gz"
    backup(home, archive, "--with-keys")
    assert archive.stat().st_mode & 0o777 == 0o600
    other = OtherMachine(tmp_path / "other", passphrase=PASSPHRASE)
    other.root.mkdir()
    restored = other.approver("restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "the rules seal (version 1) verifies and is carried" in restored.stdout
    service = Service(other)
    try:
        assert not (await echo(other, "hello again")).is_error  # the allow rule is trusted here
        assert (await echo(other, "another secret")).is_error
    finally:
        service.stop()
    verified = other.approver("log", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "(trusted key)" in verified.stdout
    assert decisions(other) == [
        ("allow", "echo-ok"),
        ("deny", "no-secrets"),
        ("allow", "echo-ok"),
        ("deny", "no-secrets"),
    ]
    restore_entry = next(entry for entry in entries(other) if entry["kind"] == "restore")
    assert restore_entry["rules_trusted"] is True and restore_entry["forced"] == []


async def test_restore_without_keys_on_another_machine_narrows_and_keeps_the_old_log_read_only(
    home: ApproverHome, tmp_path: Path
) -> None:
    await set_up(home)
    archive = tmp_path / "setup.tar.gz"
    backup(home, archive)
    vkey = home.approver("log", "vkey").stdout.strip()
    other = OtherMachine(tmp_path / "other")
    other.root.mkdir()
    refused = other.approver("restore", str(archive))
    assert "pass --new-log" in one_line_error(refused)
    assert not (other.root / "config").exists()  # refused before touching anything
    restored = other.approver("restore", str(archive), "--new-log")
    assert restored.returncode == 0, restored.stderr
    assert "NOT trusted here" in restored.stdout
    service = Service(other)
    try:
        status = other.approver("status").stdout
        assert "changed outside MCP Approver" in status, status
        assert (await echo(other, "hello again")).is_error  # the allow waits for a person in the app
        assert (await echo(other, "another secret")).is_error
    finally:
        service.stop()
    assert decisions(other) == [("deny", None), ("deny", "no-secrets")]  # the deny applies at once
    verified = other.approver("log", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    restore_entry = next(entry for entry in entries(other) if entry["kind"] == "restore")
    kept = Path(restore_entry["archived_log"]["file"])
    assert restore_entry["archived_log"]["vkey"] == vkey
    assert kept.stat().st_mode & 0o777 == 0o400
    audit, _ = audit_file(kept, trusted=[parse_vkey(vkey)])
    assert audit.intact and audit.trusted and audit.final_checkpoint == restore_entry["archived_log"]["checkpoint"]


async def test_restoring_an_older_backup_over_a_longer_log_needs_force_and_is_recorded(
    home: ApproverHome, tmp_path: Path
) -> None:
    await set_up(home)
    older = tmp_path / "older.tar.gz"
    backup(home, older)
    service = Service(home)
    try:
        assert not (await echo(home, "after the backup")).is_error
        running = home.approver("restore", str(older))
        assert "stop it first" in one_line_error(running)
    finally:
        service.stop()
    log_before = (home.root / "data" / "decisions.jsonl").read_bytes()
    refused = home.approver("restore", str(older))
    assert "is behind what this machine knows of it" in one_line_error(refused)
    assert (home.root / "data" / "decisions.jsonl").read_bytes() == log_before
    forced = home.approver("restore", str(older), "--force")
    assert forced.returncode == 0, forced.stderr
    assert "FORCED: the archived log" in forced.stdout
    kept_aside = next((home.root / "data").glob("before-restore-*"))
    assert (kept_aside / "data" / "decisions.jsonl").read_bytes() == log_before  # undoable
    service = Service(home)
    try:
        assert not (await echo(home, "after the restore")).is_error
    finally:
        service.stop()
    verified = home.approver("log", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    restore_entry = next(entry for entry in entries(home) if entry["kind"] == "restore")
    assert restore_entry["forced"] and "is behind" in restore_entry["forced"][0]
    overridden = restore_entry["overridden"][0]
    assert overridden["present_checkpoint"].split("\n")[1] == str(len(log_before.splitlines()))
    assert [d for d, _ in decisions(home)] == ["allow", "deny", "allow"]  # the newer decision is not in this log


async def test_a_wrong_passphrase_and_a_tampered_archive_fail_in_one_line(home: ApproverHome, tmp_path: Path) -> None:
    await set_up(home)
    archive = tmp_path / "setup.tar.gz"
    backup(home, archive, "--with-keys")
    other = OtherMachine(tmp_path / "other", passphrase="not the passphrase")
    other.root.mkdir()
    assert one_line_error(other.approver("restore", str(archive))) == (
        "approver: setup.tar.gz: wrong passphrase, or the archive was changed after it was made"
    )
    # An agent widens the archived rules file, keeping its size: the allow now covers every tool.
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(archive) as source, tarfile.open(tampered, "w:gz") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "files/config/policy.json":
                before, after = b'"tool": "echo",\n      "id": "echo-ok"', b'"tool": "*",\n      "id": "echo-ok!!!"'
                widened = data.replace(before, after)
                assert widened != data and len(widened) == len(data)
                data = widened
            target.addfile(member, io.BytesIO(data))
    message = one_line_error(other.approver("restore", str(tampered)))
    assert message.startswith("approver: tampered.tar.gz: config/policy.json does not match the manifest (SHA-256")
    assert not (other.root / "config").exists()
    with tarfile.open(archive) as made:
        contents = set(made.getnames())
    assert "files/data/keys-fallback.json" not in contents and not any("run/" in name for name in contents)


async def test_an_archive_made_with_another_key_cannot_bring_allow_rules_in(home: ApproverHome, tmp_path: Path) -> None:
    """The agent, with a shell but no access to this keyring, makes its own "backup": rules that allow everything,
    sealed under an integrity key of its own, which it puts into the archive under a passphrase it knows."""
    await set_up(home)
    crafted = OtherMachine(tmp_path / "agent", passphrase=PASSPHRASE)
    crafted.root.mkdir()
    agent_home = app_home(crafted)
    agent_rules = PolicyStore(
        agent_home.policy_file, explicit=False, integrity=Integrity(FileStore(agent_home.key_file))
    )
    agent_rules.replace_user_rules([{"effect": "allow", "server": "*", "tool": "*", "id": "everything"}])
    archive = tmp_path / "crafted.tar.gz"
    made = crafted.approver("backup", str(archive), "--with-keys")
    assert made.returncode == 0, made.stderr
    assert "policy-integrity-key" in made.stdout
    restored = with_passphrase(home, "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "does not verify under this keyring's integrity key" in restored.stdout
    assert "keyring: wrote" not in restored.stdout  # this keyring's key was not replaced
    service = Service(home)
    try:
        assert (await echo(home, "hello")).is_error  # neither the agent's allow nor the old one
        assert (await echo(home, "a secret")).is_error  # the last trusted version's deny still applies
    finally:
        service.stop()
    assert decisions(home)[2:] == [("deny", None), ("deny", "no-secrets")]
    restore_entry = next(entry for entry in entries(home) if entry["kind"] == "restore")
    assert restore_entry["rules_trusted"] is False


async def test_replacing_a_home_whose_own_log_holds_decisions_needs_force(home: ApproverHome, tmp_path: Path) -> None:
    await set_up(home)
    archive = tmp_path / "setup.tar.gz"
    backup(home, archive)
    elsewhere = ApproverHome(tmp_path / "elsewhere")  # another home on this machine, with a log of its own
    elsewhere.root.mkdir()
    service = Service(elsewhere)
    try:
        assert (await echo(elsewhere, "no rules here")).is_error
    finally:
        service.stop()
    own_log = (elsewhere.root / "data" / "decisions.jsonl").read_bytes()
    refused = elsewhere.approver("restore", str(archive))
    assert "holding decisions, and the restore would replace it" in one_line_error(refused)
    forced = elsewhere.approver("restore", str(archive), "--force")
    assert forced.returncode == 0, forced.stderr
    kept_aside = next((elsewhere.root / "data").glob("before-restore-*"))
    assert (kept_aside / "data" / "decisions.jsonl").read_bytes() == own_log
    verified = elsewhere.approver("log", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    restore_entry = next(entry for entry in entries(elsewhere) if entry["kind"] == "restore")
    assert "holding decisions" in restore_entry["forced"][0]
    own_audit, _ = audit_file(kept_aside / "data" / "decisions.jsonl")
    assert restore_entry["overridden"][0]["replaced_checkpoint"] == own_audit.final_checkpoint
