"""The signed decision log's single writer, and its readers.

The service is the only writer (proxies that cannot reach it write to the spool, see `approver.ipc.spool`, which
the service takes in). An append builds the entry, redacts secrets from the arguments, signs the checkpoint of the
log with the new entry, writes the line with one write() and fsyncs it before returning; the service does not
let a decision take effect until `append` has returned. A decision that is not on disk never happened.

On opening, the whole log is checked (chain, tree, newest signature, and the checkpoint kept in the keyring as a
truncation anchor). A torn last line — a crash mid-write, so never acknowledged — is moved aside and cut off;
damage anywhere else is tampering: it is reported, never repaired, and the service does not start on it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from approver import __version__
from approver.core.log_format import (
    Anchor,
    AnchorError,
    ArgumentsOmitted,
    Audit,
    DecisionFacts,
    EntryChain,
    LineFormatError,
    LogAuditor,
    canonical,
    check_anchor_signatures,
    decision_body,
    decode_entry,
    describe_replaced,
    genesis_entry,
    loggable_arguments,
    rfc3339_now,
    split_line,
    unverified_anchor,
)
from approver.core.redaction import redact
from approver.core.tlog import Signer, Verifier
from approver.ipc.protocol import SpoolTally
from approver.ipc.spool import read_spool_lines, spool_files
from approver.platform.durable import fsync_fully
from approver.platform.keystore import KeyStoreError, KeyStoreStatus, SecretStore

ANCHOR_INTERVAL = 1.0  # seconds between copies of the newest checkpoint into the keyring
_RULES_SEAL = b'"seal":{'


class LogError(RuntimeError):
    """The log cannot be used: unreadable, tampered with, or its key is gone. The message says which."""


def _seed_name(origin: str) -> str:
    return f"{origin}/signing-seed"


def _checkpoint_name(origin: str) -> str:
    return f"{origin}/checkpoint"


def kept_at_name(path: Path) -> str:
    """The keyring entry naming which log is kept at `path`: a log that goes missing is then noticed, not begun
    anew (restore sets it for the log it puts in place)."""
    return f"log-at:{path.resolve()}"


def _fingerprint_key(seed: bytes) -> bytes:
    """Redaction markers carry HMACs under a key derived from the signing seed: stable per key, never the seed."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"mcp-approver redaction").derive(seed)


def recover_torn_tail(path: Path) -> Path | None:
    """Move an unterminated last line aside (a crash mid-write: that entry was never acknowledged)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size == 0:
        return None
    with path.open("r+b") as handle:
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return None
        position = size
        tail = b""
        while position > 0:
            step = min(64 * 1024, position)
            position -= step
            handle.seek(position)
            tail = handle.read(step) + tail
            cut = tail.rfind(b"\n")
            if cut >= 0:
                tail = tail[cut + 1 :]
                position += cut + 1
                break
        aside = path.with_name(f"{path.name}.torn-{rfc3339_now().replace(':', '')}")
        aside.write_bytes(tail)
        handle.truncate(position)
        fsync_fully(handle.fileno())
    return aside


def audit_file(
    path: Path,
    anchors: Sequence[Anchor] = (),
    trusted: Sequence[Verifier] = (),
    *,
    every_signature: bool = False,
    on_line: Callable[[bytes], None] | None = None,
) -> tuple[Audit, EntryChain | None]:
    """Check a whole log; also returns the chain as read, from which a writer continues. `on_line` sees each line
    the auditor accepted, in the same pass (what it keeps is trustworthy only if the audit is intact)."""
    auditor = LogAuditor(anchors, trusted, every_signature=every_signature)
    lines = 0
    with path.open("rb") as handle:
        for raw in handle:
            lines += 1
            if not auditor.feed(lines, raw.rstrip(b"\n")):
                break
            if on_line is not None:
                on_line(raw)
    return auditor.finish(lines), auditor.chain


class MissingLog(NamedTuple):
    """A log the keyring says was kept at a path, which is no longer there."""

    origin: str
    checkpoint: str | None  # its newest checkpoint kept in the keyring, as a signed note

    def as_entry(self) -> dict[str, str | None]:
        return {"origin": self.origin, "checkpoint": self.checkpoint}

    def describe(self) -> str:
        return describe_replaced(self.as_entry())


class DecisionLogWriter:
    """Opens (or begins) the log at `path` and appends to it. `replacing`: begin a new log even though the keyring
    says another was kept there (`approver log reset`); the new genesis entry records the one that went missing."""

    def __init__(
        self, path: Path, store: SecretStore, store_status: KeyStoreStatus, *, replacing: bool = False
    ) -> None:
        self.path = path
        self.store = store
        self.store_status = store_status
        self.torn_tail: Path | None = None
        # The newest `rule-change` entry naming the user's rules seal, as verified when the log was opened: the
        # newest seal the service trusted, so that an older seal restored behind its back is refused.
        self.last_rules_seal_entry: dict[str, Any] | None = None
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists() or path.stat().st_size == 0:
            self._create(self._missing_log(replacing))
        else:
            self.torn_tail = recover_torn_tail(path)
            self._resume()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        opened = os.fstat(self._fd)
        # What the path must still be at every append: this file (device, inode), exactly as long as we wrote it.
        self._identity = (opened.st_dev, opened.st_ino)
        self._size = opened.st_size
        self.problem: str | None = None  # set while the log is not where it was, or was changed by someone else
        self.spool_ledger = SpoolLedger()
        self._anchor = _AnchorKeeper(store, _checkpoint_name(self.origin))

    # -- opening ----------------------------------------------------------------------------------------------

    @staticmethod
    def missing_at(path: Path, store: SecretStore) -> MissingLog | None:
        """The log `store` says is kept at `path` (for a path with no log file: the one that went missing)."""
        try:
            origin = store.get(kept_at_name(path))
            checkpoint = None if origin is None else store.get(_checkpoint_name(origin))
        except KeyStoreError as exc:
            raise LogError(f"cannot read from {store.label} which log was kept at {path}: {exc}") from None
        return None if origin is None else MissingLog(origin, checkpoint)

    def _missing_log(self, replacing: bool) -> MissingLog | None:
        """The log the keyring says was at this path, if any; refuses to begin anew over it unless `replacing`."""
        missing = self.missing_at(self.path, self.store)
        if missing is None:
            return None
        if not replacing:
            raise LogError(
                f"{self.path} is missing or empty, but {self.store.label} shows {missing.describe()} was kept there: "
                "it was moved or deleted. Put it back, or run `approver log reset` to begin a new log that records "
                "the loss"
            )
        return missing

    def _create(self, replaces: MissingLog | None) -> None:
        self.origin = f"mcp-approver.local/{secrets.token_hex(8)}"
        seed = secrets.token_bytes(32)
        try:
            self.store.set(_seed_name(self.origin), seed.hex())
        except KeyStoreError as exc:
            raise LogError(f"cannot store the log's signing key in {self.store.label}: {exc}") from None
        self._use_key(seed)
        self.chain = EntryChain(self.origin)
        entry = genesis_entry(
            rfc3339_now(), self.origin, self.signer.vkey(), self.store_status.describe(), f"mcp-approver {__version__}"
        )
        if replaces is not None:
            entry["replaces"] = replaces.as_entry()
        line = self.chain.seal(canonical(entry), self.signer)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line + b"\n")
            fsync_fully(fd)
        finally:
            os.close(fd)
        self._keep_location()

    def _keep_location(self) -> None:
        try:
            self.store.set(kept_at_name(self.path), self.origin)
        except KeyStoreError as exc:
            raise LogError(f"cannot record in {self.store.label} which log is kept at {self.path}: {exc}") from None

    def _resume(self) -> None:
        with self.path.open("rb") as handle:
            first = handle.readline().rstrip(b"\n")
        try:
            genesis = decode_entry(split_line(first)[0])
        except LineFormatError as exc:
            raise LogError(f"{self.path}:1: not a decision log ({exc})") from None
        origin = genesis.get("origin")
        if not isinstance(origin, str):
            raise LogError(f"{self.path}:1: the genesis entry names no origin")
        self.origin = origin
        try:
            seed_hex = self.store.get(_seed_name(origin))
            anchor_note = self.store.get(_checkpoint_name(origin))
            kept_here = self.store.get(kept_at_name(self.path))
        except KeyStoreError as exc:
            raise LogError(f"cannot read the log's key from {self.store.label}: {exc}") from None
        if kept_here is not None and kept_here != origin:
            raise LogError(
                f"{self.path} is the log {origin}, but {self.store.label} shows the log {kept_here} was kept there: "
                "it was replaced. Put the original back, or move this one aside and run `approver log reset`"
            )
        if seed_hex is None:
            raise LogError(
                f"the signing key of {self.path} is not in {self.store.label}; the log cannot be continued. "
                "Keep the file as evidence (move it aside) and run `approver log reset` to begin a new log."
            )
        self._use_key(bytes.fromhex(seed_hex))
        notes = [] if anchor_note is None else [(f"the checkpoint kept in {self.store.label}", anchor_note)]

        def keep_rules_seal(raw: bytes) -> None:
            if _RULES_SEAL in raw:  # canonical JSON: a cheap test before decoding
                entry = decode_entry(split_line(raw.rstrip(b"\n"))[0])
                if entry.get("kind") == "rule-change" and entry.get("layer") == "user" and "seal" in entry:
                    self.last_rules_seal_entry = entry

        try:
            anchors = [unverified_anchor(source, note) for source, note in notes]
            audit, chain = audit_file(self.path, anchors, [self.signer.verifier()], on_line=keep_rules_seal)
            if audit.intact:
                check_anchor_signatures(audit, notes)
        except AnchorError as exc:
            raise LogError(str(exc)) from None
        if audit.problem is not None or chain is None:
            raise LogError(
                f"{self.path}: {audit.problem}. The log was damaged or tampered with; it is not repaired. "
                "Keep it as evidence (move it aside) and run `approver log reset` to begin a new log."
            )
        self.chain = chain
        if kept_here is None:
            self._keep_location()  # a log begun before locations were kept

    def _use_key(self, seed: bytes) -> None:
        self.signer = Signer(self.origin, seed)
        self._redaction_key = _fingerprint_key(seed)

    # -- writing ------------------------------------------------------------------------------------------------

    def append(self, facts: DecisionFacts) -> int:
        """Write one decision durably; returns its sequence number. Whatever the arguments hold, the decision is
        written: arguments that cannot be redacted, or then written, are left out and the entry says why."""
        if facts.arguments is None:
            return self._write("decision", decision_body(facts, ArgumentsOmitted.NOT_KEPT))
        try:
            redacted = redact(loggable_arguments(facts.arguments), self._redaction_key)
        except Exception:  # never write arguments we could not redact
            return self._write("decision", decision_body(facts, ArgumentsOmitted.REDACTION_FAILED))
        findings = [{"pointer": f.pointer, "kind": f.kind} for f in redacted.findings]
        body = decision_body(facts, redacted.value, findings)
        return self._write("decision", body, without_arguments=decision_body(facts, ArgumentsOmitted.UNWRITABLE))

    def append_event(self, kind: str, body: dict[str, Any]) -> int:
        """Any other kind of entry (rule-change, …); the body must hold no secrets and no floats."""
        return self._write(kind, body)

    def rotate_key(self) -> str:
        """Sign a rotation entry naming a new key with the old one, then switch keys; returns the new vkey."""
        seed = secrets.token_bytes(32)
        new = Signer(self.origin, seed)
        staged = _seed_name(self.origin) + ".next"
        self.store.set(staged, seed.hex())
        self._write("key-rotation", {"new_vkey": new.vkey()})
        self.store.set(_seed_name(self.origin), seed.hex())
        self.store.delete(staged)
        self._use_key(seed)
        return new.vkey()

    def _write(self, kind: str, body: dict[str, Any], without_arguments: dict[str, Any] | None = None) -> int:
        entry = self.chain.entry(rfc3339_now(), kind, body)
        try:
            entry_bytes = canonical(entry)
        except (ValueError, TypeError, RecursionError):  # rfc8785's errors are ValueErrors
            if without_arguments is None:
                raise
            entry = self.chain.entry(entry["ts"], kind, without_arguments)
            entry_bytes = canonical(entry)
        self._check_still_in_place()
        before = self.chain.copy()
        line = self.chain.seal(entry_bytes, self.signer) + b"\n"
        try:
            written = os.write(self._fd, line)
            if written != len(line):
                raise LogError(f"{self.path}: short write ({written} of {len(line)} bytes)")
            fsync_fully(self._fd)
        except BaseException:
            # Nothing was acknowledged: take the partial line back, so the next entry chains to the last real one.
            self.chain = before
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise
        self._size += len(line)
        assert self.chain.signed_note is not None
        self._anchor.update(self.chain.signed_note)
        return int(entry["seq"])

    def _check_still_in_place(self) -> None:
        """Refuse to acknowledge a decision into a file nobody can find or that someone else changed: the path must
        still name the file we hold open, at the length we wrote. One stat() per append. Not sticky: a log put
        back where it was is written to again."""
        moved = "was moved or deleted while the service ran"
        try:
            now = self.path.stat()
        except FileNotFoundError:
            problem: str | None = moved
        else:
            problem = None
            if (now.st_dev, now.st_ino) != self._identity:
                problem = moved
            elif now.st_size != self._size:
                problem = (
                    f"was changed by another program while the service ran ({now.st_size:,} bytes, not {self._size:,})"
                )
        if problem != self.problem:
            self.problem = problem
            if problem is not None:
                print(f"approver: ALERT: the decision log {self.path} {problem}; calls are denied", file=sys.stderr)
        if problem is not None:
            raise LogError(
                f"the decision log {self.path} {problem}; calls are denied until it is back as it was, or the "
                "service is restarted to check it"
            )

    # -- reading -----------------------------------------------------------------------------------------------

    def signed_checkpoint(self) -> str:
        return self.signer.sign_note(self.chain.checkpoint())

    def vkey(self) -> str:
        return self.signer.vkey()

    def close(self) -> None:
        os.close(self._fd)
        self._anchor.close()


class _AnchorKeeper:
    """Copies the newest checkpoint into the keyring off the decision path: a keyring call can take milliseconds
    (D-Bus, or an fsync for the fallback file) and must not hold a call or compete with the log's own fsync.
    Updates coalesce to at most one write per ANCHOR_INTERVAL; the last one is written before the service stops.
    So the anchor may lag the log by up to that interval."""

    def __init__(self, store: SecretStore, name: str) -> None:
        self._store = store
        self._name = name
        self._latest: str | None = None
        self._stopping = False
        self._wake = threading.Condition()
        self.problem: str | None = None
        self._thread = threading.Thread(target=self._run, name="checkpoint-anchor", daemon=True)
        self._thread.start()

    def update(self, note: str) -> None:
        with self._wake:
            self._latest = note
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._latest is None and not self._stopping:
                    self._wake.wait()
                note, self._latest = self._latest, None
                stopping = self._stopping
            if note is not None:
                try:
                    self._store.set(self._name, note)
                    self.problem = None
                except KeyStoreError as exc:
                    self.problem = f"could not keep the checkpoint in the keyring: {exc}"
            if stopping and note is None:
                return
            if not stopping:
                with self._wake:
                    self._wake.wait_for(lambda: self._stopping, timeout=ANCHOR_INTERVAL)

    def close(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout=10)


def read_entries(path: Path) -> Iterator[dict[str, Any]]:
    """Entries in order, for showing and exporting (`approver log verify` is what checks them)."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield decode_entry(split_line(raw.rstrip(b"\n"))[0])
            except LineFormatError as exc:
                if not raw.endswith(b"\n"):
                    return  # a torn last line: the service moves it aside when it next starts
                raise LogError(f"{path}:{number}: {exc}") from None


def take_spool(path: Path, writer: DecisionLogWriter) -> int:
    """Move spooled decisions into the log. The spool is renamed first, so proxies writing now start a new one;
    a `.taking` file left by a crash is finished first. Returns how many decisions were taken in."""
    taking = path.with_name(path.name + ".taking")
    if not taking.exists():
        try:
            path.rename(taking)
        except FileNotFoundError:
            return 0
    count = 0
    for facts, digest in read_spool_lines(taking):  # each one only what a proxy alone can say: as_proxy_report
        writer.append(facts)
        writer.spool_ledger.taken(facts, digest)
        count += 1
    taking.unlink()
    return count


class SpoolLoss(NamedTuple):
    missing: list[int]  # line numbers of a proxy's session found nowhere
    altered: list[int]  # line numbers found, but not as the proxy wrote them

    @property
    def tampered(self) -> bool:
        return bool(self.missing or self.altered)


class SpoolLedger:
    """Which spooled lines reached the log, by proxy session, to compare with what each proxy says it spooled.

    A proxy that reconnects tells the service the digest of each line no service has checked yet
    (`Hello.spooled`); a line neither taken into the log since this service started nor waiting in the spool now
    was removed before the service read it, and one found with another digest was edited. Either is written to the
    log as a `spool-loss` entry. A proxy that has exited by then tells nothing: lines it spooled can still vanish
    or change unnoticed."""

    def __init__(self) -> None:
        self._seen: dict[str, dict[int, set[str]]] = {}  # session → line number → digests of lines found
        self._checked: dict[str, int] = {}  # per session, the highest line number already accounted for

    def taken(self, facts: DecisionFacts, digest: str) -> None:
        if facts.spool_session is not None and facts.spool_seq is not None:
            self._seen.setdefault(facts.spool_session, {}).setdefault(facts.spool_seq, set()).add(digest)

    def compare(self, tally: SpoolTally, spool: Path) -> SpoolLoss:
        """The lines of `tally` not found as the proxy wrote them, in the log's intake or in the spool now."""
        first = max(tally.since, self._checked.get(tally.session, 0)) + 1
        if tally.count < first:
            return SpoolLoss([], [])
        self._checked[tally.session] = tally.count
        seen = {number: set(digests) for number, digests in self._seen.get(tally.session, {}).items()}
        for part in spool_files(spool):
            for facts, digest in read_spool_lines(part):
                if facts.spool_session == tally.session and facts.spool_seq is not None:
                    seen.setdefault(facts.spool_seq, set()).add(digest)
        numbers = range(first, tally.count + 1)
        expected = {number: tally.digests[number - tally.since - 1] for number in numbers}
        return SpoolLoss(
            missing=[number for number in numbers if number not in seen],
            altered=[number for number in numbers if number in seen and expected[number] not in seen[number]],
        )


def account_for_spool(writer: DecisionLogWriter, server: str, tally: SpoolTally, spool: Path) -> SpoolLoss:
    """Record in the log any line a reconnecting proxy spooled that is gone or changed (see SpoolLedger)."""
    loss = writer.spool_ledger.compare(tally, spool)
    if loss.tampered:
        what = f"{len(loss.missing)} removed, {len(loss.altered)} edited"
        print(
            f"approver: ALERT: denials spooled by the proxy for '{server}' were tampered with: {what}", file=sys.stderr
        )
        entry = {
            "server": server,
            "spool_session": tally.session,
            "missing": loss.missing,
            "altered": loss.altered,
            "reason": f"denials a proxy spooled did not reach the log as it wrote them ({what}): the spool was "
            "changed before the service read it",
        }
        try:
            writer.append_event("spool-loss", entry)
        except Exception as exc:  # the proxy's calls go on being decided; the log's own failure is reported there
            print(f"approver: could not record the spool loss in the log: {exc}", file=sys.stderr)
    return loss
