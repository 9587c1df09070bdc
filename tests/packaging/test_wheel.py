"""The sdist and the wheel carry what the app reads at run time, and the wheel, installed anywhere (pip into a
fresh virtualenv outside the repository, pipx, uv tool), gives a working `approver`: its self-test passes and the
desktop app starts on a real X server."""

from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.test_desktop import XSession, x_session
from tests.packaging.conftest import Dists, clean_env, run, selftest, start_and_stop_desktop_app

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(900)]  # the session builds count towards the first test
__all__ = ["x_session"]  # the X server fixture of the desktop tests, used here as it is

RUN_TIME_FILES = sorted(
    str(path.relative_to(ROOT)) for path in (ROOT / "approver" / "resources").rglob("*") if path.is_file()
)


def test_the_run_time_files_are_what_the_app_reads() -> None:
    assert "approver/resources/icons/mcp-approver-16.png" in RUN_TIME_FILES
    assert "approver/resources/policy.schema.json" in RUN_TIME_FILES
    assert "approver/resources/mcp-approver.desktop" in RUN_TIME_FILES
    assert "approver/resources/org.mcp-approver.confirm-presence.policy" in RUN_TIME_FILES
    assert len(RUN_TIME_FILES) == 5 * 7 + 3  # five icon sets of seven sizes, the schema, the entry, the action


def test_the_sdist_and_the_wheel_carry_the_run_time_files(dists: Dists) -> None:
    with tarfile.open(dists.sdist) as sdist:
        in_sdist = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    with zipfile.ZipFile(dists.wheel) as wheel:
        in_wheel = set(wheel.namelist())
    assert set(RUN_TIME_FILES) <= in_sdist
    assert set(RUN_TIME_FILES) <= in_wheel
    assert not any(name.startswith(("resources/", "tests/")) for name in in_wheel)


def test_the_wheel_in_a_fresh_venv_passes_its_selftest(fresh_venv: Path) -> None:
    out = selftest(fresh_venv / "bin" / "approver", fresh_venv)
    assert f"in {fresh_venv}/lib/" in out  # its resources come from the installed package, not this checkout
    assert str(ROOT) not in out


def test_the_wheel_in_a_fresh_venv_starts_the_desktop_app(
    fresh_venv: Path, x_session: XSession, tmp_path: Path
) -> None:
    said = start_and_stop_desktop_app(fresh_venv / "bin" / "approver", {"DISPLAY": x_session.display}, tmp_path)
    assert "MCP Approver is running for" in said
    assert "Traceback" not in said
    # pip installs no menu entry: the app added one for this user, launching this installation.
    menu_entry = tmp_path / "user" / ".local" / "share" / "applications" / "mcp-approver.desktop"
    assert f"Exec={fresh_venv}/bin/python -m approver\n" in menu_entry.read_text()


def test_pipx_and_uv_tool_install_give_a_working_command(dists: Dists, tmp_path: Path) -> None:
    pipx_bin, uv_bin = tmp_path / "pipx-bin", tmp_path / "uv-bin"
    run(
        [Path(sys.executable).parent / "pipx", "install", dists.wheel],
        env=clean_env(PIPX_HOME=str(tmp_path / "pipx"), PIPX_BIN_DIR=str(pipx_bin), PIPX_MAN_DIR=str(tmp_path)),
        cwd=tmp_path,
    )
    run(
        [Path(sys.executable).parent / "uv", "tool", "install", "--quiet", dists.wheel],
        env=clean_env(UV_TOOL_DIR=str(tmp_path / "uv-tools"), UV_TOOL_BIN_DIR=str(uv_bin)),
        cwd=tmp_path,
    )
    assert f"in {tmp_path}/pipx/" in selftest(pipx_bin / "approver", tmp_path)
    assert f"in {tmp_path}/uv-tools/" in selftest(uv_bin / "approver", tmp_path)
