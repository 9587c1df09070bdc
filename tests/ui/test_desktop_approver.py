"""The desktop app's Approver, with a scripted presenter standing in for the dialogs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from approver.core.approval import ApprovalRequest, HumanAnswer, Scope, shown_digest
from approver.core.models import Decision
from approver.ui.desktop_approver import LOCKDOWN_SHOWN_TEXT, DesktopApprover
from approver.ui.presentation import Presentation
from approver.ui.settings import AppSettings
from tests.ui.conftest import approval_request


class ScriptedPresenter:
    def __init__(self) -> None:
        self.shown: dict[int, tuple[Presentation, Callable[[HumanAnswer], None]]] = {}
        self.withdrawn: list[int] = []
        self.presented = asyncio.Event()

    def present(
        self, request: ApprovalRequest, presentation: Presentation, answer: Callable[[HumanAnswer], None]
    ) -> None:
        self.shown[request.id] = (presentation, answer)
        self.presented.set()

    def withdraw(self, request_id: int) -> None:
        self.withdrawn.append(request_id)


def allow(presentation: Presentation) -> HumanAnswer:
    return HumanAnswer(decision=Decision.ALLOW, shown_digest=shown_digest(presentation.shown_text()))


async def test_the_answer_given_in_the_dialog_is_returned_and_the_dialog_taken_down() -> None:
    presenter = ScriptedPresenter()
    approver = DesktopApprover(presenter, AppSettings())
    asked = asyncio.get_running_loop().create_task(approver.ask(approval_request()))
    await presenter.presented.wait()
    presentation, answer = presenter.shown[1]
    answer(allow(presentation))
    assert (await asked).decision is Decision.ALLOW
    assert presenter.withdrawn == [1]


async def test_a_cancelled_question_takes_its_dialog_down() -> None:
    presenter = ScriptedPresenter()
    approver = DesktopApprover(presenter, AppSettings())
    asked = asyncio.get_running_loop().create_task(approver.ask(approval_request()))
    await presenter.presented.wait()
    asked.cancel("the client cancelled the request")
    with pytest.raises(asyncio.CancelledError):
        await asked
    assert presenter.withdrawn == [1]


async def test_lockdown_denies_questions_on_screen_and_new_ones() -> None:
    presenter = ScriptedPresenter()
    approver = DesktopApprover(presenter, AppSettings())
    asked = asyncio.get_running_loop().create_task(approver.ask(approval_request()))
    await presenter.presented.wait()
    approver.set_lockdown(True)
    answer = await asked
    assert (answer.decision, answer.scope) == (Decision.DENY, Scope.ONCE)
    assert answer.shown_digest == shown_digest(LOCKDOWN_SHOWN_TEXT)
    later = await approver.ask(approval_request(request_id=2))
    assert later.decision is Decision.DENY
    assert 2 not in presenter.shown


def test_settings_set_the_deadline_the_service_enforces() -> None:
    approver = DesktopApprover(ScriptedPresenter(), AppSettings())
    assert (approver.deadline_ms, approver.deadline_action) == (55_000, Decision.DENY)
    approver.apply(AppSettings(deadline_seconds=90, deadline_action=Decision.ALLOW))
    assert (approver.deadline_ms, approver.deadline_action) == (90_000, Decision.ALLOW)
