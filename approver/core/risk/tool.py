"""What the tool's name and annotations say it does (untrusted hints from the server)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from approver.core.models import ToolCall
from approver.core.risk.arguments import _wordset
from approver.core.risk.model import RiskLevel

# --- the tool ------------------------------------------------------------------------------------------------

_Category = Literal["exec", "admin", "delete", "money", "deploy", "send", "kill", "write"]

_CATEGORIES: dict[_Category, tuple[RiskLevel, str]] = {
    "exec": (RiskLevel.HIGH, "runs commands or code on your computer"),
    "admin": (RiskLevel.HIGH, "uses administrator rights or changes who may access files"),
    "delete": (RiskLevel.HIGH, "deletes or destroys things, which may not be undoable"),
    "money": (RiskLevel.HIGH, "may spend or transfer money"),
    "deploy": (RiskLevel.HIGH, "changes live or shared systems (deploys, pushes or publishes)"),
    "send": (RiskLevel.MEDIUM, "sends messages or posts to other people or services on your behalf"),
    "kill": (RiskLevel.MEDIUM, "stops running programs"),
    "write": (RiskLevel.MEDIUM, "creates or changes files or data"),
}

_WORD_GROUPS: tuple[tuple[_Category, str], ...] = (
    ("exec", "exec execute run shell command cmd eval evaluate bash sh zsh powershell terminal spawn script repl"),
    ("exec", "subprocess invoke"),
    ("admin", "sudo su chmod chown chgrp grant privilege permissions"),
    ("delete", "delete del remove rm rmdir drop destroy purge wipe erase truncate unlink shred uninstall format"),
    ("money", "pay payment payout transfer purchase buy checkout charge refund withdraw"),
    ("deploy", "deploy push publish release merge rollout promote apply"),
    ("send", "send email mail post tweet message sms reply comment share invite notify broadcast forward dm"),
    ("kill", "kill terminate stop shutdown reboot restart halt"),
    ("write", "write overwrite edit update create save put patch append upload insert replace set modify move"),
    ("write", "mv rename copy cp mkdir touch install commit"),
)
_WORDS: dict[str, _Category] = {word: category for category, words in _WORD_GROUPS for word in words.split()}
_READ_WORDS = _wordset(
    "read get list ls search find view show cat head tail stat info describe fetch query lookup count check inspect "
    "tree glob grep open load browse"
)
_MODIFYING: frozenset[_Category] = frozenset({"exec", "admin", "delete", "money", "deploy", "write"})
# A read-only claim is plausible for "run_query"; not for "delete_file" or "send_email".
_CONTRADICTS_READ_ONLY: frozenset[_Category] = frozenset({"admin", "delete", "money", "deploy", "write", "send"})
# Descriptions are long and loose ("error messages", "write a query"): only the gravest words there count.
_DESCRIPTION_CATEGORIES: frozenset[_Category] = frozenset({"exec", "admin", "delete", "money", "deploy"})
_WORD_PATTERN = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def _category_of(word: str) -> _Category | None:
    """The category of a word or of its plain form: executes, deleted, removing, transfers."""
    candidates = [word]
    for ending in ("s", "es", "d", "ed"):
        if word.endswith(ending):
            candidates.append(word[: -len(ending)])
    if word.endswith("ing"):
        stem = word[:-3]
        candidates += [stem, stem + "e", stem[:-1]]
    return next((_WORDS[candidate] for candidate in candidates if candidate in _WORDS), None)


def _words(text: str) -> list[str]:
    return [word.lower() for word in _WORD_PATTERN.findall(text)]


@dataclass(slots=True)
class _Tool:
    name_words: list[str]
    categories: dict[_Category, str]  # category -> the word in the tool's name that showed it
    read_only: bool | None
    destructive: bool | None
    open_world: bool | None
    annotated: bool
    described: bool

    @property
    def mode(self) -> Literal["read", "write"]:
        """Whether the tool's paths are written to. Unknown means written: MCP's default is not read-only."""
        if any(category in _MODIFYING for category in self.categories):
            return "write"
        if self.read_only is True or any(word in _READ_WORDS for word in self.name_words):
            return "read"
        return "write"

    @property
    def runs_commands(self) -> bool:
        return "exec" in self.categories


def _tool_profile(call: ToolCall) -> _Tool:
    info = call.tool_info
    annotations = info.annotations if info is not None and isinstance(info.annotations, dict) else None

    def hint(name: str) -> bool | None:
        value = annotations.get(name) if annotations else None
        return value if isinstance(value, bool) else None  # anything but a real boolean is no statement

    words = _words(call.tool)
    categories: dict[_Category, str] = {}
    for word in words:
        category = _WORDS.get(word)
        if category is not None and category not in categories:
            categories[category] = word
    return _Tool(
        name_words=words,
        categories=categories,
        read_only=hint("readOnlyHint"),
        destructive=hint("destructiveHint"),
        open_world=hint("openWorldHint"),
        annotated=bool(annotations),
        described=info is not None,
    )
