"""The rules as the service sees them: managed and user layers, re-read on change, integrity-checked, fail-closed.

Integrity. The user's rules file is written by the app (or by narrowing CLI commands), which seals it next to it
(`policy.json.trust`): a version number one above the newest seal known, who sealed it, and the digest of the
exact bytes, under an HMAC-SHA256 whose key is kept in the keyring. The newest trusted seal, with its text, is
remembered in the keyring and in the signed decision log (every `rule-change` entry about the user's rules names
it), and the service starts from the higher of the two. The file is trusted only while its bytes are that
version's. Anything else — a file edited by another program, such as an AI agent with a shell, an older sealed
pair put back (a rollback), a seal deleted or forged — is not trusted: its allow rules are ignored until a person
confirms the file in the app, while its deny and ask rules apply at once (narrowing is always allowed), together
with those of the last trusted version. A file given explicitly with `serve --policy FILE` is trusted as it was
when the service started; a later change to it is treated the same way.

Failing closed. A user file that stops validating leaves no user rule in force (every call needs a person). An
administrator's managed file that does not validate removes every allow rule, since its denies are unknown.
Every change the store sees, in the rules or in their trust, is reported through `on_change`, and the service
writes it to the decision log.
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
from approver.core.models import TOOLS_CALL
from approver.core.policy import (
    EMPTY_POLICY,
    CompiledPolicy,
    DefinitionFacts,
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


def _key(rule: Rule) -> str:
    """A rule's canonical text, to tell rules apart across versions."""
    return json.dumps(rule.model_dump(mode="json", exclude_unset=True), sort_keys=True)


def _labels(policy: Policy) -> dict[str, str]:
    """A label per rule and its canonical text, to describe what a change added and removed."""
    return {_key(rule): rule.id or f"rules[{index}]" for index, rule in enumerate(policy.rules)}


def _narrowing(*policies: Policy | None) -> Policy:
    rules: list[Rule] = []
    for policy in policies:
        for rule in policy.rules if policy else ():
            if rule.effect is not Effect.ALLOW and rule not in rules:
                rules.append(rule)
    return Policy(rules=tuple(rules))


def _policy_or_nothing(text: bytes | None) -> Policy:
    if text is None:
        return Policy()
    try:
        return parse_policy_document(text, "a remembered version")
    except PolicyError:
        return Policy()


def _allows_added(before: Policy, after: Policy) -> list[str]:
    """The allow rules `after` has that `before` had not: what a newly trusted version makes effective."""
    allows = {_key(rule) for rule in after.rules if rule.effect is Effect.ALLOW}
    old = _labels(before)
    return sorted(label for key, label in _labels(after).items() if key in allows and key not in old)


def describe_change(before: Policy, after: Policy) -> dict[str, Any]:
    old, new = _labels(before), _labels(after)
    return {
        "added": sorted(new[key] for key in new.keys() - old.keys()),
        "removed": sorted(old[key] for key in old.keys() - new.keys()),
        "rules": len(after.rules),
    }


SEALED_BY_APP = "app"
SEALED_BY_COMMAND_LINE = "command line"
_SEAL_FORMAT = b"mcp-approver rules seal v2\n"
_HOW_SEALED = {
    SEALED_BY_APP: "confirmed by a person in the app",
    SEALED_BY_COMMAND_LINE: "resealed by command-line narrowing",
}


@dataclass(frozen=True)
class Seal:
    """A trusted version of the user's rules file: its number, who sealed it, the digest of its exact bytes, and
    those bytes when known."""

    version: int
    digest: str
    by: str
    text: bytes | None = None

    def summary(self) -> dict[str, Any]:
        return {"version": self.version, "digest": self.digest, "by": self.by}

    def same_as(self, other: Seal) -> bool:
        return self.version == other.version and self.digest == other.digest

    @classmethod
    def from_record(cls, record: object) -> Seal | None:
        """A seal as remembered (keyring, log): None if the record is not one, or its text is not its digest's."""
        if not isinstance(record, dict):
            return None
        version, digest, by, text = (record.get(key) for key in ("version", "digest", "by", "text"))
        if not (isinstance(version, int) and isinstance(digest, str) and isinstance(by, str)):
            return None
        if isinstance(text, str) and hashlib.sha256(text.encode("utf-8")).hexdigest() == digest:
            return cls(version, digest, by, text.encode("utf-8"))
        return cls(version, digest, by)


def seal_in_log(entry: dict[str, Any] | None) -> Seal | None:
    """The newest trusted seal a `rule-change` entry of the (verified) decision log names, with its text."""
    if entry is None:
        return None
    record = entry.get("seal")
    if isinstance(record, dict):
        record = {**record, "text": entry.get("trusted_text")}
    return Seal.from_record(record)


def _file_name(path: Path) -> str:
    """The rules file the seal is for: a seal copied next to another file does not verify there."""
    return str(path.parent.resolve() / path.name)


class Integrity:
    """Seals over the user's rules file, with the key in the keyring (created on first use), and the memory of
    the newest trusted seal (in the keyring too)."""

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

    def mac(self, message: bytes) -> str:
        """An HMAC under the integrity key, for other files sealed with it (the app's settings). Each caller
        begins its messages with a context of its own, so a MAC made for one purpose never verifies for another."""
        return hmac.new(self._secret(), message, hashlib.sha256).hexdigest()

    def _mac(self, path: Path, version: int, by: str, digest: str) -> str:
        sealed = {"file": _file_name(path), "version": version, "by": by, "digest": digest}
        return self.mac(_SEAL_FORMAT + json.dumps(sealed, sort_keys=True, separators=(",", ":")).encode("utf-8"))

    def seal(self, trust_file: Path, path: Path, data: bytes, version: int, by: str) -> None:
        digest = hashlib.sha256(data).hexdigest()
        record = {
            "version": version,
            "by": by,
            "digest": digest,
            "mac": self._mac(path, version, by, digest),
            "text": data.decode("utf-8"),
        }
        write_atomically(trust_file, json.dumps(record).encode("utf-8"))

    def read_seal(self, trust_file: Path, path: Path) -> Seal | None:
        """The seal next to the file, if it verifies (whatever its version: the caller judges that)."""
        try:
            record = json.loads(trust_file.read_text())
            version, by, text = record["version"], record["by"], record["text"].encode("utf-8")
            if not (isinstance(version, int) and isinstance(by, str)):
                return None
            digest = hashlib.sha256(text).hexdigest()
            valid = hmac.compare_digest(record["mac"], self._mac(path, version, by, digest))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return Seal(version, digest, by, text) if valid else None

    def remembered(self, path: Path) -> Seal | None:
        """The newest seal trusted for this file, as kept in the keyring."""
        try:
            return Seal.from_record(json.loads(self._store.get(seal_memory_name(path)) or "null"))
        except ValueError:
            return None

    def remember(self, path: Path, seal: Seal) -> None:
        record = {**seal.summary(), "text": seal.text.decode("utf-8") if seal.text is not None else None}
        self._store.set(seal_memory_name(path), json.dumps(record))


def seal_memory_name(path: Path) -> str:
    """The keyring entry that remembers the newest trusted seal of this rules file."""
    return f"policy-seal {_file_name(path)}"


@dataclass
class Effective:
    """The layers in force now, and what is wrong, if anything."""

    layers: list[CompiledPolicy]
    problems: list[str] = field(default_factory=list)
    user_trusted: bool = True
    reseal: bool = False  # the file is its trusted version but its seal file is gone or wrong: a Save seals it again


class PolicyStore:
    def __init__(
        self,
        path: Path,
        *,
        explicit: bool,
        managed_path: Path | None = None,
        integrity: Integrity | None = None,
        on_change: Callable[[dict[str, Any]], object] | None = None,
        log_seal: Seal | None = None,
    ) -> None:
        """`explicit`: the file was named on the command line (required, trusted as it is now). `log_seal`: the
        newest seal the signed decision log names (the service reads it when it opens the log)."""
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
        self._user_trusted = True
        self._seal: Seal | None = None  # the newest trusted seal of the user's file (not for an explicit file)
        self._seal_note: str | None = None  # what is wrong with the seal file, as last reported
        # The seal under which the user's rules were last reported in force, and its rules: a newer one that comes
        # into force is reported with the allow rules it makes effective. At start, what the signed log last named
        # (so a seal made while no service watched is reported too).
        self._vouched: Seal | None = log_seal
        self._vouched_policy = _policy_or_nothing(log_seal.text if log_seal else None)
        self._reported_seal: dict[str, Any] | None = None
        if not explicit and integrity is not None:
            self._seal = self._recall(log_seal)
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

    def evaluate(
        self,
        server: str,
        tool: str,
        arguments: dict[str, Any],
        definition: DefinitionFacts | None = None,
        method: str = TOOLS_CALL,
    ) -> Outcome:
        return evaluate_layers(self.current().layers, server, tool, arguments, self.context(definition), method=method)

    def context(self, definition: DefinitionFacts | None = None) -> EvaluationContext:
        moment = time.monotonic()
        return EvaluationContext(
            now=datetime.now(UTC),
            home=str(Path.home()),
            resolve=os.path.realpath,
            usage=lambda key: self.usage.counts(key, moment),
            definition=definition,
        )

    def _reload(self) -> None:
        problems: list[str] = []
        managed, managed_ok = self._load_managed(problems)
        note = self._observe_seal()
        user, trusted, user_trusted = self._load_user(problems, note)
        layers = [CompiledPolicy(managed, Layer.MANAGED)] if managed.rules else []
        if user_trusted:
            layers.append(CompiledPolicy(user, Layer.USER, allows=managed_ok))
        else:
            # Narrowing is always allowed: the deny and ask rules of the file as it is and of its last trusted
            # version, together in one layer (so a deny from either beats an ask from either); no allow rule.
            layers.append(CompiledPolicy(_narrowing(user, trusted), Layer.USER, allows=False))
        if not managed_ok:
            problems.append("no allow rule is in force until the managed policy is fixed")
        self._report_changes(managed, user, user_trusted, trusted or Policy(), note)
        self._trusted_policy = trusted or Policy()
        self._effective = Effective(layers, problems, user_trusted, reseal=user_trusted and note is not None)

    # -- the seal ---------------------------------------------------------------------------------------------------

    def _recall(self, log_seal: Seal | None) -> Seal | None:
        """The newest trusted seal as remembered: the higher version of the keyring's and the signed log's (an
        agent that resets one of them does not make an older seal acceptable again)."""
        assert self.integrity is not None
        try:
            kept = self.integrity.remembered(self.path)
        except KeyStoreError as exc:
            print(f"approver: cannot read which rules seal is the newest from the keyring: {exc}", file=sys.stderr)
            kept = None
        known = [seal for seal in (log_seal, kept) if seal is not None]  # the signed log first: it wins a tie
        if not known:
            return None
        newest = max(known, key=lambda seal: seal.version)
        if newest.text is None:
            newest = next((seal for seal in known if seal.same_as(newest) and seal.text is not None), newest)
        return newest

    def _observe_seal(self) -> str | None:
        """Take a newer valid seal as the trusted version; say what is wrong with the seal file otherwise."""
        if self.explicit or self.integrity is None:
            return None
        name = self.trust_file.name
        try:
            found = self.integrity.read_seal(self.trust_file, self.path)
        except KeyStoreError as exc:
            return f"{name} cannot be checked: {exc}"
        known = self._seal
        if found is None:
            if self.trust_file.exists():
                return f"{name} does not verify"
            return f"{name} was removed" if known is not None else None
        if known is None or found.version > known.version:
            self._seal = found
            return None
        if found.same_as(known):
            if known.text is None:
                self._seal = found  # the text of the newest version, which the memory lacked
            return None
        if found.version < known.version:
            return f"rolled back to an older seal (version {found.version} < {known.version})"
        return f"{name} is another seal with the same version ({found.version})"

    def _load_managed(self, problems: list[str]) -> tuple[Policy, bool]:
        if self.managed_path is None or not self.managed_path.exists():
            return Policy(), True
        try:
            return load_policy_file(self.managed_path), True
        except PolicyError as exc:
            problems.append(f"the managed policy is invalid: {exc}")
            return Policy(), False

    def _load_user(self, problems: list[str], note: str | None) -> tuple[Policy, Policy | None, bool]:
        """The rules in the file, its last trusted version, and whether the file is that version."""
        trusted_text = self._baseline if self.explicit else self._seal.text if self._seal else None
        trusted = None
        if trusted_text is not None:
            try:
                trusted = parse_policy_document(trusted_text, f"{self.path} (last trusted version)")
            except PolicyError:
                trusted = None
        if self._seal is not None and trusted is None:
            problems.append(
                f"the last trusted version of {self.path} (seal version {self._seal.version}) is nowhere to be "
                "found, so its deny and ask rules cannot apply"
            )
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
            if note:
                problems.append(f"{note}; the rules are still the last trusted version")
            return policy, policy, True
        problems.append(
            f"{self.path} was changed outside MCP Approver{f' ({note})' if note else ''}: its deny and ask rules "
            "apply, its allow rules wait for confirmation in the app"
        )
        return policy, trusted, False

    def _report_changes(
        self, managed: Policy, user: Policy, user_trusted: bool, trusted: Policy, note: str | None
    ) -> None:
        """Tell the service what changed, in the rules or in their trust; the first load reports the rules in force
        at start. Every report about the user's rules names the newest trusted seal, with its text, so the signed
        log remembers it."""
        change = "changed" if self._loaded else "in force at start"
        seal = self._seal.summary() if self._seal else None
        # A seal newer than the one last vouched for comes into force once the file is its version.
        new_seal = (
            self._seal
            if self._seal is not None
            and user_trusted
            and (self._vouched is None or self._seal.version > self._vouched.version)
            else None
        )
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
        if (
            not self._loaded
            or user != self._user_policy
            or user_trusted != self._user_trusted
            or note != self._seal_note
            or seal != self._reported_seal
            or new_seal is not None
        ):
            event: dict[str, Any] = {
                "layer": "user",
                "change": change,
                "trusted": user_trusted,
                **describe_change(self._user_policy, user),
            }
            made_effective: list[str] = []
            if new_seal is not None:
                made_effective = _allows_added(self._vouched_policy, trusted)
                event["allows_made_effective"] = made_effective
                self._vouched, self._vouched_policy = new_seal, trusted
            event["reason"] = self._user_reason(user_trusted, note, new_seal, made_effective)
            if self._seal is not None:
                event["seal"] = seal
                if self._seal.text is not None:
                    event["trusted_text"] = self._seal.text.decode("utf-8")
            events.append(event)
        self._managed_policy, self._user_policy = managed, user
        self._user_trusted, self._seal_note, self._reported_seal = user_trusted, note, seal
        self._loaded = True
        if self.on_change is not None:
            for event in events:
                self.on_change(event)

    def _user_reason(self, trusted: bool, note: str | None, new_seal: Seal | None, made_effective: list[str]) -> str:
        """In words, how the user's rules came to be what is in force: who vouches for them, or why nobody does."""
        if not trusted:
            if self.explicit:
                return "changed after the start, not trusted: its deny and ask rules apply, its allow rules wait"
            because = f" ({note})" if note else ""
            return (
                f"changed outside MCP Approver{because}, not trusted: its deny and ask rules apply, its allow rules "
                "wait for a person in the app"
            )
        if self.explicit:
            return "the file given with --policy, trusted as it was at start"
        if new_seal is not None:
            if new_seal.by != SEALED_BY_APP and made_effective:
                return (
                    f"sealed outside the app ({new_seal.by}) with allow rules no person confirmed in it: "
                    f"{', '.join(made_effective)} (seal version {new_seal.version})"
                )
            how = _HOW_SEALED.get(new_seal.by, f"sealed by {new_seal.by}")
            return f"{how} (seal version {new_seal.version})"
        if note:
            return f"{note}; the rules are still the last trusted version"
        if self._seal is not None:
            return f"the last trusted version (seal version {self._seal.version})"
        return "no rules file yet"

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

    def replace_user_rules(self, rules: list[dict[str, Any]], *, by: str = SEALED_BY_APP) -> None:
        """Write the user's rules as confirmed by a person in the app (validated first: an invalid set raises
        PolicyError and nothing is written), and seal them. `by` says who vouches for them in the log."""
        text = (json.dumps({"version": 1, "rules": rules}, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        parse_policy_document(text, str(self.path))
        self._write_trusted(text, by)

    def trust_current_file(self) -> None:
        """A person confirmed in the app the file as it is now (after seeing what changed)."""
        data = _read(self.path)
        parse_policy_document(data, str(self.path))
        self._write_trusted(data, SEALED_BY_APP)

    def narrow(self, add: list[Rule], remove_ids: list[str]) -> None:
        """Changes that only narrow (add deny/ask rules, remove allow rules): allowed from anywhere, sealed at once."""
        rules = [rule for rule in self._safe_base() if not (rule.id in remove_ids and rule.effect is Effect.ALLOW)]
        rules.extend(add)
        self.replace_user_rules(self._documents(rules), by=SEALED_BY_COMMAND_LINE)

    def _write_trusted(self, data: bytes, by: str) -> None:
        if self.explicit:
            write_atomically(self.path, data)
            self._baseline = data
        else:
            if self.integrity is None:
                raise PolicyError("cannot seal the rules: no integrity key store")
            self.current()  # the newest seal known, so the new one is numbered above it
            seal = Seal((self._seal.version if self._seal else 0) + 1, hashlib.sha256(data).hexdigest(), by, data)
            try:
                # Remembered first: if the files are not written after all, the newest trusted version is still
                # known (its deny and ask rules apply), and an older seal is still refused.
                self.integrity.remember(self.path, seal)
                write_atomically(self.path, data)
                self.integrity.seal(self.trust_file, self.path, data, seal.version, by)
            except KeyStoreError as exc:
                raise PolicyError(f"cannot seal the rules: {exc}") from None
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
