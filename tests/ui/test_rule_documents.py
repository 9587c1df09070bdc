"""Rules as documents: form fields and JSON, judged by the policy parser."""

from __future__ import annotations

import pytest

from approver.core.policy import PolicyError
from approver.ui.rule_documents import (
    Document,
    RuleEditError,
    explain_sample,
    join_rule,
    policy_text,
    problem_with,
    rules_from_file_text,
    split_rule,
    summary,
)

RULE: Document = {
    "effect": "allow",
    "server": "fs",
    "tool": "read_*",
    "id": "reads",
    "args": {"/path": {"under": "/srv"}},
}


def test_a_rule_splits_into_form_and_json_and_back() -> None:
    form, extra = split_rule(RULE)
    assert form == {"effect": "allow", "server": "fs", "tool": "read_*", "id": "reads"}
    assert '"under": "/srv"' in extra
    assert join_rule(form, extra) == RULE


def test_empty_form_fields_are_left_out() -> None:
    assert join_rule({"effect": "deny", "server": "", "tool": "x", "id": "", "note": ""}, "  ") == {
        "effect": "deny",
        "tool": "x",
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("{", "Other fields: not valid JSON"),
        ("[1]", "Other fields: must be a JSON object"),
        ('{"tool": "x"}', "Other fields: tool belongs in the form above"),
        ('{"a": 1, "a": 2}', "Other fields: not valid JSON"),
    ],
)
def test_the_json_field_says_what_is_wrong(extra: str, message: str) -> None:
    with pytest.raises(RuleEditError, match=message):
        join_rule({"effect": "allow"}, extra)


def test_the_parser_message_names_the_rule_and_the_field() -> None:
    assert problem_with([RULE]) is None
    assert problem_with([RULE, {"effect": "maybe", "id": "odd"}]) == (
        "Rules: rule 2 ('odd'), effect: 'maybe' is not one of allow, deny, ask"
    )
    problem = problem_with([{"effect": "allow", "args": {"/path": {"under": "relative"}}}])
    assert problem is not None and "rule 1" in problem and "under" in problem


def test_an_exported_file_imports_as_the_same_rules() -> None:
    text = policy_text([RULE, {"effect": "deny", "tool": "delete_*"}])
    assert rules_from_file_text(text, "export.json") == [RULE, {"effect": "deny", "tool": "delete_*"}]
    with pytest.raises(PolicyError, match=r"broken\.json"):
        rules_from_file_text('{"rules": [{"effect": 1}]}', "broken.json")


def test_a_sample_call_is_explained() -> None:
    rules: list[Document] = [RULE, {"effect": "deny", "tool": "read_secret"}]
    assert explain_sample(rules, "fs", "read_file", {"path": "/srv/a"}) == (
        "A call of read_file on fs would be allowed: rule reads says allow."
    )
    assert explain_sample(rules, "fs", "read_file", {"path": "/etc/a"}) == (
        "A call of read_file on fs would be asked about: no rule matches this call."
    )
    assert "denied: rule rules[1] says deny" in explain_sample(rules, "fs", "read_secret", {})


def test_summary_rows() -> None:
    assert summary(RULE) == ("allow", "fs", "read_*", "reads")
    assert summary({"effect": "ask", "note": "why"}) == ("ask", "*", "*", "why")
