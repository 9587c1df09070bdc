"""Proof of presence: before allowing what the settings mark (a critical call; anything that allows more than one
call), ask for something a program running as the same user cannot forge by sending synthetic input.

On X11 any process of the user can press keys and click buttons in our windows (XTest, `xdotool`), so a click
on Allow proves nothing. What does:

- polkit (Linux), when its action `org.mcp-approver.confirm-presence` is installed (packaging/): `pkcheck` asks
  the session's authentication agent, which asks for the person's own password (`auth_self`, never kept). The
  password is what an agent does not know; the agent's dialog is a separate program that checks it as root.
- Otherwise a short code shown in the question as a picture (not as text: it is not in the window title nor in
  the accessibility tree), fresh for every proof, to type back. It stops blind synthetic input — clicks and key
  presses sent without looking — but not a program that reads the screen (XGetImage) and types what it sees.

macOS Local Authentication and Windows Hello are not wired in yet; those systems use the typed code.
"""

from __future__ import annotations

import hmac
import os
import secrets
import shutil
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from PySide6.QtCore import QProcess, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontDatabase, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from approver.ui.labels import plain_label
from approver.ui.settings import PresenceCheck

# An alphabet with no look-alikes (no 0/O/Q/D, 1/I/L, 2/Z, 5/S, 8/B, U/V, G/6): 20 symbols, 6 of them ≈ 26 bits.
CODE_ALPHABET = "ACEFHJKMNPRTWXY34679"
CODE_LENGTH = 6
CODE_ATTEMPTS = 3  # then the proof fails; a new one starts with a new code
POLKIT_ACTION = "org.mcp-approver.confirm-presence"
POLKIT_ACTIONS_DIR = Path("/usr/share/polkit-1/actions")
# pkcheck's errors when polkit cannot ask anyone: no agent registered for the session, or no polkit daemon.
UNAVAILABLE = ("no agent is available", "No authentication agent", "Error getting authority")
PROOF_TITLE = "MCP Approver — Confirm that it is you"


class Proof(StrEnum):
    POLKIT = "your password (polkit)"
    CODE = "a typed code"


def needs_presence(setting: PresenceCheck, *, critical: bool, widening: bool) -> bool:
    """Whether an act needs proof of presence: `critical` allows a critical-risk call, `widening` lets more than
    this one call through (a rule, a grant, a setting)."""
    if setting is PresenceCheck.OFF:
        return False
    return critical or (widening and setting is PresenceCheck.CRITICAL_AND_WIDENING)


def new_code(length: int = CODE_LENGTH) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def code_matches(expected: str, typed: str) -> bool:
    """Case, spaces and dashes do not matter; the comparison takes the same time wherever the first difference is."""
    normal = "".join(ch for ch in typed.upper() if ch not in " -\t")
    return hmac.compare_digest(normal.encode("utf-8"), expected.encode("utf-8"))


def polkit_available() -> bool:
    """polkit can be asked: Linux, `pkcheck` installed, and our action installed by the package (root-owned)."""
    return (
        sys.platform.startswith("linux")
        and shutil.which("pkcheck") is not None
        and (POLKIT_ACTIONS_DIR / f"{POLKIT_ACTION}.policy").is_file()
    )


def code_picture(code: str, palette: QPalette) -> QPixmap:
    """The code drawn as pixels, so that it reaches a person's eyes but no text interface (accessibility, title)."""
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setPointSize(22)
    font.setBold(True)
    font.setLetterSpacing(QFont.SpacingType.AbsoluteSpacing, 6)
    spaced = f"{code[:3]} {code[3:]}"
    image = QImage(QSize(280, 56), QImage.Format.Format_ARGB32)
    image.fill(palette.color(QPalette.ColorRole.Base))
    painter = QPainter(image)
    painter.setFont(font)
    painter.setPen(QColor(palette.color(QPalette.ColorRole.Text)))
    painter.drawText(image.rect(), Qt.AlignmentFlag.AlignCenter, spaced)
    painter.end()
    return QPixmap.fromImage(image)


class CodeDialog(QDialog):
    """Type the code shown (a picture) to confirm. Accepted only with the right code; a few wrong tries reject."""

    def __init__(self, why: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(PROOF_TITLE)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setAccessibleName("Confirm that it is you")
        self._code = new_code()
        self._tries_left = CODE_ATTEMPTS
        self.intro = plain_label(
            f"{why}\n\nTo show that a person, not a program, is answering, type the code in the picture below.",
            selectable=True,
        )
        self.picture = QLabel()
        self.picture.setPixmap(code_picture(self._code, self.palette()))
        self.picture.setAccessibleName("A code, shown as a picture; type it in the field below")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.entry = QLineEdit()
        self.entry.setAccessibleName("The code from the picture")
        self.entry.setMaxLength(CODE_LENGTH + 4)
        self.message = plain_label()
        self.message.setAccessibleName("Result")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel: do not confirm")
        self.confirm_button = QPushButton("Confirm")
        self.confirm_button.setAccessibleName("Confirm with the code typed")
        self.confirm_button.setDefault(True)  # Return in the field presses it
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.confirm_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.picture)
        layout.addWidget(self.entry)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        self.cancel_button.clicked.connect(self.reject)
        self.confirm_button.clicked.connect(self.check)
        self.entry.setFocus()
        self.setMinimumWidth(460)  # the title in full

    def check(self) -> None:
        if code_matches(self._code, self.entry.text()):
            self.accept()
            return
        self._tries_left -= 1
        if self._tries_left <= 0:
            self.reject()
            return
        self._code = new_code()  # a wrong guess teaches nothing about the next code
        self.picture.setPixmap(code_picture(self._code, self.palette()))
        self.entry.clear()
        self.message.setText(f"That was not the code. A new one is shown; {self._tries_left} tries left.")


Done = Callable[[Proof | None], None]  # the proof given, or None: not proven (cancelled, wrong, failed)


class PresenceGate:
    """Asks for proof of presence when the current setting says an act needs it."""

    def __init__(self, setting: Callable[[], PresenceCheck], *, use_polkit: Callable[[], bool] = polkit_available):
        self.setting = setting
        self.use_polkit = use_polkit
        # pkcheck runs have no Qt parent (a window closing mid-question must not destroy a running QProcess
        # under its own signal handlers); this keeps each alive until it has finished.
        self._checks: set[QProcess] = set()

    def required(self, *, critical: bool = False, widening: bool = False) -> bool:
        return needs_presence(self.setting(), critical=critical, widening=widening)

    def prove(self, parent: QWidget, why: str, done: Done) -> Callable[[], None]:
        """Start asking; `done` is called once, later, with the outcome. Returns a function that cancels it."""
        if self.use_polkit():
            return self._prove_with_polkit(parent, why, done)
        return self._prove_with_code(parent, why, done)

    @staticmethod
    def _prove_with_code(parent: QWidget, why: str, done: Done) -> Callable[[], None]:
        dialog = CodeDialog(why, parent)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda result: done(Proof.CODE if result == QDialog.DialogCode.Accepted else None))
        dialog.open()  # no nested event loop
        return dialog.reject

    def _prove_with_polkit(self, parent: QWidget, why: str, done: Done) -> Callable[[], None]:
        process = QProcess()
        self._checks.add(process)
        # Our own process is the subject: the agent asks for the password of the user running the app.
        process.setProgram("pkcheck")
        process.setArguments(["--action-id", POLKIT_ACTION, "--process", str(os.getpid()), "--allow-user-interaction"])
        cancelled = False
        cancel_code: Callable[[], None] | None = None  # the typed code asked for instead

        def finished(code: int, _status: QProcess.ExitStatus) -> None:
            error = bytes(process.readAllStandardError().data()).decode("utf-8", "replace")
            self._checks.discard(process)
            process.deleteLater()
            if cancelled:
                return
            if code != 0 and any(text in error for text in UNAVAILABLE):
                unavailable()
                return
            done(Proof.POLKIT if code == 0 else None)

        def unavailable() -> None:
            # polkit is installed but cannot ask (no agent in this session, e.g. a bare window manager): the code.
            nonlocal cancel_code
            cancel_code = self._prove_with_code(
                parent, why + "\n\n(No password dialog is available on this desktop.)", done
            )

        def failed_to_start(error: QProcess.ProcessError) -> None:
            if error is QProcess.ProcessError.FailedToStart:
                self._checks.discard(process)
                process.deleteLater()
                if not cancelled:
                    unavailable()

        def cancel() -> None:
            nonlocal cancelled
            cancelled = True
            if process in self._checks:
                process.kill()  # finished follows, and lets it go
            if cancel_code is not None:
                cancel_code()

        process.finished.connect(finished)
        process.errorOccurred.connect(failed_to_start)
        process.start()
        return cancel
