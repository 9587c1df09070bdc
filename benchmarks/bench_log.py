"""The signed decision log: appends per second with fsync, append latency, and the time to verify a large log.

    python benchmarks/bench_log.py [--appends N] [--verify-entries N]

Appends go through the real writer (redaction, JCS, RFC 6962 tree, Ed25519 checkpoint signature, one write,
fsync) into a temporary directory on the project's disk; the baseline, measured in the same run, is the bare
floor every durable append pays: one write() and one fsync() of a line of the same size. Verification builds a
log of N entries with the same code, then runs the full check `approver log verify` runs (chain, seq and tree
for every line; the newest signature; an anchor at the end) and reports the time. It prints figures only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from approver.core.log_format import DecisionFacts, EntryChain, anchor_from_checkpoint, canonical, decision_body
from approver.core.models import Actor, Decision
from approver.core.tlog import Signer, open_note
from approver.platform.keystore import FileStore, KeyStoreStatus
from approver.service.decision_log import DecisionLogWriter, audit_file

ROOT = Path(__file__).resolve().parents[1]


def facts(n: int) -> DecisionFacts:
    return DecisionFacts(
        server="filesystem",
        tool="write_file",
        client="Claude Desktop 1.0",
        request_id=str(n),
        digest="sha256:" + "ab" * 32,
        decision=Decision.ALLOW,
        actor=Actor.RULE,
        reason="rule fs-writes says allow",
        rule="fs-writes",
        arguments={"path": f"/home/user/project/notes-{n}.md", "content": "Some text for the file."},
    )


def bench_appends(directory: Path, count: int) -> None:
    store = FileStore(directory / "keys.json")
    writer = DecisionLogWriter(directory / "log.jsonl", store, KeyStoreStatus("file", False, "benchmark"))
    latencies = []
    started = time.perf_counter()
    for n in range(count):
        t = time.perf_counter()
        writer.append(facts(n))
        latencies.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - started
    line_size = (directory / "log.jsonl").stat().st_size // (count + 1)
    writer.close()

    floor = []
    fd = os.open(directory / "floor.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    line = b"x" * line_size + b"\n"
    for _ in range(count):
        t = time.perf_counter()
        os.write(fd, line)
        os.fsync(fd)
        floor.append(time.perf_counter() - t)
    os.close(fd)

    def pct(values: list[float], q: float) -> float:
        return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000

    print(
        f"appends: {count / elapsed:,.0f}/s; latency p50 {statistics.median(latencies) * 1000:.3f} ms, "
        f"p99 {pct(latencies, 0.99):.3f} ms (line ≈ {line_size} B)"
    )
    ratio = statistics.median(latencies) / statistics.median(floor)
    print(
        f"baseline write+fsync of the same line: p50 {statistics.median(floor) * 1000:.3f} ms, "
        f"p99 {pct(floor, 0.99):.3f} ms → signed append / baseline p50 = {ratio:.2f}x"
    )


def bench_verify(directory: Path, count: int) -> None:
    """Build a log of `count` entries quickly (no fsync per line: it is not what is measured), then verify it."""
    signer = Signer("bench.example/log", bytes(range(32)))
    chain = EntryChain(signer.name)
    path = directory / "big.jsonl"
    genesis = {
        "v": 1,
        "seq": 0,
        "prev": chain.prev,
        "ts": "2026-01-01T00:00:00.000Z",
        "kind": "genesis",
        "origin": signer.name,
        "vkey": signer.vkey(),
        "key_store": "benchmark",
        "software": "bench",
    }
    started = time.perf_counter()
    with path.open("wb") as handle:
        handle.write(chain.seal(canonical(genesis), signer) + b"\n")
        template = decision_body(facts(0), {"path": "/home/user/project/notes.md"})
        for n in range(1, count):
            entry = chain.entry("2026-01-01T00:00:00.000Z", "decision", {**template, "request_id": str(n)})
            encoded = canonical(entry)
            if n == count - 1:
                handle.write(chain.seal(encoded, signer) + b"\n")
            else:
                chain.restore(encoded)  # only the newest line's signature is read by the default check
                handle.write(b'{"e":' + encoded + b',"s":"' + b"A" * 92 + b'"}\n')
    built = time.perf_counter() - started
    anchor = anchor_from_checkpoint("anchor", open_note(signer.sign_note(chain.checkpoint()), [signer.verifier()]))
    started = time.perf_counter()
    audit, _ = audit_file(path, [anchor], [signer.verifier()])
    elapsed = time.perf_counter() - started
    assert audit.intact, audit.problem
    size_mb = path.stat().st_size / 1e6
    print(
        f"verify {count:,} entries ({size_mb:,.0f} MB): {elapsed:.2f} s "
        f"({count / elapsed:,.0f} entries/s; built in {built:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--verify-entries", type=int, default=1_000_000)
    args = parser.parse_args()
    (ROOT / ".cache").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / ".cache") as directory:
        bench_appends(Path(directory), args.appends)
        bench_verify(Path(directory), args.verify_entries)


if __name__ == "__main__":
    main()
