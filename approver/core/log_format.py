"""The signed decision log's format, and its verification (pure: bytes in, findings out).

One JSON line per entry: `{"e":ENTRY,"s":SIGNATURE}`.

- ENTRY is canonical JSON (RFC 8785, via `rfc8785`), with `v`, `seq` (0 for the genesis entry), `prev` (hex RFC
  6962 leaf hash of the previous entry; 64 zeros for genesis), `ts` (RFC 3339, UTC, milliseconds) and `kind`
  (genesis | decision | outcome | rule-change | key-rotation …; an outcome follows the allow it names by `digest`
  and `decision_seq`). Only a call's arguments may hold floats, which RFC 8785 writes in ECMAScript's shortest
  form; numbers it cannot write are marked (`loggable_arguments`).
- The entry's leaf hash is SHA-256(0x00 || the ENTRY bytes exactly as stored); the log keeps the RFC 6962 tree
  of all leaf hashes.
- SIGNATURE is the base64 part of a C2SP signed-note signature line (key id || Ed25519 signature) over the C2SP
  checkpoint of the log up to and including that line: `origin\\nsize\\nbase64(root)\\n`. So every prefix of the
  log carries a standard checkpoint that third-party C2SP tooling verifies with the log's vkey.

Callers hand over what happened (`DecisionFacts`, `RuleChange`); this module decides how it is written.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import rfc8785
from pydantic import BaseModel, ConfigDict, Field

from approver.core.models import TOOLS_CALL, Actor, Decision, Requester, ToolCall, Verdict
from approver.core.results import ResultReport
from approver.core.tlog import (
    SIGNATURE_PREFIX,
    KeyFormatError,
    MerkleAccumulator,
    NoteError,
    Signer,
    Verifier,
    checkpoint_text,
    leaf_hash,
    open_note,
    parse_checkpoint,
    parse_vkey,
    split_signature,
)

FORMAT_VERSION = 1
GENESIS_PREV = "0" * 64
_LINE_HEAD = b'{"e":'
_LINE_SIGNATURE = b',"s":"'
_LINE_TAIL = b'"}'
_SAFE_INTEGER = 2**53 - 1  # I-JSON's and RFC 8785's bound: integers beyond it are not exact as IEEE doubles


class DecisionFacts(BaseModel):
    """Everything a decision entry records, besides its place in the log."""

    model_config = ConfigDict(frozen=True)

    server: str
    tool: str
    client: str
    request_id: str
    digest: str
    decision: Decision
    actor: Actor
    reason: str
    rule: str | None = None
    # "unverified-socket-client": the service decided on a call a process described over its socket (`requester`,
    # as the kernel named it), which it cannot vouch for; "proxy": a proxy decided alone (service unreachable);
    # "service": the call reached the service another way (in-process).
    source: str = "service"
    requester: Requester | None = None
    decided_at: str | None = None  # set on proxy decisions: when it was made, before the service took it in
    arguments: dict[str, Any] | None = None  # the call's arguments; redacted by the writer before anything else
    shown_digest: str | None = None  # a person decided: the digest of the text they saw
    spool_session: str | None = None  # spooled by a proxy: its session, and the line's number within it
    spool_seq: Annotated[int, Field(ge=1, le=_SAFE_INTEGER)] | None = None
    method: str | None = None  # the request's method when it is not tools/call (resources/read, …)

    @classmethod
    def of(cls, call: ToolCall, verdict: Verdict, *, by_proxy: bool = False) -> DecisionFacts:
        client = call.client.name + (f" {call.client.version}" if call.client.version else "")
        return cls(
            server=call.server,
            tool=call.tool,
            client=client,
            request_id=str(call.request_id),
            digest=call.digest,
            decision=verdict.decision,
            actor=verdict.actor,
            reason=verdict.reason,
            rule=verdict.rule,
            source="proxy" if by_proxy else "service" if call.requester is None else "unverified-socket-client",
            requester=None if by_proxy else call.requester,
            decided_at=rfc3339_now() if by_proxy else None,
            arguments=None if by_proxy else call.arguments,  # a proxy cannot redact: it holds no key
            method=None if call.method == TOOLS_CALL else call.method,
        )


def outcome_body(call: ToolCall, report: ResultReport, decision_seq: int | None) -> dict[str, Any]:
    """An outcome entry's fields: which call (by its request digest, and the seq of the allow that let it through),
    and what came back — size, digest, isError and findings, never the content."""
    body: dict[str, Any] = {
        "server": call.server,
        "tool": call.tool,
        "request_id": str(call.request_id),
        "digest": call.digest,
        **report.model_dump(mode="json", exclude_none=True),
    }
    if call.method != TOOLS_CALL:
        body["method"] = call.method
    if decision_seq is not None:
        body["decision_seq"] = decision_seq
    return body


def rfc3339_now() -> str:
    return rfc3339(datetime.now(UTC))


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json_dumps_is_jcs(value: Any) -> bool:
    """Whether json.dumps(sort_keys, compact, ensure_ascii=False) gives exactly the RFC 8785 bytes of `value`.

    It does for objects, arrays, strings, booleans, null and integers within ±2^53: the same escapes (only ",
    \\ and control characters, with lowercase hex), and the same key order — except for keys with characters
    outside the Basic Multilingual Plane, which JCS orders by UTF-16 code units. Floats are formatted
    differently. Checking is a walk with isinstance tests, far cheaper than the pure-Python canonicaliser.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, member in item.items():
                if not isinstance(key, str) or (key and max(key) > "\uffff"):
                    return False
                stack.append(member)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        elif isinstance(item, int):
            if not -_SAFE_INTEGER <= item <= _SAFE_INTEGER:
                return False
        else:
            return False
    return True


def canonical(entry: dict[str, Any]) -> bytes:
    """RFC 8785 bytes of `entry`: via json.dumps where that is provably identical, else via `rfc8785`."""
    if _json_dumps_is_jcs(entry):
        return json.dumps(entry, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return bytes(rfc8785.dumps(entry))


def encode_line(entry_bytes: bytes, signature: str) -> bytes:
    """The stored line (without newline). It is itself the JCS form of {"e": ENTRY, "s": SIGNATURE}."""
    return _LINE_HEAD + entry_bytes + _LINE_SIGNATURE + signature.encode("ascii") + _LINE_TAIL


class LineFormatError(ValueError):
    pass


def split_line(line: bytes) -> tuple[bytes, str]:
    """The ENTRY bytes exactly as stored, and the signature, of one line; strict about the line's shape."""
    if not (line.startswith(_LINE_HEAD) and line.endswith(_LINE_TAIL)):
        raise LineFormatError('not a log line of the form {"e":…,"s":"…"}')
    cut = line.rfind(_LINE_SIGNATURE)
    if cut < len(_LINE_HEAD):
        raise LineFormatError("the line has no signature")
    signature = line[cut + len(_LINE_SIGNATURE) : -len(_LINE_TAIL)]
    try:
        return line[len(_LINE_HEAD) : cut], signature.decode("ascii")
    except UnicodeDecodeError:
        raise LineFormatError("the signature is not base64") from None


def decode_entry(entry_bytes: bytes) -> dict[str, Any]:
    try:
        entry = json.loads(entry_bytes)
    except (ValueError, RecursionError) as exc:
        raise LineFormatError(f"the entry is not JSON: {exc}") from None
    if not isinstance(entry, dict) or not isinstance(entry.get("seq"), int) or not isinstance(entry.get("kind"), str):
        raise LineFormatError("the entry lacks seq or kind")
    return entry


# -- building entries -------------------------------------------------------------------------------------------------


def genesis_entry(ts: str, origin: str, vkey: str, key_store: str, software: str) -> dict[str, Any]:
    return {
        "v": FORMAT_VERSION,
        "seq": 0,
        "prev": GENESIS_PREV,
        "ts": ts,
        "kind": "genesis",
        "origin": origin,
        "vkey": vkey,
        "key_store": key_store,
        "software": software,
    }


LOGGED_STRING_LIMIT = 4096  # characters of one argument string kept in the log; the rest is summarised


def loggable_arguments(value: Any, limit: int = LOGGED_STRING_LIMIT) -> Any:
    """A copy of a call's arguments that the log can always hold, made before redaction (which then reads only
    what is kept). The entry's request digest still binds the exact bytes that were forwarded; this copy is for
    people to read.

    - Every string longer than `limit` keeps its first `limit` characters and says how long it was and the
      SHA-256 of the whole, so the log stays bounded (a 20 MB argument would otherwise be written, hashed and
      redacted in full on every call).
    - A number canonical JSON (RFC 8785) cannot hold — an integer beyond ±(2^53 - 1), or a float that overflowed
      to infinity while parsing (1e400) — becomes `{"$number": TEXT}`. Otherwise the entry could not be written,
      and a decision that is not written cannot take effect: any agent could get its calls denied unrecorded.
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return value
        whole = value.encode("utf-8", "surrogatepass")
        digest = hashlib.sha256(whole).hexdigest()
        return f"{value[:limit]}[… elided: {len(value):,} characters, {len(whole):,} bytes, sha256:{digest}]"
    if isinstance(value, dict):
        return {key: loggable_arguments(member, limit) for key, member in value.items()}
    if isinstance(value, list):
        return [loggable_arguments(member, limit) for member in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and not -_SAFE_INTEGER <= value <= _SAFE_INTEGER:
        return {"$number": _integer_text(value)}
    if isinstance(value, float) and not math.isfinite(value):
        return {"$number": "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}
    return value


def _integer_text(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # beyond Python's int-to-text digit limit (sys.set_int_max_str_digits)
        return f"{'-' if value < 0 else ''}an integer of {value.bit_length()} bits"


class ArgumentsOmitted(StrEnum):
    """Why a decision entry carries no arguments."""

    NOT_KEPT = "not kept: a proxy decided alone and keeps no arguments on disk"
    REDACTION_FAILED = "left out: redaction failed, and arguments are never logged unredacted"
    UNWRITABLE = "left out: they could not be written as canonical JSON"


def decision_body(
    facts: DecisionFacts, arguments: Any, redactions: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """The decision's fields as logged; `arguments` are the redacted arguments, or why there are none."""
    body = facts.model_dump(mode="json", exclude_none=True, exclude={"arguments"})
    if isinstance(arguments, ArgumentsOmitted):
        body["arguments_omitted"] = arguments.value
    else:
        body["arguments"] = arguments
        if redactions:
            body["redactions"] = redactions
    return body


class EntryChain:
    """The writer's running state: the next seq, the previous leaf hash and the tree."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.tree = MerkleAccumulator()
        self.prev = GENESIS_PREV
        self.signed_note: str | None = None  # the newest checkpoint as a signed note, once this chain signed one

    @property
    def next_seq(self) -> int:
        return self.tree.size

    def entry(self, ts: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"v": FORMAT_VERSION, "seq": self.next_seq, "prev": self.prev, "ts": ts, "kind": kind, **body}

    def seal(self, entry_bytes: bytes, signer: Signer) -> bytes:
        """Add an encoded entry to the chain and return its signed line."""
        leaf = leaf_hash(entry_bytes)
        self.tree.append(leaf)
        self.prev = leaf.hex()
        checkpoint = self.checkpoint()
        signature = signature_b64(signer, checkpoint)
        self.signed_note = signed_note(checkpoint, signer.name, signature)
        return encode_line(entry_bytes, signature)

    def copy(self) -> EntryChain:
        twin = EntryChain(self.origin)
        twin.tree = self.tree.copy()
        twin.prev = self.prev
        twin.signed_note = self.signed_note
        return twin

    def restore(self, entry_bytes: bytes) -> None:
        """Replay an entry already in the file."""
        leaf = leaf_hash(entry_bytes)
        self.tree.append(leaf)
        self.prev = leaf.hex()

    def checkpoint(self) -> str:
        return checkpoint_text(self.origin, self.tree.size, self.tree.root())


def signed_note(checkpoint: str, key_name: str, signature: str) -> str:
    """A line's signature is a signature of the log's checkpoint at that line: together they are a signed note."""
    return f"{checkpoint}\n{SIGNATURE_PREFIX}{key_name} {signature}\n"


def signature_b64(signer: Signer, text: str) -> str:
    line = signer.sign(text)  # "— name base64\n"
    return line.rsplit(" ", 1)[1].rstrip("\n")


# -- verification -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    line: int  # 1-based line number in the file
    what: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.what}"


@dataclass(frozen=True)
class Anchor:
    """A checkpoint kept outside the log (in the keyring, or a file an admin holds)."""

    source: str
    size: int
    root: bytes
    origin: str


@dataclass
class Audit:
    """The result of reading a whole log."""

    entries: int = 0
    origin: str | None = None
    keys: list[tuple[int, str]] = field(default_factory=list)  # (first seq, vkey) in order
    problem: Problem | None = None
    final_checkpoint: str | None = None
    final_note: str | None = None  # the newest line's signature with the checkpoint it signs: a C2SP signed note
    anchors_checked: list[str] = field(default_factory=list)
    trusted: bool = False  # the final key was matched against a key we trust (keyring or given)
    replaced: str | None = None  # the log this one was begun to replace when it went missing (`log reset`)

    @property
    def intact(self) -> bool:
        return self.problem is None


class LogAuditor:
    """Reads a log line by line: chain, seq and tree for every line; signatures where they decide something —
    every key-rotation line, the newest line, the line before a break, and every anchor (a few µs a line, so a
    million entries verify in seconds). Every byte of every entry is covered by the tree the newest signature
    signs; `every_signature` also checks each line's own signature, at ~60 µs a line."""

    def __init__(
        self, anchors: Sequence[Anchor] = (), trusted: Sequence[Verifier] = (), *, every_signature: bool = False
    ) -> None:
        self.audit = Audit()
        self._every_signature = every_signature
        self._anchors: dict[int, list[Anchor]] = {}
        for anchor in anchors:
            self._anchors.setdefault(anchor.size, []).append(anchor)
        self._anchor_list = list(anchors)
        self._trusted = list(trusted)
        self._chain: EntryChain | None = None
        self._verifier: Verifier | None = None
        # The newest line: its number, its signature, and the key that must have signed it (a key-rotation line
        # is signed by the outgoing key).
        self._last: tuple[int, str, Verifier] | None = None

    @property
    def chain(self) -> EntryChain | None:
        """The chain as read so far (what a writer continues from)."""
        return self._chain

    def feed(self, number: int, line: bytes) -> bool:
        """Check one line; returns False once a problem is found (later lines are not read)."""
        if self.audit.problem is not None:
            return False
        try:
            entry_bytes, signature = split_line(line)
            entry = decode_entry(entry_bytes)
        except LineFormatError as exc:
            return self._fail(number, str(exc))
        chain = self._chain
        if chain is None:
            return self._genesis(number, entry, entry_bytes, signature)
        if entry["seq"] != chain.next_seq:
            return self._fail(
                number, f"expected seq {chain.next_seq}, found {entry['seq']}: entries were removed, added or reordered"
            )
        if entry.get("prev") != chain.prev:
            return self._break(number, signature_of_previous=self._last)
        chain.restore(entry_bytes)
        self.audit.entries += 1
        signed_by = self._verifier
        assert signed_by is not None
        if entry["kind"] == "key-rotation":
            if not self._rotate(number, entry, signature):
                return False
        elif self._every_signature and not self._signed(signature):
            return self._fail(number, "the line's signature does not verify (the signature was changed)")
        for anchor in self._anchors.get(chain.tree.size, ()):
            if not self._check_anchor(number, anchor):
                return False
        self._last = (number, signature, signed_by)
        return True

    def _genesis(self, number: int, entry: dict[str, Any], entry_bytes: bytes, signature: str) -> bool:
        if entry.get("kind") != "genesis" or entry["seq"] != 0 or entry.get("prev") != GENESIS_PREV:
            return self._fail(number, "the log does not start with its genesis entry")
        origin, vkey = entry.get("origin"), entry.get("vkey")
        if not isinstance(origin, str) or not isinstance(vkey, str):
            return self._fail(number, "the genesis entry names no origin or key")
        try:
            self._verifier = parse_vkey(vkey)
        except KeyFormatError as exc:
            return self._fail(number, f"the genesis key is malformed: {exc}")
        self._chain = EntryChain(origin)
        self._chain.restore(entry_bytes)
        self.audit.origin = origin
        self.audit.entries = 1
        if "replaces" in entry:
            self.audit.replaced = describe_replaced(entry["replaces"])
        self.audit.keys.append((0, vkey))
        self._last = (number, signature, self._verifier)
        if not self._signed(signature):
            return self._fail(number, "the genesis entry's signature does not verify")
        return True

    def _rotate(self, number: int, entry: dict[str, Any], signature: str) -> bool:
        """A rotation line is signed by the outgoing key and names the incoming one."""
        if not self._signed(signature):
            return self._fail(number, "the key-rotation entry is not signed by the key it replaces")
        try:
            self._verifier = parse_vkey(str(entry.get("new_vkey")))
        except KeyFormatError as exc:
            return self._fail(number, f"the key-rotation entry names a malformed key: {exc}")
        self.audit.keys.append((entry["seq"] + 1, self._verifier.vkey()))
        return True

    def _check_anchor(self, number: int, anchor: Anchor) -> bool:
        assert self._chain is not None
        if anchor.origin != self._chain.origin:
            return self._fail(number, f"{anchor.source} is for another log ({anchor.origin})")
        if self._chain.tree.root() != anchor.root:
            return self._fail(
                number, f"the log's first {anchor.size} entries differ from {anchor.source}: history was rewritten"
            )
        self.audit.anchors_checked.append(anchor.source)
        return True

    def _signed(self, signature: str, verifier: Verifier | None = None) -> bool:
        """Does `signature` sign the chain's current checkpoint with `verifier`'s key (by default the current key)?"""
        verifier = verifier or self._verifier
        assert self._chain is not None and verifier is not None
        try:
            key_id, _ = split_signature(signature)
        except ValueError:
            return False
        if key_id != verifier.key_id:
            return False
        return verifier.verify(self._chain.checkpoint(), signature)

    def _break(self, number: int, signature_of_previous: tuple[int, str, Verifier] | None) -> bool:
        """The chain breaks here: either the previous line was changed (its own signature then fails) or this one."""
        assert self._chain is not None
        if signature_of_previous is not None:
            previous, signature, verifier = signature_of_previous
            if not self._signed(signature, verifier):
                return self._fail(previous, "the entry was changed: its signature does not verify")
        return self._fail(number, "the entry does not chain to the one before it (prev was changed)")

    def _fail(self, number: int, what: str) -> bool:
        self.audit.problem = Problem(number, what)
        return False

    def finish(self, total_lines: int) -> Audit:
        """After the last line: the newest signature, anchors beyond the end, and trust in the final key."""
        audit = self.audit
        if audit.problem is not None:
            return audit
        if self._chain is None or self._last is None:
            audit.problem = Problem(1, "the log is empty")
            return audit
        number, signature, verifier = self._last
        if not self._signed(signature, verifier):
            self._fail(number, "the entry was changed: its signature does not verify")
            return audit
        for anchor in self._anchor_list:
            if anchor.size > self._chain.tree.size:
                self._fail(
                    total_lines,
                    f"the log has {self._chain.tree.size} entries but {anchor.source} shows {anchor.size}: "
                    "it was truncated or rolled back",
                )
                return audit
        assert self._verifier is not None
        if self._trusted:
            if all(
                v.key_id != self._verifier.key_id or v.public_key != self._verifier.public_key for v in self._trusted
            ):
                self._fail(
                    number, "the log is signed by a key that is not the trusted one (another key was swapped in)"
                )
                return audit
            audit.trusted = True
        audit.final_checkpoint = self._chain.checkpoint()
        audit.final_note = signed_note(audit.final_checkpoint, verifier.name, signature)
        return audit


class AnchorError(ValueError):
    pass


def describe_replaced(replaces: object) -> str:
    """What a genesis entry says about the log that went missing before it: its origin, and its size when the
    keyring last held its checkpoint."""
    if not isinstance(replaces, dict):
        return "an unnamed log"
    what = f"the log {replaces.get('origin')}"
    note = replaces.get("checkpoint")
    if isinstance(note, str):
        try:
            what += f" ({unverified_anchor('kept', note).size} entries at its last checkpoint)"
        except AnchorError:
            what += " (its last checkpoint is unreadable)"
    return what


def unverified_anchor(source: str, note: str) -> Anchor:
    """The checkpoint of a signed note, before its signature is checked: which key must have signed it is only
    known once the log (and its key rotations) has been read. Check it then with `check_anchor_signatures`."""
    text, separator, _signatures = note.rpartition("\n\n")
    if not separator:
        raise AnchorError(f"{source}: not a signed checkpoint note")
    try:
        return anchor_from_checkpoint(source, text + "\n")
    except ValueError as exc:
        raise AnchorError(f"{source}: not a checkpoint: {exc}") from None


def check_anchor_signatures(audit: Audit, notes: Sequence[tuple[str, str]]) -> None:
    """Every anchor note must be signed by a key of this log; raises AnchorError naming the first that is not."""
    keys = [parse_vkey(vkey) for _, vkey in audit.keys]
    for source, note in notes:
        try:
            open_note(note, keys)
        except NoteError as exc:
            raise AnchorError(f"{source}: the anchor's signature does not verify with the log's keys: {exc}") from None


def anchor_from_checkpoint(source: str, note_text: str) -> Anchor:
    checkpoint = parse_checkpoint(note_text)
    return Anchor(source=source, size=checkpoint.size, root=checkpoint.root, origin=checkpoint.origin)
