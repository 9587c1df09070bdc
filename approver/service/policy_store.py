"""The rules as the service sees them: managed and user layers, re-read on change, integrity-checked, fail-closed.

Integrity. The user's rules file is written by the app (or by narrowing CLI commands), which records a MAC of
its exact bytes next to it (`policy.json.trust`, HMAC-SHA256 under a key kept in the keyring). A file whose bytes
do not match — edited by anything else, such as an AI agent with a shell — is not trusted: its allow rules are
ignored until a person confirms the change in the app, while its deny and ask rules apply at once (narrowing is
always allowed), together with those of the last trusted version. A file given explicitly with
`serve --policy FILE` is trusted as it was when the service started; a later change to it is treated the same way.

Failing closed. A user file that stops validating leaves no user rule in force (every call needs a person). An
administrator's managed file that does not validate removes every allow rule, since its denies are unknown.
Every change the store sees is reported through `on_change`, and the service writes it to the decision log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from approver.core.jsonrpc import MalformedMessage, loads_strict
from approver.core.log_format import rfc3339_now
from approver.core.policy import (
    EMPTY_POLICY,
    CompiledPolicy,
    Effect,
    EvaluationContext,
    Layer,
    Outcome,
    Policy,
    PolicyError,
    Rule,
    evaluate_layers,
    parse_policy_document,
)
from approver.platform.durable import write_atomically
from approver.platform.keystore import KeyStoreError, SecretStore
from approver.service.rates import RecentCounts

INTEGRITY_KEY_NAME = "policy-integrity-key"
Stamp = tuple[int, int, int] | None


def _stamp(path: Path | None) -> Stamp:
    if path is None:
        return None
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PolicyError(f"{path}: no such file") from None
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read it ({exc.strerror})") from None


def load_policy_file(path: Path) -> Policy:
    return parse_policy_document(_read(path), str(path))


def _labels(policy: Policy) -> dict[str, str]:
    """A label per rule and its canonical text, to describe what a change added and removed."""
    return {
        json.dumps(rule.model_dump(mode="json", exclude_unset=True), sort_keys=True): rule.id or f"rules[{index}]"
        for index, rule in enumerate(policy.rules)
    }


def _narrowing(*policies: Policy | None) -> Policy:
    rules: list[Rule] = []
    for policy in policies:
        for rule in policy.rules if policy else ():
            if rule.effect is not Effect.ALLOW and rule not in rules:
                rules.append(rule)
    return Policy(rules=tuple(rules))


def describe_change(before: Policy, after: Policy) -> dict[str, Any]:
    old, new = _labels(before), _labels(after)
    return {
        "added": sorted(new[key] for key in new.keys() - old.keys()),
        "removed": sorted(old[key] for key in old.keys() - new.keys()),
        "rules": len(after.rules),
    }


class Integrity:
    """MACs over the user's rules file, with the key in the keyring (created on first use)."""

    def __init__(self, store: SecretStore) -> None:
        self._store = store
        self._key: bytes | None = None

    def _secret(self) -> bytes:
        if self._key is None:
            existing = self._store.get(INTEGRITY_KEY_NAME)
            if existing is None:
                existing = secrets.token_hex(32)
                self._store.set(INTEGRITY_KEY_NAME, existing)
            self._key = bytes.fromhex(existing)
        return self._key

    def mac(self, data: bytes) -> str:
        return hmac.new(self._secret(), data, hashlib.sha256).hexdigest()

    def seal(self, trust_file: Path, data: bytes) -> None:
        record = {"digest": hashlib.sha256(data).hexdigest(), "mac": self.mac(data), "text": data.decode("utf-8")}
        write_atomically(trust_file, json.dumps(record).encode("utf-8"))

    def trusted_text(self, trust_file: Path) -> bytes | None:
        """The last version the app sealed, if its seal verifies."""
        try:
            record = json.loads(trust_file.read_text())
            text = record["text"].encode("utf-8")
            valid = hmac.compare_digest(record["mac"], self.mac(text))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return text if valid else None


@dataclass
class Effective:
    """The layers in force now, and what is wrong, if anything."""

    layers: list[CompiledPolicy]
    problems: list[str] = field(default_factory=list)
    user_trusted: bool = True


class PolicyStore:
    def __init__(
        self,
        path: Path,
        *,
        explicit: bool,
        managed_path: Path | None = None,
        integrity: Integrity | None = None,
        on_change: Callable[[dict[str, Any]], object] | None = None,
    ) -> None:
        """`explicit`: the file was named on the command line (required, trusted as it is now)."""
        self.path = path
        self.explicit = explicit
        self.managed_path = managed_path
        self.integrity = integrity
        self.on_change = on_change
        self.usage: RecentCounts[str] = RecentCounts()  # calls each rate-limited allow rule let through
        self.trust_file = path.with_name(path.name + ".trust")
        self.pending_file = path.with_name("pending-rules.json")
        self._baseline: bytes | None = None  # explicit files: the bytes trusted at start
        self._stamps: tuple[Stamp, Stamp, Stamp] | None = None  # None: never loaded
        self._user_policy = Policy()
        self._trusted_policy = Policy()
        self._managed_policy = Policy()
        self._effective = Effective([EMPTY_POLICY])
        self._loaded = False
        if explicit:
            data = _read(path)
            parse_policy_document(data, str(path))  # raises: the service must not start half-configured
            self._baseline = data
        if managed_path is not None and managed_path.exists():
            load_policy_file(managed_path)  # an invalid managed policy stops the start, with its message
        self.current()

    # -- what is in force ----------------------------------------------------------------------------------------

    @property
    def problem(self) -> str | None:
        problems = self.current().problems
        return "; ".join(problems) if problems else None

    def current(self) -> Effective:
        stamps = (_stamp(self.path), _stamp(self.managed_path), _stamp(self.trust_file))
        if stamps != self._stamps:
            self._stamps = stamps
            self._reload()
        return self._effective

    def evaluate(self, server: str, tool: str, arguments: dict[str, Any]) -> Outcome:
        return evaluate_layers(self.current().layers, server, tool, arguments, self.context())

    def context(self) -> EvaluationContext:
        moment = time.monotonic()
        return EvaluationContext(
            now=datetime.now(UTC),
            home=str(Path.home()),
            resolve=os.path.realpath,
            usage=lambda key: self.usage.counts(key, moment),
        )

    def _reload(self) -> None:
        problems: list[str] = []
        managed, managed_ok = self._load_managed(problems)
        user, trusted, user_trusted = self._load_user(problems)
        layers = [CompiledPolicy(managed, Layer.MANAGED)] if managed.rules else []
        if user_trusted:
            layers.append(CompiledPolicy(user, Layer.USER, allows=managed_ok))
        else:
            # Narrowing is always allowed: the deny and ask rules of the file as it is and of its last trusted
            # version, together in one layer (so a deny from either beats an ask from either); no allow rule.
            layers.append(CompiledPolicy(_narrowing(user, trusted), Layer.USER, allows=False))
        if not managed_ok:
            problems.append("no allow rule is in force until the managed policy is fixed")
        self._report_changes(managed, user, user_trusted)
        self._trusted_policy = trusted or Policy()
        self._effective = Effective(layers, problems, user_trusted)

    def _load_managed(self, problems: list[str]) -> tuple[Policy, bool]:
        if self.managed_path is None or not self.managed_path.exists():
            return Policy(), True
        try:
            return load_policy_file(self.managed_path), True
        except PolicyError as exc:
            problems.append(f"the managed policy is invalid: {exc}")
            return Policy(), False

    def _load_user(self, problems: list[str]) -> tuple[Policy, Policy | None, bool]:
        """The rules in the file, its last trusted version, and whether the file is that version."""
        trusted_text = self._trusted_text()
        trusted = None
        if trusted_text is not None:
            try:
                trusted = parse_policy_document(trusted_text, f"{self.path} (last trusted version)")
            except PolicyError:
                trusted = None
        keeping = "; the deny and ask rules of its last trusted version still apply" if trusted else ""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            if trusted is None and not self.explicit:
                return Policy(), None, True  # never written: no rules, nothing to distrust
            problems.append(f"{self.path} was removed{keeping}")
            return Policy(), trusted, False
        except OSError as exc:
            problems.append(f"{self.path} cannot be read ({exc.strerror}){keeping}")
            return Policy(), trusted, False
        try:
            policy = parse_policy_document(data, str(self.path))
        except PolicyError as exc:
            problems.append(f"the policy file is invalid, none of its rules is in force: {exc}{keeping}")
            return Policy(), trusted, False
        if trusted_text == data:
            return policy, policy, True
        problems.append(
            f"{self.path} was changed outside MCP Approver: its deny and ask rules apply, its allow rules wait "
            "for confirmation in the app"
        )
        return policy, trusted, False

    def _trusted_text(self) -> bytes | None:
        if self.explicit:
            return self._baseline
        if self.integrity is None:
            return None
        try:
            return self.integrity.trusted_text(self.trust_file)
        except KeyStoreError as exc:
            print(f"approver: cannot check the rules' integrity: {exc}", file=sys.stderr)
            return None

    def _report_changes(self, managed: Policy, user: Policy, trusted: bool) -> None:
        """Tell the service what changed; the first load reports the rules in force at start."""
        change = "changed" if self._loaded else "in force at start"
        events = []
        if managed != self._managed_policy:
            events.append(
                {
                    "layer": "managed",
                    "change": change,
                    "trusted": True,
                    **describe_change(self._managed_policy, managed),
                }
            )
        if user != self._user_policy or not self._loaded:
            events.append(
                {"layer": "user", "change": change, "trusted": trusted, **describe_change(self._user_policy, user)}
            )
        self._managed_policy, self._user_policy = managed, user
        self._loaded = True
        if self.on_change is not None:
            for event in events:
                self.on_change(event)

    # -- changes made through MCP Approver ----------------------------------------------------------------------

    def user_rules(self) -> list[dict[str, Any]]:
        """The user's rules as documents, in file order (what the settings editor edits)."""
        self.current()
        return [rule.model_dump(mode="json", exclude_unset=True) for rule in self._user_policy.rules]

    def managed_rules(self) -> list[dict[str, Any]]:
        """The administrator's rules, for showing read-only."""
        self.current()
        return [rule.model_dump(mode="json", exclude_unset=True) for rule in self._managed_policy.rules]

    def add_confirmed_rule(self, rule: dict[str, Any]) -> None:
        """Add a rule a person confirmed in the app to the user's trusted rules."""
        self.replace_user_rules([*self._documents(self._safe_base()), rule])

    def _safe_base(self) -> list[Rule]:
        """What a change made through MCP Approver starts from: the trusted rules, plus the deny and ask rules a
        change from outside added (narrowing is kept); never an allow rule nobody confirmed."""
        self.current()
        base = list(self._trusted_policy.rules)
        base.extend(rule for rule in _narrowing(self._user_policy).rules if rule not in base)
        return base

    @staticmethod
    def _documents(rules: list[Rule]) -> list[dict[str, Any]]:
        return [rule.model_dump(mode="json", exclude_unset=True) for rule in rules]

    def replace_user_rules(self, rules: list[dict[str, Any]]) -> None:
        """Write the user's rules as confirmed by a person in the app (validated first: an invalid set raises
        PolicyError and nothing is written), and seal them."""
        text = (json.dumps({"version": 1, "rules": rules}, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        parse_policy_document(text, str(self.path))
        self._write_trusted(text)

    def trust_current_file(self) -> None:
        """A person confirmed in the app the file as it is now (after seeing what changed)."""
        data = _read(self.path)
        parse_policy_document(data, str(self.path))
        self._write_trusted(data)

    def narrow(self, add: list[Rule], remove_ids: list[str]) -> None:
        """Changes that only narrow (add deny/ask rules, remove allow rules): allowed from anywhere, sealed at once."""
        rules = [rule for rule in self._safe_base() if not (rule.id in remove_ids and rule.effect is Effect.ALLOW)]
        rules.extend(add)
        self.replace_user_rules(self._documents(rules))

    def _write_trusted(self, data: bytes) -> None:
        if self.explicit:
            write_atomically(self.path, data)
            self._baseline = data
        else:
            if self.integrity is None:
                raise PolicyError("cannot seal the rules: no integrity key store")
            write_atomically(self.path, data)
            self.integrity.seal(self.trust_file, data)
        self.current()

    # -- changes that wait for a person ---------------------------------------------------------------------------

    def pending(self) -> list[dict[str, Any]]:
        try:
            value = loads_strict(self.pending_file.read_bytes())
        except (FileNotFoundError, MalformedMessage):
            return []
        return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []

    def request(self, change: dict[str, Any]) -> None:
        """Queue a widening change (from the command line) for a person to confirm in the app."""
        write_atomically(
            self.pending_file,
            json.dumps([*self.pending(), {**change, "requested_at": rfc3339_now()}], indent=2).encode("utf-8"),
        )

    def confirm_pending(self, change: dict[str, Any]) -> None:
        """A person confirmed, in the app, the queued change they were shown. It is applied only if it is still
        in the queue exactly as shown: the queue is a file anything could rewrite meanwhile."""
        queue = self.pending()
        if change not in queue:
            raise PolicyError("that change is no longer waiting as it was shown; look at the list again")
        queue.remove(change)
        rules = self._documents(self._safe_base())
        if change.get("action") == "add" and isinstance(change.get("rule"), dict):
            rules.append(change["rule"])
        elif change.get("action") == "remove":
            rules = [rule for rule in rules if rule.get("id") != change.get("id")]
        self.replace_user_rules(rules)
        write_atomically(self.pending_file, json.dumps(queue, indent=2).encode("utf-8"))

    def discard_pending(self, change: dict[str, Any]) -> None:
        queue = [item for item in self.pending() if item != change]
        write_atomically(self.pending_file, json.dumps(queue, indent=2).encode("utf-8"))

    def describe(self) -> str:
        effective = self.current()
        if effective.problems:
            return "; ".join(effective.problems)
        managed = f", {len(self._managed_policy.rules)} managed" if self._managed_policy.rules else ""
        return f"{self.path} ({len(self._user_policy.rules)} rules{managed})"
