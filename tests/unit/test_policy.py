import json
import os
import posixpath
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from approver.core.policy import (
    CompiledPolicy,
    Effect,
    EvaluationContext,
    Layer,
    PolicyError,
    default_context,
    evaluate_layers,
    parse_pointer,
    parse_policy,
    policy_json_schema,
)


def policy(*rules: dict[str, Any]) -> str:
    return json.dumps({"rules": list(rules)})


def test_deny_beats_ask_beats_allow_whatever_the_order() -> None:
    compiled = parse_policy(
        policy(
            {"effect": "allow", "tool": "*"},
            {"effect": "ask", "tool": "write*"},
            {"effect": "deny", "tool": "write_secret", "id": "no-secrets"},
        ),
        "p.json",
    )
    assert compiled.evaluate("fs", "read").effect is Effect.ALLOW
    assert compiled.evaluate("fs", "write_file").effect is Effect.ASK
    outcome = compiled.evaluate("fs", "write_secret")
    assert outcome.effect is Effect.DENY
    assert outcome.rule_label == "no-secrets"


def test_no_match_means_ask() -> None:
    outcome = parse_policy(policy({"effect": "allow", "server": "fs", "tool": "read"}), "p").evaluate("git", "read")
    assert outcome.effect is Effect.ASK
    assert outcome.rule is None
    assert outcome.explain() == "no rule matches this call"


def test_globs_match_exact_code_points_and_case() -> None:
    compiled = parse_policy(policy({"effect": "allow", "tool": "read_file"}), "p")
    assert compiled.evaluate("fs", "read_file").effect is Effect.ALLOW
    assert compiled.evaluate("fs", "Read_file").effect is Effect.ASK
    assert compiled.evaluate("fs", "read_fіle").effect is Effect.ASK  # Cyrillic і
    assert compiled.evaluate("fs", "read_file\u200b").effect is Effect.ASK  # zero-width space
    assert compiled.evaluate("fs", "read_file\n").effect is Effect.ASK


@given(tool=st.text(), server=st.text())
def test_a_deny_that_matches_always_wins(tool: str, server: str) -> None:
    compiled = parse_policy(
        policy({"effect": "allow", "tool": "*"}, {"effect": "deny", "tool": "*"}, {"effect": "ask"}), "p"
    )
    assert compiled.evaluate(server, tool).effect is Effect.DENY


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{", "p.json: not valid JSON"),
        ("[]", "p.json: the policy must be a JSON object"),
        ('{"version": 2, "rules": []}', "p.json: policy version 2 is not supported"),
        (policy({"effect": "permit"}), "p.json: rule 1, effect: must be one of allow, deny, ask"),
        (
            policy({"effect": "allow"}, {"effect": "allow", "id": "x", "tool": ""}),
            "p.json: rule 2 ('x'), tool: String should have at least 1 character",
        ),
        (policy({"effect": "allow", "tol": "x"}), "p.json: rule 1, tol: unknown field"),
        (policy({"tool": "x"}), "p.json: rule 1, effect: Field required"),
        ('{"rules": [], "rules": []}', "duplicate key 'rules'"),
        ('{"rules": {}}', "p.json: rules: Input should be a valid"),
    ],
)
def test_invalid_policies_name_file_rule_and_problem(document: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(document, "p.json")
    assert message in str(caught.value)


# -- argument matchers, expiry, layers, limits ----------------------------------------------------------------

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def context(home: str = "/home/u", usage: tuple[int, int] = (0, 0), resolve: object = None) -> EvaluationContext:
    return EvaluationContext(
        now=NOW,
        home=home,
        resolve=resolve or posixpath.normpath,  # type: ignore[arg-type]
        usage=lambda _key: usage,
    )


def decide(rules: list[dict[str, Any]], arguments: dict[str, Any], ctx: EvaluationContext | None = None) -> str:
    compiled = parse_policy(policy(*rules), "p")
    return compiled.evaluate("fs", "write", arguments, ctx or context()).effect.value


@pytest.mark.parametrize(
    ("matcher", "value", "expected"),
    [
        ({"equals": "/tmp/a"}, "/tmp/a", "allow"),
        ({"equals": 1}, True, "ask"),  # JSON types matter
        ({"equals": True}, 1, "ask"),
        ({"equals": {"a": [1, 2]}}, {"a": [1, 2]}, "allow"),
        ({"equals": None}, None, "allow"),
        ({"glob": "*.md"}, "notes.md", "allow"),
        ({"glob": "*.md"}, "notes.md\u200b", "ask"),  # an invisible character never matches
        ({"glob": "*.md"}, 5, "ask"),
        ({"regex": "[a-z]+"}, "abc", "allow"),
        ({"regex": "[a-z]+"}, "abc1", "ask"),  # full match only
        ({"max_length": 3}, "abcd", "ask"),
        ({"max_length": 3}, "abc", "allow"),
        ({"max_length": 2}, [1, 2, 3], "ask"),
        ({"under": "/home/u/project"}, "/home/u/project/a.txt", "allow"),
        ({"under": "/home/u/project"}, "/home/u/project", "allow"),
        ({"under": "/home/u/project"}, "/home/u/project/../.ssh/id_rsa", "ask"),
        ({"under": "/home/u/project"}, "/home/u/projectile/x", "ask"),
        ({"under": "~/project"}, "~/project/x", "allow"),
        ({"under": "/home/u/project"}, "relative/x", "ask"),
        ({"glob": "*.md", "max_length": 8}, "notes.md", "allow"),
        ({"glob": "*.md", "max_length": 7}, "notes.md", "ask"),
    ],
)
def test_argument_matchers(matcher: dict[str, object], value: object, expected: str) -> None:
    assert decide([{"effect": "allow", "args": {"/path": matcher}}], {"path": value}) == expected


def test_a_missing_argument_never_matches() -> None:
    assert decide([{"effect": "allow", "args": {"/path": {"glob": "*"}}}], {}) == "ask"
    assert decide([{"effect": "deny", "args": {"/path": {"glob": "*"}}}], {}) == "ask"


def test_pointers_reach_into_objects_and_arrays() -> None:
    rules = [{"effect": "allow", "args": {"/files/1/name": {"equals": "b"}, "/a~1b": {"equals": 1}}}]
    assert decide(rules, {"files": [{"name": "a"}, {"name": "b"}], "a/b": 1}) == "allow"
    assert decide(rules, {"files": [{"name": "a"}], "a/b": 1}) == "ask"
    assert parse_pointer("/a~1b/c~0d") == ("a/b", "c~d")


def test_uncertainty_goes_to_the_safe_side() -> None:
    long_value = "a" * 20_000
    deny = [{"effect": "deny", "args": {"/cmd": {"regex": "a+"}}}]
    allow = [{"effect": "allow", "args": {"/cmd": {"regex": "a+"}}}]
    assert decide(deny, {"cmd": long_value}) == "deny"  # padding cannot slip past a deny
    assert decide(allow, {"cmd": long_value}) == "ask"


def test_under_follows_symlinks_that_exist(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    outside = tmp_path / "secret.txt"
    outside.write_text("s")
    (project / "link").symlink_to(outside)
    rules = [{"effect": "allow", "args": {"/path": {"under": str(project)}}}]
    real = context(resolve=os.path.realpath)
    assert decide(rules, {"path": str(project / "notes.txt")}, real) == "allow"
    assert decide(rules, {"path": str(project / "link")}, real) == "ask"  # the link escapes the project


@given(
    segments=st.lists(st.sampled_from(["..", ".", "a", "b", "project", ""]), min_size=1, max_size=8),
)
def test_a_path_that_escapes_never_matches_under(segments: list[str]) -> None:
    path = "/home/u/project/" + "/".join(segments)
    inside = posixpath.normpath(path).startswith("/home/u/project")
    verdict = decide([{"effect": "allow", "args": {"/p": {"under": "/home/u/project"}}}], {"p": path})
    assert verdict == ("allow" if inside else "ask")


def test_expired_rules_no_longer_apply() -> None:
    past = (NOW - timedelta(minutes=1)).isoformat()
    future = (NOW + timedelta(minutes=1)).isoformat()
    assert decide([{"effect": "allow", "expires": past}], {}) == "ask"
    assert decide([{"effect": "allow", "expires": future}], {}) == "allow"
    with pytest.raises(PolicyError, match="give a time zone"):
        parse_policy(policy({"effect": "allow", "expires": "2026-12-01T00:00:00"}), "p")


def test_managed_rules_cannot_be_overridden() -> None:
    managed = CompiledPolicy(parse_policy(policy({"effect": "deny", "tool": "write"}), "m").policy, Layer.MANAGED)
    user = parse_policy(policy({"effect": "allow", "tool": "*"}), "u")
    outcome = evaluate_layers([managed, user], "fs", "write", {}, context())
    assert outcome.effect is Effect.DENY
    assert outcome.rule_label == "managed rules[0]"
    allowed = CompiledPolicy(parse_policy(policy({"effect": "allow", "tool": "write"}), "m").policy, Layer.MANAGED)
    user_deny = parse_policy(policy({"effect": "deny"}), "u")
    assert evaluate_layers([allowed, user_deny], "fs", "write", {}, context()).effect is Effect.ALLOW
    assert evaluate_layers([allowed, user_deny], "fs", "read", {}, context()).effect is Effect.DENY


def test_past_its_limit_an_allow_rule_says_what_the_limit_says() -> None:
    rules = [{"effect": "allow", "id": "few", "limit": {"per_minute": 3, "then": "deny"}}]
    assert decide(rules, {}, context(usage=(2, 2))) == "allow"
    compiled = parse_policy(policy(*rules), "p")
    outcome = compiled.evaluate("fs", "write", {}, context(usage=(3, 3)))
    assert outcome.effect is Effect.DENY
    assert "allows 3 calls a minute" in outcome.explain()
    hourly = [{"effect": "allow", "limit": {"per_hour": 10}}]
    assert decide(hourly, {}, context(usage=(0, 10))) == "ask"


def test_untrusted_layers_keep_denies_and_drop_allows() -> None:
    document = policy({"effect": "allow", "tool": "write"}, {"effect": "deny", "tool": "rm"})
    narrowed = parse_policy(document, "p", allows=False)
    assert narrowed.evaluate("fs", "write", {}, context()).effect is Effect.ASK
    assert narrowed.evaluate("fs", "rm", {}, context()).effect is Effect.DENY


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"effect": "allow", "args": {"path": {"glob": "*"}}}, "is not a JSON Pointer"),
        ({"effect": "allow", "args": {"/p": {}}}, "a matcher needs at least one of"),
        ({"effect": "allow", "args": {"/p": {"regex": "("}}}, "not a valid regular expression"),
        ({"effect": "allow", "args": {"/p": {"under": "relative"}}}, "needs an absolute directory"),
        ({"effect": "allow", "args": {"/p": {"glob": "*", "equal": 1}}}, "unknown field"),
        ({"effect": "allow", "limit": {"then": "deny"}}, "a limit needs per_minute or per_hour"),
    ],
)
def test_invalid_rules_say_what_is_wrong(rule: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(policy(rule), "p.json")


def test_the_json_schema_describes_the_policy_file() -> None:
    schema = policy_json_schema()
    assert schema["title"] == "MCP Approver policy"
    rule = schema["$defs"]["Rule"]
    assert {"effect", "server", "tool", "args", "expires", "limit", "id", "note"} <= set(rule["properties"])
    exported = json.loads((Path(__file__).parents[2] / "resources" / "policy.schema.json").read_text())
    assert exported == schema, "resources/policy.schema.json is stale: run `approver rules schema`"


def test_ten_thousand_rules_index_by_server_and_tool() -> None:
    rules = [{"effect": "allow", "server": f"s{n}", "tool": f"t{n}"} for n in range(10_000)]
    rules.append({"effect": "deny", "server": "s5", "tool": "t*"})
    compiled = parse_policy(policy(*rules), "p")
    assert len(compiled.candidates("s5", "t5")) == 2
    assert compiled.evaluate("s5", "t5", {}, default_context()).effect is Effect.DENY
    assert compiled.evaluate("s6", "t6", {}, default_context()).effect is Effect.ALLOW
