"""What the `approver log …` and `approver doctor` commands ask of the log, the keyring and the service."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from approver.core.log_format import (
    AnchorError,
    Audit,
    check_anchor_signatures,
    decode_entry,
    split_line,
    unverified_anchor,
)
from approver.core.tlog import Signer, Verifier, parse_vkey
from approver.platform.instance import AlreadyRunning, InstanceLock
from approver.platform.keystore import KeyStoreError, KeyStoreStatus, SecretStore, open_secret_store
from approver.platform.paths import Home
from approver.service.decision_log import DecisionLogWriter, LogError, audit_file


@dataclass
class Verification:
    audit: Audit
    anchors: list[str]  # what was used as anchors, for the report
    warnings: list[str]


def _origin(log_file: Path) -> str:
    try:
        with log_file.open("rb") as handle:
            first = handle.readline().rstrip(b"\n")
    except FileNotFoundError:
        raise LogError(f"{log_file}: there is no decision log yet") from None
    try:
        origin = decode_entry(split_line(first)[0]).get("origin")
    except ValueError as exc:
        raise LogError(f"{log_file}:1: not a decision log ({exc})") from None
    if not isinstance(origin, str):
        raise LogError(f"{log_file}:1: the genesis entry names no origin")
    return origin


def _stored_signer(home: Home, origin: str) -> tuple[Signer | None, SecretStore, KeyStoreStatus]:
    store, status = open_secret_store(home.key_file)
    try:
        seed = store.get(f"{origin}/signing-seed")
    except KeyStoreError:
        seed = None
    return (Signer(origin, bytes.fromhex(seed)) if seed else None), store, status


def read_anchor_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LogError(f"{path}: cannot read the anchor ({exc})") from None


def verify_log(
    home: Home, anchor_files: list[Path], vkey: str | None, *, every_signature: bool = False
) -> Verification:
    """Check the log against the trusted key (given, or the one in the keyring) and every anchor."""
    origin = _origin(home.log_file)
    warnings: list[str] = []
    signer, store, status = _stored_signer(home, origin)
    trusted: list[Verifier] = []
    if vkey is not None:
        try:
            trusted.append(parse_vkey(vkey))
        except ValueError as exc:
            raise LogError(f"--vkey: {exc}") from None
    elif signer is not None:
        trusted.append(signer.verifier())
    else:
        warnings.append(
            f"no trusted key: the log's key is not in {status.describe()} and no --vkey was given, so only the "
            "log's own consistency was checked"
        )
    notes: list[tuple[str, str]] = [(str(path), read_anchor_file(path)) for path in anchor_files]
    try:
        kept = store.get(f"{origin}/checkpoint")
    except KeyStoreError as exc:
        kept = None
        warnings.append(f"could not read the checkpoint kept in the keyring: {exc}")
    if kept is not None:
        notes.append((f"the checkpoint kept in {store.label}", kept))
    try:
        anchors = [unverified_anchor(source, note) for source, note in notes]
        audit, _ = audit_file(home.log_file, anchors, trusted, every_signature=every_signature)
        if audit.intact:
            check_anchor_signatures(audit, notes)
    except AnchorError as exc:
        raise LogError(str(exc)) from None
    return Verification(audit, [source for source, _ in notes], warnings)


def _intact_audit(home: Home) -> Audit:
    """The log read from its file alone: the keyring is not needed to show what the log itself says."""
    _origin(home.log_file)  # a missing or foreign file gets its own clear message
    audit, _ = audit_file(home.log_file)
    if audit.problem is not None or audit.final_note is None or not audit.keys:
        raise LogError(f"{home.log_file} does not verify ({audit.problem}); run `approver log verify`")
    return audit


def signed_checkpoint(home: Home) -> str:
    """The newest checkpoint as a complete C2SP signed note (usable as an anchor file), as the log's newest line
    signs it. `approver log verify` is what says whether that line's key is the trusted one."""
    note = _intact_audit(home).final_note
    assert note is not None
    return note


def current_vkey(home: Home) -> str:
    """The verifier key the log names last (its genesis entry, or its newest key rotation): it is public."""
    return _intact_audit(home).keys[-1][1]


def missing_log(home: Home) -> str | None:
    """When there is no log file: the log the keyring says was kept there (it went missing), if any."""
    store, _status = open_secret_store(home.key_file)
    missing = DecisionLogWriter.missing_at(home.log_file, store)
    return None if missing is None else missing.describe()


def keyring_status(home: Home) -> KeyStoreStatus:
    return open_secret_store(home.key_file)[1]


def reset_log(home: Home) -> str:
    """Begin a new log where one went missing; its genesis entry names the lost log. Returns what it replaced."""
    with _only_writer(home):
        if home.log_file.exists() and home.log_file.stat().st_size > 0:
            raise LogError(f"{home.log_file} exists; a log is reset only once it is gone (move it aside as evidence)")
        store, status = open_secret_store(home.key_file)
        writer = DecisionLogWriter(home.log_file, store, status, replacing=True)
        writer.close()
    audit, _ = audit_file(home.log_file)
    return audit.replaced or "no earlier log"


@contextlib.contextmanager
def _only_writer(home: Home) -> Iterator[None]:
    lock = InstanceLock(home)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        raise LogError(f"{exc}; stop it first: this needs the log's only writer") from None
    try:
        yield
    finally:
        lock.release()


def rotate_key(home: Home) -> str:
    """Give the log a new signing key (the service must be stopped: it is the log's only writer)."""
    with _only_writer(home):
        store, status = open_secret_store(home.key_file)
        writer = DecisionLogWriter(home.log_file, store, status)
        try:
            return writer.rotate_key()
        finally:
            writer.close()
