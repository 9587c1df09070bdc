"""Transparency-log primitives against published vectors, so our log reads the same in other tools.

Sources (test data only, copied verbatim):
- transparency-dev/merkle, testonly/constants.go: the eight RFC 6962 leaf inputs, their leaf hashes, and the tree
  roots for sizes 0..8.
- golang/mod, sumdb/tlog/note_test.go (TestFormatTree): a tree head in checkpoint form.
- golang/mod, sumdb/note/note_test.go: the PeterNeumann and EnochRoot keys, note text, signatures, and the mangled
  keys and malformed notes that must be refused.
- C2SP/C2SP, signed-note.md and tlog-checkpoint.md: the example note and checkpoint.
"""

import base64
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from approver.core.tlog import (
    EMPTY_ROOT,
    BadSignature,
    Checkpoint,
    CheckpointError,
    KeyFormatError,
    MalformedNote,
    MerkleAccumulator,
    Signer,
    UnknownKey,
    Verifier,
    checkpoint_text,
    format_vkey,
    key_id_of,
    leaf_hash,
    node_hash,
    open_note,
    parse_checkpoint,
    parse_vkey,
    root_of,
    split_signature,
)

# --- transparency-dev/merkle testonly/constants.go ------------------------------------------------------------------

LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
]
LEAF_HASHES = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
]
ROOTS_BY_SIZE = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# Level-1 node over leaves 0 and 1, from the same file's NodeHashes.
NODE_0_1 = "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"

# --- golang/mod sumdb/tlog/note_test.go (TestFormatTree) ------------------------------------------------------------

GO_TREE_TEXT = "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n"

# --- golang/mod sumdb/note/note_test.go -----------------------------------------------------------------------------

PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG_B64 = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
PETER_SIG = "— PeterNeumann " + PETER_SIG_B64 + "\n"
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
PETER_NOTE = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
BAD_VKEYS_WITH_ADJUSTED_KEY_IDS = [
    "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",  # wrong key length
    "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # unknown algorithm
]
MALFORMED_NOTES = [
    TEXT,
    TEXT + "\n",
    TEXT + "\n" + PETER_SIG[:-1],
    "\x01" + TEXT + "\n" + PETER_SIG,
    TEXT
    + "\n"
    + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
    TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
]

# --- C2SP/C2SP signed-note.md and tlog-checkpoint.md ----------------------------------------------------------------

C2SP_NOTE = (
    "Ognuno sta solo sul cuor della terra\n"
    "trafitto da un raggio di sole:\n"
    "\n"
    "ed è subito sera.\n"
    "\n"
    "— quasimodo.example/salvatore "
    "NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
)
C2SP_CHECKPOINT_TEXT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def peter_seed() -> bytes:
    """The Ed25519 seed inside Go's PRIVATE+KEY+name+id+base64(0x01 || seed) signer key."""
    encoded = base64.b64decode(PETER_SKEY.split("+", 4)[4])  # PRIVATE, KEY, name, key id, key
    assert encoded[0] == 0x01
    return encoded[1:]


def with_sig_bytes(sig_b64: str, key_id: bytes | None = None, flip_bit_at: int | None = None) -> str:
    raw = bytearray(base64.b64decode(sig_b64))
    if key_id is not None:
        raw[:4] = key_id
    if flip_bit_at is not None:
        raw[flip_bit_at] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


# --- Merkle -----------------------------------------------------------------------------------------------------------


def test_leaf_and_node_hashes_match_the_published_vectors() -> None:
    assert [leaf_hash(data).hex() for data in LEAF_INPUTS] == LEAF_HASHES
    assert node_hash(leaf_hash(LEAF_INPUTS[0]), leaf_hash(LEAF_INPUTS[1])).hex() == NODE_0_1


@pytest.mark.parametrize("size", range(9))
def test_reference_root_matches_the_published_root_for_every_prefix(size: int) -> None:
    assert root_of(LEAF_INPUTS[:size]).hex() == ROOTS_BY_SIZE[size]


def test_accumulator_matches_the_published_root_after_every_append() -> None:
    accumulator = MerkleAccumulator()
    assert accumulator.size == 0
    assert accumulator.root() == EMPTY_ROOT
    assert accumulator.root().hex() == ROOTS_BY_SIZE[0]
    for size, data in enumerate(LEAF_INPUTS, start=1):
        accumulator.append(leaf_hash(data))
        assert accumulator.size == size
        assert accumulator.root().hex() == ROOTS_BY_SIZE[size]


def test_accumulator_equals_the_reference_at_every_size_up_to_300() -> None:
    rng = random.Random(6962)
    entries = [rng.randbytes(rng.randrange(40)) for _ in range(300)]
    accumulator = MerkleAccumulator()
    for size, entry in enumerate(entries, start=1):
        accumulator.append(leaf_hash(entry))
        assert accumulator.root() == root_of(entries[:size]), size


@given(st.lists(st.binary(max_size=24), max_size=300))
def test_accumulator_equals_the_reference_for_random_entries(entries: list[bytes]) -> None:
    accumulator = MerkleAccumulator()
    for entry in entries:
        accumulator.append(leaf_hash(entry))
    assert accumulator.size == len(entries)
    assert accumulator.root() == root_of(entries)


def test_root_does_not_disturb_later_appends() -> None:
    interleaved = MerkleAccumulator()
    for data in LEAF_INPUTS:
        interleaved.root()
        interleaved.append(leaf_hash(data))
        interleaved.root()
    assert interleaved.root().hex() == ROOTS_BY_SIZE[8]


@pytest.mark.parametrize("wrong", [b"", b"entry bytes, not a hash", bytes(31), bytes(33)])
def test_accumulator_takes_only_32_byte_leaf_hashes(wrong: bytes) -> None:
    with pytest.raises(ValueError, match="leaf hash"):
        MerkleAccumulator().append(wrong)


# --- checkpoints ------------------------------------------------------------------------------------------------------


def test_checkpoint_text_matches_go_sumdb_tree_format() -> None:
    # Go's RecordHash is the RFC 6962 leaf hash.
    assert checkpoint_text("go.sum database tree", 123456789012, leaf_hash(b"hello world")) == GO_TREE_TEXT
    assert parse_checkpoint(GO_TREE_TEXT) == Checkpoint("go.sum database tree", 123456789012, leaf_hash(b"hello world"))


def test_c2sp_example_checkpoint_parses_and_round_trips() -> None:
    checkpoint = parse_checkpoint(C2SP_CHECKPOINT_TEXT)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert checkpoint.extensions == ()
    assert checkpoint_text(checkpoint.origin, checkpoint.size, checkpoint.root) == C2SP_CHECKPOINT_TEXT


def test_empty_tree_checkpoint() -> None:
    text = checkpoint_text("example.com/log", 0, EMPTY_ROOT)
    assert text == "example.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    assert parse_checkpoint(text) == Checkpoint("example.com/log", 0, EMPTY_ROOT)


def test_extension_lines_are_kept() -> None:
    checkpoint = parse_checkpoint(C2SP_CHECKPOINT_TEXT + "ext one\n— not a signature here\n")
    assert checkpoint.extensions == ("ext one", "— not a signature here")


ROOT_LINE = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="


@pytest.mark.parametrize(
    "text",
    [
        "",
        "example.com/log\n1\n" + ROOT_LINE,  # no final newline
        "example.com/log\n1\n",  # no root line
        "\n1\n" + ROOT_LINE + "\n",  # empty origin
        "example.com/log\n01\n" + ROOT_LINE + "\n",  # leading zero
        "example.com/log\n+1\n" + ROOT_LINE + "\n",
        "example.com/log\n-1\n" + ROOT_LINE + "\n",
        "example.com/log\n 1\n" + ROOT_LINE + "\n",
        "example.com/log\n1_0\n" + ROOT_LINE + "\n",
        "example.com/log\n0x10\n" + ROOT_LINE + "\n",
        "example.com/log\n١\n" + ROOT_LINE + "\n",  # ARABIC-INDIC DIGIT ONE: int() would take it
        "example.com/log\n9223372036854775808\n" + ROOT_LINE + "\n",  # one past int64
        "example.com/log\n" + "9" * 5000 + "\n" + ROOT_LINE + "\n",
        "example.com/log\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n",  # no padding
        "example.com/log\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n",  # non-zero unused bits
        "example.com/log\n1\nCsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=\n",  # URL alphabet
        "example.com/log\n1\nAAAA\n",  # not 32 bytes
        "example.com/log\n1\n" + ROOT_LINE + "\n\n",  # empty extension line
        "example.com/log\n1\n" + ROOT_LINE + "\nextension\n\n",
        "example.com/log\r\n1\n" + ROOT_LINE + "\n",  # control character
        "example.com/log\t\n1\n" + ROOT_LINE + "\n",
    ],
)
def test_parse_checkpoint_is_strict(text: str) -> None:
    with pytest.raises(CheckpointError):
        parse_checkpoint(text)


def test_lines_split_only_on_newline() -> None:
    # U+2028 LINE SEPARATOR is ordinary text in a note, not a line break.
    checkpoint = parse_checkpoint("example.com/\u2028log\n7\n" + ROOT_LINE + "\n")
    assert checkpoint.origin == "example.com/\u2028log"


@pytest.mark.parametrize(
    ("origin", "size", "root"),
    [
        ("", 1, EMPTY_ROOT),
        ("a\nb", 1, EMPTY_ROOT),
        ("a\rb", 1, EMPTY_ROOT),
        ("example.com/log", -1, EMPTY_ROOT),
        ("example.com/log", 2**63, EMPTY_ROOT),
        ("example.com/log", True, EMPTY_ROOT),
        ("example.com/log", 1, EMPTY_ROOT[:31]),
    ],
)
def test_checkpoint_text_refuses_what_it_could_not_parse_back(origin: str, size: int, root: bytes) -> None:
    with pytest.raises(CheckpointError):
        checkpoint_text(origin, size, root)


# --- verifier keys ----------------------------------------------------------------------------------------------------


def test_go_verifier_key_parses() -> None:
    verifier = parse_vkey(PETER_VKEY)
    assert verifier.name == "PeterNeumann"
    assert verifier.key_id.hex() == "c74f20a3"
    assert verifier.public_key == base64.b64decode("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")[1:]
    assert verifier.vkey() == PETER_VKEY
    assert format_vkey(verifier.name, verifier.public_key) == PETER_VKEY
    assert parse_vkey(ENOCH_VKEY).vkey() == ENOCH_VKEY


def test_signer_from_published_seed_has_the_published_key() -> None:
    signer = Signer("PeterNeumann", peter_seed())
    assert signer.key_id.hex() == "c74f20a3"
    assert signer.vkey() == PETER_VKEY
    assert signer.verifier() == parse_vkey(PETER_VKEY)
    assert key_id_of("PeterNeumann", signer.public_key) == bytes.fromhex("c74f20a3")
    assert peter_seed().hex() not in repr(signer)


def test_vkey_round_trip_for_a_new_key() -> None:
    signer = Signer("example.com/approver-log", bytes(range(32)))
    vkey = signer.vkey()
    assert vkey.startswith(f"example.com/approver-log+{signer.key_id.hex()}+")
    verifier = parse_vkey(vkey)
    assert verifier == signer.verifier()
    assert verifier.vkey() == vkey


@pytest.mark.parametrize("vkey", BAD_VKEYS_WITH_ADJUSTED_KEY_IDS)
def test_go_bad_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(KeyFormatError):
        parse_vkey(vkey)


def test_every_proper_substring_and_every_single_character_change_of_a_vkey_is_refused() -> None:
    for start in range(len(PETER_VKEY)):
        for end in range(start + 1, len(PETER_VKEY) + 1):
            if (start, end) != (0, len(PETER_VKEY)):
                with pytest.raises(KeyFormatError):
                    parse_vkey(PETER_VKEY[start:end])
    for index, character in enumerate(PETER_VKEY):
        mangled = PETER_VKEY[:index] + chr(ord(character) + 1) + PETER_VKEY[index + 1 :]
        with pytest.raises(KeyFormatError):
            parse_vkey(mangled)


@pytest.mark.parametrize(
    "vkey",
    [
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # key ids are written lowercase
        "PeterNeumann+c74f20a3",
        "PeterNeumann",
        "",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_malformed_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(KeyFormatError):
        parse_vkey(vkey)


@pytest.mark.parametrize("name", ["", "a+b", "a b", "a\u00a0b", "a\u3000b", "a\tb", "a\nb", "a\x01b", "a\ud800b"])
def test_key_names_follow_the_spec(name: str) -> None:
    with pytest.raises(KeyFormatError):
        Signer(name, bytes(32))
    with pytest.raises(KeyFormatError):
        format_vkey(name, bytes(32))


def test_key_material_sizes_are_checked() -> None:
    with pytest.raises(KeyFormatError):
        Signer("name", bytes(31))
    with pytest.raises(KeyFormatError):
        Verifier("name", bytes(33))
    with pytest.raises(KeyFormatError):
        format_vkey("name", bytes(31))


# --- signing ----------------------------------------------------------------------------------------------------------


def test_signing_with_the_published_seed_reproduces_the_published_signature() -> None:
    signer = Signer("PeterNeumann", peter_seed())
    assert signer.sign(TEXT) == PETER_SIG
    assert signer.sign_note(TEXT) == PETER_NOTE


def test_signer_refuses_text_no_verifier_would_accept() -> None:
    signer = Signer("PeterNeumann", peter_seed())
    for text in ["abc", "", "tab\there\n", "cr\r\n", "surrogate \ud800\n"]:
        with pytest.raises(MalformedNote):
            signer.sign(text)


def test_split_signature() -> None:
    key_id, signature = split_signature(PETER_SIG_B64)
    assert key_id.hex() == "c74f20a3"
    assert len(signature) == 64
    for bad in ["", "AAAA", "AAAAAA==", "not base64!", "AAAA=AAAAAAA"]:
        with pytest.raises(MalformedNote):
            split_signature(bad)


def test_verifier_verify() -> None:
    verifier = parse_vkey(PETER_VKEY)
    assert verifier.verify(TEXT, PETER_SIG_B64)
    assert not verifier.verify(TEXT.replace("problem", "pr0blem", 1), PETER_SIG_B64)
    assert not verifier.verify(TEXT, with_sig_bytes(PETER_SIG_B64, flip_bit_at=40))
    assert not verifier.verify(TEXT, with_sig_bytes(PETER_SIG_B64, key_id=b"\x00\x00\x00\x00"))
    assert not verifier.verify(TEXT, "garbage")
    assert not parse_vkey(ENOCH_VKEY).verify(TEXT, PETER_SIG_B64)


# --- opening notes ----------------------------------------------------------------------------------------------------


def test_published_note_opens_with_the_published_key() -> None:
    assert open_note(PETER_NOTE, [parse_vkey(PETER_VKEY)]) == TEXT


def test_signatures_by_unknown_keys_are_ignored() -> None:
    peter, enoch = parse_vkey(PETER_VKEY), parse_vkey(ENOCH_VKEY)
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, [peter]) == TEXT
    assert open_note(note, [enoch]) == TEXT
    assert open_note(note, [peter, enoch]) == TEXT
    assert open_note(TEXT + "\n" + PETER_SIG + PETER_SIG, [peter]) == TEXT
    assert open_note(note, [enoch, peter, enoch]) == TEXT  # duplicates in the trusted list are harmless


def test_note_without_a_trusted_signature_is_refused() -> None:
    with pytest.raises(UnknownKey, match=r"signed by PeterNeumann\+c74f20a3, EnochRoot\+af0cfe78; trusted: none"):
        open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])


def test_wrong_key_id_is_an_unknown_key() -> None:
    note = TEXT + "\n— PeterNeumann " + with_sig_bytes(PETER_SIG_B64, key_id=bytes.fromhex("c74f20a4")) + "\n"
    with pytest.raises(UnknownKey, match=r"PeterNeumann\+c74f20a4"):
        open_note(note, [parse_vkey(PETER_VKEY)])


def test_same_key_under_another_name_is_an_unknown_key() -> None:
    note = TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "CarmenSandiego")
    with pytest.raises(UnknownKey):
        open_note(note, [parse_vkey(PETER_VKEY)])


@pytest.mark.parametrize("index", range(len(TEXT) - 1))  # the final newline cannot change: the note would be malformed
def test_changing_any_character_of_the_text_breaks_the_signature(index: int) -> None:
    changed = TEXT[:index] + ("X" if TEXT[index] != "X" else "Y") + TEXT[index + 1 :]
    with pytest.raises(BadSignature):
        open_note(changed + "\n" + PETER_SIG, [parse_vkey(PETER_VKEY)])


@pytest.mark.parametrize("byte_index", [4, 5, 30, 67])
def test_changing_a_signature_byte_breaks_it(byte_index: int) -> None:
    note = TEXT + "\n— PeterNeumann " + with_sig_bytes(PETER_SIG_B64, flip_bit_at=byte_index) + "\n"
    with pytest.raises(BadSignature, match=r"PeterNeumann\+c74f20a3"):
        open_note(note, [parse_vkey(PETER_VKEY)])


def test_changing_a_signature_character_breaks_it() -> None:
    tampered = PETER_SIG_B64[:20] + ("A" if PETER_SIG_B64[20] != "A" else "B") + PETER_SIG_B64[21:]
    with pytest.raises(BadSignature):
        open_note(TEXT + "\n— PeterNeumann " + tampered + "\n", [parse_vkey(PETER_VKEY)])


def test_go_invalid_signature_case() -> None:
    # Four base64 characters spliced into the signature: still decodable, no longer a signature.
    note = TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(BadSignature):
        open_note(note, [parse_vkey(PETER_VKEY)])


def test_a_bad_signature_by_a_trusted_key_fails_the_note_even_beside_a_good_one() -> None:
    bad_enoch = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    note = TEXT + "\n" + PETER_SIG + bad_enoch
    assert open_note(note, [parse_vkey(PETER_VKEY)]) == TEXT  # Enoch unknown: ignored
    with pytest.raises(BadSignature, match="EnochRoot"):
        open_note(note, [parse_vkey(PETER_VKEY), parse_vkey(ENOCH_VKEY)])


@pytest.mark.parametrize("note", MALFORMED_NOTES)
def test_go_malformed_notes_are_refused(note: str) -> None:
    with pytest.raises(MalformedNote):
        open_note(note, [parse_vkey(PETER_VKEY)])


@pytest.mark.parametrize(
    "note",
    [
        TEXT + "\n" + PETER_SIG.replace("— ", "- "),  # hyphen, not em dash
        TEXT + "\n" + PETER_SIG.replace("— ", "—"),
        TEXT + "\n" + PETER_SIG.replace(" x08go", "  x08go"),
        TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter+Neumann"),
        TEXT + "\n" + PETER_SIG.replace("=\n", "\n"),  # padding dropped
        TEXT + "\n" + PETER_SIG.replace("AM=\n", "AN=\n"),  # non-zero unused bits
        TEXT + "\n" + PETER_SIG + "\n",
        TEXT + "\n" + PETER_SIG.replace("\n", "\r\n"),
        "surrogate \ud800\n\n" + PETER_SIG,
    ],
)
def test_malformed_signature_lines_are_refused(note: str) -> None:
    with pytest.raises(MalformedNote):
        open_note(note, [parse_vkey(PETER_VKEY)])


def test_too_many_signatures_are_refused() -> None:
    peter = parse_vkey(PETER_VKEY)
    assert open_note(TEXT + "\n" + PETER_SIG * 100, [peter]) == TEXT
    with pytest.raises(MalformedNote):
        open_note(TEXT + "\n" + PETER_SIG * 101, [peter])


def test_c2sp_example_note_parses_and_its_key_is_unknown() -> None:
    with pytest.raises(UnknownKey, match=r"quasimodo\.example/salvatore"):
        open_note(C2SP_NOTE, [parse_vkey(PETER_VKEY)])


def test_text_with_blank_lines_and_non_ascii_round_trips() -> None:
    signer = Signer("example.com/approver-log", bytes(range(32)))
    text = "Ognuno sta solo\n\ned è subito sera.\n\n"
    assert open_note(signer.sign_note(text), [signer.verifier()]) == text


def test_signed_checkpoint_end_to_end() -> None:
    signer = Signer("example.com/approver-log", bytes(range(32)))
    accumulator = MerkleAccumulator()
    for data in LEAF_INPUTS:
        accumulator.append(leaf_hash(data))
    note = signer.sign_note(checkpoint_text("example.com/approver-log", accumulator.size, accumulator.root()))
    checkpoint = parse_checkpoint(open_note(note, [parse_vkey(signer.vkey())]))
    assert checkpoint == Checkpoint("example.com/approver-log", 8, bytes.fromhex(ROOTS_BY_SIZE[8]))
