"""scripts/start.sh leaves `approver` usable as a command: scripts/link-command.sh links ~/.local/bin/approver to
the clone's, says so, warns when ~/.local/bin is not on PATH, and leaves someone else's `approver` alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

SCRIPT = ROOT / "scripts" / "link-command.sh"
TARGET = Path(sys.executable).parent / "approver"  # the test environment's own installed command


def link(home: Path, path: str) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(home), "PATH": path}
    return subprocess.run(
        ["bash", str(SCRIPT), str(TARGET)], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def test_the_link_is_made_said_and_works(tmp_path: Path) -> None:
    first = link(tmp_path, "/usr/bin:/bin")
    assert first.returncode == 0, first.stderr
    command = tmp_path / ".local" / "bin" / "approver"
    assert command.readlink() == TARGET
    assert f"linked {command} -> {TARGET}" in first.stderr
    assert f"WARNING: {command.parent} is not on your PATH" in first.stderr
    version = subprocess.run([command, "--version"], capture_output=True, text=True, timeout=30, check=True)
    assert version.stdout.startswith("mcp-approver ")

    again = link(tmp_path, f"{command.parent}:/usr/bin:/bin")
    assert again.returncode == 0, again.stderr
    assert again.stderr == f"[start] `approver` is {command} -> {TARGET}\n"  # on PATH: no warning


def test_an_approver_installed_otherwise_is_left_alone(tmp_path: Path) -> None:
    command = tmp_path / ".local" / "bin" / "approver"
    command.parent.mkdir(parents=True)
    command.symlink_to(tmp_path / "pipx" / "venvs" / "mcp-approver" / "bin" / "approver")
    result = link(tmp_path, "/usr/bin:/bin")
    assert result.returncode == 0, result.stderr
    assert "left as it is" in result.stderr
    assert command.readlink() == tmp_path / "pipx" / "venvs" / "mcp-approver" / "bin" / "approver"


def test_a_link_to_another_clone_is_moved_to_this_one(tmp_path: Path) -> None:
    command = tmp_path / ".local" / "bin" / "approver"
    command.parent.mkdir(parents=True)
    command.symlink_to(tmp_path / "old-clone" / ".venv" / "bin" / "approver")
    result = link(tmp_path, "/usr/bin:/bin")
    assert result.returncode == 0, result.stderr
    assert command.readlink() == TARGET
