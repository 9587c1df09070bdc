"""Policy rules as documents, the way the rules editor edits them: form fields for the parts every rule has,
JSON for anything else the policy schema knows, and the policy parser as the only judge of what is valid.

The editor never models the schema itself, so fields the policy gains (argument matchers, expiry, limits) are
editable as JSON the day the parser accepts them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from approver.core.jsonrpc import MalformedMessage, loads_strict
from approver.core.policy import (
    POLICY_SCHEMA_VERSION,
    CompiledPolicy,
    EvaluationContext,
    PolicyError,
    default_context,
    parse_policy,
)

FORM_FIELDS = ("effect", "server", "tool", "id", "note")
Document = dict[str, object]


class RuleEditError(ValueError):
    """What the person typed cannot become a rule; the message says what to fix."""


def split_rule(document: Document) -> tuple[dict[str, str], str]:
    """The form fields (as text) and the remaining fields as indented JSON ("" when there are none)."""
    form = {name: str(document[name]) for name in FORM_FIELDS if name in document and document[name] is not None}
    extra = {name: value for name, value in document.items() if name not in FORM_FIELDS}
    return form, json.dumps(extra, indent=2, ensure_ascii=False) if extra else ""


def join_rule(form: dict[str, str], extra_json: str) -> Document:
    """A rule document from the form and the JSON field. Empty form fields are left out (server and tool then
    default to "*"); the JSON field must be an object and may not repeat a form field."""
    document: Document = {name: form[name] for name in FORM_FIELDS if form.get(name)}
    if extra_json.strip():
        try:
            extra = loads_strict(extra_json.encode("utf-8"))
        except MalformedMessage as exc:
            raise RuleEditError(f"Other fields: not valid JSON ({exc})") from None
        if not isinstance(extra, dict):
            raise RuleEditError('Other fields: must be a JSON object, like {"field": "value"}')
        repeated = sorted(set(extra) & set(FORM_FIELDS))
        if repeated:
            raise RuleEditError(f"Other fields: {', '.join(repeated)} belongs in the form above, not here")
        document.update(extra)
    return document


def policy_text(rules: Sequence[Document]) -> str:
    return json.dumps({"version": POLICY_SCHEMA_VERSION, "rules": list(rules)}, indent=2, ensure_ascii=False) + "\n"


def compile_rules(rules: Sequence[Document], source: str = "Rules") -> CompiledPolicy:
    """Raises PolicyError with the parser's message (naming the rule and the field) when the set is invalid."""
    return parse_policy(policy_text(rules), source)


def problem_with(rules: Sequence[Document]) -> str | None:
    try:
        compile_rules(rules)
    except PolicyError as exc:
        return str(exc)
    return None


def rules_from_file_text(text: str, source: str) -> list[Document]:
    """The rules of an exported (or hand-written) policy file; PolicyError when it is not a valid policy."""
    parse_policy(text, source)
    document = json.loads(text)
    rules = document.get("rules", [])
    return [dict(rule) for rule in rules]


def _sample_context() -> EvaluationContext:
    # Paths compare as written here: the sample call is imaginary, so there is nothing on disk to resolve.
    return default_context(home=str(Path.home()))


def explain_sample(rules: Sequence[Document], server: str, tool: str, arguments: dict[str, Any]) -> str:
    """What these rules would do with this call, in words."""
    outcome = compile_rules(rules).evaluate(server, tool, arguments, _sample_context())
    verdict = {"allow": "allowed", "deny": "denied", "ask": "asked about"}[outcome.effect.value]
    return f"A call of {tool} on {server} would be {verdict}: {outcome.explain()}."


def rule_matches(rule: Document, server: str, tool: str, arguments: dict[str, Any]) -> bool:
    outcome = compile_rules([rule]).evaluate(server, tool, arguments, _sample_context())
    return outcome.rule is not None


def summary(rule: Document) -> tuple[str, str, str, str]:
    """(effect, server, tool, label) for a row of the rules table."""
    label = rule.get("id") or rule.get("note") or ""
    return str(rule.get("effect", "?")), str(rule.get("server", "*")), str(rule.get("tool", "*")), str(label)
