"""Transparency-log primitives for the signed decision log (pure: bytes and strings in, bytes and strings out).

The log is signed in public formats, so that anyone can check it with off-the-shelf transparency-log tools instead
of trusting ours:

- RFC 6962 Merkle tree hashing (section 2.1): the tree head commits to every entry, in order, and a later head can
  be shown to extend an earlier one.
- C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the text form of a tree head (origin, size, root).
- C2SP signed-note (https://c2sp.org/signed-note) with Ed25519 (signature type 0x01): how that text is signed and
  how a verifier key is written down; the same format as golang.org/x/mod/sumdb/note and transparency-dev.

Everything parsed here is parsed strictly (canonical base64, no leading zeros, no stray lines): a signed log that
accepts two spellings of one head would let the spellings disagree about what was signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 6962: the hash of an empty list is the hash of an empty string

ED25519_SIGNATURE_TYPE = 0x01  # signed-note's identifier byte for Ed25519; part of the key id and the vkey
ED25519_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
KEY_ID_SIZE = 4
SIGNATURE_PREFIX = "\u2014 "  # EM DASH, SPACE: the start of every signature line
MAX_SIGNATURES = 100  # the spec asks verifiers to bound the work per note and to accept at least 16
MAX_TREE_SIZE = 2**63 - 1  # what Go's tlog tools (int64) can read back

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256

# Signed notes may hold any Unicode but no ASCII control character other than newline (the spec's definition:
# below U+0020; DEL is allowed). Lines are split on "\n" only: str.splitlines would also split on U+2028 and
# friends, which are ordinary text here.
_FORBIDDEN_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")
_TREE_SIZE = re.compile("0|[1-9][0-9]*")
_KEY_ID_HEX = re.compile("[0-9a-f]{8}")


# --- RFC 6962 Merkle tree hashing -----------------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data). The prefix keeps a leaf from ever passing for an interior node."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def root_of(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of `leaves` (the entries themselves, RFC 6962's D[n]), by the RFC's own definition.

    Recursive and slicing at every level: this is the reference that `MerkleAccumulator` is checked against, not
    something to run over a whole log.
    """
    count = len(leaves)
    if count == 0:
        return EMPTY_ROOT
    if count == 1:
        return leaf_hash(leaves[0])
    split = 1 << ((count - 1).bit_length() - 1)  # the largest power of two smaller than count
    return node_hash(root_of(leaves[:split]), root_of(leaves[split:]))


class MerkleAccumulator:
    """An append-only RFC 6962 tree that keeps only its compact range: the roots of its complete subtrees.

    A tree of size n is the perfect subtrees given by the one bits of n, largest (leftmost) first; appending a
    leaf merges equal-sized subtrees the way adding 1 carries in binary. So `append` costs one leaf store plus, on
    average, one node hash, and memory is O(log n). `root` folds the compact range from the right, which costs
    popcount(size) - 1 node hashes.
    """

    __slots__ = ("_size", "_subtree_roots")

    def __init__(self) -> None:
        self._size = 0
        self._subtree_roots: list[bytes] = []  # largest subtree first; subtree i covers the i-th one bit of size

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        """Add the next leaf, given as its leaf hash (`leaf_hash(entry)`), which the log computes anyway for `prev`.

        The length check catches an entry passed where its hash belongs, which would otherwise give a valid-looking
        but wrong root.
        """
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, got {len(leaf_hash)}: pass leaf_hash(entry)")
        subtree_roots = self._subtree_roots
        node = leaf_hash
        carry = self._size
        while carry & 1:  # each trailing one bit of the old size is a subtree of the new node's size: merge it
            node = _sha256(_NODE_PREFIX + subtree_roots.pop() + node).digest()
            carry >>= 1
        subtree_roots.append(node)
        self._size += 1

    def copy(self) -> MerkleAccumulator:
        twin = MerkleAccumulator()
        twin._size = self._size
        twin._subtree_roots = list(self._subtree_roots)
        return twin

    def root(self) -> bytes:
        subtree_roots = self._subtree_roots
        if not subtree_roots:
            return EMPTY_ROOT
        root = subtree_roots[-1]
        for index in range(len(subtree_roots) - 2, -1, -1):
            root = _sha256(_NODE_PREFIX + subtree_roots[index] + root).digest()
        return root


# --- C2SP tlog-checkpoint -------------------------------------------------------------------------------------------


class CheckpointError(ValueError):
    pass


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()  # opaque extra lines, allowed by the spec though not recommended


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    """The note text of a checkpoint: origin, tree size and base64 root hash, one per line."""
    if not origin or "\n" in origin or _FORBIDDEN_CONTROL.search(origin):
        raise CheckpointError(f"origin must be one non-empty line without control characters, got {origin!r}")
    if isinstance(size, bool) or not 0 <= size <= MAX_TREE_SIZE:
        raise CheckpointError(f"tree size must be an integer from 0 to {MAX_TREE_SIZE}, got {size!r}")
    if len(root) != HASH_SIZE:
        raise CheckpointError(f"root hash must be {HASH_SIZE} bytes, got {len(root)}")
    return f"{origin}\n{size}\n{_b64encode(root)}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Read a checkpoint's note text (the text `open_note` returns), rejecting anything not written exactly so."""
    if not text.endswith("\n"):
        raise CheckpointError("checkpoint text must end with a newline")
    if _FORBIDDEN_CONTROL.search(text):
        raise CheckpointError("checkpoint text must not contain control characters other than newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError(f"checkpoint needs origin, size and root hash lines, got {len(lines)} line(s)")
    origin, size_line, root_line, *extensions = lines
    if not origin:
        raise CheckpointError("checkpoint origin (line 1) is empty")
    if not _TREE_SIZE.fullmatch(size_line) or len(size_line) > len(str(MAX_TREE_SIZE)):
        raise CheckpointError(f"checkpoint size (line 2) must be decimal without leading zeros, got {size_line!r}")
    size = int(size_line)
    if size > MAX_TREE_SIZE:
        raise CheckpointError(f"checkpoint size (line 2) is larger than {MAX_TREE_SIZE}")
    root = _b64decode_strict(root_line)
    if root is None or len(root) != HASH_SIZE:
        raise CheckpointError(f"checkpoint root hash (line 3) must be base64 of {HASH_SIZE} bytes, got {root_line!r}")
    for number, extension in enumerate(extensions, start=4):
        if not extension:
            raise CheckpointError(f"checkpoint extension line {number} is empty")
    return Checkpoint(origin=origin, size=size, root=root, extensions=tuple(extensions))


# --- C2SP signed-note, Ed25519 --------------------------------------------------------------------------------------


class KeyFormatError(ValueError):
    """A key name, verifier key (vkey) or key material that the signed-note spec does not allow."""


class NoteError(ValueError):
    pass


class MalformedNote(NoteError):
    pass


class UnknownKey(NoteError):
    """No signature in the note is by a key we were told to trust; the text must then be ignored."""


class BadSignature(NoteError):
    """A signature claims to be by a trusted key and does not verify: the note was altered or forged."""


def key_id_of(name: str, public_key: bytes) -> bytes:
    """SHA-256(name || 0x0A || 0x01 || public key)[:4]: binds the id to name, algorithm and key together."""
    return _sha256(_encoded_name(name) + b"\n" + bytes([ED25519_SIGNATURE_TYPE]) + public_key).digest()[:KEY_ID_SIZE]


def format_vkey(name: str, public_key: bytes) -> str:
    """The verifier key string `name+keyid+base64(0x01 || key)` that sumdb, transparency-dev and witnesses read."""
    if len(public_key) != ED25519_KEY_SIZE:
        raise KeyFormatError(f"an Ed25519 public key is {ED25519_KEY_SIZE} bytes, got {len(public_key)}")
    key_id = key_id_of(name, public_key)
    return f"{name}+{key_id.hex()}+{_b64encode(bytes([ED25519_SIGNATURE_TYPE]) + public_key)}"


def parse_vkey(vkey: str) -> Verifier:
    name, _, rest = vkey.partition("+")
    key_id_hex, separator, key_b64 = rest.partition("+")
    if not separator:
        raise KeyFormatError("a verifier key has the form name+keyid+base64key")
    _check_key_name(name)
    if not _KEY_ID_HEX.fullmatch(key_id_hex):
        raise KeyFormatError(f"verifier key id must be 8 lowercase hex digits, got {key_id_hex!r}")
    key = _b64decode_strict(key_b64)
    if key is None or not key:
        raise KeyFormatError("verifier key material is not base64")
    if key[0] != ED25519_SIGNATURE_TYPE:
        raise KeyFormatError(f"verifier key algorithm 0x{key[0]:02x} is not Ed25519 (0x01)")
    verifier = Verifier(name, key[1:])
    if verifier.key_id.hex() != key_id_hex:
        raise KeyFormatError(f"verifier key id {key_id_hex} does not match its name and key ({verifier.key_id.hex()})")
    return verifier


def split_signature(signature_b64: str) -> tuple[bytes, bytes]:
    """Split the base64 part of a signature line into (4-byte key id, signature bytes)."""
    raw = _b64decode_strict(signature_b64)
    if raw is None or len(raw) <= KEY_ID_SIZE:
        raise MalformedNote(f"signature must be base64 of a 4-byte key id and a signature, got {signature_b64!r}")
    return raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:]


@dataclass(frozen=True)
class Verifier:
    """A trusted Ed25519 key: its name, its 32-byte public key, and the key id derived from both."""

    name: str
    public_key: bytes
    key_id: bytes = field(init=False)
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_key_name(self.name)
        if len(self.public_key) != ED25519_KEY_SIZE:
            raise KeyFormatError(f"an Ed25519 public key is {ED25519_KEY_SIZE} bytes, got {len(self.public_key)}")
        try:
            key = Ed25519PublicKey.from_public_bytes(self.public_key)
        except ValueError as exc:
            raise KeyFormatError(f"not an Ed25519 public key: {exc}") from None
        object.__setattr__(self, "key_id", key_id_of(self.name, self.public_key))
        object.__setattr__(self, "_key", key)

    def vkey(self) -> str:
        return format_vkey(self.name, self.public_key)

    def verify(self, text: str, signature_b64: str) -> bool:
        """Whether `signature_b64` (key id || signature, as on a signature line) is this key's over `text`."""
        try:
            key_id, signature = split_signature(signature_b64)
            message = text.encode("utf-8")
        except (MalformedNote, UnicodeEncodeError):
            return False
        return key_id == self.key_id and self._verifies(message, signature)

    def _verifies(self, message: bytes, signature: bytes) -> bool:
        if len(signature) != ED25519_SIGNATURE_SIZE:
            return False
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


class Signer:
    """An Ed25519 signing key under a name. Built from the 32-byte seed, which is all that needs storing."""

    __slots__ = ("_private_key", "key_id", "name", "public_key")

    name: str
    public_key: bytes
    key_id: bytes
    _private_key: Ed25519PrivateKey

    def __init__(self, name: str, seed: bytes) -> None:
        _check_key_name(name)
        if len(seed) != ED25519_KEY_SIZE:
            raise KeyFormatError(f"an Ed25519 seed is {ED25519_KEY_SIZE} bytes, got {len(seed)}")
        self._private_key = Ed25519PrivateKey.from_private_bytes(seed)
        self.name = name
        self.public_key = self._private_key.public_key().public_bytes_raw()
        self.key_id = key_id_of(name, self.public_key)

    def __repr__(self) -> str:  # never the seed
        return f"Signer(name={self.name!r}, key_id={self.key_id.hex()})"

    def vkey(self) -> str:
        return format_vkey(self.name, self.public_key)

    def verifier(self) -> Verifier:
        return Verifier(self.name, self.public_key)

    def sign(self, text: str) -> str:
        """The signature line (`— name base64(key id || signature)` and a newline) for the note text `text`."""
        signature = self._private_key.sign(_encoded_note_text(text))
        return f"{SIGNATURE_PREFIX}{self.name} {_b64encode(self.key_id + signature)}\n"

    def sign_note(self, text: str) -> str:
        """The complete signed note: the text, a blank line, this key's signature line."""
        return text + "\n" + self.sign(text)


def open_note(note: str, verifiers: Sequence[Verifier]) -> str:
    """The text of `note`, once a signature by one of `verifiers` has verified over it.

    Following the spec, signatures by keys not in `verifiers` (other name or key id) are ignored, any signature by
    a key in `verifiers` must verify, and at least one must be present. Several verifiers may share a name and key
    id (only a deliberate 32-bit collision does that); a signature then counts if any of them accepts it.
    """
    if _FORBIDDEN_CONTROL.search(note):
        raise MalformedNote("note contains a control character other than newline")
    try:
        note.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedNote("note is not valid UTF-8 (it holds a lone surrogate)") from None
    separator = note.rfind("\n\n")  # the text may hold blank lines; the last one starts the signatures
    if separator < 0:
        raise MalformedNote("note has no blank line before its signatures")
    text, block = note[: separator + 1], note[separator + 2 :]
    if not block.endswith("\n"):
        raise MalformedNote("note has no signature lines, or its last one does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNote(f"note has {len(lines)} signatures, more than the {MAX_SIGNATURES} accepted")
    message = text.encode("utf-8")
    seen: list[str] = []
    verified = False
    for number, line in enumerate(lines, start=1):
        if not line.startswith(SIGNATURE_PREFIX):
            raise MalformedNote(f"signature line {number} does not start with an em dash and a space: {line!r}")
        name, space, signature_b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if not space or _name_problem(name) is not None:
            raise MalformedNote(f"signature line {number} has no valid key name: {line!r}")
        key_id, signature = split_signature(signature_b64)
        seen.append(f"{name}+{key_id.hex()}")
        candidates = [v for v in verifiers if v.name == name and v.key_id == key_id]
        if not candidates:
            continue
        if not any(candidate._verifies(message, signature) for candidate in candidates):
            raise BadSignature(f"signature by {name}+{key_id.hex()} does not verify: the note was altered or forged")
        verified = True
    if not verified:
        known = ", ".join(f"{v.name}+{v.key_id.hex()}" for v in verifiers) or "none"
        raise UnknownKey(f"note is not signed by a trusted key (signed by {', '.join(seen)}; trusted: {known})")
    return text


# --- helpers --------------------------------------------------------------------------------------------------------


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode_strict(text: str) -> bytes | None:
    """Standard base64 with padding, in its one canonical spelling (unused trailing bits zero), else None."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII input
        return None
    return raw if _b64encode(raw) == text else None


def _name_problem(name: str) -> str | None:
    if not name:
        return "is empty"
    if "+" in name:
        return "contains '+'"
    if any(character.isspace() for character in name):
        return "contains a space"
    if _FORBIDDEN_CONTROL.search(name):
        return "contains a control character"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    return None


def _check_key_name(name: str) -> None:
    problem = _name_problem(name)
    if problem is not None:
        raise KeyFormatError(f"key name {name!r} {problem}")


def _encoded_name(name: str) -> bytes:
    _check_key_name(name)
    return name.encode("utf-8")


def _encoded_note_text(text: str) -> bytes:
    """Note text as signed: it must end in a newline and hold nothing a verifier would reject as malformed."""
    if not text.endswith("\n"):
        raise MalformedNote("note text must end with a newline")
    if _FORBIDDEN_CONTROL.search(text):
        raise MalformedNote("note text must not contain control characters other than newline")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedNote("note text is not valid UTF-8 (it holds a lone surrogate)") from None
