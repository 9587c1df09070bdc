"""The policy file as the service sees it: validated at start, re-read when it changes, fail-closed when broken."""

from __future__ import annotations

import json
from pathlib import Path

from approver.core.policy import EMPTY_POLICY, CompiledPolicy, PolicyError, parse_policy


def load_policy_file(path: Path) -> CompiledPolicy:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PolicyError(f"{path}: no such file") from None
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read it ({exc.strerror})") from None
    return parse_policy(data, str(path))


class PolicyStore:
    """Hands out the current policy. A change on disk is picked up at the next decision; a change that does not
    validate leaves no rule in force (every call then needs a person) until it is fixed, and says why."""

    def __init__(self, path: Path, *, required: bool) -> None:
        self.path = path
        self._stamp = self._file_stamp()
        self.problem: str | None = None
        if self._stamp is None and not required:
            self._policy = EMPTY_POLICY
        else:
            self._policy = load_policy_file(path)  # raises: the service must not start half-configured

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return None
        return (info.st_ino, info.st_size, info.st_mtime_ns)

    def current(self) -> CompiledPolicy:
        stamp = self._file_stamp()
        if stamp != self._stamp:
            self._stamp = stamp
            if stamp is None:
                self._policy, self.problem = EMPTY_POLICY, f"{self.path} was removed; no rule is in force"
            else:
                try:
                    self._policy, self.problem = load_policy_file(self.path), None
                except PolicyError as exc:
                    self._policy, self.problem = (
                        EMPTY_POLICY,
                        f"the policy file is invalid, no rule is in force: {exc}",
                    )
        return self._policy

    def user_rules(self) -> list[dict[str, object]]:
        """The user's rules as documents, in file order (what the settings editor edits)."""
        return [rule.model_dump(mode="json", exclude_none=True) for rule in self.current().policy.rules]

    def managed_rules(self) -> list[dict[str, object]]:
        """Rules an administrator set; the app shows them read-only. None yet: the managed layer is not built."""
        return []

    def add_confirmed_rule(self, rule: dict[str, object]) -> None:
        """Add a rule a person confirmed in the app to the user's rules."""
        self.replace_user_rules([*self.user_rules(), rule])

    def replace_user_rules(self, rules: list[dict[str, object]]) -> None:
        """Write the user's rules (validated first: an invalid set raises PolicyError and nothing is written)."""
        text = json.dumps({"version": 1, "rules": rules}, indent=2, ensure_ascii=False) + "\n"
        parse_policy(text, str(self.path))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(text)
        temporary.replace(self.path)
        self.current()

    def describe(self) -> str:
        policy = self.current()
        if self.problem:
            return self.problem
        return f"{self.path} ({len(policy.policy.rules)} rules)"
