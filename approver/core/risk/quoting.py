"""Quoting untrusted text in a sentence: secrets masked, invisible characters spelled out, length bounded."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from approver.core.redaction import find_secrets_in_text

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
