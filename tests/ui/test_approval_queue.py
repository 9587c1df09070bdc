"""Dialogs one at a time, in arrival order; the one in front says how many wait; any brought to the front on
request."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytestqt.qtbot import QtBot

from approver.core.approval import HumanAnswer
from approver.ui.approval_queue import ApprovalQueue
from approver.ui.presentation import present
from tests.ui.conftest import approval_request

pytestmark = pytest.mark.gui


def test_one_dialog_at_a_time_in_arrival_order(qtbot: QtBot) -> None:
    queue = ApprovalQueue(arm_delay_ms=0)
    answered: list[tuple[int, HumanAnswer]] = []
    unseen: list[int] = []
    queue.waiting_unseen.connect(lambda request: unseen.append(request.id))

    def recorder(request_id: int) -> Callable[[HumanAnswer], None]:
        return lambda answer: answered.append((request_id, answer))

    for request_id in (1, 2, 3):
        request = approval_request(request_id=request_id)
        queue.present(request, present(request), recorder(request_id))
    first = queue.front()
    assert first is not None and first.request.id == 1 and first.isVisible()
    assert unseen == []  # the dialog on screen says so; no notification covers its buttons
    assert [request.id for request in queue.requests()] == [1, 2, 3]
    first.deny_button.click()
    second = queue.front()
    assert [rid for rid, _ in answered] == [1]
    assert second is not None and second.request.id == 2 and second.isVisible()
    queue.withdraw(2)  # the deadline passed, or the client withdrew it
    third = queue.front()
    assert third is not None and third.request.id == 3
    assert [request.id for request in queue.requests()] == [3]
    queue.withdraw(3)
    queue.withdraw(3)  # taking a question down twice is harmless
    assert queue.front() is None and queue.requests() == []
    for dialog in (first, second, third):
        qtbot.addWidget(dialog)


def test_a_waiting_question_can_be_brought_to_the_front(qtbot: QtBot) -> None:
    queue = ApprovalQueue(arm_delay_ms=0)
    for request_id in (1, 2):
        request = approval_request(request_id=request_id)
        queue.present(request, present(request), lambda _answer: None)
    first = queue.front()
    assert first is not None
    assert queue.bring_to_front(2)
    second = queue.front()
    assert second is not None and second.request.id == 2 and second.isVisible()
    assert not first.isVisible()
    assert [request.id for request in queue.requests()] == [1, 2]  # the first keeps its place
    assert not queue.bring_to_front(99)
    for dialog in (first, second):
        qtbot.addWidget(dialog)


def test_the_dialog_in_front_says_how_many_more_wait(qtbot: QtBot) -> None:
    queue = ApprovalQueue(arm_delay_ms=0)
    unseen: list[int] = []
    queue.waiting_unseen.connect(lambda request: unseen.append(request.id))
    first_request = approval_request(request_id=1)
    queue.present(first_request, present(first_request), lambda _answer: None)
    first = queue.front()
    assert first is not None and first.more_waiting.isHidden()
    for request_id in (2, 3):
        request = approval_request(request_id=request_id)
        queue.present(request, present(request), lambda _answer: None)
        assert first.more_waiting.isVisible()
        assert first.more_waiting.text() == f"{request_id - 1} more waiting"
    assert unseen == []
    queue.bring_to_front(3)  # from the tray menu: the count moves with the front
    third = queue.front()
    assert third is not None and third.more_waiting.text() == "2 more waiting" and third.more_waiting.isVisible()
    queue.withdraw(2)
    assert third.more_waiting.text() == "1 more waiting"
    assert third.windowTitle() == f"{third.presentation.title} — 1 more waiting"
    third.showMinimized()  # now the count is out of sight: a notification tells the person instead
    request = approval_request(request_id=4)
    queue.present(request, present(request), lambda _answer: None)
    assert unseen == [4]
    queue.withdraw(3)
    fourth_behind_first = queue.front()
    assert fourth_behind_first is first and first.more_waiting.text() == "1 more waiting"
    queue.withdraw(1)
    last = queue.front()
    assert last is not None and last.request.id == 4 and last.more_waiting.isHidden()
    assert last.windowTitle() == last.presentation.title
    queue.withdraw(4)
