"""Every file and socket of one MCP Approver installation, rooted at APPROVER_HOME or the platform defaults."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "mcp-approver"
# sun_path is 108 bytes on Linux and 104 on macOS, terminator included.
_MAX_SOCKET_PATH = 100 if sys.platform == "darwin" else 104


@dataclass(frozen=True)
class Home:
    config_dir: Path
    data_dir: Path
    run_dir: Path
    explicit: bool  # set by APPROVER_HOME

    @classmethod
    def from_environment(cls) -> Home:
        root = os.environ.get("APPROVER_HOME")
        if root:
            base = Path(root).expanduser().resolve()
            return cls(base / "config", base / "data", base / "run", explicit=True)
        # Without XDG_RUNTIME_DIR, platformdirs would warn and fall back to a shared /tmp name: ask it only when
        # there is a runtime directory, and otherwise keep the socket under the private data directory.
        has_runtime_dir = bool(os.environ.get("XDG_RUNTIME_DIR")) or sys.platform != "linux"
        run_dir = Path(platformdirs.user_runtime_dir(APP_NAME)) if has_runtime_dir else None
        data_dir = Path(platformdirs.user_data_dir(APP_NAME))
        return cls(
            Path(platformdirs.user_config_dir(APP_NAME)),
            data_dir,
            run_dir or data_dir / "run",
            explicit=False,
        )

    @property
    def label(self) -> str:
        return str(self.config_dir.parent) if self.explicit else "the default MCP Approver home"

    @property
    def policy_file(self) -> Path:
        return self.config_dir / "policy.json"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "decisions.jsonl"

    @property
    def key_file(self) -> Path:
        """The fallback for secrets when no OS keyring is usable (said loudly wherever it is used)."""
        return self.data_dir / "keys-fallback.json"

    @property
    def spool_file(self) -> Path:
        """Decisions proxies made alone (service unreachable), for the service to take into the log."""
        return self.data_dir / "proxy-decisions.jsonl"

    @property
    def lock_file(self) -> Path:
        """The instance lock where there is no abstract socket namespace (not Linux)."""
        return self.run_dir / "service.lock"

    @property
    def lock_address(self) -> str:
        """The instance lock on Linux: a socket name in the abstract namespace, for this user and home. No file
        operation (rm, a renamed directory) can free it; only the holder's exit does."""
        digest = hashlib.sha256(os.fsencode(self.run_dir)).hexdigest()[:32]
        return f"\0mcp-approver/{os.getuid()}/{digest}"

    @property
    def socket_path(self) -> Path:
        """Always in the home's own 0700 run directory, however deep (see `socket_address`)."""
        return self.run_dir / "service.sock"


@contextlib.contextmanager
def socket_address(path: Path) -> Iterator[str]:
    """An address for bind() or connect() that reaches `path`. A path longer than sun_path is reached on Linux
    through its directory, held open, as /proc/self/fd/N/NAME: the socket stays in the private directory it
    belongs in, rather than in a shared temporary directory where another user could take the name first."""
    if len(os.fsencode(path)) <= _MAX_SOCKET_PATH:
        yield str(path)
        return
    if sys.platform != "linux":
        raise OSError(
            errno.ENAMETOOLONG,
            f"{path} is too long for a Unix socket ({len(os.fsencode(path))} bytes, at most {_MAX_SOCKET_PATH}); "
            "choose a shorter APPROVER_HOME",
        )
    directory = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{directory}/{path.name}"
    finally:
        os.close(directory)


def prepare_explicit_home(home: Home) -> str | None:
    """Create APPROVER_HOME itself if it does not exist, but never its parents: a mistyped path fails here, in
    one line, instead of quietly becoming a new, empty installation. Returns a note for the user when it created
    the directory."""
    if not home.explicit:
        return None
    root = home.config_dir.parent
    if root.is_dir():
        return None
    if not root.parent.is_dir():
        raise FileNotFoundError(
            f"APPROVER_HOME is {root}, but {root.parent} does not exist (mistyped?); create it first if you meant it"
        )
    root.mkdir(mode=0o700)
    return f"created APPROVER_HOME {root} (it did not exist)"


def ensure_private_dir(path: Path) -> None:
    """Create a directory only this user may enter, refusing one someone else owns or can write to."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if info.st_uid != os.getuid():
        raise PermissionError(f"{path} belongs to another user; refusing to use it")
    if info.st_mode & 0o077:
        path.chmod(0o700)


def managed_policy_path() -> Path:
    """Where an administrator puts the managed policy (read-only to the app). APPROVER_MANAGED_POLICY overrides
    it, for administrators who deploy elsewhere and for tests."""
    override = os.environ.get("APPROVER_MANAGED_POLICY")
    if override:
        return Path(override)
    if sys.platform == "darwin":
        return Path("/Library/Application Support/MCP Approver/policy.json")
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA", "C:/ProgramData")) / "MCP Approver" / "policy.json"
    return Path("/etc/mcp-approver/policy.json")
