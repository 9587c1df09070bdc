"""The rules file's integrity, layers and change reports, on real files (the key store is the file fallback)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from approver.core.policy import Effect, PolicyError, Rule
from approver.platform.keystore import FileStore
from approver.service.policy_store import Integrity, PolicyStore, Seal, seal_in_log


def write(path: Path, *rules: dict[str, Any]) -> None:
    path.write_text(json.dumps({"version": 1, "rules": list(rules)}))


@pytest.fixture
def changes() -> list[dict[str, Any]]:
    return []


def user_store(
    tmp_path: Path, changes: list[dict[str, Any]], managed: Path | None = None, log_seal: Seal | None = None
) -> PolicyStore:
    return PolicyStore(
        tmp_path / "policy.json",
        explicit=False,
        managed_path=managed,
        integrity=Integrity(FileStore(tmp_path / "keys.json")),
        on_change=changes.append,
        log_seal=log_seal,
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
    text = (tmp_path / "policy.json").read_text()
    assert changes[-1] == {
        "layer": "user",
        "change": "changed",
        "trusted": True,
        "added": ["no-rm", "w"],
        "removed": [],
        "rules": 2,
        "allows_made_effective": ["w"],
        "reason": "confirmed by a person in the app (seal version 1)",
        "seal": {"version": 1, "digest": hashlib.sha256(text.encode()).hexdigest(), "by": "app"},
        "trusted_text": text,
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


def saved_pair(tmp_path: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in (tmp_path / "policy.json", tmp_path / "policy.json.trust")}


def restore(pair: dict[Path, bytes]) -> None:
    for path, data in pair.items():
        path.write_bytes(data)


def test_an_older_sealed_pair_put_back_is_a_rollback_not_a_confirmation(
    tmp_path: Path, changes: list[dict[str, Any]]
) -> None:
    store = user_store(tmp_path, changes)
    store.replace_user_rules([ALLOW_WRITE, DENY_RM])
    old = saved_pair(tmp_path)
    store.narrow(add=[], remove_ids=["w"])
    assert changes[-1]["reason"] == "resealed by command-line narrowing (seal version 2)"
    assert changes[-1]["allows_made_effective"] == []
    restore(old)
    assert effect(store, "write") is Effect.ASK
    assert effect(store, "rm") is Effect.DENY
    assert "rolled back to an older seal (version 1 < 2)" in (store.problem or "")
    assert changes[-1]["trusted"] is False
    assert changes[-1]["reason"].startswith(
        "changed outside MCP Approver (rolled back to an older seal (version 1 < 2)), not trusted"
    )
    assert changes[-1]["seal"]["version"] == 2
    # A fresh reader (the command line, or the service after a restart) remembers version 2 through the keyring.
    assert effect(user_store(tmp_path, []), "write") is Effect.ASK
    store.trust_current_file()  # a person looks at the old rules in the app and confirms them
    assert effect(store, "write") is Effect.ALLOW
    assert changes[-1]["reason"] == "confirmed by a person in the app (seal version 3)"
    assert changes[-1]["allows_made_effective"] == ["w"]


def test_the_signed_log_refuses_a_rollback_when_the_keyring_forgot(
    tmp_path: Path, changes: list[dict[str, Any]]
) -> None:
    store = user_store(tmp_path, changes)
    store.replace_user_rules([ALLOW_WRITE, DENY_RM])
    old = saved_pair(tmp_path)
    store.narrow(add=[], remove_ids=["w"])
    logged = seal_in_log(changes[-1])
    assert logged is not None and logged.version == 2 and logged.text is not None
    restore(old)
    keys = json.loads((tmp_path / "keys.json").read_text())
    forgotten = {name: value for name, value in keys.items() if not name.startswith("policy-seal ")}
    assert len(forgotten) == len(keys) - 1
    (tmp_path / "keys.json").write_text(json.dumps(forgotten))  # the keyring's memory of version 2 is gone
    restarted = user_store(tmp_path, [], log_seal=logged)
    assert effect(restarted, "write") is Effect.ASK
    assert effect(restarted, "rm") is Effect.DENY  # version 2's deny, known from the log alone
    assert "rolled back to an older seal (version 1 < 2)" in (restarted.problem or "")


def test_the_log_wins_over_an_older_keyring_memory(tmp_path: Path, changes: list[dict[str, Any]]) -> None:
    store = user_store(tmp_path, changes)
    store.replace_user_rules([ALLOW_WRITE])
    keyring_then = (tmp_path / "keys.json").read_bytes()
    old = saved_pair(tmp_path)
    store.narrow(add=[], remove_ids=["w"])
    logged = seal_in_log(changes[-1])
    restore(old)
    (tmp_path / "keys.json").write_bytes(keyring_then)  # the keyring put back as it was at version 1
    assert effect(user_store(tmp_path, [], log_seal=logged), "write") is Effect.ASK


def test_a_deleted_seal_keeps_the_trusted_version(tmp_path: Path, changes: list[dict[str, Any]]) -> None:
    store = user_store(tmp_path, changes)
    store.replace_user_rules([ALLOW_WRITE, DENY_RM])
    (tmp_path / "policy.json.trust").unlink()
    assert effect(store, "write") is Effect.ALLOW  # the file is still exactly the trusted version
    assert "policy.json.trust was removed" in (store.problem or "")
    assert changes[-1]["reason"] == "policy.json.trust was removed; the rules are still the last trusted version"
    write(tmp_path / "policy.json", ALLOW_WRITE)  # and the agent drops the deny
    assert effect(store, "rm") is Effect.DENY
    assert effect(store, "write") is Effect.ASK
    fresh = user_store(tmp_path, [])  # the trusted text is in the keyring too
    assert effect(fresh, "rm") is Effect.DENY


def test_a_seal_moved_next_to_another_file_does_not_verify(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    user_store(first, []).replace_user_rules([ALLOW_WRITE])
    for name in ("policy.json", "policy.json.trust"):
        (second / name).write_bytes((first / name).read_bytes())
    (second / "keys.json").write_bytes((first / "keys.json").read_bytes())  # even with the same key
    changes: list[dict[str, Any]] = []
    assert effect(user_store(second, changes), "write") is Effect.ASK
    assert changes[-1]["reason"].startswith("changed outside MCP Approver (policy.json.trust does not verify)")


def test_a_seal_made_outside_the_app_that_enables_an_allow_says_so(
    tmp_path: Path, changes: list[dict[str, Any]]
) -> None:
    store = user_store(tmp_path, changes)
    store.replace_user_rules([DENY_RM])
    # a program with the keyring key seals a widening and claims to be the command line
    data = json.dumps({"version": 1, "rules": [DENY_RM, ALLOW_WRITE]}).encode()
    (tmp_path / "policy.json").write_bytes(data)
    assert store.integrity is not None
    store.integrity.seal(store.trust_file, store.path, data, 2, "command line")
    assert effect(store, "write") is Effect.ALLOW  # conceded: whoever holds the key can seal
    assert changes[-1]["allows_made_effective"] == ["w"]
    assert changes[-1]["reason"] == (
        "sealed outside the app (command line) with allow rules no person confirmed in it: w (seal version 2)"
    )


def test_a_person_renews_a_missing_seal_with_the_next_version(tmp_path: Path, changes: list[dict[str, Any]]) -> None:
    store = user_store(tmp_path, changes)
    store.replace_user_rules([DENY_RM])
    assert not store.current().reseal
    store.trust_file.unlink()
    assert store.current().reseal and store.current().user_trusted
    store.trust_current_file()
    assert not store.current().reseal
    assert changes[-1]["seal"]["version"] == 2
    assert changes[-1]["reason"] == "confirmed by a person in the app (seal version 2)"


def test_a_seal_made_while_no_service_watched_is_reported_at_start(
    tmp_path: Path, changes: list[dict[str, Any]]
) -> None:
    user_store(tmp_path, changes).replace_user_rules([DENY_RM])
    logged = seal_in_log(changes[-1])
    # with the service stopped, something that holds the key seals an allow
    offline = user_store(tmp_path, [])
    offline.replace_user_rules([DENY_RM, ALLOW_WRITE])
    at_start: list[dict[str, Any]] = []
    store = user_store(tmp_path, at_start, log_seal=logged)
    assert effect(store, "write") is Effect.ALLOW
    [event] = at_start
    assert event["change"] == "in force at start"
    assert event["reason"] == "confirmed by a person in the app (seal version 2)"
    assert event["allows_made_effective"] == ["w"]


def test_a_new_seal_is_reported_when_its_file_comes_into_force(tmp_path: Path, changes: list[dict[str, Any]]) -> None:
    store = user_store(tmp_path, changes)
    store.replace_user_rules([DENY_RM])
    data = json.dumps({"version": 1, "rules": [DENY_RM, ALLOW_WRITE]}).encode()
    assert store.integrity is not None
    store.integrity.seal(store.trust_file, store.path, data, 2, "app")  # the seal lands before the file
    assert effect(store, "write") is Effect.ASK
    assert changes[-1]["seal"]["version"] == 2 and changes[-1]["trusted"] is False
    store.path.write_bytes(data)
    assert effect(store, "write") is Effect.ALLOW
    assert changes[-1]["reason"] == "confirmed by a person in the app (seal version 2)"
    assert changes[-1]["allows_made_effective"] == ["w"]
