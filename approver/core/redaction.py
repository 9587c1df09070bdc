"""Secrets out of tool-call arguments before anything is logged, hashed or shown.

A secret is replaced whole by a marker, `[redacted:<kind>:<fp>]`, where `fp` is the first 16 hex digits of
HMAC-SHA256(fingerprint key, secret). The same secret always gets the same marker under one key, so an auditor
can see that two calls carried the same token without ever seeing it, and a marker reveals nothing without the
key. Markers are never redacted again, so redacting twice changes nothing.

These kinds of evidence make a value a secret:

1. Its key names a credential (`password`, `pw`, `pin`, `api_key`, `Authorization`, … compared case-insensitively
   with `-`, `_`, `.` and spaces ignored, fullwidth letters read as ASCII): the whole value is replaced, and
   everything inside an object or array there. The shape of a container names a credential too: the value after
   `--password` in an argument array, `["Authorization", X]`, `{"name": "DB_PASSWORD", "value": X}`, `set NAME X`.
2. It has the shape of a known token anywhere inside any string: this module's shapes (GitHub, AWS, OpenAI,
   Anthropic, Slack, Stripe, Google, Hugging Face, npm, JWT, PEM private key, `Bearer …`, a password inside a URL,
   `mysql -pX`) and detect-secrets' catalogue of token patterns (GitLab, SendGrid, Twilio, PyPI, …; loaded on first
   use). Just that span is replaced, so the rest of a shell command stays readable. A base64 run that decodes to
   text holding a secret is replaced whole; a percent-encoded secret is replaced where it is.
3. It looks random (≥ 20 characters, no whitespace, ≥ 3.5 bits of entropy per character) in a place that hints
   at a credential: under a key containing key/secret/token/auth/cred/sig/pwd/pass, or as the value of such a
   flag or assignment inside a text (`--token abc…`, `API_KEY=abc…`, `"client_token": "abc…"`). A flag or
   assignment whose name *is* a credential name (`--password hunter2`) is a secret whatever its entropy.
4. It is the word a string was cut through for the log (`log_format.loggable_arguments`): it may be the head of a
   token too short to recognise, so it is hidden whole.

Every scan is linear in the length of the text: patterns have no nested quantifiers, runs are matched
possessively or with a bounded length, and the one pattern that needs an unbounded search (a PEM block) is
searched forward once. Each shape runs only over a text holding its literal (`gh`, `SG.`, …). Pure: no I/O
beyond importing detect-secrets' plugin modules.
"""

from __future__ import annotations

import binascii
import bisect
import functools
import hashlib
import hmac
import importlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
        "pw",
        "pin",
        "passcode",
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
_LABELLED_HINTS = "pass|pw|secret|token|key|auth|cred|sig|session|cookie"
"""Words that start a `name=value` or `--name value` inside a text (regex alternatives)."""


class NameClass(Enum):
    CREDENTIAL = "credential"  # the value is a secret, whatever it looks like
    HINT = "hint"  # a random-looking value is a secret
    PLAIN = "plain"


def normalize_name(name: str) -> str:
    """Lower case without separators; fullwidth and other compatibility forms (`ｐａｓｓｗｏｒｄ`) read as ASCII."""
    if not name.isascii():
        name = unicodedata.normalize("NFKC", name)
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


def _has_upper_and_lower(token: str) -> bool:
    return any(c.isupper() for c in token) and any(c.islower() for c in token)


def _not_a_word(token: str) -> bool:
    """`Bearer authentication` is prose; a bearer token has a digit or a symbol, or is long."""
    return len(token) >= 24 or any(not c.isalpha() for c in token)


def _looks_like_aws_secret(token: str) -> bool:
    """40 characters of base64 drawn at random (an AWS secret access key), not a path or a word run.

    Random keys of this size have ≥ 4.2 bits of entropy per character; a CamelCase path has about 4.0."""
    return (
        len(token) == 40
        and any(c.isdigit() for c in token)
        and _has_upper_and_lower(token)
        and not (token.startswith("/") and token.count("/") >= 3)
        and shannon_entropy(token) >= 4.1
    )


@dataclass(frozen=True, slots=True)
class _Shape:
    """One token shape. It runs only when the text holds one of its `triggers` (a cheap substring test; in the
    lower-cased copy when `ignore_case`), or, for a shape without a literal, when the text is `min_length` long."""

    kind: str
    pattern: re.Pattern[str]
    triggers: tuple[str, ...] = ()
    group: int = 0  # the group holding the secret
    check: _Filter | None = None
    ignore_case: bool = False
    min_length: int = 0

    def applies(self, length: int, present: set[str], present_lowered: set[str]) -> bool:
        if not self.triggers:
            return length >= self.min_length
        return not (present_lowered if self.ignore_case else present).isdisjoint(self.triggers)


# Order breaks ties between spans that start together. A pattern that must not start inside a word begins with
# its literal prefix and checks the character before it with a look-behind after it: a leading look-behind would
# make the engine try every position. Case-insensitive patterns are written in lower case and run over a
# lower-cased copy of the text.
_SHAPES: tuple[_Shape, ...] = (
    _Shape("github_token", re.compile(r"gh[pousr]_[A-Za-z0-9]{36,}+"), ("gh",)),
    _Shape("github_token", re.compile(r"github_pat_[A-Za-z0-9_]{22,255}"), ("github_pat_",)),
    _Shape("aws_access_key_id", re.compile(r"(?:AKIA|ASIA)[A-Z0-9]{16}"), ("AKIA", "ASIA")),
    _Shape("anthropic_api_key", re.compile(r"sk-ant-(?<![A-Za-z0-9_-]sk-ant-)[A-Za-z0-9_-]{20,}+"), ("sk-ant-",)),
    _Shape(
        "openai_api_key",
        re.compile(r"sk-(?<![A-Za-z0-9_-]sk-)(?:proj-)?[A-Za-z0-9_-]{20,}+"),
        ("sk-",),
        check=lambda token: not token.startswith("sk-ant-") and _has_digit_and_upper(token),
    ),
    _Shape(
        "stripe_key",
        re.compile(r"[sr]k_(?:live|test)_(?<![A-Za-z0-9_][sr]k_(?:live|test)_)[A-Za-z0-9]{16,}+"),
        ("k_live_", "k_test_"),
    ),
    _Shape("slack_token", re.compile(r"xox[abprse]-(?<![A-Za-z0-9-]xox[abprse]-)[A-Za-z0-9-]{10,}+"), ("xox",)),
    _Shape("slack_webhook", re.compile(r"hooks\.slack\.com/services/[A-Za-z0-9_/]{20,}+"), ("hooks.slack.com/",)),
    _Shape("google_api_key", re.compile(r"AIza[0-9A-Za-z_-]{35}"), ("AIza",)),
    _Shape(
        "hugging_face_token",
        re.compile(r"hf_(?<![A-Za-z0-9_]hf_)[A-Za-z0-9]{34,}+"),
        ("hf_",),
        check=_has_upper_and_lower,
    ),
    _Shape("npm_token", re.compile(r"npm_(?<![A-Za-z0-9_]npm_)[A-Za-z0-9]{36}(?![A-Za-z0-9])"), ("npm_",)),
    _Shape(
        "jwt",
        re.compile(r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{5,}+\.[A-Za-z0-9_-]{2,}+\.[A-Za-z0-9_-]*+"),
        ("eyJ",),
    ),
    _Shape(
        "bearer_token",
        re.compile(r"bearer(?<![a-z0-9]bearer)[ \t]++([a-z0-9._~+/=-]{8,}+)"),
        ("bearer",),
        group=1,
        check=_not_a_word,
        ignore_case=True,
    ),
    _Shape(
        "basic_auth",
        re.compile(r"authorization[\"']?[ \t]*+:[ \t]*+basic[ \t]++([a-z0-9+/=]{8,}+)"),
        ("authorization",),
        group=1,
        ignore_case=True,
    ),
    _Shape("url_password", re.compile(r"://[^\s/?#@:\"'<>]{0,256}+:([^\s/?#@\"'<>]{1,1024}+)@"), ("://",), group=1),
    # Any run of exactly 40 base64 characters is tested: an AWS secret key has no prefix to look for.
    _Shape(
        "aws_secret_access_key",
        re.compile(r"[A-Za-z0-9/+]{40,}+(?!=)"),
        check=_looks_like_aws_secret,
        min_length=40,
    ),
)


# --- the detect-secrets catalogue ----------------------------------------------------------------------------

# detect-secrets' plugins whose patterns name a token by its shape, with a literal every match contains for each
# pattern of the plugin's denylist, in order: a pattern runs only over a text that holds its literal (checked in the
# lower-cased copy for a case-insensitive pattern). Left out on purpose: the keyword, entropy, basic-auth and
# private-key plugins (this module's own rules cover them for whole JSON values, not lines of source code), JWT
# and OpenAI (their patterns backtrack quadratically on hostile text; the shapes above cover both), IP addresses
# (not secrets) and the IBM/Cloudant/Softlayer plugins (keyword patterns built for source files).
_CATALOGUE_PLUGINS: tuple[tuple[str, str, tuple[tuple[str, ...], ...]], ...] = (
    ("github_token", "GitHubTokenDetector", (("gh",),)),
    (
        "gitlab_token",
        "GitLabTokenDetector",
        (
            ("glpat-", "gldt-", "glft-", "glsoat-", "glrt-"),
            ("GR1348941",),
            ("glcbt-",),
            ("glimt-",),
            ("glptt-",),
            ("glagent-",),
            ("gloas-",),
        ),
    ),
    ("aws", "AWSKeyDetector", (("A3T", "ABIA", "ACCA", "AKIA", "ASIA"), ("aws",))),
    ("artifactory", "ArtifactoryDetector", (("AKC",), ("AP",))),
    ("azure_storage_key", "AzureStorageKeyDetector", (("AccountKey=",),)),
    ("discord", "DiscordBotTokenDetector", ((),)),  # no literal: runs whenever the quick check lets a text in
    ("mailchimp", "MailchimpDetector", (("-us",),)),
    ("pypi_token", "PypiTokenDetector", (("pypi-AgEIcHlwaS5vcmc",), ("pypi-AgENdGVzdC5weXBpLm9yZw",))),
    ("sendgrid", "SendGridDetector", (("SG.",),)),
    ("slack", "SlackDetector", (("xox",), ("hooks.slack.com/services/t",))),
    ("square_oauth", "SquareOAuthDetector", (("sq0csp-",),)),
    ("stripe", "StripeDetector", (("k_live_",),)),
    ("telegram_token", "TelegramBotTokenDetector", ((),)),
    ("twilio", "TwilioKeyDetector", (("AC",), ("SK",))),
)


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    plugin: str  # the detect-secrets plugin class it comes from
    kind: str  # the marker kind: detect-secrets' secret_type in snake case
    secret_type: str  # detect-secrets' own name for it, such as 'GitLab Token'
    shape: _Shape


def _snake_case(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:40]


@dataclass(frozen=True, slots=True)
class _ShapeTable:
    """Every shape, and the literals to look for first to know which of them can match a text."""

    shapes: tuple[_Shape, ...]
    literals: tuple[str, ...]  # the case-sensitive shapes' triggers
    lowered_literals: tuple[str, ...]  # the case-insensitive shapes' and the other rules' triggers, in lower case


# Literals the rules other than the shapes need: the labelled rule's hints, PEM blocks, glued passwords and
# percent-encoding. A text with none of these and no trigger of a shape can only hold a secret in a long run of
# base64 characters (`_LONG_RUN`), which the shapes without a literal, encoded secrets and the AWS secret need.
_RULE_LITERALS = (*_LABELLED_HINTS.split("|"), "-----begin", "mysql", "mariadb", "sshpass", "%")
_LONG_RUN = re.compile(r"[A-Za-z0-9+/_-]{16}|[0-9]{8}:")


@functools.cache
def _shape_table() -> _ShapeTable:
    shapes = (*_SHAPES, *(entry.shape for entry in secret_catalogue()))
    literals = sorted({t for shape in shapes if not shape.ignore_case for t in shape.triggers})
    lowered_literals = sorted({t for shape in shapes if shape.ignore_case for t in shape.triggers} | {*_RULE_LITERALS})
    return _ShapeTable(shapes, tuple(literals), tuple(lowered_literals))


@functools.cache
def secret_catalogue() -> tuple[CatalogueEntry, ...]:
    """detect-secrets' token patterns, loaded on first use (the package pulls in `requests`, which a proxy that
    never redacts should not pay for). A plugin whose denylist no longer lines up with its literals above (a new
    detect-secrets release) is left out rather than run unfiltered; the tests name any plugin left out."""
    entries: list[CatalogueEntry] = []
    for module_name, class_name, triggers in _CATALOGUE_PLUGINS:
        plugin = getattr(importlib.import_module(f"detect_secrets.plugins.{module_name}"), class_name)
        patterns: list[re.Pattern[str]] = list(plugin.denylist)
        if len(patterns) != len(triggers):
            continue
        secret_type = str(plugin.secret_type)
        for pattern, literals in zip(patterns, triggers, strict=True):
            ignore_case = bool(pattern.flags & re.IGNORECASE)
            shape = _Shape(_snake_case(secret_type), pattern, literals, ignore_case=ignore_case)
            entries.append(CatalogueEntry(class_name, shape.kind, secret_type, shape))
    return tuple(entries)


_DELIMITERS = " \t\r\n\"'=:"


def _catalogue_span(match: re.Match[str]) -> tuple[int, int]:
    """Where the secret is: the longest group that holds one (detect-secrets' convention), else the whole match
    without the delimiters some patterns include around it."""
    groups = [match.span(index) for index in range(1, (match.re.groups or 0) + 1) if match.start(index) >= 0]
    longest = max(groups, key=lambda span: span[1] - span[0], default=None)
    if longest is not None and longest[1] - longest[0] >= 8:
        return longest
    start, end = match.span()
    text = match.string
    while start < end and text[start] in _DELIMITERS:
        start += 1
    while end > start and text[end - 1] in _DELIMITERS:
        end -= 1
    return start, end


_PEM_BEGIN = re.compile(r"-----BEGIN (?:[A-Z0-9]{1,20} ){0,4}PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END (?:[A-Z0-9]{1,20} ){0,4}PRIVATE KEY(?: BLOCK)?-----")

# A credential-hinting word, the rest of its name, a separator and a value: `--token abc`, `API_KEY=abc`,
# `"password": "abc"`, `\\"secret\\": \\"abc\\"` (JSON inside a JSON string). Runs over the lower-cased text; the
# start of the name is found by looking back from the hint in Python.
_LABELLED = re.compile(
    rf"(?:{_LABELLED_HINTS})[a-z0-9_.-]{{0,40}}+"
    r"(?P<sep>(?:\\?[\"'])?[ \t]*+[=:][ \t]*+|[ \t]++)"
    r"(?P<scheme>(?:bearer|basic|token|digest)[ \t]++)?"
    r"(?:\\?\"(?P<dq>[^\"\\\n]{1,4096}+)\\?\"|\\?'(?P<sq>[^'\\\n]{1,4096}+)\\?'|(?P<bare>[^\s\"'\\&;,<>]{1,4096}+))"
)
_SET_BEFORE = re.compile(r"(?<![A-Za-z0-9_-])set[ \t]++\Z")
"""`aws configure set aws_secret_access_key X`, `npm config set _authToken X`: a name and its value after `set`."""
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
            is_set = _SET_BEFORE.search(text, max(0, name_start - 16), name_start) is not None
            if not (is_flag or is_set) or text.startswith("-", value_start):
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


# `mysql -pSECRET`, `mysqldump -p'SECRET'`, `sshpass -pSECRET`: these programs take a password glued to `-p`.
_PASSWORD_FLAG_PROGRAM = re.compile(r"(?:mysql|mariadb|sshpass)[a-z]{0,10}+")
PASSWORD_FLAG_PROGRAMS = frozenset(
    {"mysql", "mysqldump", "mysqladmin", "mysqlimport", "mysqlshow", "mysqlcheck", "mysqlpump", "mysqlsh"}
    | {"mariadb", "mariadb-dump", "mariadb-admin", "sshpass"}
)
_ATTACHED_PASSWORD = re.compile(r"[ \t]-p(?:'([^'\n]{1,1024}+)'|\"([^\"\n]{1,1024}+)\"|([^\s'\"|;&<>]{1,1024}+))")
_COMMAND_END = re.compile(r"[\n|;&]")
_COMMAND_WINDOW = 4096


def _attached_passwords(text: str, lowered: str) -> Iterator[tuple[str, int, int]]:
    scanned_until = 0  # each part of the text is searched for flags once, however many program names it holds
    for program in _PASSWORD_FLAG_PROGRAM.finditer(lowered):
        start = program.start()
        if start < scanned_until or (start > 0 and (lowered[start - 1].isalnum() or lowered[start - 1] in "_-")):
            continue
        end = _COMMAND_END.search(text, program.end(), program.end() + _COMMAND_WINDOW)
        scanned_until = end.start() if end else min(len(text), program.end() + _COMMAND_WINDOW)
        for flag in _ATTACHED_PASSWORD.finditer(text, program.end(), scanned_until):
            yield ("password", *flag.span(flag.lastindex or 0))


# --- encoded secrets -----------------------------------------------------------------------------------------

_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}+={0,2}+")
_URL_SAFE_TO_STANDARD = str.maketrans("-_", "+/")
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PERCENT_ESCAPE = re.compile(r"%[0-7][0-9A-Fa-f]")  # ASCII only: every token shape is ASCII
MAX_ENCODED_RUN = 1_000_000
_DECODE_DEPTH = 2  # a token base64-encoded inside a percent-encoded query is still found


def _base64_text(run: str) -> str | None:
    """The text a base64 (or base64url) run stands for, if it decodes to printable UTF-8."""
    body = run.rstrip("=")
    if "-" in body or "_" in body:
        if "+" in body or "/" in body:
            return None
        body = body.translate(_URL_SAFE_TO_STANDARD)
    if len(body) % 4 == 1:
        return None
    try:
        decoded = binascii.a2b_base64(body + "=" * (-len(body) % 4), strict_mode=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return None if _CONTROL_CHARACTER.search(decoded) else decoded


def _encoded_secrets(text: str, depth: int) -> Iterator[tuple[str, int, int]]:
    """Secrets that only show once decoded: a base64 run is replaced whole, a percent-encoded one exactly."""
    if len(text) >= 16:
        for match in _BASE64_RUN.finditer(text):
            if match.end() - match.start() > MAX_ENCODED_RUN:
                continue
            decoded = _base64_text(match.group())
            found = _find_secrets(decoded, depth - 1) if decoded else []
            if found:
                yield (found[0][0], match.start(), match.end())
    if "%" in text:
        yield from _percent_encoded_secrets(text, depth)


def _percent_encoded_secrets(text: str, depth: int) -> Iterator[tuple[str, int, int]]:
    pieces: list[str] = []
    decoded_starts: list[int] = []  # where each piece starts in the decoded text …
    original_starts: list[int] = []  # … and in the original
    escaped: list[bool] = []  # whether the piece is one escape (3 characters standing for 1)
    position = decoded_length = 0
    for escape in _PERCENT_ESCAPE.finditer(text):
        if escape.start() > position:
            pieces.append(text[position : escape.start()])
            decoded_starts.append(decoded_length)
            original_starts.append(position)
            escaped.append(False)
            decoded_length += escape.start() - position
        pieces.append(chr(int(escape.group()[1:], 16)))
        decoded_starts.append(decoded_length)
        original_starts.append(escape.start())
        escaped.append(True)
        decoded_length += 1
        position = escape.end()
    if not escaped:
        return
    pieces.append(text[position:])
    decoded_starts.append(decoded_length)
    original_starts.append(position)
    escaped.append(False)

    def original(index: int) -> tuple[int, int]:
        """The original span of the decoded character at `index`."""
        piece = bisect.bisect_right(decoded_starts, index) - 1
        if escaped[piece]:
            return original_starts[piece], original_starts[piece] + 3
        offset = original_starts[piece] + index - decoded_starts[piece]
        return offset, offset + 1

    for kind, start, end in _find_secrets("".join(pieces), depth - 1):
        yield (kind, original(start)[0], original(end - 1)[1])


# --- a string cut short for the log --------------------------------------------------------------------------

# What `log_format.loggable_arguments` appends to a string it cut at the log's limit. The word the cut went through
# may be the head of a token too short for any shape to recognise, so it is hidden whole.
_ELISION_NOTE = re.compile(r"\[… elided: [0-9,]{1,30} characters, [0-9,]{1,30} bytes, sha256:[0-9a-f]{64}\]\Z")
_ELISION_NOTE_MAX = 200
MIN_CUT_WORD = 4  # a shorter head gives away less than a token's public prefix
MAX_TOKEN_LENGTH = 1024  # longer than any token format: a longer run is a blob (base64, minified text), not a head
_WORD_ENDS = frozenset(" \t\r\n\"'`,;:(){}[]<>|")  # a marker ends in ']', so a replaced head is not found again


def _cut_word(body: str) -> tuple[str, int, int] | None:
    """The word the cut went through, if it could be the head of a token."""
    start = len(body)
    limit = max(0, len(body) - MAX_TOKEN_LENGTH - 1)
    while start > limit and body[start - 1] not in _WORD_ENDS and not body[start - 1].isspace():
        start -= 1
    if not MIN_CUT_WORD <= len(body) - start <= MAX_TOKEN_LENGTH:
        return None
    return ("cut_off", start, len(body))


# --- finding every secret in a string ------------------------------------------------------------------------


def find_secrets_in_text(text: str) -> list[tuple[str, int, int]]:
    """Secret spans inside one string: (kind, start, end), sorted, never overlapping, never inside a marker."""
    return _find_secrets(text, _DECODE_DEPTH)


def _find_secrets(text: str, depth: int) -> list[tuple[str, int, int]]:
    tail_start = max(0, len(text) - _ELISION_NOTE_MAX)
    note = _ELISION_NOTE.search(text, tail_start) if "elided: " in text[tail_start:] else None
    body = text if note is None else text[: note.start()]  # the note itself is never a secret, nor part of one
    table = _shape_table()
    lowered = _lowered(body)
    present = {literal for literal in table.literals if literal in body}
    present_lowered = {literal for literal in table.lowered_literals if literal in lowered}
    if note is None and not present and not present_lowered and _LONG_RUN.search(body) is None:
        return []
    candidates: list[tuple[int, int, int, str]] = []  # (start, -end, priority, kind)
    shapes = table.shapes
    for priority, shape in enumerate(shapes):
        if not shape.applies(len(body), present, present_lowered):
            continue
        for match in shape.pattern.finditer(lowered if shape.ignore_case else body):
            start, end = _catalogue_span(match) if priority >= len(_SHAPES) else match.span(shape.group)
            if start < end and (shape.check is None or shape.check(body[start:end])):
                candidates.append((start, -end, priority, shape.kind))
    for kind, start, end in _pem_blocks(body):
        candidates.append((start, -end, -2, kind))
    later = len(shapes)
    for kind, start, end in _labelled_secrets(body, lowered):
        candidates.append((start, -end, later, kind))
    for kind, start, end in _attached_passwords(body, lowered):
        candidates.append((start, -end, later, kind))
    if depth > 0:
        for kind, start, end in _encoded_secrets(body, depth):
            candidates.append((start, -end, later + 1, kind))
    cut = _cut_word(body) if note is not None else None
    if cut is not None:
        candidates.append((cut[1], -cut[2], later + 2, cut[0]))
    if not candidates:
        return []
    markers = [(m.start(), m.end()) for m in MARKER_PATTERN.finditer(body)] if "[redacted:" in body else []
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

    def leaf(self, value: Any, secret_kind: str | None, hint: bool, offset: int = 0) -> Any:
        """A scalar. `secret_kind` is set under a credential key (the secret starts at `offset`: `-p` in `-pX` is
        not part of it); `hint` under a key that hints at one."""
        if isinstance(value, str):
            if MARKER_PATTERN.fullmatch(value[offset:]):
                return value
            if secret_kind is not None:
                if offset:
                    return value[:offset] + self.whole(value[offset:], secret_kind)
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


_Override = tuple[str | None, int]
"""What a container's shape says about one member: (kind, offset) makes the string from `offset` on a secret of
that kind; (None, 0) makes a random-looking value one, as under a hinting name."""

_FLAG = re.compile(r"-{1,2}([A-Za-z][A-Za-z0-9_.-]{0,63})")
_NAME_LIKE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_PAIR_NAME_KEYS = frozenset({"name", "key", "header", "field", "variable", "var", "env"})
_PAIR_VALUE_KEYS = frozenset({"value", "val"})
_COMMAND_KEYS = frozenset({"command", "cmd", "program", "executable"})


def _override_for_name(name: str, offset: int = 0) -> _Override | None:
    name_class = _classify_cached(name)
    if name_class is NameClass.CREDENTIAL:
        return (_kind_for_name(name), offset)
    if name_class is NameClass.HINT:
        return (None, 0)
    return None


def _program(word: Any) -> str | None:
    """`/usr/bin/mysql` -> `mysql`: the program a command word runs."""
    if not isinstance(word, str):
        return None
    first = word.split(None, 1)[0] if word.strip() else ""
    return first.rsplit("/", 1)[-1].lower()


def _argv_overrides(items: list[Any], program: str | None) -> dict[Any, _Override]:
    """Secrets an argument vector shows by position: `["--password", X]`, `["Authorization", X]` (a header
    pair), `["aws", "configure", "set", "aws_secret_access_key", X]`, `["mysql", "-pX"]`."""
    overrides: dict[Any, _Override] = {}
    takes_glued_password = program in PASSWORD_FLAG_PROGRAMS
    last = len(items) - 1
    for index, item in enumerate(items):
        if not isinstance(item, str):
            continue
        if not takes_glued_password and _program(item) in PASSWORD_FLAG_PROGRAMS:
            takes_glued_password = True
            continue
        following = items[index + 1] if index < last else None
        value_follows = isinstance(following, str) and not following.startswith("-")
        if item.startswith("-"):
            if takes_glued_password and item.startswith("-p") and len(item) > 2:
                overrides[index] = ("password", 2)
            flag = _FLAG.fullmatch(item)
            override = _override_for_name(flag.group(1)) if flag and value_follows else None
        elif value_follows and (len(items) == 2 or (index > 0 and items[index - 1] == "set")):
            override = _override_for_name(item) if _NAME_LIKE.fullmatch(item) else None
        else:
            override = None
        if override is not None:
            overrides[index + 1] = override
    return overrides


def _object_overrides(members: dict[Any, Any]) -> dict[Any, _Override]:
    """`{"name": "DB_PASSWORD", "value": X}` (environment lists, headers, tags): the name says what the value is."""
    names = [v for k, v in members.items() if isinstance(k, str) and normalize_name(k) in _PAIR_NAME_KEYS]
    if len(names) != 1 or not isinstance(names[0], str) or not _NAME_LIKE.fullmatch(names[0]):
        return {}
    override = _override_for_name(names[0])
    if override is None:
        return {}
    return {k: override for k in members if isinstance(k, str) and normalize_name(k) in _PAIR_VALUE_KEYS}


class _Frame:
    """One container being copied: its remaining members, its copy, and what its key said about secrets."""

    __slots__ = ("copy", "hint", "members", "overrides", "program", "secret_kind", "source_id")

    def __init__(
        self,
        source: dict[Any, Any] | list[Any],
        copy: dict[Any, Any] | list[Any],
        secret_kind: str | None,
        hint: bool,
        program: str | None,
    ) -> None:
        self.members = _members(source)
        self.copy = copy
        self.secret_kind = secret_kind
        self.hint = hint
        self.source_id = id(source)
        if isinstance(source, dict):
            command = next((v for k, v in source.items() if isinstance(k, str) and k.lower() in _COMMAND_KEYS), None)
            self.program = _program(command) or program
            # A name/value pair is a small object; a big one with a `name` member is a record, not a pair.
            self.overrides = _object_overrides(source) if secret_kind is None and len(source) <= 8 else {}
        else:
            self.program = program
            self.overrides = _argv_overrides(source, program) if secret_kind is None else {}


def redact(value: Any, fingerprint_key: bytes) -> Redacted:
    """A deep copy of a JSON value with every secret replaced by its marker, and where each one was.

    Total over JSON values (dict, list, str, int, float, bool, None) at any depth: the walk uses its own stack,
    not Python's. Anything else (a tuple, bytes, an object, a cycle) is not JSON and raises TypeError/ValueError.
    """
    redactor = _Redactor(fingerprint_key)
    root = _container_copy(value)
    if root is None:
        return Redacted(value=redactor.leaf(value, None, False), findings=redactor.findings)
    stack = [_Frame(value, root, None, False, None)]
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
        secret_kind, hint, offset = frame.secret_kind, frame.hint, 0
        if isinstance(frame.copy, dict):
            if isinstance(key, str) and secret_kind is None:
                name_class = classify_name(key)
                if name_class is NameClass.CREDENTIAL:
                    secret_kind = _kind_for_name(key)
                hint = name_class is NameClass.HINT
            new_key, segment = redactor.key(key, frame.copy)
        else:
            new_key, segment = key, str(key)
        override = frame.overrides.get(key) if frame.overrides and secret_kind is None else None
        if override is not None:
            secret_kind, offset = override
            hint = hint or secret_kind is None
        child_copy = _container_copy(child)
        if child_copy is None:
            redactor.segments.append(segment)
            result = redactor.leaf(child, secret_kind, hint, offset)
            redactor.segments.pop()
            _store(frame.copy, new_key, result)
            continue
        if id(child) in active:
            raise ValueError("the value contains itself (a cycle), so it is not JSON")
        _store(frame.copy, new_key, child_copy)
        redactor.segments.append(segment)
        stack.append(_Frame(child, child_copy, secret_kind, hint, frame.program))
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
