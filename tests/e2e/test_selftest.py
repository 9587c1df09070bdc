"""`approver selftest`: one line per check, exit 0 only if all pass; headless; the user's home left alone."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import APPROVER, ROOT, ApproverHome

pytestmark = [pytest.mark.e2e, pytest.mark.gui]


def selftest(env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    headless = {k: v for k, v in env.items() if k not in {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"}}
    return subprocess.run(
        [*APPROVER, "selftest"], env=headless, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def _tree(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def test_every_check_passes_without_a_display_and_the_home_is_untouched(home: ApproverHome) -> None:
    data_home = Path(os.environ["XDG_DATA_HOME"])
    before = _tree(data_home), _tree(home.root)
    result = selftest(home.env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    checks = ["ok    Qt", "ok    resources", "ok    keyring", "ok    service"]
    assert [line.split(":")[0] for line in lines[:-1]] == checks
    assert lines[-1] == "selftest passed"
    assert "platform offscreen" in lines[0]
    assert "started, answered status (headless), stopped, in a temporary home" in lines[3]
    assert (_tree(data_home), _tree(home.root)) == before  # nothing written to the user's home or APPROVER_HOME


def test_a_missing_resource_fails_its_check_and_the_selftest(home: ApproverHome, tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(ROOT / "approver", site / "approver", ignore=shutil.ignore_patterns("__pycache__"))
    (site / "approver" / "resources" / "policy.schema.json").unlink()
    result = selftest({**home.env, "PYTHONPATH": str(site)}, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("FAIL  resources: MissingResource: this installation of MCP Approver lacks")
    assert "its resource policy.schema.json" in lines[1]
    assert lines[0].startswith("ok    Qt") and lines[3].startswith("ok    service")
    assert lines[-1] == "selftest FAILED (1 of 4 checks)"
