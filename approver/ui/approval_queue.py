"""One dialog per held call, shown one at a time in arrival order; the others wait their turn.

This is the DesktopApprover's presenter. A call arriving while a dialog is open waits behind it: the dialog in
front says how many wait (a notification would cover its buttons), the tray counts them, and the tray's menu can
bring any waiting one to the front.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from approver.core.approval import ApprovalRequest, HumanAnswer
from approver.ui.approval_dialog import ARM_DELAY_MS, ApprovalDialog
from approver.ui.presence import PresenceGate
from approver.ui.presentation import Presentation
from approver.ui.windows import bring_forward, show_on_cursor_screen

DIALOG_SIZE = (860, 680)


class ApprovalQueue(QObject):
    changed = Signal()  # the number of questions, or the one in front, changed
    # An ApprovalRequest that arrived while the dialog in front was not on screen (minimised), so its "N more
    # waiting" cannot tell the person.
    waiting_unseen = Signal(object)
    shown = Signal(object)  # an ApprovalDialog that was just put in front

    def __init__(self, arm_delay_ms: int = ARM_DELAY_MS) -> None:
        super().__init__()
        self.arm_delay_ms = arm_delay_ms
        self.presence: PresenceGate | None = None  # the app sets it: allowing what the settings guard needs proof
        self._dialogs: dict[int, ApprovalDialog] = {}  # in arrival order
        self._front: int | None = None

    # -- the Presenter interface -------------------------------------------------------------------------------

    def present(
        self, request: ApprovalRequest, presentation: Presentation, answer: Callable[[HumanAnswer], None]
    ) -> None:
        dialog = ApprovalDialog(request, presentation, arm_delay_ms=self.arm_delay_ms, presence=self.presence)
        dialog.answered.connect(answer)
        dialog.answered.connect(lambda _answer: self.withdraw(request.id))
        self._dialogs[request.id] = dialog
        if self._front is None:
            self._show(request.id)
        elif not self._front_on_screen():
            self.waiting_unseen.emit(request)
        self._changed()

    def withdraw(self, request_id: int) -> None:
        dialog = self._dialogs.pop(request_id, None)
        if dialog is None:
            return
        dialog.dismiss()
        dialog.deleteLater()
        if self._front == request_id:
            self._front = None
            if self._dialogs:
                self._show(next(iter(self._dialogs)))
        self._changed()

    # -- for the tray ------------------------------------------------------------------------------------------

    def requests(self) -> list[ApprovalRequest]:
        return [dialog.request for dialog in self._dialogs.values()]

    def front(self) -> ApprovalDialog | None:
        return None if self._front is None else self._dialogs[self._front]

    def bring_to_front(self, request_id: int | None = None) -> bool:
        """Show a question (the one in front by default); False when there is none."""
        if request_id is None:
            request_id = self._front
        if request_id is None or request_id not in self._dialogs:
            return False
        if request_id == self._front:
            self._dialogs[request_id].rearm()
            bring_forward(self._dialogs[request_id])
        else:
            if self._front is not None:
                self._dialogs[self._front].hide()  # it keeps its place in the queue and its deadline
            self._show(request_id)
        self._changed()
        return True

    def _front_on_screen(self) -> bool:
        front = self.front()
        return front is not None and front.isVisible() and not front.isMinimized()

    def _changed(self) -> None:
        front = self.front()
        if front is not None:
            front.show_more_waiting(len(self._dialogs) - 1)
        self.changed.emit()

    def _show(self, request_id: int) -> None:
        self._front = request_id
        dialog = self._dialogs[request_id]
        show_on_cursor_screen(dialog, *DIALOG_SIZE)
        self.shown.emit(dialog)
