"""The desktop app's own settings: one typed model, kept as JSON in the home's config directory, sealed.

Policy rules are not here (they live in the policy file the service reads); these are how the app asks.

Integrity. Some settings let a call through without a person, or ask less of one: allowing at the deadline, not
starting at login, a weaker proof of presence. An AI agent with a shell could write those into the file, so the
app seals what it writes (HMAC-SHA256 under the rules' integrity key, in the keyring; the seal and the sealed text
in `app-settings.json.trust`). A file that does not match its seal is read like a changed rules file: its values
that only narrow apply at once, its widening values are ignored (the last sealed value, else the default, stays)
until a person confirms them in the app.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from approver.core.models import Decision
from approver.ipc.app_start import APP_SETTINGS_NAME
from approver.platform.durable import write_atomically
from approver.platform.keystore import KeyStoreError
from approver.platform.paths import Home

CLIENT_TIMEOUT_SECONDS = 60  # many MCP clients give up on a request after a minute
# Domain separation: a MAC made for the rules file can never pass as one for the settings, nor the other way round.
SEAL_CONTEXT = b"mcp-approver app-settings seal v1\n"


class PresenceCheck(StrEnum):
    """When allowing needs proof that a person, not a program, is at the keyboard."""

    OFF = "off"
    CRITICAL = "critical"  # allowing a critical-risk call
    CRITICAL_AND_WIDENING = "critical-and-widening"  # that, and anything that allows more than one call

    @property
    def strength(self) -> int:
        return list(PresenceCheck).index(self)


class AppSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    deadline_seconds: int = Field(
        default=55,
        ge=5,
        le=3600,
        description="How long a dialog waits for an answer; under 60 s so that common clients do not give up first.",
    )
    deadline_action: Decision = Field(default=Decision.DENY, description="What happens when nobody answers in time.")
    notifications: bool = Field(default=True, description="Notify when a call waits behind an open dialog.")
    start_at_login: bool = Field(default=True, description="Start MCP Approver when you log in.")
    presence_check: PresenceCheck = Field(
        default=PresenceCheck.CRITICAL_AND_WIDENING,
        description="When allowing needs proof of presence (the system's password dialog, or a code to type).",
    )
    redact_results: bool = Field(
        default=False,
        description="Replace secrets found in tool results before they reach the AI client (the result is "
        "re-serialised, and says so).",
    )
    start_app_when_needed: bool = Field(
        default=False,
        description="A proxy that finds MCP Approver not running, in a desktop session, starts the app and waits "
        "for it (it never allows more: it only makes a person available).",
    )


WIDENING_WORDS = {
    "deadline_action": "allow calls nobody answered",
    "start_at_login": "not start at login",
    "presence_check": "ask for less proof of presence",
    "redact_results": "let secrets in results through unredacted",
}


def widenings(before: AppSettings, after: AppSettings) -> tuple[str, ...]:
    """The settings whose change from `before` to `after` lets more through without a person (field names)."""
    found = []
    if after.deadline_action is Decision.ALLOW and before.deadline_action is not Decision.ALLOW:
        found.append("deadline_action")
    if before.start_at_login and not after.start_at_login:
        found.append("start_at_login")
    if after.presence_check.strength < before.presence_check.strength:
        found.append("presence_check")
    if before.redact_results and not after.redact_results:
        found.append("redact_results")
    return tuple(found)


def describe_widenings(fields: tuple[str, ...]) -> str:
    return ", ".join(WIDENING_WORDS[name] for name in fields)


def changed_values(before: AppSettings, after: AppSettings) -> dict[str, dict[str, Any]]:
    """What changed, as JSON for the log: {field: {"from": old, "to": new}}."""
    old, new = before.model_dump(mode="json"), after.model_dump(mode="json")
    return {name: {"from": old[name], "to": new[name]} for name in new if old[name] != new[name]}


def settings_file(home: Home) -> Path:
    return home.config_dir / APP_SETTINGS_NAME  # proxies read start_app_when_needed from it, without Qt


def settings_text(settings: AppSettings) -> bytes:
    return (json.dumps(settings.model_dump(mode="json"), indent=2) + "\n").encode("utf-8")


@dataclass(frozen=True)
class LoadedSettings:
    settings: AppSettings  # in force
    trusted: bool = True  # the file is what the app last sealed (or there is none)
    asked: AppSettings | None = None  # an unsealed file's values, when some of them wait for a person
    ignored: tuple[str, ...] = ()  # the widening settings of `asked` that are not in force
    problem: str | None = None  # for the tray and the settings page


class SettingsStore:
    """Reads and writes the settings file and its seal. `mac` is the rules' integrity MAC (keyring key); without
    one nothing can be sealed, so every file counts as changed outside the app."""

    def __init__(self, path: Path, mac: Callable[[bytes], str] | None) -> None:
        self.path = path
        self.seal_file = path.with_name(path.name + ".trust")
        self._mac = mac

    def _seal_of(self, data: bytes) -> str:
        if self._mac is None:
            raise KeyStoreError("no integrity key store to seal the settings with")
        return self._mac(SEAL_CONTEXT + data)

    def _sealed_text(self) -> bytes | None:
        """The text the app last wrote, if its seal verifies."""
        try:
            record = json.loads(self.seal_file.read_text())
            text = record["text"].encode("utf-8")
            return text if hmac.compare_digest(record["mac"], self._seal_of(text)) else None
        except (OSError, ValueError, KeyError, TypeError, AttributeError, KeyStoreError):
            return None

    def load(self) -> LoadedSettings:
        sealed = self._sealed_text()
        baseline = AppSettings()
        if sealed is not None:
            try:
                baseline = AppSettings.model_validate_json(sealed)
            except ValidationError:
                sealed = None
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            if sealed is None:
                return LoadedSettings(AppSettings())  # never written: the defaults, nothing to distrust
            return LoadedSettings(baseline, trusted=False, problem=f"{self.path} was removed; the last saved apply")
        except OSError as exc:
            return LoadedSettings(baseline, trusted=False, problem=f"{self.path} cannot be read ({exc.strerror})")
        if sealed is not None and hmac.compare_digest(data, sealed):
            return LoadedSettings(baseline)
        try:
            asked = AppSettings.model_validate_json(data)
        except (ValidationError, ValueError) as exc:
            why = " ".join(str(exc).split())  # one line
            return LoadedSettings(baseline, trusted=False, problem=f"{self.path} is invalid, so it is not used: {why}")
        ignored = widenings(baseline, asked)
        in_force = asked.model_copy(update={name: getattr(baseline, name) for name in ignored})
        if not ignored:
            return LoadedSettings(in_force, trusted=False)
        return LoadedSettings(
            in_force,
            trusted=False,
            asked=asked,
            ignored=ignored,
            problem=f"the settings were changed outside MCP Approver; what would {describe_widenings(ignored)} "
            "waits for your confirmation (Settings → General)",
        )

    def save(self, settings: AppSettings) -> None:
        """Write the settings a person chose in the app, and seal them (raises KeyStoreError, OSError)."""
        data = settings_text(settings)
        seal = self._seal_of(data)
        write_atomically(self.path, data)
        record = {"digest": hashlib.sha256(data).hexdigest(), "mac": seal, "text": data.decode("utf-8")}
        write_atomically(self.seal_file, json.dumps(record).encode("utf-8"))
