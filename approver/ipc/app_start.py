"""A proxy that finds no decision service may start the desktop app, when the person turned that on.

It only makes a person available: the app decides as it always does, and a proxy that still finds no service
after a bounded wait denies as before. The setting is read from the app's settings file without the seal (the
seal needs the keyring, too slow for a proxy starting up): a same-user agent can turn it on, which lets it start
the app, never allow anything.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping

from approver.ipc.client import ServiceUnavailable, connect_to_service
from approver.platform.paths import Home

APP_SETTINGS_NAME = "app-settings.json"  # in the home's config directory (approver.ui.settings.settings_file)
SETTING = "start_app_when_needed"
WAIT_SECONDS = 10.0  # how long a proxy waits for the app it started; calls meanwhile wait too, then are denied
RETRY_AFTER = 60.0  # one start per proxy in this long: an app that does not come up is not started in a loop
POLL_SECONDS = 0.2


def wants_app_started(home: Home) -> bool:
    """The person's setting (default off): a missing, unreadable or invalid file means off."""
    try:
        document = json.loads((home.config_dir / APP_SETTINGS_NAME).read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and document.get(SETTING) is True


def graphical_session(environ: Mapping[str, str] = os.environ) -> bool:
    """A desktop the app can show itself on (macOS and Windows always have one for a logged-in user)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def app_command() -> list[str]:
    """This installation's app: the interpreter running this proxy (APPROVER_HOME carries the home)."""
    return [sys.executable, "-m", "approver"]


def _spawn(command: list[str], environment: dict[str, str]) -> subprocess.Popen[bytes]:
    """Its own session: the app outlives this proxy, and the client's signals to the proxy are not its own."""
    return subprocess.Popen(
        command,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


class AppStarter:
    """Starts the app at most once per RETRY_AFTER and waits, bounded, until its service answers."""

    def __init__(
        self,
        home: Home,
        report: Callable[[str], None],
        *,
        wait_seconds: float = WAIT_SECONDS,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.home = home
        self.report = report
        self.wait_seconds = wait_seconds
        self.environ = environ
        self._last_start: float | None = None

    async def start_and_wait(self) -> bool:
        """True when the service answers after starting the app; False when it was not started or never came."""
        now = time.monotonic()
        if self._last_start is not None and now - self._last_start < RETRY_AFTER:
            return False
        if not graphical_session(self.environ) or not await asyncio.to_thread(wants_app_started, self.home):
            return False
        self._last_start = now
        environment = dict(self.environ)
        if self.home.explicit:
            environment["APPROVER_HOME"] = str(self.home.config_dir.parent)
        try:
            process = await asyncio.to_thread(_spawn, app_command(), environment)
        except OSError as exc:
            self.report(f"could not start the MCP Approver app: {exc.strerror or exc}")
            return False
        self.report(f"MCP Approver is not running: starting the app, waiting up to {self.wait_seconds:g} s for it")
        deadline = now + self.wait_seconds
        while time.monotonic() < deadline:
            try:
                _, writer = await connect_to_service(self.home, min(POLL_SECONDS * 5, self.wait_seconds))
            except ServiceUnavailable:
                if process.poll() is not None and process.returncode != 0:
                    break  # it failed to start (and is reaped): no point waiting out the bound
                await asyncio.sleep(POLL_SECONDS)
                continue
            writer.close()
            return True
        self.report(f"the MCP Approver app did not come up within {self.wait_seconds:g} s")
        return False
