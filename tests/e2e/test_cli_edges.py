"""The command line as a careful user meets it: it never guesses, says what is wrong in one line, and never prints
noise or a traceback for ordinary situations."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import APPROVER, ApproverHome

pytestmark = pytest.mark.e2e


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_abbreviated_options_are_refused_not_guessed(home: ApproverHome) -> None:
    result = home.approver("serve", "--headles")
    assert result.returncode == 2
    assert one_line(result) == (
        "approver serve: error: unrecognized arguments: --headles (--headles: did you mean --headless?) "
        "(see `approver serve --help`)"
    )


def test_an_unknown_option_points_at_the_subcommand_it_was_given_to(home: ApproverHome) -> None:
    result = home.approver("rules", "add", "--effect", "deny", "--args", "{}")
    assert result.returncode == 2
    line = one_line(result)
    assert "did you mean --arg?" in line
    assert line.endswith("(see `approver rules add --help`)")


@pytest.mark.parametrize(
    ("name", "why"), [("", "must not be empty"), ("  ", "must not be empty"), ("a\nb", "printable")]
)
def test_a_server_needs_a_name_that_says_something(home: ApproverHome, name: str, why: str) -> None:
    result = home.approver("proxy", "--name", name, "--", "cat")
    assert result.returncode == 2
    assert why in one_line(result)


def test_no_rules_reads_as_no_rules(home: ApproverHome) -> None:
    listed = home.approver("rules", "list")
    assert listed.returncode == 0, listed.stderr
    assert "(none)" not in listed.stdout
    assert listed.stdout.count("(no rules)") == 2


def test_no_runtime_directory_is_no_reason_for_a_warning(home: ApproverHome) -> None:
    env = {key: value for key, value in home.env.items() if key not in {"XDG_RUNTIME_DIR", "APPROVER_HOME"}}
    result = subprocess.run([*APPROVER, "status"], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 3
    assert result.stderr == ""


def test_a_mistyped_home_is_not_created_with_its_parents(tmp_path: Path) -> None:
    typo = tmp_path / "aproover" / "home"
    env = {**os.environ, "APPROVER_HOME": str(typo)}
    result = subprocess.run([*APPROVER, "status"], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert f"{typo.parent} does not exist (mistyped?)" in one_line(result)
    assert not typo.parent.exists()
    fresh = tmp_path / "new-home"
    env["APPROVER_HOME"] = str(fresh)
    result = subprocess.run([*APPROVER, "status"], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert one_line(result) == f"approver: created APPROVER_HOME {fresh} (it did not exist)"
    assert fresh.is_dir() and fresh.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("stdin", ["/dev/null", "file"])
def test_a_proxy_whose_stdin_cannot_be_polled_still_relays(home: ApproverHome, tmp_path: Path, stdin: str) -> None:
    ping = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}) + "\n"
    source = Path("/dev/null") if stdin == "/dev/null" else tmp_path / "input.jsonl"
    if stdin == "file":
        source.write_text(ping)
    with source.open("rb") as handle:
        result = subprocess.run(
            home.proxy_command("echoing", "cat"),
            env=home.env,
            stdin=handle,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ("" if stdin == "/dev/null" else ping)  # `cat` as the server echoes the request back
