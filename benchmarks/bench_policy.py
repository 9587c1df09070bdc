"""Decision time with 10,000 rules, against the same engine with one rule (the floor), in the same run.

    python benchmarks/bench_policy.py [--rules N] [--calls N]

The rule set mixes what people write: mostly literal server/tool pairs (80 %), tool globs per server such as
read_* (10 %), server globs per tool (5 %), globs on both such as github-* / create_* (5 %), and a catch-all; a
quarter carry argument matchers (equals, glob, under, regex). Calls hit a mix of matching and non-matching
pairs. It prints figures only.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

from approver.core.policy import default_context, parse_policy


def rule_set(count: int, rng: random.Random) -> list[dict[str, object]]:
    rules: list[dict[str, object]] = []
    for n in range(count):
        kind = n % 20
        rule: dict[str, object] = {"effect": ("allow", "deny", "ask")[n % 3], "id": f"r{n}"}
        if kind < 16:
            rule.update(server=f"server{n % 200}", tool=f"tool{n}")
        elif kind < 18:
            rule.update(server=f"server{n % 200}", tool=f"{('read', 'write', 'list')[n % 3]}_{n}*")
        elif kind < 19:
            rule.update(server="*", tool=f"tool{n}")
        else:
            rule.update(server=f"server{n % 200}-*", tool=f"create_{n}*")
        if n % 4 == 0:
            rule["args"] = {
                "/path": {"under": "/home/u/project"},
                "/mode": {"equals": "overwrite"},
                "/name": {"glob": "*.md"},
                "/id": {"regex": "[a-z0-9-]{1,40}"},
            }
        rules.append(rule)
    rules.append({"effect": "ask", "id": "catch-all"})
    rng.shuffle(rules)
    return rules


def measure(rules: list[dict[str, object]], calls: list[tuple[str, str, dict[str, object]]]) -> list[float]:
    compiled = parse_policy(json.dumps({"rules": rules}), "bench")
    context = default_context()
    timings = []
    for server, tool, arguments in calls:
        started = time.perf_counter_ns()
        compiled.evaluate(server, tool, arguments, context)
        timings.append((time.perf_counter_ns() - started) / 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=50_000)
    args = parser.parse_args()
    rng = random.Random(7)
    arguments: dict[str, object] = {
        "path": "/home/u/project/notes.md",
        "mode": "overwrite",
        "name": "notes.md",
        "id": "abc-123",
    }
    calls = [(f"server{rng.randrange(200)}", f"tool{rng.randrange(args.rules)}", arguments) for _ in range(args.calls)]
    started = time.perf_counter()
    big = measure(rule_set(args.rules, rng), calls)
    compile_and_run = time.perf_counter() - started
    floor = measure([{"effect": "allow", "server": "server1", "tool": "tool1"}], calls)

    def pct(values: list[float], q: float) -> float:
        return sorted(values)[int(q * (len(values) - 1))]

    print(
        f"{args.rules:,} rules: decision p50 {statistics.median(big):.1f} µs, p99 {pct(big, 0.99):.1f} µs, "
        f"mean {statistics.fmean(big):.1f} µs (compile + {args.calls:,} calls: {compile_and_run:.1f} s)"
    )
    print(
        f"1 rule (floor): p50 {statistics.median(floor):.1f} µs, p99 {pct(floor, 0.99):.1f} µs "
        f"→ ratio p50 {statistics.median(big) / statistics.median(floor):.2f}x"
    )


if __name__ == "__main__":
    main()
