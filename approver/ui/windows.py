"""Putting windows where a person sees them: on the screen under the mouse, never partly off it."""

from __future__ import annotations

from PySide6.QtGui import QCursor, QGuiApplication
from PySide6.QtWidgets import QWidget

# The window manager adds a frame around the client area we size; leave room for a title bar and borders.
FRAME_ALLOWANCE = (8, 40)


def fit_into(width: int, height: int, area: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """(x, y, width, height) of a window of at most this size, centred in `area` (x, y, w, h) and inside it."""
    area_x, area_y, area_width, area_height = area
    frame_width, frame_height = FRAME_ALLOWANCE
    width = max(1, min(width, area_width - frame_width))
    height = max(1, min(height, area_height - frame_height))
    x = area_x + max(0, (area_width - frame_width - width) // 2)
    y = area_y + max(0, (area_height - frame_height - height) // 2)
    return x, y, width, height


def show_on_cursor_screen(window: QWidget, width: int, height: int) -> None:
    """Show (or bring back) the window centred on the screen under the mouse, sized to fit it, in front."""
    screen = QGuiApplication.screenAt(QCursor.pos()) or QGuiApplication.primaryScreen()
    available = screen.availableGeometry()
    x, y, fitted_width, fitted_height = fit_into(
        width, height, (available.x(), available.y(), available.width(), available.height())
    )
    window.resize(fitted_width, fitted_height)
    window.move(x, y)
    window.showNormal()
    window.raise_()
    window.activateWindow()


def bring_forward(window: QWidget) -> None:
    """Show a window that may be hidden or minimised, keeping its place when it is on a screen."""
    if window.isVisible() and QGuiApplication.screenAt(window.frameGeometry().center()) is not None:
        window.showNormal()
        window.raise_()
        window.activateWindow()
    else:
        show_on_cursor_screen(window, window.width(), window.height())
