"""How risky a held tool call looks, in words a person can act on.

The assessment is shown in the approval dialog: an overall level, the reasons for it (each a plain sentence with
a stable code), and one sentence about the most important concrete effect ("Overwrites /home/u/.bashrc —
outside your project; the file exists.").

It comes in two phases so that this module stays pure. `paths_to_check(call)` names the path-like strings in
the arguments; the caller (the service) looks them up on disk and passes what it found in a `RiskContext`,
together with the client's workspace roots, the home folder and recent call counts. `assess(call, context)`
then decides from the call and those facts alone: deterministic, no I/O.

Everything a server says about its tools (annotations, description) is an untrusted hint. Missing annotations
take the MCP defaults (not read-only, destructive, open-world), and a read-only claim lowers the tool's own
signals by one level but never hides what the arguments show. Anything quoted from the arguments is shown with
secrets masked and invisible or direction-changing characters spelled out, so the dialog cannot be spoofed.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
import shlex
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import unquote

from pydantic import BaseModel, ConfigDict, Field, model_validator

from approver.core.hosts import HostError, idn_forms, imitated_site, split_site
from approver.core.models import ToolCall
from approver.core.redaction import find_secrets_in_text, normalize_name, redact, secret_catalogue


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {RiskLevel.LOW: 0, RiskLevel.MEDIUM: 1, RiskLevel.HIGH: 2, RiskLevel.CRITICAL: 3}
_BY_RANK = [RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH, RiskLevel.CRITICAL]


def max_level(levels: Iterable[RiskLevel]) -> RiskLevel:
    """The highest of the levels; low when there are none."""
    return max(levels, key=lambda level: level.rank, default=RiskLevel.LOW)


def _lower(level: RiskLevel, steps: int = 1) -> RiskLevel:
    return _BY_RANK[max(0, level.rank - steps)]


class RiskReason(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str = Field(description="A stable machine id, such as path.outside or shell.remote_code.")
    level: RiskLevel
    text: str = Field(description="One plain-language sentence for the person deciding.")


class RiskAssessment(BaseModel):
    model_config = ConfigDict(frozen=True)

    level: RiskLevel = Field(description="The highest level among the reasons; low when there are none.")
    reasons: list[RiskReason] = Field(default_factory=list, description="Most serious first.")
    impact: str = Field(description="The most important concrete effect, in one sentence.")

    @model_validator(mode="after")
    def _level_is_the_highest_reason(self) -> RiskAssessment:
        expected = max_level(reason.level for reason in self.reasons)
        if self.level is not expected:
            raise ValueError(f"level {self.level.value} is not the highest reason level ({expected.value})")
        return self


class PathFacts(BaseModel):
    """What the caller found on disk for one string from `paths_to_check`."""

    model_config = ConfigDict(frozen=True)

    raw: str = Field(description="The string exactly as paths_to_check returned it.")
    resolved: str | None = Field(
        default=None,
        description="Absolute real path (~ expanded, relative to the first root, symlinks followed); None if unknown.",
    )
    exists: bool = False
    is_symlink: bool = Field(default=False, description="The path itself (lstat) is a symbolic link.")


class RiskContext(BaseModel):
    """Facts only the caller can gather: where the user works, what is on disk, how busy the client is."""

    model_config = ConfigDict(frozen=True)

    home: str = Field(description="The user's home folder, absolute.")
    roots: list[str] = Field(default_factory=list, description="The client's workspace roots (paths or file: URIs).")
    paths: dict[str, PathFacts] = Field(default_factory=dict, description="Keyed by the raw string.")
    calls_last_minute: int = 0
    calls_last_hour: int = 0


# --- limits --------------------------------------------------------------------------------------------------

MAX_STRING_BYTES = 100_000
MAX_TOTAL_BYTES = 1_000_000
MAX_PATHS = 64
MAX_URLS = 50
MAX_PATH_LENGTH = 4096
MAX_REASONS_PER_CODE = 3
RATE_PER_MINUTE = 30
RATE_PER_HOUR = 300


# --- quoting things safely -----------------------------------------------------------------------------------

_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\U000e0000-\U000e007f]")
"""Zero-width, bidirectional-control, BOM and tag characters: they make text read differently to a person."""

_SECRET_LABELS = {
    "github_token": "a GitHub token",
    "aws_access_key_id": "an AWS access key",
    "anthropic_api_key": "an Anthropic API key",
    "openai_api_key": "an OpenAI API key",
    "stripe_key": "a Stripe secret key",
    "slack_token": "a Slack token",
    "slack_webhook": "a Slack webhook address",
    "google_api_key": "a Google API key",
    "hugging_face_token": "a Hugging Face token",
    "npm_token": "an npm token",
    "aws_secret_access_key": "an AWS secret access key",
    "cut_off": "the start of a value cut off for the log",
    "jwt": "a login token (JWT)",
    "private_key": "a private key",
    "bearer_token": "a bearer token",
    "basic_auth": "a user name and password (HTTP Basic)",
    "url_password": "a password inside a link",
    "password": "a password",
    "cookie": "a cookie",
    "session": "a session id",
    "credential": "a credential",
    "high_entropy": "a random-looking secret",
}
_FIELD_KINDS = frozenset({"password", "cookie", "session", "credential", "high_entropy"})


_WORD_EDGE = re.compile(r"\s")
_PLAIN = re.compile(r"[ -~]*")  # printable ASCII: nothing to spell out


def _show(text: str, limit: int = 80, keep: Literal["start", "end"] = "start") -> str:
    """Text safe to put in a sentence: secrets masked, invisible characters spelled out, length bounded."""
    window = limit * 8
    if len(text) > window:
        # Cut far from the part that will show, and not inside a word: half a token would escape the masking.
        text = text[:window] if keep == "start" else text[-window:]
        if _WORD_EDGE.search(text):
            text = text.rsplit(None, 1)[0] if keep == "start" else text.split(None, 1)[-1]
    spans = find_secrets_in_text(text)
    if spans:
        pieces: list[str] = []
        position = 0
        for kind, start, end in spans:
            pieces.append(text[position:start])
            pieces.append(f"[hidden {kind.replace('_', ' ')}]")
            position = end
        pieces.append(text[position:])
        text = "".join(pieces)
    shown = text if _PLAIN.fullmatch(text) else "".join(_visible(character) for character in text)
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…" if keep == "start" else "…" + shown[-(limit - 1) :]
    return shown


def _visible(character: str) -> str:
    if character in " \t" or character.isalnum():
        return character
    if unicodedata.category(character) in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"} or _INVISIBLE.match(character):
        return f"<U+{ord(character):04X}>"
    return character


def _size(byte_count: int) -> str:
    if byte_count >= 1_000_000:
        return f"{byte_count / 1_000_000:.1f} MB"
    return f"{byte_count / 1000:.0f} KB"


# --- the arguments, flattened --------------------------------------------------------------------------------

_Location = tuple["_Location | None", "str | int"] | None


def _render_location(location: _Location) -> str:
    segments: list[str | int] = []
    while location is not None:
        location, segment = location
        segments.append(segment)
    rendered = ""
    for segment in reversed(segments[-6:]):
        rendered += f"[{segment}]" if isinstance(segment, int) else ("." if rendered else "") + segment
    return ("…" if len(segments) > 6 else "") + rendered


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


_COMMAND_KEYS = frozenset(
    {"command", "commands", "cmd", "cmdline", "commandline", "script", "shell", "bash", "sh", "powershell", "exec"}
)
_ARGV_KEYS = frozenset({"args", "argv", "arguments"})
_PATH_KEYS = _wordset(
    "path paths file files filename filenames filepath filepaths dir dirs directory directories folder cwd workdir "
    "workingdirectory destination dest dst src"
)
_PATH_KEY_SUFFIXES = ("path", "paths", "file", "files", "filename", "dir", "directory", "folder")
_WEAK_PATH_KEYS = frozenset({"source", "target", "root", "output", "input", "location", "from", "to"})
_URL_KEYS = frozenset({"url", "uri", "href", "link", "endpoint", "webhook", "host", "hostname", "domain", "server"})
_URL_KEY_SUFFIXES = ("url", "uri", "host")


@dataclass(slots=True)
class _Site:
    """One string in the arguments (a value, or a synthesised command line) and where it was."""

    text: str
    key: str | None  # the nearest member name, normalised
    location: _Location
    command: bool  # under a key that holds a shell command

    @property
    def where(self) -> str:
        return _render_location(self.location) or "the arguments"


@dataclass(slots=True)
class _Arguments:
    sites: list[_Site] = field(default_factory=list)
    keys: list[tuple[str, _Location]] = field(default_factory=list)
    total_bytes: int = 0


def _flatten(arguments: dict[str, Any]) -> _Arguments:
    """Every string in the arguments, with its nearest key and location, without recursion."""
    result = _Arguments()
    stack: list[tuple[Any, str | None, _Location, bool]] = [(arguments, None, None, False)]
    while stack:
        value, key, location, command = stack.pop()
        if isinstance(value, str):
            result.total_bytes += _utf8_length(value) + 2
            result.sites.append(_Site(value, key, location, command))
        elif isinstance(value, dict):
            result.total_bytes += 2
            children: list[tuple[Any, str | None, _Location, bool]] = []
            for member, child in value.items():
                name = member if isinstance(member, str) else str(member)
                result.total_bytes += _utf8_length(name) + 4
                result.keys.append((name, location))
                normalized = normalize_name(name)
                child_command = command or normalized in _COMMAND_KEYS or normalized in _ARGV_KEYS
                children.append((child, normalized, (location, name), child_command))
            stack.extend(reversed(children))
            _synthesise_command_line(value, location, result)
        elif isinstance(value, list):
            result.total_bytes += 2
            stack.extend((child, key, (location, index), command) for index, child in reversed(list(enumerate(value))))
            if command and value and all(isinstance(item, str) for item in value):
                result.sites.append(_Site(" ".join(value), key, location, True))
        else:
            result.total_bytes += 8
    return result


def _synthesise_command_line(members: dict[Any, Any], location: _Location, result: _Arguments) -> None:
    """`{"command": "rm", "args": ["-rf", "/"]}` runs `rm -rf /`: look at it as one line too."""
    command = next(
        (v for k, v in members.items() if isinstance(k, str) and normalize_name(k) in {"command", "cmd"}), None
    )
    argv = next((v for k, v in members.items() if isinstance(k, str) and normalize_name(k) in _ARGV_KEYS), None)
    if isinstance(command, str) and isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv):
        result.sites.append(_Site(" ".join([command, *argv]), "command", (location, "command"), True))


def _utf8_length(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


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


# --- collecting reasons --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Impact:
    level: RiskLevel
    priority: int  # lower wins among equal levels: commands, writes, requests, reads, secrets, the tool itself
    sentence: str


@dataclass(slots=True)
class _Findings:
    reasons: list[RiskReason] = field(default_factory=list)
    impacts: list[_Impact] = field(default_factory=list)
    _seen: set[tuple[str, str]] = field(default_factory=set)
    _per_code: dict[str, tuple[int, int]] = field(default_factory=dict)  # code -> (reasons kept, highest rank)

    def add(self, code: str, level: RiskLevel, text: str) -> None:
        """Keep a reason; past a few of one code, only one that raises that code's level (the level must be true)."""
        count, highest = self._per_code.get(code, (0, -1))
        if (code, text) in self._seen or (count >= MAX_REASONS_PER_CODE and level.rank <= highest):
            return
        self._seen.add((code, text))
        self._per_code[code] = (count + 1, max(highest, level.rank))
        self.reasons.append(RiskReason(code=code, level=level, text=text))

    def impact(self, level: RiskLevel, priority: int, sentence: str) -> None:
        self.impacts.append(_Impact(level, priority, sentence))


def assess(call: ToolCall, context: RiskContext) -> RiskAssessment:
    """Rate a held call for the person deciding. Deterministic; uses only the call and the caller's facts."""
    tool = _tool_profile(call)
    arguments = _flatten(call.arguments)
    findings = _Findings()
    _annotation_reasons(call, tool, findings)
    _tool_word_reasons(call, tool, findings)
    _text_reasons(arguments, findings)
    _secret_reasons(call, findings)
    _path_reasons(_path_sites(arguments, tool), tool, context, findings)
    _shell_reasons(arguments, tool, findings)
    _url_reasons(arguments, findings)
    _rate_reasons(context, findings)
    _recipient_impact(arguments, tool, findings)
    findings.impact(RiskLevel.LOW, 9, _tool_sentence(call, tool))
    reasons = sorted(findings.reasons, key=lambda reason: -reason.level.rank)  # stable: ties keep their order
    impact = min(findings.impacts, key=lambda item: (-item.level.rank, item.priority)).sentence
    return RiskAssessment(level=max_level(reason.level for reason in reasons), reasons=reasons, impact=impact)


_RECIPIENT_KEYS = _wordset("to cc bcc recipient recipients email emails channel chat chatid user users phone number")


def _recipient_impact(arguments: _Arguments, tool: _Tool, findings: _Findings) -> None:
    """For a tool that sends, who receives it is the effect that matters."""
    if "send" not in tool.categories:
        return
    recipients = [site.text for site in arguments.sites if site.key in _RECIPIENT_KEYS and site.text.strip()]
    if recipients:
        shown = ", ".join(_show(recipient, 60) for recipient in recipients[:3])
        more = f" and {len(recipients) - 3} more" if len(recipients) > 3 else ""
        findings.impact(_CATEGORIES["send"][0], 4, f"Sends a message to {shown}{more}.")


def _tool_sentence(call: ToolCall, tool: _Tool) -> str:
    name, server = _show(call.tool, 60), _show(call.server, 40)
    if tool.read_only is True and not (set(tool.categories) & _MODIFYING):
        return f"Runs the tool '{name}' on '{server}', which the server says only reads."
    if tool.categories:
        category = next(iter(tool.categories))
        return f"Runs the tool '{name}' on '{server}', which {_CATEGORIES[category][1]}."
    return f"Runs the tool '{name}' on '{server}'."


# --- annotations and the tool's name -------------------------------------------------------------------------


def _annotation_reasons(call: ToolCall, tool: _Tool, findings: _Findings) -> None:
    if not tool.described:
        findings.add(
            "tool.undescribed",
            RiskLevel.MEDIUM,
            "The server never listed this tool, so nothing is known about what it does; MCP's rules say to assume "
            "it may change or delete things and reach the internet.",
        )
    elif not tool.annotated:
        findings.add(
            "annotations.missing",
            RiskLevel.MEDIUM,
            "The server does not say this tool is read-only, so MCP's rules say to assume it may change or delete "
            "things and reach the internet.",
        )
    else:
        if tool.read_only is True:
            findings.add(
                "annotations.read_only",
                RiskLevel.LOW,
                "The server says this tool only reads and changes nothing (a claim MCP Approver cannot check).",
            )
        elif tool.destructive is True:
            findings.add(
                "annotations.destructive", RiskLevel.HIGH, "The server says this tool may delete or overwrite things."
            )
        elif tool.destructive is None:
            findings.add(
                "annotations.destructive_default",
                RiskLevel.MEDIUM,
                "The server does not say this tool is read-only or harmless, so MCP's rules say to assume it may "
                "delete or overwrite things.",
            )
        else:
            findings.add(
                "annotations.additive",
                RiskLevel.LOW,
                "The server says this tool changes things but never deletes or overwrites them (its claim).",
            )
        if tool.open_world is True:
            findings.add(
                "annotations.open_world",
                RiskLevel.LOW,
                "The server says this tool reaches outside your computer (the internet or other services).",
            )
        elif tool.open_world is None:
            findings.add(
                "annotations.open_world",
                RiskLevel.LOW,
                "The server does not say whether this tool reaches the internet, so assume it can.",
            )
    modifying = [category for category in tool.categories if category in _CONTRADICTS_READ_ONLY]
    if tool.read_only is True and modifying:
        category = modifying[0]
        findings.add(
            "annotations.contradiction",
            RiskLevel.HIGH,
            f"The server says '{_show(call.tool, 60)}' only reads, but its name says it "
            f"{_CATEGORIES[category][1]}; the claim may be false.",
        )
    if any(not character.isascii() for character in call.tool):
        findings.add(
            "tool.name_unusual",
            RiskLevel.MEDIUM,
            f"The tool's name '{_show(call.tool, 60)}' contains non-English letters or invisible marks, which can "
            "imitate another tool's name.",
        )
    description = call.tool_info.description if call.tool_info is not None else None
    if description and _INVISIBLE.search(description):
        findings.add(
            "tool.description_hidden_text",
            RiskLevel.HIGH,
            "The tool's description contains invisible characters, which can hide instructions to the AI that "
            "you cannot see.",
        )


def _tool_word_reasons(call: ToolCall, tool: _Tool, findings: _Findings) -> None:
    contradicted = tool.read_only is True and any(c in _CONTRADICTS_READ_ONLY for c in tool.categories)
    lowered = 1 if tool.read_only is True and not contradicted else 0
    name = _show(call.tool, 60)
    for category, word in tool.categories.items():
        level, phrase = _CATEGORIES[category]
        findings.add(
            f"tool.{category}", _lower(level, lowered), f"The tool's name ('{name}': {word}) says it {phrase}."
        )
    if tool.categories:
        return
    description = call.tool_info.description if call.tool_info is not None else None
    if not description:
        return
    seen: set[_Category] = set()
    for word in _words(description[:4000]):
        mentioned = _category_of(word)
        if mentioned is None or mentioned in seen or mentioned not in _DESCRIPTION_CATEGORIES:
            continue
        seen.add(mentioned)
        level, phrase = _CATEGORIES[mentioned]
        findings.add(
            f"tool.description.{mentioned}",
            _lower(level, 1 + lowered),
            f"The tool's description mentions '{word}', a sign that it {phrase}.",
        )


# --- text: invisible characters and size ---------------------------------------------------------------------


def _text_reasons(arguments: _Arguments, findings: _Findings) -> None:
    for site in arguments.sites:
        size = _utf8_length(site.text) if len(site.text) * 4 > MAX_STRING_BYTES else len(site.text)
        if size > MAX_STRING_BYTES:
            findings.add(
                "size.string",
                RiskLevel.MEDIUM,
                f"'{_show(site.where, 60)}' is {_size(size)} of text, too long to review here; it could hide "
                "something.",
            )
        if _INVISIBLE.search(site.text):
            _invisible_reason(site.text, f"The text in '{_show(site.where, 60)}'", findings)
    for name, location in arguments.keys:
        if _INVISIBLE.search(name):
            _invisible_reason(name, f"The argument name '{_show(_render_location((location, name)), 60)}'", findings)
    if arguments.total_bytes > MAX_TOTAL_BYTES:
        findings.add(
            "size.total",
            RiskLevel.MEDIUM,
            f"The arguments total {_size(arguments.total_bytes)}, too much to review here; they could hide something.",
        )


def _invisible_reason(text: str, subject: str, findings: _Findings) -> None:
    first = _INVISIBLE.search(text)
    if first is None:
        return
    count = len(_INVISIBLE.findall(text, first.start(), first.start() + 1_000_000))
    character = first.group()
    name = unicodedata.name(character, "UNNAMED")
    plural = "s" if count > 1 else ""
    if 0xE0000 <= ord(character) <= 0xE007F:
        detail = "hidden 'tag' characters can spell out instructions that you cannot see"
    else:
        detail = "what you see may not be what the AI or the tool reads"
    findings.add(
        "text.invisible",
        RiskLevel.HIGH,
        f"{subject} contains {count} invisible or direction-changing character{plural} "
        f"(such as U+{ord(character):04X} {name}): {detail}.",
    )


# --- secrets -------------------------------------------------------------------------------------------------


def _secret_reasons(call: ToolCall, findings: _Findings) -> None:
    try:
        found = redact(call.arguments, b"mcp-approver risk assessment").findings
    except (TypeError, ValueError):  # not JSON (only possible for a ToolCall built in code, not read from a client)
        findings.add("secret.unchecked", RiskLevel.MEDIUM, "The arguments could not be checked for secrets.")
        return
    by_kind: dict[str, list[str]] = {}
    for finding in found:
        by_kind.setdefault(finding.kind, []).append(_pointer_to_location(finding.pointer))
    for kind, places in by_kind.items():
        label = _SECRET_LABELS.get(kind) or _catalogue_label(kind)
        where = ", ".join(f"'{_show(place, 40)}'" for place in places[:3]) + (" and more" if len(places) > 3 else "")
        if kind in _FIELD_KINDS:
            findings.add(
                "secret.field",
                RiskLevel.MEDIUM,
                f"The arguments contain {label} (in {where}); make sure this tool is meant to receive it.",
            )
        else:
            findings.add(
                "secret.token",
                RiskLevel.HIGH,
                f"The arguments contain what looks like {label} (in {where}) — possible exfiltration: make sure "
                "this tool is meant to receive it.",
            )
            findings.impact(RiskLevel.HIGH, 5, f"Passes what looks like {label} to the tool.")


def _catalogue_label(kind: str) -> str:
    """detect-secrets' own name for a kind from its catalogue, such as 'a GitLab Token'."""
    secret_type = next((entry.secret_type for entry in secret_catalogue() if entry.kind == kind), None)
    if secret_type is None:
        return "a secret"
    return f"{'an' if secret_type[:1] in 'AEIOU' else 'a'} {secret_type}"


def _pointer_to_location(pointer: str) -> str:
    segments = [part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]]
    rendered = ""
    for segment in segments[-6:]:
        rendered += f"[{segment}]" if segment.isdigit() else ("." if rendered else "") + segment
    return rendered or "the arguments"


# --- paths ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _PathSite:
    raw: str
    role: Literal["target", "mention", "redirect"]


def paths_to_check(call: ToolCall) -> list[str]:
    """The path-like strings in the call's arguments, in order, each once: the caller resolves them on disk.

    For each, the caller should expand `~` with the home folder, resolve a relative path against the first
    workspace root, follow symlinks (realpath) and lstat, and pass the result as `PathFacts` keyed by the string.
    """
    tool = _tool_profile(call)
    seen: dict[str, None] = {}
    for site in _path_sites(_flatten(call.arguments), tool):
        seen.setdefault(site.raw, None)
    return list(seen)


_PATH_SHAPE = re.compile(r"~[^/\s]{0,64}+(?:/|$)|\.\.?/|/.|\.\.$|[A-Za-z]:[\\/]|\\\\")
_WINDOWS_PATH = re.compile(r"[A-Za-z]:[\\/]|\\\\")
_EMBEDDED_PATH = re.compile(r"(?<![^\s\"'=(:,>])(?:~|\.{1,2})?/[^\s\"'<>|;&()`]{0,4095}+")
_REDIRECT = re.compile(r">>?[ \t]*+([^\s\"'<>|;&()`]{1,4095}+)")
_HARMLESS_DEVICES = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/zero"})
_FILE_URL = re.compile(r"file:(?://[^/\s\"'<>]{0,255}+)?(/[^\s\"'<>?#]{0,4095}+)", re.IGNORECASE)


def _path_sites(arguments: _Arguments, tool: _Tool) -> list[_PathSite]:
    sites: list[_PathSite] = []
    for site in arguments.sites:
        if len(sites) >= MAX_PATHS:
            break
        text = site.text
        single_line = 0 < len(text) <= MAX_PATH_LENGTH and "\n" not in text and "\x00" not in text
        key = site.key or ""
        strong = key in _PATH_KEYS or key.endswith(_PATH_KEY_SUFFIXES)
        shaped = _PATH_SHAPE.match(text) is not None or "../" in text or text.endswith("/..")
        # A value under a path key is a path; elsewhere it must look like one (and be one word, unless the key at
        # least hints at a place: source, target, …).
        usable = single_line and not site.command and "://" not in text
        if usable and (strong or (shaped and (key in _WEAK_PATH_KEYS or not _has_space(text)))):
            sites.append(_PathSite(text, "target"))
        if site.command or tool.runs_commands:
            sites.extend(_embedded_paths(text))
        if "file:" in text[:100_000].lower():
            for match in _FILE_URL.finditer(text, 0, 100_000):
                sites.append(_PathSite(unquote(match.group(1)), "target"))
    return sites[:MAX_PATHS]


def _has_space(text: str) -> bool:
    return _WORD_EDGE.search(text) is not None


def _embedded_paths(text: str) -> Iterator[_PathSite]:
    """Paths inside a command line: words that start with /, ~/ or ../, and the targets of > and >>."""
    redirected: dict[str, None] = {}
    for match in _REDIRECT.finditer(text):
        if match.group(1) not in _HARMLESS_DEVICES and len(redirected) < MAX_PATHS:
            redirected.setdefault(match.group(1), None)
    yield from (_PathSite(path, "redirect") for path in redirected)
    count = len(redirected)
    for match in _EMBEDDED_PATH.finditer(text):
        path = match.group()
        if path in redirected or path in _HARMLESS_DEVICES:
            continue
        if path.startswith("//") and text.endswith(":", 0, match.start()):
            continue  # a URL
        yield _PathSite(path, "mention")
        count += 1
        if count >= MAX_PATHS:
            return


@dataclass(frozen=True, slots=True)
class _Sensitivity:
    code: str
    read: RiskLevel | None
    write: RiskLevel
    read_text: str
    write_text: str


_CREDENTIALS = _Sensitivity(
    "credentials",
    RiskLevel.HIGH,
    RiskLevel.CRITICAL,
    "holds keys, passwords or tokens: reading it can expose them",
    "holds keys, passwords or tokens: changing it can lock you out or let someone else in",
)
_BROWSER = _Sensitivity(
    "browser",
    RiskLevel.HIGH,
    RiskLevel.CRITICAL,
    "is a web browser profile, with saved passwords and logged-in sessions",
    "is a web browser profile, with saved passwords and logged-in sessions",
)
_PERSISTENCE = _Sensitivity(
    "persistence",
    RiskLevel.MEDIUM,
    RiskLevel.CRITICAL,
    "is run or read automatically (at login, in every terminal or on a schedule) and may hold secrets",
    "is run automatically (at login, in every terminal or on a schedule): a change there keeps running later",
)
_ACCOUNTS = _Sensitivity(
    "accounts",
    RiskLevel.MEDIUM,
    RiskLevel.CRITICAL,
    "lists the user accounts of this computer",
    "defines the user accounts of this computer",
)
_SYSTEM = _Sensitivity(
    "system", None, RiskLevel.HIGH, "is a system file", "is a system file: changing it can break the computer"
)
_DISK = _Sensitivity(
    "disk",
    RiskLevel.HIGH,
    RiskLevel.CRITICAL,
    "is a whole disk: reading it exposes everything on it",
    "is a whole disk: writing to it destroys what is on it",
)

# Relative to a home folder (any user's); compared case-insensitively (macOS file systems usually are).


def _entries(sensitivity: _Sensitivity, entries: str) -> list[tuple[str, _Sensitivity]]:
    return [(entry.replace("+", " "), sensitivity) for entry in entries.split()]


# Relative to a home folder (any user's); compared case-insensitively (macOS file systems usually are). A "+"
# stands for a space.
_HOME_ENTRIES = (
    _entries(
        _CREDENTIALS,
        ".ssh .aws .gnupg .config/gh .config/hub .netrc .git-credentials .docker/config.json .kube .npmrc .pypirc "
        ".config/gcloud .azure .password-store .local/share/keyrings library/keychains .pgpass .my.cnf .vault-token "
        ".cargo/credentials .terraform.d/credentials.tfrc.json .config/op .gem/credentials",
    )
    + _entries(
        _BROWSER,
        ".mozilla .config/google-chrome .config/chromium .config/bravesoftware .config/microsoft-edge .config/vivaldi "
        ".config/opera snap/firefox snap/chromium .var/app/org.mozilla.firefox library/safari library/cookies "
        "library/application+support/google/chrome library/application+support/firefox "
        "library/application+support/bravesoftware library/application+support/microsoft+edge "
        "library/application+support/arc library/application+support/vivaldi",
    )
    + _entries(
        _PERSISTENCE,
        ".bashrc .bash_profile .bash_login .bash_logout .profile .zshrc .zprofile .zshenv .zlogin .zlogout .cshrc "
        ".tcshrc .kshrc .mkshrc .config/fish .xprofile .xinitrc .xsession .xsessionrc .pam_environment "
        ".config/environment.d .gitconfig .config/git .config/autostart .config/systemd/user "
        ".local/share/systemd/user library/launchagents",
    )
)
_SYSTEM_ENTRIES = (
    _entries(_CREDENTIALS, "/etc/shadow /etc/gshadow /etc/sudoers /etc/sudoers.d /etc/ssh /root /library/keychains")
    + _entries(_CREDENTIALS, "/var/db/sudo")
    + _entries(_ACCOUNTS, "/etc/passwd /etc/group /etc/master.passwd")
    + _entries(
        _PERSISTENCE,
        "/etc/profile /etc/profile.d /etc/bash.bashrc /etc/bashrc /etc/zsh /etc/zshrc /etc/zprofile /etc/zshenv "
        "/etc/environment /etc/crontab /etc/cron.d /etc/cron.hourly /etc/cron.daily /etc/cron.weekly "
        "/etc/cron.monthly /etc/anacrontab /var/spool/cron /etc/systemd /lib/systemd /usr/lib/systemd /etc/init.d "
        "/etc/rc.local /etc/xdg/autostart /library/launchagents /library/launchdaemons /etc/ld.so.preload "
        "/etc/periodic",
    )
    + _entries(
        _SYSTEM,
        "/etc /boot /bin /sbin /usr /lib /lib64 /system /proc /sys /var/lib /private/etc /applications",
    )
)
_DISK_DEVICE = re.compile(r"/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|disk|rdisk|dm-|md|loop)[^/]*$")
_OTHER_HOME = re.compile(r"^(?:/home/[^/]+|/users/[^/]+|/root)(?=/|$)")
_KEY_FILE_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".ppk", ".kdbx", ".gpg", ".asc")
_KEY_FILE_NAMES = ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk")
_ENV_TEMPLATES = (".example", ".sample", ".template", ".dist", ".defaults")


def _sensitivities(path: str, home: str) -> list[tuple[_Sensitivity, str]]:
    """What makes an absolute, normalised path sensitive: (kind, the entry that matched). Most specific first."""
    folded = unicodedata.normalize("NFC", path).casefold()
    homes = [unicodedata.normalize("NFC", home).casefold().rstrip("/") or "/"]
    other = _OTHER_HOME.match(folded)
    if other is not None and other.group() not in homes:
        homes.append(other.group())
    found: list[tuple[_Sensitivity, str]] = []
    for home_folder in homes:
        if not _within(folded, home_folder):
            continue
        relative = folded[len(home_folder) :].lstrip("/")
        for entry, sensitivity in _HOME_ENTRIES:
            if relative == entry or relative.startswith(entry + "/"):
                found.append((sensitivity, "~/" + entry if home_folder == homes[0] else f"{home_folder}/{entry}"))
                break
    for entry, sensitivity in _SYSTEM_ENTRIES:
        if entry == homes[0]:
            continue  # /root is the person's own home when they run as root: the home entries above apply
        if _within(folded, entry):
            found.append((sensitivity, entry))
            break
    if folded.startswith("/proc/") and folded.endswith("/environ"):
        found.append((_CREDENTIALS, "/proc/…/environ (a program's environment variables)"))
    if _DISK_DEVICE.search(folded):
        found.append((_DISK, posixpath.basename(folded)))
    name = posixpath.basename(folded)
    parts = folded.split("/")
    if (name == ".env" or name.startswith(".env.")) and not name.endswith(_ENV_TEMPLATES):
        found.append((_CREDENTIALS, "a .env file"))
    if name.startswith(_KEY_FILE_NAMES) and not name.endswith(".pub"):
        found.append((_CREDENTIALS, "an SSH private key"))
    elif name.endswith(_KEY_FILE_SUFFIXES):
        found.append((_CREDENTIALS, "a key or certificate file"))
    if name in {".htpasswd", "credentials.json", "credentials", "secrets.json", "secrets.yaml", "secrets.yml"}:
        found.append((_CREDENTIALS, f"a '{name}' file"))
    if ".git" in parts:
        after = parts[parts.index(".git") + 1 :]
        if after[:1] == ["config"] or after[:1] == ["hooks"]:
            found.append((_PERSISTENCE, ".git/" + after[0]))
    return found


def _within(path: str, folder: str) -> bool:
    return folder in {"/", path} or path.startswith(folder.rstrip("/") + "/")


def _root_path(root: str) -> str | None:
    if root.lower().startswith("file:"):
        match = _FILE_URL.match(root)
        root = unquote(match.group(1)) if match else ""
    return posixpath.normpath(root) if root.startswith("/") else None


def _lexical(raw: str, home: str, roots: list[str]) -> str | None:
    """Where the path points by its text alone: ~ expanded, relative to the first root; None if unknowable."""
    text = raw
    if _WINDOWS_PATH.match(text):
        return None  # only the caller, on that system, can place it
    if text == "~" or text.startswith("~/"):
        text = home.rstrip("/") + text[1:]
    elif text.startswith("~"):
        user, _, rest = text[1:].partition("/")
        text = posixpath.join(posixpath.dirname(home.rstrip("/")) or "/", user, rest)
    if not text.startswith("/"):
        if not roots:
            return None
        text = posixpath.join(roots[0], text)
    return posixpath.normpath(text).replace("//", "/")


@dataclass(frozen=True, slots=True)
class _Places:
    """Where the user works: the workspace roots, or the home folder when the client named none."""

    roots: list[str]
    home: str

    @property
    def area(self) -> str:
        return "your project folders" if self.roots else "your home folder"

    @property
    def short_area(self) -> str:
        return "your project" if self.roots else "your home folder"

    def inside(self, path: str) -> bool:
        return any(_within(path, root) for root in self.roots) if self.roots else _within(path, self.home)


def _path_reasons(sites: list[_PathSite], tool: _Tool, context: RiskContext, findings: _Findings) -> None:
    roots = [root for root in (_root_path(r) for r in context.roots) if root is not None]
    places = _Places(roots, posixpath.normpath(context.home) if context.home.startswith("/") else "/")
    for site in sites:
        _one_path(site, tool, places, context.paths.get(site.raw), findings)


def _one_path(site: _PathSite, tool: _Tool, places: _Places, facts: PathFacts | None, findings: _Findings) -> None:
    literal = _lexical(site.raw, places.home, places.roots)
    resolved = None
    if facts is not None and facts.resolved and facts.resolved.startswith("/"):
        resolved = posixpath.normpath(facts.resolved)
    effective = resolved or literal
    writes = site.role == "redirect" or (site.role == "target" and tool.mode == "write")
    shown_raw = _show(site.raw, 80, keep="end")
    levels = [RiskLevel.LOW]
    if re.search(r"(?:^|[/\\])\.\.(?:[/\\]|$)", site.raw):
        findings.add("path.traversal", RiskLevel.MEDIUM, f"The path '{shown_raw}' climbs out of its folder with '..'.")
        levels.append(RiskLevel.MEDIUM)
    inside = None if effective is None else places.inside(effective)
    if inside is False and effective is not None:
        level = RiskLevel.HIGH if writes else RiskLevel.MEDIUM
        findings.add("path.outside", level, f"'{_show(effective, 80, keep='end')}' is outside {places.area}.")
        levels.append(level)
    linked = facts is not None and resolved is not None and (facts.is_symlink or resolved != literal)
    if linked and resolved is not None:
        if literal is not None and places.inside(literal) and inside is False:
            findings.add(
                "path.symlink_escape",
                RiskLevel.HIGH,
                f"'{shown_raw}' looks like it is inside {places.area}, but a symbolic link makes it lead to "
                f"'{_show(resolved, 80, keep='end')}', outside.",
            )
            levels.append(RiskLevel.HIGH)
        else:
            findings.add(
                "path.symlink",
                RiskLevel.MEDIUM,
                f"'{shown_raw}' leads somewhere else through a symbolic link: '{_show(resolved, 80, keep='end')}'.",
            )
            levels.append(RiskLevel.MEDIUM)
    candidates = sorted({candidate for candidate in (effective, literal) if candidate is not None})
    levels.append(_sensitive_path_reasons(candidates, site, writes, places.home, findings))
    if site.role == "mention":
        return
    place = "location unknown" if inside is None else ("inside " if inside else "outside ") + places.short_area
    if facts is None:
        state = "not checked on disk"
    elif linked and resolved is not None:
        state = f"it is a link to {_show(resolved, 60, keep='end')}"
    else:
        state = "the file exists" if facts.exists else "it does not exist yet"
    verb = _path_verb(tool)
    if site.role == "redirect":
        verb = "Writes to"
    elif verb == "Overwrites" and facts is not None and not facts.exists:
        verb = "Creates"
    shown = _show(effective or site.raw, 80, keep="end")
    findings.impact(max_level(levels), 1 if writes else 3, f"{verb} {shown} — {place}; {state}.")


def _sensitive_path_reasons(
    candidates: list[str], site: _PathSite, writes: bool, home: str, findings: _Findings
) -> RiskLevel:
    levels = [RiskLevel.LOW]
    reported: set[str] = set()
    for candidate in candidates:
        for sensitivity, entry in _sensitivities(candidate, home):
            level = sensitivity.write if writes else sensitivity.read
            if sensitivity.code in reported or level is None:
                continue
            reported.add(sensitivity.code)
            text = sensitivity.write_text if writes else sensitivity.read_text
            action = "changes" if writes else ("mentions" if site.role == "mention" else "uses")
            findings.add(
                f"path.sensitive.{sensitivity.code}",
                level,
                f"This call {action} '{_show(candidate, 80, keep='end')}' ({_show(entry, 60)}), which {text}.",
            )
            levels.append(level)
    return max_level(levels)


def _path_verb(tool: _Tool) -> str:
    words = set(tool.name_words)
    if "delete" in tool.categories:
        return "Deletes"
    if words & {"move", "mv", "rename"}:
        return "Moves"
    if words & {"edit", "patch", "update", "append", "replace", "modify", "insert"}:
        return "Changes"
    if words & {"mkdir", "create", "touch"} and not words & {"write", "overwrite", "save"}:
        return "Creates"
    if words & {"write", "overwrite", "save", "put", "upload", "copy", "cp"}:
        return "Overwrites"
    if tool.runs_commands:
        return "Runs in"
    if words & {"list", "ls", "tree"}:
        return "Lists"
    if words & {"search", "find", "grep", "glob"}:
        return "Searches"
    if tool.mode == "read":
        return "Reads"
    return "Uses"


# --- shell commands ------------------------------------------------------------------------------------------


_Classified = tuple[str, RiskLevel, str]  # (code, level, what it is)


@dataclass(frozen=True, slots=True)
class _ShellPattern:
    code: str
    level: RiskLevel
    pattern: re.Pattern[str]
    text: str
    classify: Callable[[re.Match[str], str], _Classified | None] | None = None  # per match; None skips it


def _pipe_source(match: re.Match[str], lowered: str) -> _Classified | None:
    """What feeds the shell: a download or a decoded blob makes `| sh` critical."""
    line_start = max(lowered.rfind("\n", max(0, match.start() - 2048), match.start()) + 1, match.start() - 2048)
    before = lowered[line_start : match.start()]
    if _DOWNLOAD.search(before):
        return ("shell.remote_code", RiskLevel.CRITICAL, "a command that downloads a program and runs it at once")
    if _DECODE.search(before):
        return ("shell.decode_exec", RiskLevel.CRITICAL, "a hidden (encoded) command that is decoded and run")
    return ("shell.pipe_to_shell", RiskLevel.HIGH, "text piped into a shell or interpreter, which runs it as a program")


def _chmod_mode(match: re.Match[str], lowered: str) -> _Classified | None:
    mode = match.group("mode")
    if mode.isdigit():
        special = len(mode) == 4 and int(mode[0]) & 6
        world_writable = int(mode[-1]) & 2
    else:
        permissions = mode.lstrip("ugoa")  # starts with +, = or -
        who = mode[: len(mode) - len(permissions)]
        adds = permissions[:1] in {"+", "="}
        special = adds and "s" in permissions
        world_writable = adds and "w" in permissions and (not who or "o" in who or "a" in who)
    if special:
        return ("shell.chmod", RiskLevel.CRITICAL, "'chmod' making a program run with its owner's rights (setuid)")
    if world_writable:
        return ("shell.chmod", RiskLevel.HIGH, "'chmod' making files writable by anyone")
    return None


# All patterns run over a lower-cased copy (macOS runs `RM` as rm). Each starts with a literal and checks the
# character before it with a look-behind placed after the literal, and every repetition is possessive or
# bounded by a count of words, so each scan is linear in the text.
_W = r"[\w./-]"
_SHELL_PATTERNS: tuple[_ShellPattern, ...] = (
    _ShellPattern(
        "shell.fork_bomb",
        RiskLevel.CRITICAL,
        re.compile(r"\(\)[ \t]*+\{[ \t]*+([^\s|{}()]{1,32}+)[ \t]*+\|[ \t]*+\1[ \t]*+&"),
        "a 'fork bomb', which freezes the computer",
    ),
    _ShellPattern(
        "shell.disk",
        RiskLevel.CRITICAL,
        re.compile(
            r"mkfs(?<!" + _W + r"mkfs)|wipefs(?<!" + _W + r"wipefs)|diskutil[ \t]++(?:erase|zero|secureerase)"
            r"|of=/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|disk|rdisk)|>[ \t]*+/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|disk|rdisk)"
        ),
        "a command that erases or overwrites a whole disk",
    ),
    _ShellPattern(
        "shell.reverse_shell",
        RiskLevel.CRITICAL,
        re.compile(
            r"/dev/(?:tcp|udp)/|[ \t]-[ec][ \t]++(?:/usr)?/bin/(?:ba|z|da|k)?sh\b|-i[ \t]*+>&[ \t]*+/dev/"
            r"|(?:exec|system):[\"']?(?:/usr)?(?:/bin/)?(?:ba|z|da|k)?sh\b"
        ),
        "a 'reverse shell', which hands control of this computer to someone over the network",
    ),
    _ShellPattern(
        "shell.remote_code",
        RiskLevel.CRITICAL,
        re.compile(
            r"(?:sh|eval|source|\.|iex)[ \t]++(?:-c[ \t]++)?[\"']?(?:\$\(|<\(|`)[ \t]*+(?:curl|wget)\b"
            r"|downloadstring\("
        ),
        "a command that downloads a program and runs it at once",
    ),
    _ShellPattern(
        "shell.pipe_to_shell",
        RiskLevel.HIGH,
        re.compile(
            r"\|[ \t]*+(?:sudo[ \t]++(?:-[a-z]++[ \t]++)?)?(?:env[ \t]++)?(?:/usr)?(?:/bin/)?"
            r"(?:(?:ba|z|da|k|fi|a)?sh|python[0-9.]*+|perl|ruby|node|php|iex|invoke-expression)\b"
        ),
        "text piped into a shell or interpreter, which runs it as a program",
        _pipe_source,
    ),
    _ShellPattern(
        "shell.delete",
        RiskLevel.CRITICAL,
        re.compile(
            r"rm(?<!" + _W + r"rm)(?:[ \t]++-{1,2}[a-z-]{1,20}+){0,5}?[ \t]++(?:-[a-z]*r[a-z]*|--recursive)\b"
            r"|remove-item(?:[ \t]++[^\s|;]{1,200}+){0,8}?[ \t]++-recurse\b"
        ),
        "a command that deletes whole folders without asking (such as 'rm -r')",
    ),
    _ShellPattern(
        "shell.delete",
        RiskLevel.HIGH,
        re.compile(
            r"rm(?<!" + _W + r"rm)[ \t]|unlink(?<!" + _W + r"unlink)[ \t]|shred(?<!" + _W + r"shred)\b"
            r"|remove-item\b|[ \t]-delete\b|git[ \t]++clean[ \t]++-[a-z]*f|git[ \t]++reset[ \t]++--hard"
        ),
        "a command that deletes files",
    ),
    _ShellPattern(
        "shell.privilege",
        RiskLevel.HIGH,
        re.compile(r"sudo(?<!" + _W + r"sudo)\b|doas(?<!" + _W + r"doas)[ \t]|su(?<!" + _W + r"su)[ \t]++-"),
        "'sudo' or 'su', which run a command with administrator rights",
    ),
    _ShellPattern(
        "shell.chmod",
        RiskLevel.HIGH,
        re.compile(
            r"chmod(?<!" + _W + r"chmod)(?:[ \t]++-[a-z]++)*+[ \t]++(?P<mode>[0-7]{3,4}+|[ugoa]*+[+=-][rwxst]++)"
        ),
        "'chmod' changing who may use files",
        _chmod_mode,
    ),
    _ShellPattern(
        "shell.eval",
        RiskLevel.HIGH,
        re.compile(r"eval(?<!" + _W + r"eval)\b|invoke-expression\b|iex(?<!" + _W + r"iex)[ \t(]|-encodedcommand\b"),
        "'eval' (or the like), which runs text built at run time as a command",
    ),
    _ShellPattern(
        "shell.persistence",
        RiskLevel.HIGH,
        re.compile(
            r"crontab(?<!" + _W + r"crontab)(?![ \t]++-l)|systemctl[ \t]++(?:--user[ \t]++)?enable\b"
            r"|launchctl[ \t]++(?:load|bootstrap)\b|>>?[ \t]*+~/\.(?:bashrc|zshrc|profile|bash_profile|zprofile)"
            r"|>>?[ \t]*+[\w./~-]{0,200}?authorized_keys"
        ),
        "a command that makes something run again automatically later",
    ),
    _ShellPattern(
        "shell.upload",
        RiskLevel.HIGH,
        re.compile(
            r"[ \t](?:-d|--data(?:-binary|-raw|-urlencode)?|-f|--form)[ \t=]*+[\"']?@[^\s\"']|--upload-file\b"
            r"|scp(?<!" + _W + r"scp)[ \t]|rsync(?<!" + _W + r"rsync)(?:[ \t]++[^\s;|&]{1,200}+){0,8}?"
            r"[ \t]++[^\s;|&:/]{1,100}+:"
        ),
        "a command that sends files to another computer",
    ),
    _ShellPattern(
        "shell.power",
        RiskLevel.HIGH,
        re.compile(
            r"shutdown(?<!" + _W + r"shutdown)\b|reboot(?<!" + _W + r"reboot)\b|poweroff\b|halt(?<!" + _W + r"halt)\b"
            r"|kill[ \t]++-9[ \t]++-1\b|killall(?<!" + _W + r"killall)\b"
        ),
        "a command that shuts down the computer or stops programs",
    ),
    _ShellPattern(
        "shell.force_push",
        RiskLevel.HIGH,
        re.compile(r"push(?<!" + _W + r"push)(?:[ \t]++[^\s;|&]{1,100}+){0,6}?[ \t]++(?:--force(?:-with-lease)?|-f)\b"),
        "'git push --force', which can erase other people's work",
    ),
    _ShellPattern(
        "shell.hide_tracks",
        RiskLevel.MEDIUM,
        re.compile(r"histfile|history[ \t]++-c\b|set[ \t]++\+o[ \t]++history"),
        "a command that hides what was run from the shell history",
    ),
)
_DOWNLOAD = re.compile(r"\b(?:curl|wget|fetch|iwr|irm|invoke-webrequest|invoke-restmethod)\b|https?://")
_DECODE = re.compile(r"base64[ \t]++(?:-d|--decode)|xxd[ \t]++-r|openssl[ \t]++(?:base64|enc)")
MAX_MATCHES_PER_PATTERN = 1000


def _lowered(text: str) -> str:
    """A lower-case copy with the same offsets (only 'İ' lengthens under str.lower())."""
    lowered = (text.replace("\u0130", "I") if "\u0130" in text else text).lower()
    return lowered if len(lowered) == len(text) else text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


_SHELL_QUOTING = re.compile(r"[\"'\\]")
MAX_NORMALISED_COMMAND = 65_536  # characters; shlex is pure Python, about a microsecond a character


def _shell_words(text: str) -> str | None:
    """The command as the shell splits it into words: `"ba"sh` is `bash`, `r''m` is `rm`, `\\rm` is `rm`.

    Line by line, so what the patterns look back on stays on its line; a line shlex cannot split (an unbalanced
    quote) is kept as written. None when there is nothing to remove or the text is too long to split."""
    if len(text) > MAX_NORMALISED_COMMAND or _SHELL_QUOTING.search(text) is None:
        return None
    lines: list[str] = []
    for line in text.split("\n"):
        if _SHELL_QUOTING.search(line) is None:
            lines.append(line)
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = ""
        try:
            lines.append(" ".join(lexer))
        except ValueError:
            lines.append(line)
    words = "\n".join(lines)
    return None if words == text else words


def _shell_reasons(arguments: _Arguments, tool: _Tool, findings: _Findings) -> None:
    for site in arguments.sites:
        runs = site.command or tool.runs_commands
        site_level = RiskLevel.LOW
        reported: set[str] = set()  # one reason per code and string: the graver pattern comes first
        # A command is read as written and, if quotes or backslashes change it, as the shell reads its words.
        words = _shell_words(site.text) if runs else None
        readings = [(site.text, False)] + ([(words, True)] if words is not None else [])
        for text, disguised in readings:
            lowered = _lowered(text)
            for shell in _SHELL_PATTERNS:
                found = _worst_match(shell, lowered)
                if found is None or found[1][0] in reported:
                    continue
                match, (code, level, what) = found
                reported.add(code)
                snippet = _snippet(text, match.start(), match.end())
                where = _show(site.where, 60)
                if disguised:
                    findings.add(
                        code,
                        level,
                        f"'{where}' contains {what}, hidden by quotes or backslashes inside its words: `{snippet}` "
                        "once the shell removes them.",
                    )
                elif runs:
                    findings.add(code, level, f"'{where}' contains {what}: `{snippet}`.")
                else:
                    level = _lower(level)
                    findings.add(
                        code, level, f"'{where}' contains {what} (`{snippet}`); it runs if this text is ever executed."
                    )
                site_level = max_level([site_level, level])
        if runs and site.text.strip():
            command_level = max_level([site_level, _CATEGORIES["exec"][0] if tool.runs_commands else RiskLevel.MEDIUM])
            findings.impact(command_level, 0, f"Runs `{_show(site.text.strip(), 100)}` on your computer.")


def _worst_match(shell: _ShellPattern, lowered: str) -> tuple[re.Match[str], _Classified] | None:
    if shell.classify is None:
        match = shell.pattern.search(lowered)
        return None if match is None else (match, (shell.code, shell.level, shell.text))
    worst: tuple[re.Match[str], _Classified] | None = None
    for count, match in enumerate(shell.pattern.finditer(lowered)):
        classified = shell.classify(match, lowered)
        if classified is not None and (worst is None or classified[1].rank > worst[1][1].rank):
            worst = (match, classified)
        if count >= MAX_MATCHES_PER_PATTERN or (worst is not None and worst[1][1] is RiskLevel.CRITICAL):
            break
    return worst


def _snippet(text: str, start: int, end: int) -> str:
    """The match with a little of its line around it, never cutting a word (half a token would escape masking)."""
    line_start = max(text.rfind("\n", max(0, start - 60), start) + 1, start - 60, 0)
    while 0 < line_start < start and not text[line_start - 1].isspace():
        line_start += 1
    newline = text.find("\n", end, end + 60)
    line_end = newline if newline >= 0 else min(end + 60, len(text))
    while end < line_end < len(text) and not text[line_end].isspace():
        line_end -= 1
    prefix = "…" if line_start > 0 and text[line_start - 1] != "\n" else ""
    suffix = "…" if line_end < len(text) and text[line_end] != "\n" else ""
    return prefix + _show(text[line_start:line_end].strip(), 120) + suffix


# --- links ---------------------------------------------------------------------------------------------------

_SCHEMES = re.compile(
    r"(?:https?|wss?|ftps?|sftp|ssh|git|smb|file|javascript|vbscript|data|gopher|ldaps?|dict|tftp|telnet)"
    r":"
)
_HIERARCHICAL = frozenset(
    {"http", "https", "ws", "wss", "ftp", "ftps", "sftp", "ssh", "git", "smb", "file", "gopher", "ldap", "ldaps"}
    | {"tftp", "telnet", "dict"}
)
_AUTHORITY_END = re.compile(r"[/\\?#\s\"'<>`]")
_DOTS = re.compile("[.\u3002\uff0e\uff61]")
_METADATA_HOSTS = frozenset({"169.254.169.254", "fd00:ec2::254", "metadata.google.internal", "100.100.100.200"})


@dataclass(slots=True)
class _Link:
    scheme: str
    host: str  # as written, lower-cased, percent-decoded
    userinfo: str
    where: str


def _links(arguments: _Arguments) -> list[_Link]:
    links: list[_Link] = []
    for site in arguments.sites:
        if len(links) >= MAX_URLS:
            break
        lowered = _lowered(site.text)
        found = False
        for match in _SCHEMES.finditer(lowered):
            scheme_start = match.start()
            while scheme_start > 0 and lowered[scheme_start - 1] in "abcdefghijklmnopqrstuvwxyz":
                scheme_start -= 1  # "xhttps:" is not https
            scheme = lowered[match.start() : match.end() - 1]
            if scheme_start != match.start():
                continue
            link = _parse_link(scheme, site.text, match.end(), site.where)
            if link is not None:
                links.append(link)
                found = True
            if len(links) >= MAX_URLS:
                break
        key = site.key or ""
        if not found and (key in _URL_KEYS or key.endswith(_URL_KEY_SUFFIXES)) and 0 < len(site.text) <= 2048:
            link = _parse_link("http", "//" + site.text.strip(), 0, site.where, scheme_written=False)
            if link is not None and (_DOTS.search(link.host) or link.host == "localhost" or ":" in link.host):
                links.append(link)
    return links


def _parse_link(scheme: str, text: str, after_colon: int, where: str, *, scheme_written: bool = True) -> _Link | None:
    rest = text[after_colon : after_colon + 2048]
    if scheme not in _HIERARCHICAL:
        if not rest[:1] or rest[:1].isspace():
            return None  # "data: 5" is prose
        if scheme == "data" and not re.match(r"[a-z]+/[a-z0-9.+-]+[;,]|,", rest, re.IGNORECASE):
            return None
        return _Link(scheme, "", "", where)
    stripped = rest.lstrip("/\\")  # browsers treat any run of slashes and backslashes here alike
    if scheme_written and len(stripped) == len(rest) and scheme not in {"ssh", "git"}:
        return None  # "http:foo" is not a link anyone clicks
    end = _AUTHORITY_END.search(stripped)
    authority = stripped[: end.start()] if end else stripped
    userinfo, _, host_port = authority.rpartition("@")
    if host_port.startswith("["):
        host = host_port[1 : host_port.find("]")] if "]" in host_port else host_port[1:]
    else:
        host = host_port.rsplit(":", 1)[0] if host_port.count(":") == 1 else host_port
    host = unquote(host).lower().rstrip(".")
    if not host and scheme != "file":
        return None
    return _Link(scheme, host, userinfo, where)


def _url_reasons(arguments: _Arguments, findings: _Findings) -> None:
    hosts: dict[str, None] = {}
    for link in _links(arguments):
        where = _show(link.where, 60)
        if link.scheme in {"javascript", "vbscript"}:
            findings.add(
                "url.script",
                RiskLevel.HIGH,
                f"'{where}' contains a '{link.scheme}:' link, which runs code when it is opened.",
            )
            continue
        if link.scheme == "data":
            findings.add(
                "url.data",
                RiskLevel.MEDIUM,
                f"'{where}' contains a 'data:' link, which carries hidden content instead of pointing to a site.",
            )
            continue
        if link.scheme == "smb" or (link.scheme == "file" and link.host not in {"", "localhost"}):
            findings.add(
                "url.network_file",
                RiskLevel.HIGH,
                f"'{where}' points to files on another computer ({_show(link.host, 60)}); opening it can send your "
                "network login to that computer.",
            )
        if link.scheme == "file" and not link.host:
            continue  # a local file: handled as a path
        display, level = _host_reasons(link, where, findings)
        hosts.setdefault(display, None)
        if link.scheme in {"ftp", "telnet", "gopher", "dict", "tftp", "ldap"}:
            findings.add(
                "url.unusual_scheme",
                RiskLevel.MEDIUM,
                f"'{where}' uses the unusual, unencrypted '{link.scheme}:' kind of link (to {display}).",
            )
            level = max_level([level, RiskLevel.MEDIUM])
        notes = " without encryption" if link.scheme in {"http", "ws", "ftp", "telnet"} else ""
        findings.impact(level, 2, f"Sends a request to {display}{notes}.")
    if hosts:
        listed = list(hosts)
        shown = ", ".join(listed[:5]) + (f" and {len(listed) - 5} more" if len(listed) > 5 else "")
        findings.add("url.hosts", RiskLevel.LOW, f"The arguments point to: {shown}.")


def _host_reasons(link: _Link, where: str, findings: _Findings) -> tuple[str, RiskLevel]:
    """The host as a person should read it, after reasons about how it is written."""
    host = link.host
    level = RiskLevel.LOW
    if "." in link.userinfo and not find_secrets_in_text(link.userinfo):
        findings.add(
            "url.userinfo",
            RiskLevel.HIGH,
            f"The link in '{where}' starts with '{_show(link.userinfo, 40)}@', but it really goes to "
            f"{_show(host, 60)}; the part before '@' is only a user name.",
        )
        level = RiskLevel.HIGH
    address = _ip_address(host)
    if address is not None:
        plain = str(address)
        if plain != host.strip("[]"):
            display = f"{plain} (written as {_show(host, 40)})"
            findings.add(
                "url.ip_disguised",
                RiskLevel.HIGH,
                f"The address '{_show(host, 60)}' in '{where}' is an IP address written in a disguised form; it means "
                f"{plain}.",
            )
            level = RiskLevel.HIGH
        else:
            display = plain
        if plain in _METADATA_HOSTS or address.is_link_local:
            findings.add(
                "url.metadata",
                RiskLevel.HIGH,
                f"{plain} is a cloud metadata or link-local address, which can hand out this machine's credentials.",
            )
            level = max_level([level, RiskLevel.HIGH])
        elif address.is_loopback or address.is_private or address.is_reserved or address.is_unspecified:
            findings.add(
                "url.local_network",
                RiskLevel.MEDIUM,
                f"{plain} is this computer or your local network, which outside content should not reach.",
            )
            level = max_level([level, RiskLevel.MEDIUM])
        else:
            findings.add(
                "url.ip", RiskLevel.MEDIUM, f"The request goes to a bare IP address ({plain}), not a named site."
            )
            level = max_level([level, RiskLevel.MEDIUM])
        return display, level
    if host in _METADATA_HOSTS:
        findings.add(
            "url.metadata", RiskLevel.HIGH, f"{host} is a cloud metadata service, which can hand out credentials."
        )
        return host, RiskLevel.HIGH
    if host == "localhost" or host.endswith(".localhost"):
        findings.add("url.local_network", RiskLevel.MEDIUM, f"{_show(host, 60)} is this computer itself.")
        return _show(host, 60), RiskLevel.MEDIUM
    try:
        unicode_form, ascii_form = idn_forms(host, _DOTS.split(host))
    except HostError:
        findings.add(
            "url.malformed_host",
            RiskLevel.MEDIUM,
            f"The web address '{_show(host, 60)}' in '{where}' is not a valid name; browsers and tools may read it "
            "differently.",
        )
        return _show(host, 60), max_level([level, RiskLevel.MEDIUM])
    subdomain, site = split_site(unicode_form)
    notes = [_show(ascii_form, 80)] if unicode_form != ascii_form else []
    if site and site != unicode_form:
        notes.append(f"site: {_show(site, 60)}")
    display = _show(unicode_form, 60) + (f" ({'; '.join(notes)})" if notes else "")
    imitated = imitated_site(site) if site else None
    if imitated is not None:
        findings.add(
            "url.lookalike",
            RiskLevel.HIGH,
            f"The web address {display} looks like {imitated}, but it is a different site "
            f"({_show(site, 60)}): its letters only resemble those of {imitated}.",
        )
        level = RiskLevel.HIGH
    level = max_level([level, _deceptive_subdomain_reasons(display, subdomain, site, findings)])
    if unicode_form != ascii_form:
        scripts = _mixed_scripts(unicode_form)
        if scripts:
            findings.add(
                "url.lookalike",
                RiskLevel.HIGH,
                f"The web address {display} mixes letters from different alphabets ({' and '.join(scripts)}), a "
                "common trick to imitate a familiar site.",
            )
            return display, RiskLevel.HIGH
        if imitated is None:
            findings.add(
                "url.idn",
                RiskLevel.MEDIUM,
                f"The web address {display} uses non-English letters; look-alike letters can imitate a familiar site.",
            )
            level = max_level([level, RiskLevel.MEDIUM])
    return display, level


# Suffixes a person takes for the end of a web address when they appear inside one: `paypal.com.evil.net`,
# `evil.github.io.attacker.co.uk`. Country codes alone are left out (`api.eu.example.com` is ordinary).
_FAMILIAR_SUFFIXES = frozenset({"com", "net", "org", "io", "gov", "edu"})


def _deceptive_subdomain_reasons(display: str, subdomain: str, site: str, findings: _Findings) -> RiskLevel:
    """A subdomain that reads as a site of its own: everything before the site is chosen by whoever owns it."""
    if "." not in subdomain:
        return RiskLevel.LOW
    inner_site = split_site(subdomain)[1]
    inner_suffix = inner_site.partition(".")[2]
    if not inner_site or not ("." in inner_suffix or inner_suffix in _FAMILIAR_SUFFIXES):
        return RiskLevel.LOW
    findings.add(
        "url.deceptive_subdomain",
        RiskLevel.HIGH,
        f"The web address {display} starts like {_show(inner_site, 60)}, but it belongs to {_show(site, 60)}: "
        f"everything before '{_show(site, 60)}' is chosen freely by whoever owns that site.",
    )
    return RiskLevel.HIGH


def _ip_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP address, including the forms browsers also accept: 2130706433, 0x7f.1, 0177.0.0.1."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    parts = host.split(".")
    if not parts or len(parts) > 4 or not all(parts):
        return None
    numbers: list[int] = []
    for part in parts:
        try:
            if part.startswith(("0x", "0X")):
                numbers.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                numbers.append(int(part, 8))
            elif part.isdecimal() and part.isascii():
                numbers.append(int(part))
            else:
                return None
        except ValueError:
            return None
    if any(number > 255 for number in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        return None
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


_SCRIPT_GROUPS = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "HANGUL": "CJK", "IDEOGRAPHIC": "CJK", "HALFWIDTH": "CJK"}


def _mixed_scripts(host: str) -> list[str]:
    """The alphabets mixed inside one label of the host (none when each label uses one)."""
    for label in host.split("."):
        scripts: dict[str, None] = {}
        for character in label:
            if not unicodedata.category(character).startswith("L"):
                continue
            script = unicodedata.name(character, "UNKNOWN").split(" ")[0]
            scripts.setdefault(_SCRIPT_GROUPS.get(script, script), None)
        if len(scripts) > 1:
            return [script.title() for script in scripts]
    return []


# --- how busy the client is ----------------------------------------------------------------------------------


def _rate_reasons(context: RiskContext, findings: _Findings) -> None:
    for count, limit, span, code in (
        (context.calls_last_minute, RATE_PER_MINUTE, "minute", "rate.minute"),
        (context.calls_last_hour, RATE_PER_HOUR, "hour", "rate.hour"),
    ):
        if count > limit:
            level = RiskLevel.HIGH if count > 4 * limit else RiskLevel.MEDIUM
            findings.add(
                code,
                level,
                f"{count} tool calls in the last {span}, far more than a person would make: the AI may be stuck in "
                "a loop or working through a long list unchecked.",
            )
