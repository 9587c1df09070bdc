"""Every CLI failure is one line for the user, with the full details in a private crash report: the last-resort
handler in main(). The real case from the issue: an installation that lacks one of its resource files."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import approver.cli.main as cli
from tests.conftest import ROOT, ApproverHome

pytestmark = pytest.mark.e2e

ONE_LINE = re.compile(r"approver: (?P<what>.+) \(details in (?P<report>/\S+)\)")


def _crash_report(stderr: str, home: ApproverHome) -> tuple[str, str]:
    """The one line's message, and the report it points at (private, under the home's data directory)."""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    said = ONE_LINE.fullmatch(lines[0])
    assert said, lines[0]
    report = Path(said["report"])
    assert report.parent == home.root / "data" / "crash-reports"
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    return said["what"], report.read_text()


@pytest.mark.gui
def test_an_installation_missing_a_resource_says_so_in_one_line(home: ApproverHome, tmp_path: Path) -> None:
    """A copy of the package with one icon deleted, started as the desktop app (Qt offscreen: no display needed)."""
    site = tmp_path / "site"
    shutil.copytree(ROOT / "approver", site / "approver", ignore=shutil.ignore_patterns("__pycache__"))
    (site / "approver" / "resources" / "icons" / "mcp-approver-16.png").unlink()
    env = {**home.env, "PYTHONPATH": str(site), "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-m", "approver"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    what, report = _crash_report(result.stderr, home)
    assert what == (
        "this installation of MCP Approver lacks its resource icons/mcp-approver-16.png "
        f"(looked in {site / 'approver' / 'resources'}): reinstall it"
    )
    assert "Traceback (most recent call last)" in report
    assert "MissingResource" in report
    assert "command: approver\n" in report


def test_an_unexpected_error_is_one_line_and_a_private_crash_report(
    home: ApproverHome, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_: object) -> int:
        raise RuntimeError("the status went\nwrong")

    monkeypatch.setitem(os.environ, "APPROVER_HOME", str(home.root))
    monkeypatch.setattr(cli, "_status", broken)
    with pytest.raises(SystemExit) as exited:
        cli.main(["status"])
    assert exited.value.code == 1
    what, report = _crash_report(capsys.readouterr().err, home)
    assert what == "unexpected RuntimeError: the status went wrong"
    assert "command: approver status\n" in report
    assert 'raise RuntimeError("the status went\\nwrong")' in report


def test_a_crash_report_that_cannot_be_written_at_home_goes_to_a_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocked = tmp_path / "home-is-a-file"
    blocked.write_text("")
    monkeypatch.setitem(os.environ, "APPROVER_HOME", str(blocked))
    monkeypatch.setattr(cli, "_dispatch", lambda _args: 1 // 0)
    with pytest.raises(SystemExit):
        cli.main(["status"])
    [line] = capsys.readouterr().err.splitlines()
    said = ONE_LINE.fullmatch(line)
    assert said and said["what"] == "unexpected ZeroDivisionError: integer division or modulo by zero"
    report = Path(said["report"])
    try:
        assert report.name.startswith("mcp-approver-crash-")
        assert "ZeroDivisionError" in report.read_text()
    finally:
        report.unlink()
