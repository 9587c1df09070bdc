"""Secrets out of tool-call arguments before anything is logged, hashed or shown.

A secret is replaced whole by a marker, `[redacted:<kind>:<fp>]`, where `fp` is the first 16 hex digits of
HMAC-SHA256(fingerprint key, secret). The same secret always gets the same marker under one key, so an auditor
can see that two calls carried the same token without ever seeing it, and a marker reveals nothing without the
key. Markers are never redacted again, so redacting twice changes nothing.

Three kinds of evidence make a value a secret:

1. Its key names a credential (`password`, `api_key`, `Authorization`, … compared case-insensitively with `-`,
   `_`, `.` and spaces ignored): the whole value is replaced, and everything inside an object or array there.
2. It has the shape of a known token (GitHub, AWS, OpenAI/Anthropic, Slack, Stripe, Google, JWT, PEM private
   key, `Bearer …`, a password inside a URL) anywhere inside any string: just that span is replaced, so the rest
   of a shell command stays readable.
3. It looks random (≥ 20 characters, no whitespace, ≥ 3.5 bits of entropy per character) in a place that hints
   at a credential: under a key containing key/secret/token/auth/cred/sig/pwd/pass, or as the value of such a
   flag or assignment inside a text (`--token abc…`, `API_KEY=abc…`, `"client_token": "abc…"`). A flag or
   assignment whose name *is* a credential name (`--password hunter2`) is a secret whatever its entropy.

Every scan is linear in the length of the text: patterns have no nested quantifiers, runs are matched
possessively or with a bounded length, and the one pattern that needs an unbounded search (a PEM block) is
searched forward once. Pure: no I/O.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import hmac
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MARKER_PATTERN = re.compile(r"\[redacted:[a-z0-9_]{1,40}:[0-9a-f]{16}\]")
"""What a marker looks like. A string that is exactly a marker is never redacted again."""

MIN_RANDOM_LENGTH = 20
MIN_RANDOM_ENTROPY = 3.5  # bits per character; English prose is ≈ 4.1 but has whitespace, hex is ≤ 4.0


class SecretFinding(BaseModel):
    """One replaced secret: where it was (RFC 6901 JSON Pointer into the redacted value) and what it looked like."""

    model_config = ConfigDict(frozen=True)

    pointer: str = Field(description="JSON Pointer to the value that now holds the marker (or contains it).")
    kind: str = Field(description="What the secret looked like: github_token, password, high_entropy, …")


class Redacted(BaseModel):
    model_config = ConfigDict(frozen=True)

    value: Any = Field(description="A deep copy of the input with every secret replaced by its marker.")
    findings: list[SecretFinding] = Field(default_factory=list)


# --- names ---------------------------------------------------------------------------------------------------

_NAME_NOISE = str.maketrans("", "", "-_. ")

CREDENTIAL_NAMES = frozenset(
    {
        "password",
        "passwd",
        "pass",
        "secret",
        "token",
        "accesstoken",
        "refreshtoken",
        "idtoken",
        "auth",
        "authorization",
        "proxyauthorization",
        "cookie",
        "cookies",
        "setcookie",
        "apikey",
        "privatekey",
        "clientsecret",
        "session",
        "credential",
        "credentials",
        "passphrase",
        "xapikey",
        "xauthtoken",
    }
)
"""Normalised key names (lower case, no separators) whose value is a credential, whatever it looks like."""

_CREDENTIAL_SUFFIXES = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "apikey",
    "privatekey",
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "authtoken",
    "apitoken",
    "sessiontoken",
    "bearertoken",
    "clientsecret",
    "secretkey",
    "secretaccesskey",
    "credential",
    "credentials",
)
"""`db_password`, `stripe_api_key`, `aws_secret_access_key` … also name credentials. Plain `…token` does not
(`page_token`, `next_token`, `max_tokens` are not secrets); a random-looking value there is caught by the hints."""

_NOT_A_VALUE_SUFFIXES = ("file", "filename", "path", "dir", "directory", "name", "type", "kind", "method", "mode")
"""`password_file`, `token_path`, `key_name`, `auth_type` name *about* a secret, not the secret itself."""

_HINTS = ("key", "secret", "token", "auth", "cred", "sig", "pwd", "pass", "session", "cookie")
"""Substrings of names under which a random-looking value is treated as a secret."""


class NameClass(Enum):
    CREDENTIAL = "credential"  # the value is a secret, whatever it looks like
    HINT = "hint"  # a random-looking value is a secret
    PLAIN = "plain"


def normalize_name(name: str) -> str:
    return name.translate(_NAME_NOISE).lower()


def classify_name(name: str) -> NameClass:
    """How much a key or flag name says about its value being a secret."""
    normalized = normalize_name(name)
    if normalized in CREDENTIAL_NAMES:
        return NameClass.CREDENTIAL
    if not normalized.endswith(_NOT_A_VALUE_SUFFIXES) and (
        normalized.endswith(_CREDENTIAL_SUFFIXES) or "password" in normalized or "passwd" in normalized
    ):
        return NameClass.CREDENTIAL
    if any(hint in normalized for hint in _HINTS):
        return NameClass.HINT
    return NameClass.PLAIN


_classify_cached = functools.lru_cache(maxsize=4096)(classify_name)


def _kind_for_name(name: str) -> str:
    normalized = normalize_name(name)
    if "pass" in normalized or "pwd" in normalized:
        return "password"
    if "cookie" in normalized:
        return "cookie"
    if "privatekey" in normalized:
        return "private_key"
    if "session" in normalized:
        return "session"
    return "credential"


def shannon_entropy(text: str) -> float:
    """Bits per character of the string's own character distribution."""
    if not text:
        return 0.0
    length = len(text)
    return -sum(count / length * math.log2(count / length) for count in Counter(text).values())


_WHITESPACE = re.compile(r"\s")
_URL_OR_PATH = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,20}+://|[~.]?/")


def looks_random(text: str) -> bool:
    """A credential-shaped value: long, one word, high entropy, and not a URL or a path."""
    return (
        len(text) >= MIN_RANDOM_LENGTH
        and _WHITESPACE.search(text) is None
        and _URL_OR_PATH.match(text) is None
        and shannon_entropy(text) >= MIN_RANDOM_ENTROPY
    )


# --- token shapes --------------------------------------------------------------------------------------------

_Filter = Callable[[str], bool]


def _has_digit_and_upper(token: str) -> bool:
    return any(c.isdigit() for c in token) and any(c.isupper() for c in token)


def _not_a_word(token: str) -> bool:
    """`Bearer authentication` is prose; a bearer token has a digit or a symbol, or is long."""
    return len(token) >= 24 or any(not c.isalpha() for c in token)


# (kind, pattern, group holding the secret, extra check, case-insensitive). Order breaks ties between spans that
# start together. A pattern that must not start inside a word begins with its literal prefix and checks the
# character before it with a look-behind after it: a leading look-behind would make the engine try every position.
# Case-insensitive patterns are written in lower case and run over a lower-cased copy of the text.
_SHAPES: tuple[tuple[str, re.Pattern[str], int, _Filter | None, bool], ...] = (
    ("github_token", re.compile(r"gh[pousr]_[A-Za-z0-9]{36,}+"), 0, None, False),
    ("github_token", re.compile(r"github_pat_[A-Za-z0-9_]{22,255}"), 0, None, False),
    ("aws_access_key_id", re.compile(r"(?:AKIA|ASIA)[A-Z0-9]{16}"), 0, None, False),
    ("anthropic_api_key", re.compile(r"sk-ant-(?<![A-Za-z0-9_-]sk-ant-)[A-Za-z0-9_-]{20,}+"), 0, None, False),
    (
        "openai_api_key",
        re.compile(r"sk-(?<![A-Za-z0-9_-]sk-)(?:proj-)?[A-Za-z0-9_-]{20,}+"),
        0,
        lambda token: not token.startswith("sk-ant-") and _has_digit_and_upper(token),
        False,
    ),
    (
        "stripe_key",
        re.compile(r"[sr]k_(?:live|test)_(?<![A-Za-z0-9_][sr]k_(?:live|test)_)[A-Za-z0-9]{16,}+"),
        0,
        None,
        False,
    ),
    ("slack_token", re.compile(r"xox[abprse]-(?<![A-Za-z0-9-]xox[abprse]-)[A-Za-z0-9-]{10,}+"), 0, None, False),
    ("slack_webhook", re.compile(r"hooks\.slack\.com/services/[A-Za-z0-9_/]{20,}+"), 0, None, False),
    ("google_api_key", re.compile(r"AIza[0-9A-Za-z_-]{35}"), 0, None, False),
    (
        "jwt",
        re.compile(r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{5,}+\.[A-Za-z0-9_-]{2,}+\.[A-Za-z0-9_-]*+"),
        0,
        None,
        False,
    ),
    ("bearer_token", re.compile(r"bearer(?<![a-z0-9]bearer)[ \t]++([a-z0-9._~+/=-]{8,}+)"), 1, _not_a_word, True),
    ("basic_auth", re.compile(r"authorization[\"']?[ \t]*+:[ \t]*+basic[ \t]++([a-z0-9+/=]{8,}+)"), 1, None, True),
    ("url_password", re.compile(r"://[^\s/?#@:\"'<>]{0,256}+:([^\s/?#@\"'<>]{1,1024}+)@"), 1, None, False),
)

_PEM_BEGIN = re.compile(r"-----BEGIN (?:[A-Z0-9]{1,20} ){0,4}PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END (?:[A-Z0-9]{1,20} ){0,4}PRIVATE KEY(?: BLOCK)?-----")

# A credential-hinting word, the rest of its name, a separator and a value: `--token abc`, `API_KEY=abc`,
# `"password": "abc"`, `\\"secret\\": \\"abc\\"` (JSON inside a JSON string). Runs over the lower-cased text; the
# start of the name is found by looking back from the hint in Python.
_LABELLED = re.compile(
    r"(?:pass|pwd|secret|token|key|auth|cred|sig|session|cookie)[a-z0-9_.-]{0,40}+"
    r"(?P<sep>(?:\\?[\"'])?[ \t]*+[=:][ \t]*+|[ \t]++)"
    r"(?P<scheme>(?:bearer|basic|token|digest)[ \t]++)?"
    r"(?:\\?\"(?P<dq>[^\"\\\n]{1,4096}+)\\?\"|\\?'(?P<sq>[^'\\\n]{1,4096}+)\\?'|(?P<bare>[^\s\"'\\&;,<>]{1,4096}+))"
)
_CODE_REFERENCE = re.compile(r"[A-Za-z_$][\w$]*+(?:\.[A-Za-z_$][\w$]*+)++|[A-Za-z_$][\w$]*+[(\[]")
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_PLACEHOLDER_VALUES = frozenset({"true", "false", "null", "none", "undefined", "nil", "required", "optional"})
_PLACEHOLDER_STARTS = ("$", "%", "<", "{", "[", "*")


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _lowered(text: str) -> str:
    """A lower-case copy with the same offsets. Of all code points only 'İ' (U+0130) lengthens under lower()."""
    lowered = (text.replace("\u0130", "I") if "\u0130" in text else text).lower()
    return lowered if len(lowered) == len(text) else text.translate(_ASCII_LOWER)


def _labelled_secrets(text: str, lowered: str) -> Iterator[tuple[str, int, int]]:
    for match in _LABELLED.finditer(lowered):
        start = match.start()
        name_start = start
        while name_start > 0 and start - name_start < 64 and text[name_start - 1] in _NAME_CHARS:
            name_start -= 1
        separator_start, separator_end = match.span("sep")
        name = text[name_start:separator_start].lstrip("-.")
        name_class = _classify_cached(name)
        if name_class is NameClass.PLAIN or not name[:1].isalpha() or text.endswith("://", 0, name_start):
            continue  # `https://oauth2:…@host` is a URL's user and password: the url_password shape's job
        value_start, value_end = match.span(match.lastindex or 0)
        if name_class is NameClass.HINT and value_end - value_start < MIN_RANDOM_LENGTH:
            continue
        separator = lowered[separator_start:separator_end]
        if "=" not in separator and ":" not in separator:
            is_flag = text.startswith("-", name_start) and (name_start == 0 or not text[name_start - 1].isalnum())
            if not is_flag or text.startswith("-", value_start):
                continue  # "my password is hunter2" is prose; in "--token --verbose" the flag has no value
        value = text[value_start:value_end]
        if value.lower() in _PLACEHOLDER_VALUES or value.startswith(_PLACEHOLDER_STARTS):
            continue
        if match.lastgroup == "bare" and _CODE_REFERENCE.match(value) and not looks_random(value):
            continue  # `password = os.environ["DB_PASSWORD"]`, `token: getToken()` name the secret's source
        if name_class is NameClass.CREDENTIAL:
            yield (_kind_for_name(name), value_start, value_end)
        elif looks_random(value):
            yield ("high_entropy", value_start, value_end)


def _pem_blocks(text: str) -> Iterator[tuple[str, int, int]]:
    position = 0
    while True:
        begin = _PEM_BEGIN.search(text, position)
        if begin is None:
            return
        end = _PEM_END.search(text, begin.end())
        if end is None:
            yield ("private_key", begin.start(), len(text))  # a truncated key is still a key
            return
        yield ("private_key", begin.start(), end.end())
        position = end.end()


# Something every shape above needs. On short strings (most arguments) one search of this rules out the rest.
_ANY_TRIGGER = re.compile(
    r"gh[pousr]_|github_pat_|AKIA|ASIA|sk-|[sr]k_|xox|hooks\.slack|AIza|eyJ|-----BEGIN|://"
    r"|bearer|authorization|pass|pwd|secret|token|key|auth|cred|sig|session|cookie",
    re.IGNORECASE,
)
_QUICK_CHECK_LIMIT = 4096


def find_secrets_in_text(text: str) -> list[tuple[str, int, int]]:
    """Secret spans inside one string: (kind, start, end), sorted, never overlapping, never inside a marker."""
    if len(text) < _QUICK_CHECK_LIMIT and _ANY_TRIGGER.search(text) is None:
        return []
    lowered = _lowered(text)
    candidates: list[tuple[int, int, int, str]] = []  # (start, -end, priority, kind)
    for priority, (kind, pattern, group, check, ignore_case) in enumerate(_SHAPES):
        for match in pattern.finditer(lowered if ignore_case else text):
            start, end = match.span(group)
            if check is None or check(text[start:end]):
                candidates.append((start, -end, priority, kind))
    for kind, start, end in _pem_blocks(text):
        candidates.append((start, -end, -2, kind))
    for kind, start, end in _labelled_secrets(text, lowered):
        candidates.append((start, -end, len(_SHAPES), kind))
    if not candidates:
        return []
    markers = [(m.start(), m.end()) for m in MARKER_PATTERN.finditer(text)] if "[redacted:" in text else []
    marker_starts = [start for start, _ in markers]
    candidates.sort()
    merged: list[tuple[int, str, int, int]] = []  # (priority, kind, start, end)
    for start, negative_end, priority, kind in candidates:
        end = -negative_end
        if end <= start or _overlaps_marker(start, end, markers, marker_starts):
            continue
        if merged and start < merged[-1][3]:
            # Overlapping evidence is one secret; the most specific shape names it.
            last = merged[-1]
            best = (priority, kind) if priority < last[0] else (last[0], last[1])
            merged[-1] = (*best, last[2], max(last[3], end))
        else:
            merged.append((priority, kind, start, end))
    return [(kind, start, end) for _, kind, start, end in merged]


def _overlaps_marker(start: int, end: int, markers: list[tuple[int, int]], marker_starts: list[int]) -> bool:
    if not markers:
        return False
    index = bisect.bisect_right(marker_starts, start) - 1
    for candidate in (index, index + 1):
        if 0 <= candidate < len(markers):
            marker_start, marker_end = markers[candidate]
            if start < marker_end and marker_start < end:
                return True
    return False


# --- the walk ------------------------------------------------------------------------------------------------


def _escape_pointer(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def _number_text(number: int | float) -> str:
    if isinstance(number, int) and number.bit_length() > 13_000:
        return hex(number)  # str() refuses integers over 4,300 digits; hex has no limit
    return repr(number)


class _Redactor:
    def __init__(self, fingerprint_key: bytes) -> None:
        self._key = fingerprint_key
        self.findings: list[SecretFinding] = []
        # JSON Pointer segments (already escaped) of the value being looked at; built into a string only for findings.
        self.segments: list[str] = []

    def marker(self, kind: str, secret: str) -> str:
        digest = hmac.new(self._key, secret.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
        return f"[redacted:{kind}:{digest[:16]}]"

    def record(self, kind: str, extra_segment: str | None = None) -> None:
        segments = self.segments if extra_segment is None else [*self.segments, extra_segment]
        self.findings.append(SecretFinding(pointer="".join("/" + s for s in segments), kind=kind))

    def whole(self, text: str, name_kind: str) -> str:
        """Replace a whole string; a value that is exactly one known token keeps the token's kind."""
        spans = find_secrets_in_text(text)
        kind = spans[0][0] if len(spans) == 1 and spans[0][1] == 0 and spans[0][2] == len(text) else name_kind
        self.record(kind)
        return self.marker(kind, text)

    def replace(self, text: str, spans: list[tuple[str, int, int]]) -> str:
        pieces: list[str] = []
        position = 0
        for kind, start, end in spans:
            pieces.append(text[position:start])
            pieces.append(self.marker(kind, text[start:end]))
            position = end
        pieces.append(text[position:])
        return "".join(pieces)

    def leaf(self, value: Any, secret_kind: str | None, hint: bool) -> Any:
        """A scalar. `secret_kind` is set under a credential key; `hint` under a key that hints at one."""
        if isinstance(value, str):
            if MARKER_PATTERN.fullmatch(value):
                return value
            if secret_kind is not None:
                return self.whole(value, secret_kind) if value else value
            if hint and looks_random(_without_markers(value)):
                return self.whole(value, "high_entropy")
            spans = find_secrets_in_text(value)
            for kind, _, _ in spans:
                self.record(kind)
            return self.replace(value, spans) if spans else value
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int | float):
            if secret_kind is None:
                return value
            self.record(secret_kind)
            return self.marker(secret_kind, _number_text(value))
        raise TypeError(f"not a JSON value: {type(value).__name__}")

    def key(self, key: Any, siblings: dict[Any, Any]) -> tuple[Any, str]:
        """A member name, with token shapes in it replaced too, and its pointer segment."""
        if not isinstance(key, str):
            return key, _escape_pointer(str(key))
        spans = [] if MARKER_PATTERN.fullmatch(key) else find_secrets_in_text(key)
        if not spans:
            return key, _escape_pointer(key)
        new_key = self.replace(key, spans)
        while new_key in siblings:  # two names that differed only inside a secret would collide
            new_key += "~"
        segment = _escape_pointer(new_key)
        for kind, _, _ in spans:
            self.record(kind, segment)
        return new_key, segment


def _without_markers(text: str) -> str:
    return MARKER_PATTERN.sub("", text) if "[redacted:" in text else text


class _Frame:
    """One container being copied: its remaining members, its copy, and what its key said about secrets."""

    __slots__ = ("copy", "hint", "members", "secret_kind", "source_id")

    def __init__(
        self,
        members: Iterator[tuple[Any, Any]],
        copy: dict[Any, Any] | list[Any],
        secret_kind: str | None,
        hint: bool,
        source_id: int,
    ) -> None:
        self.members = members
        self.copy = copy
        self.secret_kind = secret_kind
        self.hint = hint
        self.source_id = source_id


def redact(value: Any, fingerprint_key: bytes) -> Redacted:
    """A deep copy of a JSON value with every secret replaced by its marker, and where each one was.

    Total over JSON values (dict, list, str, int, float, bool, None) at any depth: the walk uses its own stack,
    not Python's. Anything else (a tuple, bytes, an object, a cycle) is not JSON and raises TypeError/ValueError.
    """
    redactor = _Redactor(fingerprint_key)
    root = _container_copy(value)
    if root is None:
        return Redacted(value=redactor.leaf(value, None, False), findings=redactor.findings)
    stack = [_Frame(_members(value), root, None, False, id(value))]
    active = {id(value)}
    while stack:
        frame = stack[-1]
        member = next(frame.members, None)
        if member is None:
            stack.pop()
            active.discard(frame.source_id)
            if redactor.segments:
                redactor.segments.pop()
            continue
        key, child = member
        secret_kind, hint = frame.secret_kind, frame.hint
        if isinstance(frame.copy, dict):
            if isinstance(key, str) and secret_kind is None:
                name_class = classify_name(key)
                if name_class is NameClass.CREDENTIAL:
                    secret_kind = _kind_for_name(key)
                hint = name_class is NameClass.HINT
            new_key, segment = redactor.key(key, frame.copy)
        else:
            new_key, segment = key, str(key)
        child_copy = _container_copy(child)
        if child_copy is None:
            redactor.segments.append(segment)
            result = redactor.leaf(child, secret_kind, hint)
            redactor.segments.pop()
            _store(frame.copy, new_key, result)
            continue
        if id(child) in active:
            raise ValueError("the value contains itself (a cycle), so it is not JSON")
        _store(frame.copy, new_key, child_copy)
        redactor.segments.append(segment)
        stack.append(_Frame(_members(child), child_copy, secret_kind, hint, id(child)))
        active.add(id(child))
    return Redacted(value=root, findings=redactor.findings)


def _container_copy(value: Any) -> dict[Any, Any] | list[Any] | None:
    if isinstance(value, dict):
        return {}
    if isinstance(value, list):
        return []
    return None


def _members(container: dict[Any, Any] | list[Any]) -> Iterator[tuple[Any, Any]]:
    if isinstance(container, dict):
        return iter(list(container.items()))
    return enumerate(list(container))


def _store(copy: dict[Any, Any] | list[Any], key: Any, value: Any) -> None:
    if isinstance(copy, list):
        copy.append(value)
    else:
        copy[key] = value
