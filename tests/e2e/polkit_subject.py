"""Run by tests/e2e/test_polkit.py as an ordinary user: asks for proof of presence through the real PresenceGate
and prints the outcome. It prints its pid first and waits for a line on stdin, so that the test can register a
polkit authentication agent for this process before the question is asked."""

from __future__ import annotations

import os
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QWidget

from approver.ui.presence import CodeDialog, PresenceGate, Proof, polkit_available
from approver.ui.settings import PresenceCheck


def main() -> None:
    app = QApplication(["polkit-subject", "-platform", "offscreen"])
    parent = QWidget()
    parent.show()
    print(f"ready {os.getpid()} polkit={polkit_available()}", flush=True)
    sys.stdin.readline()

    def done(proof: Proof | None) -> None:
        print(f"proof: {proof.name if proof is not None else None}", flush=True)
        app.quit()

    def code_dialog_shown() -> None:
        if any(dialog.isVisible() for dialog in parent.findChildren(CodeDialog)):
            print("proof: the code dialog is shown", flush=True)
            app.quit()

    watch = QTimer()
    watch.timeout.connect(code_dialog_shown)
    watch.start(50)
    PresenceGate(lambda: PresenceCheck.CRITICAL).prove(parent, "A critical call", done)
    app.exec()


if __name__ == "__main__":
    main()
