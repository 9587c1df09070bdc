"""The decision service's `Approver` in the desktop app: it hands each question to a presenter (the dialog queue)
and waits for the answer. No Qt here: the presenter is an interface, so this is tested without a display.

The service enforces the deadline and withdrawals by cancelling `ask`; either way the question's dialog is taken
down before `ask` ends. In lockdown every question is answered "deny" at once, including those already on screen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from approver.core.approval import ApprovalRequest, HumanAnswer, Scope, shown_digest
from approver.core.models import Decision
from approver.ui.presentation import Presentation, present
from approver.ui.settings import AppSettings

LOCKDOWN_SHOWN_TEXT = "lockdown"


class Presenter(Protocol):
    """Shows questions to a person (the dialog queue)."""

    def present(
        self, request: ApprovalRequest, presentation: Presentation, answer: Callable[[HumanAnswer], None]
    ) -> None:
        """Show the question; call `answer` once the person has answered."""

    def withdraw(self, request_id: int) -> None:
        """Take the question down (answered, timed out, withdrawn); a no-op when it is already gone."""


def lockdown_answer() -> HumanAnswer:
    return HumanAnswer(decision=Decision.DENY, scope=Scope.ONCE, shown_digest=shown_digest(LOCKDOWN_SHOWN_TEXT))


class DesktopApprover:
    def __init__(self, presenter: Presenter, settings: AppSettings) -> None:
        self.presenter = presenter
        self.deadline_ms = settings.deadline_seconds * 1000
        self.deadline_action = settings.deadline_action
        self.lockdown = False
        self._waiting: dict[int, asyncio.Future[HumanAnswer]] = {}

    def apply(self, settings: AppSettings) -> None:
        """New settings apply to the next question (one on screen keeps the deadline it was shown with)."""
        self.deadline_ms = settings.deadline_seconds * 1000
        self.deadline_action = settings.deadline_action

    def set_lockdown(self, on: bool) -> None:
        self.lockdown = on
        if on:
            for future in self._waiting.values():
                if not future.done():
                    future.set_result(lockdown_answer())

    async def ask(self, request: ApprovalRequest) -> HumanAnswer:
        # Made-visible text of a large call takes a while to build: off the UI thread, which keeps painting.
        presentation = await asyncio.to_thread(present, request)
        if self.lockdown:  # the service denies without asking in lockdown; this catches a switch meanwhile
            return lockdown_answer()
        future: asyncio.Future[HumanAnswer] = asyncio.get_running_loop().create_future()

        def answer(given: HumanAnswer) -> None:
            if not future.done():
                future.set_result(given)

        self._waiting[request.id] = future
        try:
            self.presenter.present(request, presentation, answer)
            return await future
        finally:
            del self._waiting[request.id]
            self.presenter.withdraw(request.id)
