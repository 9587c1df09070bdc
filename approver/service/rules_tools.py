"""What the `approver rules …` commands ask of the policy: listing, checking a call, and changing rules — where
only narrowing takes effect from the command line, and anything that widens waits for a person in the app."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from approver.core.models import ToolCall, ToolInfo, request_digest
from approver.core.policy import Effect, PolicyError, Rule, describe_rule_errors, rule_key
from approver.core.risk import assess
from approver.platform.keystore import open_secret_store
from approver.platform.paths import Home, managed_policy_path
from approver.service.policy_store import Integrity, PolicyStore
from approver.service.rates import RecentCounts
from approver.service.risk_facts import gather_context

_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def open_rules(home: Home, policy_file: Path | None = None) -> PolicyStore:
    """The rules as the service would see them (the user's file, or `policy_file` as with serve --policy)."""
    if policy_file is not None:
        return PolicyStore(policy_file, explicit=True, managed_path=managed_policy_path())
    store, _status = open_secret_store(home.key_file)
    return PolicyStore(home.policy_file, explicit=False, managed_path=managed_policy_path(), integrity=Integrity(store))


def expiry(text: str, now: datetime | None = None) -> str:
    """An RFC 3339 time, or a duration from now such as 30m, 2h, 7d."""
    if match := _DURATION.fullmatch(text.strip()):
        amount, unit = match.groups()
        moment = (now or datetime.now(UTC)) + timedelta(**{_UNITS[unit]: int(amount)})
        return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PolicyError(f"--expires: {text!r} is neither a time (2026-12-01T09:00:00Z) nor a duration (2h)") from None
    if parsed.tzinfo is None:
        raise PolicyError("--expires: give a time zone (e.g. 2026-12-01T09:00:00Z)")
    return text


def check(
    rules: PolicyStore,
    server: str,
    tool: str,
    arguments: dict[str, Any],
    tool_info: ToolInfo | None = None,
) -> dict[str, Any]:
    """What the service would decide for this call now, which rule decided, and the risk a person would see."""
    outcome = rules.evaluate(server, tool, arguments)
    call = ToolCall(
        server=server,
        tool=tool,
        arguments=arguments,
        request_id="check",
        digest=request_digest(b"check"),
        tool_info=tool_info,
    )
    risk = assess(call, gather_context(call, RecentCounts()))
    return {
        "decision": outcome.effect.value,
        "rule": outcome.rule_label,
        "layer": outcome.layer.value if outcome.layer else None,
        "rule_key": rule_key(outcome),
        "reason": outcome.explain(),
        "risk": risk.model_dump(mode="json"),
        "problems": rules.current().problems,
    }


def listing(rules: PolicyStore) -> dict[str, Any]:
    effective = rules.current()
    return {
        "managed": {"file": str(rules.managed_path), "rules": rules.managed_rules()},
        "user": {"file": str(rules.path), "trusted": effective.user_trusted, "rules": rules.user_rules()},
        "pending": rules.pending(),
        "problems": effective.problems,
    }


def add_rule(rules: PolicyStore, document: dict[str, Any]) -> str:
    """Deny and ask rules apply at once; an allow rule waits for confirmation in the app. Returns what happened."""
    try:
        rule = Rule.model_validate(document)
    except ValidationError as exc:
        raise PolicyError(f"the rule is invalid: {describe_rule_errors(exc)}") from None
    if rule.effect is Effect.ALLOW:
        rules.request({"action": "add", "rule": document, "by": "command line"})
        return "queued: an allow rule takes effect only once a person confirms it in the MCP Approver app"
    rules.narrow(add=[rule], remove_ids=[])
    return f"added: the {rule.effect.value} rule is in force"


def remove_rule(rules: PolicyStore, rule_id: str) -> str:
    """Removing an allow rule narrows (at once); removing a deny or ask rule widens (waits for the app)."""
    matching = [rule for rule in rules.user_rules() if rule.get("id") == rule_id]
    if not matching:
        raise PolicyError(f"no user rule has the id {rule_id!r} (see `approver rules list`)")
    if all(rule.get("effect") == "allow" for rule in matching):
        rules.narrow(add=[], remove_ids=[rule_id])
        return f"removed: allow rule {rule_id!r} no longer applies"
    rules.request({"action": "remove", "id": rule_id, "by": "command line"})
    return f"queued: removing {rule_id!r} would widen what is allowed, so a person must confirm it in the app"
