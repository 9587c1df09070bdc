"""The desktop app's own settings: one typed model, kept as JSON in the home's config directory.

Policy rules are not here (they live in the policy file the service reads); these are how the app asks.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from approver.core.models import Decision
from approver.platform.durable import write_atomically
from approver.platform.paths import Home

CLIENT_TIMEOUT_SECONDS = 60  # many MCP clients give up on a request after a minute


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


def settings_file(home: Home) -> Path:
    return home.config_dir / "app-settings.json"


def load_settings(path: Path) -> tuple[AppSettings, str | None]:
    """The saved settings, or the defaults and the reason the saved ones could not be used."""
    try:
        return AppSettings.model_validate_json(path.read_bytes()), None
    except FileNotFoundError:
        return AppSettings(), None
    except (OSError, ValidationError, ValueError) as exc:
        return AppSettings(), f"{path} could not be used, so the defaults apply: {exc}"


def save_settings(path: Path, settings: AppSettings) -> None:
    write_atomically(path, (json.dumps(settings.model_dump(mode="json"), indent=2) + "\n").encode("utf-8"))
