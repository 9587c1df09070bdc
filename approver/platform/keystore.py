"""Where MCP Approver keeps its secrets: the OS keyring, or — said out loud — a 0600 file.

The keyring library picks a backend silently, and some of its choices are not a keyring at all: `fail` raises,
`null` accepts writes and returns nothing, `keyrings.alt`'s plaintext file is a file. We accept only a backend
that stores a probe value and gives the same value back, within a timeout (a locked collection can block on a
password prompt; D-Bus can hang). Anything else falls back to a key file in the data directory, and the reason is
reported (`approver doctor`, the genesis entry, the app) — never silently.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import keyring
import keyring.backends.chainer
import keyring.errors

from approver.platform.durable import write_atomically

T = TypeVar("T")
SERVICE = "mcp-approver"
DEFAULT_TIMEOUT = 5.0  # APPROVER_KEYRING_TIMEOUT (seconds) overrides it
_NOT_KEYRINGS = {
    "keyring.backends.fail.Keyring": "no keyring backend is available",
    "keyring.backends.null.Keyring": "the null keyring backend stores nothing",
    "keyrings.alt.file.PlaintextKeyring": "keyrings.alt's plaintext file is not a keyring",
    "keyrings.alt.file.EncryptedKeyring": "keyrings.alt's encrypted file asks for a password on the terminal",
}


class SecretStore(Protocol):
    label: str  # for people: where the secrets are

    def get(self, name: str) -> str | None: ...

    def set(self, name: str, value: str) -> None: ...

    def delete(self, name: str) -> None: ...


class KeyStoreError(RuntimeError):
    pass


@dataclass(frozen=True)
class KeyStoreStatus:
    backend: str
    secure: bool  # a real OS keyring
    problem: str | None  # why we fell back, when we did

    def describe(self) -> str:
        if self.secure:
            return f"OS keyring ({self.backend})"
        return f"FALLBACK key file ({self.backend}) because {self.problem}"


def _with_timeout(fn: Callable[..., T], timeout: float, *args: object) -> T:
    """Run fn on a daemon thread and wait at most `timeout`: a keyring stuck behind an unlock prompt or a dead
    D-Bus must neither hold a call nor keep the process from exiting (a pool's worker threads would)."""
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # handed to the waiting caller
            future.set_exception(exc)

    threading.Thread(target=run, name="keyring-call", daemon=True).start()
    return future.result(timeout=timeout)


class _Keyring:
    """The keyring library behind a timeout; a call that does not answer in time is abandoned."""

    def __init__(self, backend_name: str, timeout: float) -> None:
        self.label = f"OS keyring ({backend_name})"
        self._timeout = timeout
        self._serial = threading.Lock()  # one call at a time, as with a single connection

    def _call(self, what: str, fn: Callable[..., object], *args: str) -> object:
        try:
            with self._serial:
                return _with_timeout(fn, self._timeout, SERVICE, *args)
        except concurrent.futures.TimeoutError:
            raise KeyStoreError(f"the keyring did not answer within {self._timeout:g} s ({what})") from None
        except keyring.errors.PasswordDeleteError:
            return None  # deleting what is not there: done
        except keyring.errors.KeyringError as exc:
            raise KeyStoreError(f"the keyring refused to {what}: {exc or type(exc).__name__}") from None

    def get(self, name: str) -> str | None:
        value = self._call("read a secret", keyring.get_password, name)
        return value if isinstance(value, str) else None

    def set(self, name: str, value: str) -> None:
        self._call("store a secret", keyring.set_password, name, value)
        if self.get(name) != value:
            raise KeyStoreError("the keyring did not give back the secret just stored")

    def delete(self, name: str) -> None:
        self._call("delete a secret", keyring.delete_password, name)


class FileStore:
    """The labelled fallback: one JSON file, 0600, in the data directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = f"key file {path}"
        self._lock = threading.Lock()  # the checkpoint keeper writes from its own thread

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise KeyStoreError(f"{self.path} is unreadable: {exc}") from None
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}

    def get(self, name: str) -> str | None:
        with self._lock:
            return self._read().get(name)

    def set(self, name: str, value: str) -> None:
        with self._lock:
            data = self._read()
            data[name] = value
            self._write(data)

    def delete(self, name: str) -> None:
        with self._lock:
            data = self._read()
            if data.pop(name, None) is not None:
                self._write(data)

    def _write(self, data: dict[str, str]) -> None:
        write_atomically(self.path, json.dumps(data).encode("utf-8"))


def _backend_name() -> str:
    """The backend that will hold our secrets. keyring's chainer writes to the first of its backends that accepts
    a write, so that first one is what counts (with keyrings.alt installed it can be a plaintext file)."""
    backend = keyring.get_keyring()
    if isinstance(backend, keyring.backends.chainer.ChainerBackend):
        if not backend.backends:
            return "keyring.backends.fail.Keyring"
        backend = backend.backends[0]
    return f"{type(backend).__module__}.{type(backend).__name__}"


def open_secret_store(fallback_file: Path, timeout: float | None = None) -> tuple[SecretStore, KeyStoreStatus]:
    """The OS keyring if it really works here, else the fallback file; the status says which and why."""
    if timeout is None:
        try:
            timeout = float(os.environ.get("APPROVER_KEYRING_TIMEOUT", DEFAULT_TIMEOUT))
        except ValueError:
            timeout = DEFAULT_TIMEOUT
    try:
        backend = _with_timeout(_backend_name, timeout)
    except concurrent.futures.TimeoutError:
        return _fallback(fallback_file, "unknown", f"choosing a keyring backend took over {timeout:g} s")
    except Exception as exc:  # keyring raises assorted errors while probing backends
        return _fallback(fallback_file, "unknown", f"no keyring backend could be loaded ({exc})")
    if backend in _NOT_KEYRINGS:
        return _fallback(fallback_file, backend, _NOT_KEYRINGS[backend])
    store = _Keyring(backend, timeout)
    probe_name, probe_value = "probe", secrets.token_hex(8)
    try:
        store.set(probe_name, probe_value)  # set() reads back and compares
        store.delete(probe_name)
    except KeyStoreError as exc:
        return _fallback(fallback_file, backend, str(exc))
    return store, KeyStoreStatus(backend=backend, secure=True, problem=None)


def _fallback(path: Path, backend: str, problem: str) -> tuple[SecretStore, KeyStoreStatus]:
    return FileStore(path), KeyStoreStatus(backend=str(path), secure=False, problem=f"{problem} [{backend}]")
