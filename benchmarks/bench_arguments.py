"""What checking arguments against a tool's inputSchema, and inspecting a result, cost.

    python benchmarks/bench_arguments.py [--calls N]

The schema is what the Python SDK generates for a two-parameter tool; each check gets an equal schema as a new
object (as every call brings its own copy over IPC), so the cache is found by content. It prints figures only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from approver.core.arguments import SchemaChecker
from approver.core.results import inspect_response

SCHEMA = {
    "properties": {
        "service": {"title": "Service", "type": "string"},
        "verbose": {"default": False, "title": "Verbose", "type": "boolean"},
    },
    "required": ["service"],
    "type": "object",
    "title": "get_configArguments",
}


def micros(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[int(len(ordered) * 0.99)]
    return f"p50 {statistics.median(ordered) * 1e6:.1f} µs, p99 {p99 * 1e6:.1f} µs"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5_000)
    calls = parser.parse_args().calls
    text = json.dumps(SCHEMA)
    checker = SchemaChecker()
    checker.check(json.loads(text), {"service": "db"})
    cached = []
    for n in range(calls):
        schema, arguments = json.loads(text), {"service": f"db{n}", "verbose": n % 2 == 0}
        started = time.perf_counter()
        checker.check(schema, arguments)
        cached.append(time.perf_counter() - started)
    cold = []
    for _ in range(50):
        started = time.perf_counter()
        SchemaChecker().check(json.loads(text), {"service": "db"})
        cold.append(time.perf_counter() - started)
    result = {"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": "fine " * 240}]}}
    raw = json.dumps(result).encode()
    inspected = []
    for _ in range(max(calls // 10, 10)):
        started = time.perf_counter()
        inspect_response(raw, result, b"k" * 32)
        inspected.append(time.perf_counter() - started)
    print(f"argument check, validator cached: {micros(cached)}")
    print(f"argument check, compiling the validator: {micros(cold)}")
    print(f"inspecting a {len(raw):,}-byte result: {micros(inspected)}")


if __name__ == "__main__":
    main()
