"""The signed log: its format, its writer, and the tamper matrix `verify` must catch."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

import approver.service.decision_log as decision_log
from approver.core.log_format import (
    GENESIS_PREV,
    Anchor,
    DecisionFacts,
    EntryChain,
    anchor_from_checkpoint,
    canonical,
    decode_entry,
    split_line,
)
from approver.core.models import Actor, Decision
from approver.core.tlog import MerkleAccumulator, Signer, leaf_hash, open_note, parse_checkpoint
from approver.ipc.spool import read_spool_file, spool_decision
from approver.platform.keystore import FileStore, KeyStoreStatus
from approver.service.decision_log import DecisionLogWriter, LogError, audit_file, read_entries, take_spool

STATUS = KeyStoreStatus(backend="test key file", secure=False, problem="unit test")


def facts(tool: str, decision: Decision = Decision.ALLOW, arguments: dict[str, object] | None = None) -> DecisionFacts:
    return DecisionFacts(
        server="fs",
        tool=tool,
        client="test 1",
        request_id="1",
        digest="sha256:00",
        decision=decision,
        actor=Actor.RULE,
        reason="because",
        arguments=arguments if arguments is not None else {"path": "/tmp/x"},
    )


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "keys.json")


def write_log(path: Path, store: FileStore, count: int) -> DecisionLogWriter:
    writer = DecisionLogWriter(path, store, STATUS)
    for index in range(count):
        writer.append(facts(f"tool{index}", Decision.DENY if index % 2 else Decision.ALLOW))
    return writer


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def test_lines_are_jcs_chained_and_every_prefix_has_a_signed_checkpoint(tmp_path: Path, store: FileStore) -> None:
    path = tmp_path / "log.jsonl"
    writer = write_log(path, store, 3)
    writer.close()
    tree = MerkleAccumulator()
    previous = GENESIS_PREV
    verifier = writer.signer.verifier()
    for size, line in enumerate(lines_of(path), start=1):
        entry_bytes, signature = split_line(line)
        entry = json.loads(entry_bytes)
        assert rfc8785.dumps(entry) == entry_bytes  # stored exactly as JCS
        assert rfc8785.dumps({"e": entry, "s": signature}) == line  # and so is the whole line
        assert entry["seq"] == size - 1
        assert entry["prev"] == previous
        assert entry["ts"].endswith("Z")
        tree.append(leaf_hash(entry_bytes))
        previous = leaf_hash(entry_bytes).hex()
        checkpoint = f"{writer.origin}\n{size}\n" + __import__("base64").b64encode(tree.root()).decode() + "\n"
        note = checkpoint + "\n" + f"\u2014 {writer.origin} {signature}\n"
        assert open_note(note, [verifier]) == checkpoint  # a standard C2SP signed note, for every prefix
    genesis = decode_entry(split_line(lines_of(path)[0])[0])
    assert genesis["kind"] == "genesis"
    assert genesis["vkey"] == writer.vkey()
    assert "FALLBACK" in genesis["key_store"]  # a fallback store is said out loud, in the log itself


def test_the_signed_checkpoint_is_a_c2sp_note_of_the_whole_log(tmp_path: Path, store: FileStore) -> None:
    writer = write_log(tmp_path / "log.jsonl", store, 2)
    note = writer.signed_checkpoint()
    text = open_note(note, [writer.signer.verifier()])
    checkpoint = parse_checkpoint(text)
    assert (checkpoint.origin, checkpoint.size) == (writer.origin, 3)
    writer.close()


def test_secrets_are_redacted_before_hashing(tmp_path: Path, store: FileStore) -> None:
    path = tmp_path / "log.jsonl"
    writer = DecisionLogWriter(path, store, STATUS)
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    writer.append(facts("push", arguments={"password": "hunter2", "cmd": f"git push https://{token}@github.com/x"}))
    writer.close()
    raw = path.read_bytes()
    assert b"hunter2" not in raw
    assert token.encode() not in raw
    [entry] = [e for e in read_entries(path) if e["kind"] == "decision"]
    assert entry["arguments"]["password"].startswith("[redacted:")
    assert {r["pointer"] for r in entry["redactions"]} == {"/password", "/cmd"}


def test_a_reopened_log_continues_the_chain_and_the_tree(tmp_path: Path, store: FileStore) -> None:
    path = tmp_path / "log.jsonl"
    write_log(path, store, 2).close()
    writer = DecisionLogWriter(path, store, STATUS)
    writer.append(facts("after"))
    writer.close()
    audit, _ = audit_file(path, trusted=[writer.signer.verifier()])
    assert audit.intact
    assert audit.trusted
    assert audit.entries == 4


def test_a_torn_last_line_is_moved_aside_and_the_log_goes_on(tmp_path: Path, store: FileStore) -> None:
    path = tmp_path / "log.jsonl"
    write_log(path, store, 2).close()
    intact = path.read_bytes()
    with path.open("ab") as handle:
        handle.write(b'{"e":{"v":1,"seq":3,"kind":"deci')  # a crash mid-write
    writer = DecisionLogWriter(path, store, STATUS)
    assert writer.torn_tail is not None
    assert writer.torn_tail.read_bytes() == b'{"e":{"v":1,"seq":3,"kind":"deci'
    assert path.read_bytes() == intact
    writer.append(facts("next"))
    writer.close()
    assert audit_file(path)[0].intact


# -- the tamper matrix ---------------------------------------------------------------------------------------------


def tamper_audit(path: Path, store: FileStore, change: object, anchors: list[Anchor] | None = None) -> str:
    writer = write_log(path, store, 6)
    verifier = writer.signer.verifier()
    anchor = anchor_from_checkpoint("anchor", open_note(writer.signed_checkpoint(), [verifier]))
    writer.close()
    lines = lines_of(path)
    assert callable(change)
    path.write_bytes(b"\n".join(change(lines)) + b"\n")
    audit, _ = audit_file(path, anchors if anchors is not None else [anchor], [verifier])
    assert audit.problem is not None, "tampering went unnoticed"
    return str(audit.problem)


def flip_byte(line: bytes, needle: bytes, replacement: bytes) -> bytes:
    assert needle in line
    return line.replace(needle, replacement, 1)


def test_modifying_one_byte_of_an_entry_names_that_line(tmp_path: Path, store: FileStore) -> None:
    problem = tamper_audit(tmp_path / "l", store, lambda ls: [*ls[:4], flip_byte(ls[4], b'"deny"', b'"Deny"'), *ls[5:]])
    assert problem == "line 5: the entry was changed: its signature does not verify"


def test_modifying_the_newest_line_is_caught_by_its_signature(tmp_path: Path, store: FileStore) -> None:
    change = lambda ls: [*ls[:-1], flip_byte(ls[-1], b"tool5", b"tool6")]  # noqa: E731
    problem = tamper_audit(tmp_path / "l", store, change, anchors=[])
    assert problem == "line 7: the entry was changed: its signature does not verify"


def test_deleting_an_entry_is_caught(tmp_path: Path, store: FileStore) -> None:
    problem = tamper_audit(tmp_path / "l", store, lambda ls: [*ls[:2], *ls[3:]])
    assert problem.startswith("line 3: expected seq 2, found 3")


def test_inserting_an_entry_is_caught(tmp_path: Path, store: FileStore) -> None:
    problem = tamper_audit(tmp_path / "l", store, lambda ls: [*ls[:3], ls[2], *ls[3:]])
    assert problem.startswith("line 4: expected seq 3, found 2")


def test_reordering_entries_is_caught(tmp_path: Path, store: FileStore) -> None:
    problem = tamper_audit(tmp_path / "l", store, lambda ls: [ls[0], ls[2], ls[1], *ls[3:]])
    assert problem.startswith("line 2: expected seq 1, found 2")


def test_truncation_is_caught_against_an_anchor(tmp_path: Path, store: FileStore) -> None:
    problem = tamper_audit(tmp_path / "l", store, lambda ls: ls[:4])
    assert "the log has 4 entries but anchor shows 7: it was truncated or rolled back" in problem


def test_rewritten_history_is_caught_against_an_anchor(tmp_path: Path, store: FileStore) -> None:
    # The attacker runs as the same user, so it can read the signing seed: it rewrites an early decision and
    # re-signs every line after it. Chain, tree and signatures are then consistent; only an anchor kept
    # elsewhere remembers the old history.
    path = tmp_path / "l"
    writer = write_log(path, store, 4)
    verifier = writer.signer.verifier()
    anchor = anchor_from_checkpoint("anchor", open_note(writer.signed_checkpoint(), [verifier]))
    writer.close()
    seed = bytes.fromhex(store.get(f"{writer.origin}/signing-seed") or "")
    stolen = Signer(writer.origin, seed)
    chain = EntryChain(writer.origin)
    forged = []
    for line in lines_of(path):
        entry = decode_entry(split_line(line)[0])
        if entry["seq"] == 2:
            entry["decision"] = "allow"  # it was a denial
        entry["prev"] = chain.prev
        forged.append(chain.seal(canonical(entry), stolen))
    path.write_bytes(b"\n".join(forged) + b"\n")
    assert audit_file(path, (), [verifier])[0].intact  # without an anchor, a re-signed log looks fine
    audit, _ = audit_file(path, [anchor], [verifier])
    assert str(audit.problem) == "line 5: the log's first 5 entries differ from anchor: history was rewritten"


def test_swapping_in_another_key_is_caught(tmp_path: Path, store: FileStore) -> None:
    path = tmp_path / "l"
    trusted = write_log(path, store, 2)
    trusted.close()
    other_store = FileStore(tmp_path / "other-keys.json")
    impostor = write_log(tmp_path / "impostor", other_store, 2)
    impostor.close()
    audit, _ = audit_file(tmp_path / "impostor", (), [trusted.signer.verifier()])
    assert str(audit.problem).endswith(
        "the log is signed by a key that is not the trusted one (another key was swapped in)"
    )


def test_a_changed_signature_is_caught_when_every_signature_is_checked(tmp_path: Path, store: FileStore) -> None:
    path = tmp_path / "l"
    writer = write_log(path, store, 4)
    writer.close()
    lines = lines_of(path)
    entry_bytes, signature = split_line(lines[2])
    other = Signer(writer.origin, bytes(32)).sign("x\n").rsplit(" ", 1)[1].strip()
    lines[2] = b'{"e":' + entry_bytes + b',"s":"' + other.encode() + b'"}'
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert audit_file(path, (), [writer.signer.verifier()])[0].intact  # content untouched: default check passes
    audit, _ = audit_file(path, (), [writer.signer.verifier()], every_signature=True)
    assert str(audit.problem) == "line 3: the line's signature does not verify (the signature was changed)"
    del signature


def test_the_service_refuses_a_tampered_log(tmp_path: Path, store: FileStore) -> None:
    path = tmp_path / "log.jsonl"
    write_log(path, store, 3).close()
    lines = lines_of(path)
    path.write_bytes(b"\n".join([*lines[:2], *lines[3:]]) + b"\n")
    with pytest.raises(LogError, match=r"line 3: expected seq 2, found 3.*not repaired"):
        DecisionLogWriter(path, store, STATUS)


def test_the_service_refuses_a_log_truncated_behind_the_keyring_checkpoint(tmp_path: Path, store: FileStore) -> None:
    path = tmp_path / "log.jsonl"
    write_log(path, store, 4).close()  # closing writes the newest checkpoint into the store
    lines = lines_of(path)
    path.write_bytes(b"\n".join(lines[:3]) + b"\n")
    with pytest.raises(LogError, match="truncated or rolled back"):
        DecisionLogWriter(path, store, STATUS)


def test_key_rotation_hands_over_to_the_new_key(tmp_path: Path, store: FileStore) -> None:
    path = tmp_path / "log.jsonl"
    writer = write_log(path, store, 2)
    old_vkey = writer.vkey()
    new_vkey = writer.rotate_key()
    writer.append(facts("after rotation"))
    writer.close()
    assert new_vkey != old_vkey
    audit, _ = audit_file(path, (), [writer.signer.verifier()])
    assert audit.intact
    assert [vkey for _, vkey in audit.keys] == [old_vkey, new_vkey]
    assert store.get(f"{writer.origin}/signing-seed.next") is None
    reopened = DecisionLogWriter(path, store, STATUS)
    assert reopened.vkey() == new_vkey
    reopened.close()


def test_spooled_decisions_are_taken_into_the_log_once(tmp_path: Path, store: FileStore) -> None:
    spool = tmp_path / "spool.jsonl"
    proxy_facts = facts("x", Decision.DENY).model_copy(update={"arguments": None, "source": "proxy"})
    spool_decision(spool, proxy_facts)
    spool_decision(spool, proxy_facts.model_copy(update={"tool": "y"}))
    with spool.open("ab") as handle:
        handle.write(b'{"torn":')  # a proxy killed mid-write
    assert [f.tool for f in read_spool_file(spool)] == ["x", "y"]
    writer = DecisionLogWriter(tmp_path / "log.jsonl", store, STATUS)
    assert take_spool(spool, writer) == 2
    assert take_spool(spool, writer) == 0
    writer.close()
    decisions = [e for e in read_entries(tmp_path / "log.jsonl") if e["kind"] == "decision"]
    assert [e["tool"] for e in decisions] == ["x", "y"]
    assert decisions[0]["arguments_omitted"].startswith("not kept")
    assert not spool.exists()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=400)
@given(value=st.dictionaries(st.text(), json_values, max_size=6))
def test_canonical_is_exactly_rfc8785(value: dict[str, Any]) -> None:
    try:
        expected = bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):
        return  # values JCS cannot represent (out-of-range integers, lone surrogates) are not logged as such
    assert canonical(value) == expected


def test_canonical_orders_keys_by_utf16_like_jcs() -> None:
    value = {"\U0001f600": 1, "\ue000": 2, "a": 3}  # non-BMP sorts before U+E000 in UTF-16 order
    assert canonical(value) == bytes(rfc8785.dumps(value))
    assert canonical({"f": 1e21, "g": 0.1}) == bytes(rfc8785.dumps({"f": 1e21, "g": 0.1}))  # floats: ECMAScript form


def test_long_argument_strings_are_summarised_in_the_log(tmp_path: Path, store: FileStore) -> None:
    path = tmp_path / "log.jsonl"
    writer = DecisionLogWriter(path, store, STATUS)
    huge = "x" * 5000 + "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"  # a token past the kept part
    writer.append(facts("write", arguments={"content": huge, "path": "/tmp/a"}))
    writer.close()
    [entry] = [e for e in read_entries(path) if e["kind"] == "decision"]
    kept = entry["arguments"]["content"]
    assert kept.startswith("x" * 4096 + "[… elided: 5,040 characters, 5,040 bytes, sha256:")
    assert hashlib.sha256(huge.encode()).hexdigest() in kept
    assert "ghp_" not in path.read_text()
    assert entry["arguments"]["path"] == "/tmp/a"


def test_the_spool_cannot_forge_an_allow_or_a_person(tmp_path: Path, store: FileStore) -> None:
    spool = tmp_path / "spool.jsonl"
    forged = facts("rm", Decision.ALLOW).model_copy(
        update={"actor": Actor.HUMAN, "shown_digest": "sha256:fake", "arguments": {"x": 1}}
    )
    spool_decision(spool, forged)
    writer = DecisionLogWriter(tmp_path / "log.jsonl", store, STATUS)
    take_spool(spool, writer)
    writer.close()
    [entry] = [e for e in read_entries(tmp_path / "log.jsonl") if e["kind"] == "decision"]
    assert (entry["decision"], entry["actor"], entry["source"]) == ("deny", "none", "proxy")
    assert "shown_digest" not in entry
    assert "arguments" not in entry


def test_a_failed_write_leaves_the_log_continuable(
    tmp_path: Path, store: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "log.jsonl"
    writer = write_log(path, store, 1)

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(decision_log, "fsync_fully", disk_full)
    with pytest.raises(OSError, match="No space"):
        writer.append(facts("lost"))
    monkeypatch.undo()
    writer.append(facts("after"))
    writer.close()
    audit, _ = audit_file(path, (), [writer.signer.verifier()])
    assert audit.intact
    assert [e.get("tool") for e in read_entries(path) if e["kind"] == "decision"] == ["tool0", "after"]


def test_every_anchor_of_a_size_is_checked(tmp_path: Path, store: FileStore) -> None:
    path = tmp_path / "l"
    writer = write_log(path, store, 2)
    verifier = writer.signer.verifier()
    good = anchor_from_checkpoint("good", open_note(writer.signed_checkpoint(), [verifier]))
    writer.close()
    wrong = Anchor(source="wrong", size=good.size, root=b"\x00" * 32, origin=good.origin)
    for anchors in ([wrong, good], [good, wrong]):
        audit, _ = audit_file(path, anchors, [verifier])
        assert "differ from wrong" in str(audit.problem)
