"""The log tells the truth: every decision is written whatever its arguments hold, the log cannot be moved or
replaced behind the writer, the newest checkpoint is read from the log itself, and spooled denials that vanish
or change are noticed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approver.core.log_format import DecisionFacts
from approver.core.models import Actor, Decision
from approver.ipc.protocol import SpoolTally
from approver.ipc.spool import ProxySpool
from approver.platform.keystore import FileStore, KeyStoreStatus
from approver.service.decision_log import (
    DecisionLogWriter,
    LogError,
    SpoolLoss,
    account_for_spool,
    audit_file,
    read_entries,
    take_spool,
)

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


def test_numbers_canonical_json_cannot_hold_are_marked_and_the_decision_written(
    tmp_path: Path, store: FileStore
) -> None:
    path = tmp_path / "log.jsonl"
    writer = DecisionLogWriter(path, store, STATUS)
    arguments: dict[str, object] = {
        "big": 2**53,
        "small": -(2**70),
        "safe": 2**53 - 1,
        "inf": float("inf"),
        "nan": float("nan"),
        "list": [float("-inf"), 1.5, True],
    }
    writer.append(facts("sum", arguments=arguments))
    deep: dict[str, object] = {}
    for _ in range(5000):  # deeper than any recursive walk goes: still recorded, without the arguments
        deep = {"d": deep}
    writer.append(facts("deep", arguments=deep))
    writer.close()
    sums = [e for e in read_entries(path) if e["kind"] == "decision"]
    assert sums[0]["arguments"] == {
        "big": {"$number": str(2**53)},
        "small": {"$number": str(-(2**70))},
        "safe": 2**53 - 1,
        "inf": {"$number": "Infinity"},
        "nan": {"$number": "NaN"},
        "list": [{"$number": "-Infinity"}, 1.5, True],
    }
    assert sums[1]["tool"] == "deep" and "arguments" not in sums[1]
    assert sums[1]["arguments_omitted"].startswith("left out")
    assert audit_file(path, (), [writer.signer.verifier()])[0].intact


any_number = st.integers() | st.floats()  # NaN, ±Infinity and integers far beyond 2^53 included


@settings(max_examples=100, deadline=None)
@given(arguments=st.dictionaries(st.text(), st.recursive(any_number | st.text(), st.lists, max_leaves=10)))
def test_every_decision_is_written_whatever_its_arguments(
    tmp_path_factory: pytest.TempPathFactory, arguments: Any
) -> None:
    directory = tmp_path_factory.mktemp("any")
    writer = DecisionLogWriter(directory / "log.jsonl", FileStore(directory / "keys.json"), STATUS)
    seq = writer.append(facts("any", arguments=arguments))
    writer.close()
    assert seq == 1
    assert audit_file(directory / "log.jsonl", (), [writer.signer.verifier()])[0].intact


def test_the_newest_signed_checkpoint_is_read_from_the_log_itself(tmp_path: Path, store: FileStore) -> None:
    path = tmp_path / "log.jsonl"
    writer = write_log(path, store, 3)
    writer.close()
    audit, _ = audit_file(path)  # no key given: the file alone
    assert audit.final_note == writer.signed_checkpoint()  # Ed25519 is deterministic: the very same note
    assert audit.keys[-1][1] == writer.vkey()


def test_a_log_moved_away_or_changed_behind_the_writer_stops_it(tmp_path: Path, store: FileStore) -> None:
    path = tmp_path / "log.jsonl"
    writer = write_log(path, store, 1)
    path.rename(tmp_path / "elsewhere")
    with pytest.raises(LogError, match="was moved or deleted while the service ran"):
        writer.append(facts("hidden"))
    assert "moved or deleted" in str(writer.problem)
    (tmp_path / "elsewhere").rename(path)
    writer.append(facts("back"))  # the log is where it was: writing goes on
    assert writer.problem is None
    written = path.read_bytes()
    with path.open("ab") as handle:
        handle.write(b'{"e":{"forged":1},"s":"x"}\n')
    with pytest.raises(LogError, match="was changed by another program"):
        writer.append(facts("after the forgery"))
    writer.close()
    assert path.read_bytes().startswith(written + b'{"e":{"forged":1}')  # nothing chained onto the forgery
    path.write_bytes(written)
    assert [e.get("tool") for e in read_entries(path) if e.get("kind") == "decision"] == ["tool0", "back"]


def test_a_missing_log_is_not_begun_anew_without_a_reset(tmp_path: Path, store: FileStore) -> None:
    path = tmp_path / "log.jsonl"
    write_log(path, store, 2).close()
    path.unlink()
    with pytest.raises(LogError, match=r"is missing or empty, but .* \(3 entries at its last checkpoint\)"):
        DecisionLogWriter(path, store, STATUS)
    path.write_bytes(b"")  # an empty file is no better
    with pytest.raises(LogError, match="approver log reset"):
        DecisionLogWriter(path, store, STATUS)
    DecisionLogWriter(path, store, STATUS, replacing=True).close()
    audit, _ = audit_file(path)
    assert audit.intact
    assert audit.replaced is not None and "(3 entries at its last checkpoint)" in audit.replaced
    DecisionLogWriter(path, store, STATUS).close()  # the new log is the one kept there now


def test_another_log_put_in_the_place_of_the_kept_one_is_refused(tmp_path: Path, store: FileStore) -> None:
    path = tmp_path / "log.jsonl"
    write_log(path, store, 1).close()
    path.rename(tmp_path / "original")
    write_log(tmp_path / "other.jsonl", store, 1).close()
    (tmp_path / "other.jsonl").rename(path)
    with pytest.raises(LogError, match="it was replaced"):
        DecisionLogWriter(path, store, STATUS)


def test_spooled_denials_removed_or_edited_are_written_to_the_log_as_a_loss(tmp_path: Path, store: FileStore) -> None:
    spool = tmp_path / "spool.jsonl"
    proxy = ProxySpool(spool)
    for number in range(4):
        proxy.record(facts(f"t{number}", Decision.DENY).model_copy(update={"arguments": None}))
    writer = DecisionLogWriter(tmp_path / "log.jsonl", store, STATUS)
    kept = spool.read_bytes().splitlines(keepends=True)
    spool.write_bytes(kept[0].replace(b'"t0"', b'"tX"') + kept[2])  # 1 edited; 2 and 4 removed
    assert take_spool(spool, writer) == 2
    proxy.record(facts("t5", Decision.DENY))  # spooled while the service ran but did not answer: still waiting
    tally = proxy.unreported()
    assert tally is not None and (tally.since, tally.count) == (0, 5)
    assert account_for_spool(writer, "fs", tally, spool) == SpoolLoss(missing=[2, 4], altered=[1])
    assert not account_for_spool(writer, "fs", tally, spool).tampered  # accounted for once
    proxy.reported = 5
    assert proxy.unreported() is None  # and a proxy does not repeat what a service checked
    stranger = SpoolTally(session="another", since=0, digests=["0" * 64])
    assert account_for_spool(writer, "fs", stranger, spool) == SpoolLoss(missing=[1], altered=[])
    writer.close()
    [loss, other] = [e for e in read_entries(tmp_path / "log.jsonl") if e["kind"] == "spool-loss"]
    assert (loss["missing"], loss["altered"], loss["spool_session"]) == ([2, 4], [1], proxy.session)
    assert "(2 removed, 1 edited)" in loss["reason"]
    assert other["missing"] == [1]
    taken = [e for e in read_entries(tmp_path / "log.jsonl") if e["kind"] == "decision"]
    assert [(e["tool"], e["spool_seq"]) for e in taken] == [("tX", 1), ("t2", 3)]
