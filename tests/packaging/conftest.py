"""Built artifacts for the packaging tests, each built once per session: the sdist and the wheel built from it
(`python -m build`), the wheel installed into a fresh virtualenv outside the repository, the PyInstaller bundle
(packaging/build-bundle.sh) and the .deb made from it (packaging/build-deb.sh)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

# pip's and uv's download caches, kept between runs (.cache is not committed): a cold cache fetches PySide6
# (~100 MB) for every fresh environment.
DOWNLOAD_CACHE = ROOT / ".cache" / "packaging"
BUILD_TIMEOUT = 900


def clean_env(**extra: str) -> dict[str, str]:
    """The test environment without anything that would make an installed copy import this checkout instead of
    itself (PYTHONPATH, an active virtualenv), with the shared download caches."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
    env.update(
        PIP_CACHE_DIR=str(DOWNLOAD_CACHE / "pip"),
        UV_CACHE_DIR=str(DOWNLOAD_CACHE / "uv"),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def run(command: list[str | Path], timeout: float = BUILD_TIMEOUT, **kwargs: object) -> str:
    """Run a build or install step; on failure, fail with its output."""
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )
    assert result.returncode == 0, f"{command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return str(result.stdout)


def selftest(approver: Path | str, cwd: Path) -> str:
    """`approver selftest` of an installed copy passes (and, with the suite's own keyring, finds it)."""
    out = run([approver, "selftest"], env=clean_env(), cwd=cwd, timeout=120)
    assert out.splitlines()[-1] == "selftest passed", out
    if os.environ.get("DBUS_SESSION_BUS_ADDRESS"):  # scripts/test.sh's gnome-keyring: a real Secret Service
        assert "ok    keyring: OS keyring (keyring.backends.SecretService.Keyring)" in out, out
    return out


@dataclass(frozen=True)
class Dists:
    sdist: Path
    wheel: Path


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """The sdist, and the wheel built from that sdist (not from the tree), as `python -m build` does."""
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", out, ROOT], env=clean_env())
    [sdist] = out.glob("*.tar.gz")
    [wheel] = out.glob("*.whl")
    return Dists(sdist, wheel)


@pytest.fixture(scope="session")
def fresh_venv(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv outside the repository with only the wheel (and its dependencies) installed."""
    root = tmp_path_factory.mktemp("fresh-venv") / "venv"
    venv.create(root, with_pip=True)
    run([root / "bin" / "python", "-m", "pip", "install", "--quiet", dists.wheel], env=clean_env(), cwd=root)
    return root


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The standalone bundle's folder (holding `approver` and `_internal/`)."""
    out = tmp_path_factory.mktemp("bundle")
    run(["bash", ROOT / "packaging" / "build-bundle.sh", out], env=clean_env(PYTHON=sys.executable))
    return out / "mcp-approver"


@pytest.fixture(scope="session")
def deb(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("deb")
    run(["bash", ROOT / "packaging" / "build-deb.sh", bundle, out])
    [package] = out.glob("mcp-approver_*.deb")
    return package


def dpkg(*arguments: str | Path) -> None:
    """dpkg, asked again while another package manager holds its lock (apt on a shared machine), for up to 5 min."""
    deadline = time.monotonic() + 300
    while True:
        result = subprocess.run(["dpkg", *map(str, arguments)], capture_output=True, text=True, check=False)
        if result.returncode == 0:
            return
        locked = "lock" in result.stderr and time.monotonic() < deadline
        assert locked, f"dpkg {arguments} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        time.sleep(0.5)


@pytest.fixture(scope="module")  # removed before other modules run: a system menu entry changes what the app does
def installed_deb(deb: Path) -> Iterator[Path]:
    """The .deb installed with dpkg (this needs root: CI runs as root), removed again afterwards, which must take
    its files with it."""
    if os.geteuid() != 0:
        pytest.skip("installing the .deb needs root (CI runs as root)")
    query = ["dpkg-query", "-W", "-f=${Status}", "mcp-approver"]
    already = subprocess.run(query, capture_output=True, text=True, check=False)
    if "install ok installed" in already.stdout:
        pytest.fail("an mcp-approver package is already installed here; this test will not replace it")
    dpkg("-i", deb)
    try:
        yield deb
    finally:
        dpkg("-r", "mcp-approver")
        assert not Path("/usr/bin/approver").exists()
        assert not Path("/opt/mcp-approver").exists()


def start_and_stop_desktop_app(approver: Path | str, display_env: dict[str, str], root: Path) -> str:
    """Start the installed `approver` (the desktop app) as a new user would: its default home, in a fresh HOME
    and XDG directories under `root`. Wait until its service answers as the desktop app, stop it with SIGTERM,
    and return what it said on stderr. It must exit 0."""
    user = root / "user"
    xdg = {
        "HOME": str(user),
        "XDG_CONFIG_HOME": str(user / ".config"),
        "XDG_DATA_HOME": str(user / ".local" / "share"),
        "XDG_STATE_HOME": str(user / ".local" / "state"),
        "XDG_RUNTIME_DIR": str(root / "run"),
    }
    (root / "run").mkdir(mode=0o700)
    settings = user / ".config" / "mcp-approver" / "app-settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text('{"start_at_login": false}')  # a launch after the first
    env = clean_env(**display_env, **xdg)
    for name in ("WAYLAND_DISPLAY", "APPROVER_HOME"):
        env.pop(name, None)
    stderr_path = root / "app.err"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen([str(approver)], env=env, stdin=subprocess.DEVNULL, stderr=stderr, cwd=root)
    try:
        deadline = time.monotonic() + 60
        while True:
            status = subprocess.run(
                [str(approver), "status"], env=env, capture_output=True, text=True, timeout=30, check=False
            )
            if "desktop" in status.stdout:
                break
            assert process.poll() is None, f"the app exited {process.returncode}: {stderr_path.read_text()}"
            assert time.monotonic() < deadline, f"the app's service never answered: {stderr_path.read_text()}"
            time.sleep(0.1)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)
    said = stderr_path.read_text()
    assert process.returncode == 0, said
    return said
