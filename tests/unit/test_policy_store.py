"""The rules file's integrity, layers and change reports, on real files (the key store is the file fallback)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from approver.core.policy import Effect, PolicyError, Rule
from approver.platform.keystore import FileStore
from approver.service.policy_store import Integrity, PolicyStore


def write(path: Path, *rules: dict[str, Any]) -> None:
    path.write_text(json.dumps({"version": 1, "rules": list(rules)}))


@pytest.fixture
def changes() -> list[dict[str, Any]]:
    return []


def user_store(tmp_path: Path, changes: list[dict[str, Any]], managed: Path | None = None) -> PolicyStore:
    return PolicyStore(
        tmp_path / "policy.json",
        explicit=False,
        managed_path=managed,
        integrity=Integrity(FileStore(tmp_path / "keys.json")),
        on_change=changes.append,
    )


ALLOW_WRITE = {"effect": "allow", "tool": "write", "id": "w"}
DENY_RM = {"effect": "deny", "tool": "rm", "id": "no-rm"}


def effect(store: PolicyStore, tool: str) -> Effect:
    return store.evaluate("fs", tool, {}).effect


def test_rules_written_through_the_app_are_trusted(tmp_path: Path, changes: list[dict[str, Any]]) -> None:
    store = user_store(tmp_path, changes)
    store.replace_user_rules([ALLOW_WRITE, DENY_RM])
    assert effect(store, "write") is Effect.ALLOW
    assert effect(store, "rm") is Effect.DENY
    assert store.problem is None
    assert changes[-1] == {
        "layer": "user",
        "change": "changed",
        "trusted": True,
        "added": ["no-rm", "w"],
        "removed": [],
        "rules": 2,
    }


def test_an_edit_from_outside_is_detected_and_only_narrows(tmp_path: Path, changes: list[dict[str, Any]]) -> None:
    store = user_store(tmp_path, changes)
    store.replace_user_rules([ALLOW_WRITE, DENY_RM])
    # an agent removes the deny and adds a broad allow, writing the file directly
    write(
        tmp_path / "policy.json",
        ALLOW_WRITE,
        {"effect": "allow", "tool": "*", "id": "everything"},
        {"effect": "deny", "tool": "shell"},
    )
    assert effect(store, "read") is Effect.ASK  # the new allow waits for a person
    assert effect(store, "write") is Effect.ASK  # so do the old ones: the file as a whole is in question
    assert effect(store, "rm") is Effect.DENY  # the last trusted version's deny still applies
    assert effect(store, "shell") is Effect.DENY  # and the new deny applies at once
    assert "was changed outside MCP Approver" in (store.problem or "")
    assert changes[-1]["trusted"] is False
    assert changes[-1]["added"] == ["everything", "rules[2]"]
    store.trust_current_file()  # a person confirmed it in the app
    assert effect(store, "read") is Effect.ALLOW
    assert store.problem is None


def test_a_hand_written_file_with_no_seal_is_not_trusted(tmp_path: Path, changes: list[dict[str, Any]]) -> None:
    write(tmp_path / "policy.json", ALLOW_WRITE)
    store = user_store(tmp_path, changes)
    assert effect(store, "write") is Effect.ASK
    assert changes[0]["change"] == "in force at start"


def test_a_forged_seal_is_rejected(tmp_path: Path, changes: list[dict[str, Any]]) -> None:
    store = user_store(tmp_path, changes)
    store.replace_user_rules([DENY_RM])
    write(tmp_path / "policy.json", ALLOW_WRITE)
    seal = json.loads((tmp_path / "policy.json.trust").read_text())
    seal["text"] = (tmp_path / "policy.json").read_text()  # copies the text but cannot recompute the MAC
    (tmp_path / "policy.json.trust").write_text(json.dumps(seal))
    assert effect(store, "write") is Effect.ASK


def test_an_explicit_file_is_trusted_as_started_and_edits_only_narrow(tmp_path: Path) -> None:
    path = tmp_path / "given.json"
    write(path, ALLOW_WRITE)
    store = PolicyStore(path, explicit=True)
    assert effect(store, "write") is Effect.ALLOW
    write(path, ALLOW_WRITE, {"effect": "allow", "tool": "*"})
    assert effect(store, "read") is Effect.ASK


def test_a_managed_policy_wins_and_a_broken_one_removes_every_allow(
    tmp_path: Path, changes: list[dict[str, Any]]
) -> None:
    managed = tmp_path / "managed.json"
    write(managed, {"effect": "deny", "tool": "write", "id": "corp-no-writes"})
    store = user_store(tmp_path, changes, managed)
    store.replace_user_rules([ALLOW_WRITE, {"effect": "allow", "tool": "read"}])
    assert effect(store, "write") is Effect.DENY
    assert effect(store, "read") is Effect.ALLOW
    assert store.managed_rules() == [{"effect": "deny", "tool": "write", "id": "corp-no-writes"}]
    managed.write_text("{broken")
    assert effect(store, "read") is Effect.ASK
    assert "the managed policy is invalid" in (store.problem or "")


def test_an_invalid_managed_policy_stops_the_start(tmp_path: Path, changes: list[dict[str, Any]]) -> None:
    managed = tmp_path / "managed.json"
    managed.write_text('{"rules": [{"effect": "maybe"}]}')
    with pytest.raises(PolicyError, match=r"managed\.json: rule 1, effect"):
        user_store(tmp_path, changes, managed)


def test_widening_waits_and_narrowing_applies(tmp_path: Path, changes: list[dict[str, Any]]) -> None:
    store = user_store(tmp_path, changes)
    store.request({"action": "add", "rule": ALLOW_WRITE, "by": "command line"})
    assert effect(store, "write") is Effect.ASK
    [pending] = store.pending()
    assert pending["rule"] == ALLOW_WRITE
    store.confirm_pending(pending)
    assert effect(store, "write") is Effect.ALLOW
    assert store.pending() == []
    store.narrow(add=[Rule.model_validate(DENY_RM)], remove_ids=["w"])
    assert effect(store, "write") is Effect.ASK
    assert effect(store, "rm") is Effect.DENY


def test_narrowing_from_the_command_line_never_seals_an_allow_nobody_confirmed(
    tmp_path: Path, changes: list[dict[str, Any]]
) -> None:
    store = user_store(tmp_path, changes)
    store.replace_user_rules([DENY_RM])
    write(tmp_path / "policy.json", DENY_RM, {"effect": "allow", "id": "sneaky"})  # an agent adds an allow
    store.narrow(add=[Rule.model_validate({"effect": "deny", "tool": "zzz", "id": "z"})], remove_ids=[])
    assert effect(store, "anything") is Effect.ASK  # the agent's allow was not sealed by the narrowing
    assert [rule.get("id") for rule in store.user_rules()] == ["no-rm", "z"]
    assert store.problem is None


def test_the_last_trusted_denies_survive_removal_corruption_and_a_broad_ask(
    tmp_path: Path, changes: list[dict[str, Any]]
) -> None:
    store = user_store(tmp_path, changes)
    store.replace_user_rules([DENY_RM, ALLOW_WRITE])
    (tmp_path / "policy.json").unlink()
    assert effect(store, "rm") is Effect.DENY
    assert "was removed" in (store.problem or "")
    (tmp_path / "policy.json").write_text("{broken")
    assert effect(store, "rm") is Effect.DENY
    write(tmp_path / "policy.json", {"effect": "ask", "tool": "*"})  # a broad ask must not shadow the deny
    assert effect(store, "rm") is Effect.DENY
    assert effect(store, "write") is Effect.ASK


def test_a_queued_change_rewritten_after_it_was_shown_is_not_applied(
    tmp_path: Path, changes: list[dict[str, Any]]
) -> None:
    store = user_store(tmp_path, changes)
    store.request({"action": "add", "rule": {"effect": "allow", "tool": "read"}, "by": "command line"})
    [shown] = store.pending()
    swapped = {**shown, "rule": {"effect": "allow", "tool": "*"}}
    store.pending_file.write_text(json.dumps([swapped]))  # rewritten while the person looked at it
    with pytest.raises(PolicyError, match="no longer waiting as it was shown"):
        store.confirm_pending(shown)
    assert effect(store, "anything") is Effect.ASK
