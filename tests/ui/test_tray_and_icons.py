"""The tray's states and icons, and where windows are put."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMenu
from pytestqt.qtbot import QtBot

from approver.platform.resources import resource_path
from approver.ui.icons import SIZES, TrayLook, app_icon, look_icon, pending_icon
from approver.ui.tray import Tray, TrayActions, TrayState
from approver.ui.windows import FRAME_ALLOWANCE, fit_into
from tests.conftest import ROOT
from tests.ui.conftest import approval_request

pytestmark = pytest.mark.gui


@pytest.mark.parametrize(
    ("state", "look", "tooltip"),
    [
        (TrayState(), TrayLook.IDLE, "MCP Approver: watching tool calls"),
        (TrayState(pending=2), TrayLook.PENDING, "MCP Approver: 2 calls waiting for you"),
        (TrayState(pending=1, lockdown=True), TrayLook.LOCKDOWN, "MCP Approver: LOCKDOWN — every tool call is denied"),
        (
            TrayState(problems=("no OS keyring",)),
            TrayLook.PROBLEM,
            "MCP Approver: watching tool calls\n⚠ no OS keyring",
        ),
    ],
)
def test_tray_states(state: TrayState, look: TrayLook, tooltip: str) -> None:
    assert state.look is look
    assert state.tooltip() == tooltip


def test_every_icon_exists_in_every_size(qapp: object) -> None:
    for stem in ["mcp-approver", *(f"mcp-approver-{look.value}" for look in TrayLook)]:
        for size in SIZES:
            assert resource_path("icons", f"{stem}-{size}.png").stat().st_size > 0
        assert (ROOT / "resources" / "icons" / f"{stem}.svg").exists()  # the source each PNG is rendered from
    assert not app_icon().isNull()
    assert all(not look_icon(look).isNull() for look in TrayLook)


def test_the_pending_badge_is_drawn_on_the_icon(qapp: object) -> None:
    plain = look_icon(TrayLook.PENDING).pixmap(32, 32).toImage()
    badged = pending_icon(3).pixmap(32, 32).toImage()
    assert plain.size() == badged.size()
    assert plain.pixelColor(26, 26) != badged.pixelColor(26, 26)  # the badge sits in the lower right corner
    assert plain.pixelColor(16, 4) == badged.pixelColor(16, 4)


def test_the_menu_lists_pending_calls_and_offers_lockdown(qtbot: QtBot) -> None:
    shown: list[int] = []
    lockdown: list[bool] = []
    requests = [approval_request(request_id=7, tool="delete_file")]
    tray = Tray(
        TrayActions(
            show_request=shown.append,
            set_lockdown=lockdown.append,
            open_settings=lambda: None,
            open_log=lambda: None,
            quit=lambda: None,
            activate=lambda: None,
        ),
        pending=lambda: requests,
    )
    tray.menu.aboutToShow.emit()
    titles = [action.text() for action in tray.menu.actions() if not action.isSeparator()]
    assert titles == [
        "Pending approvals (1)",
        "Lockdown (deny every call)",
        "Settings…",
        "Audit log…",
        "Quit MCP Approver",
    ]
    submenu = tray.menu.actions()[0].menu()
    assert isinstance(submenu, QMenu)
    [entry] = submenu.actions()
    assert entry.text().startswith("delete_file on fs (")
    entry.trigger()
    tray.menu.actions()[1].trigger()
    assert shown == [7] and lockdown == [True]


@pytest.mark.parametrize(
    ("size", "area", "expected"),
    [
        ((800, 600), (0, 0, 1920, 1080), (556, 220, 800, 600)),
        ((860, 680), (0, 0, 1024, 600), (78, 0, 860, 600 - FRAME_ALLOWANCE[1])),
        ((5000, 5000), (1920, 100, 1280, 800), (1920, 100, 1280 - FRAME_ALLOWANCE[0], 800 - FRAME_ALLOWANCE[1])),
    ],
)
def test_windows_fit_inside_the_screen(
    size: tuple[int, int], area: tuple[int, int, int, int], expected: tuple[int, int, int, int]
) -> None:
    assert fit_into(*size, area) == expected
