import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from approver.core.policy import Effect, PolicyError, parse_policy


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
