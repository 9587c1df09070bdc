"""The tray and window icons: PNG renders of resources/icons/*.svg (packaging/render_icons.py), shipped inside the
package as approver/resources/icons, and the pending icon's count badge, painted at run time."""

from __future__ import annotations

import functools
from enum import StrEnum
from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPen, QPixmap

from approver.platform.resources import resource_path

SIZES = (16, 22, 32, 48, 64, 128, 256)
BADGE_SIZES = (16, 22, 32, 48, 64)  # tray sizes; larger ones are never shown in a panel


class TrayLook(StrEnum):
    IDLE = "idle"
    PENDING = "pending"
    LOCKDOWN = "lockdown"
    PROBLEM = "problem"


def _png(stem: str, size: int) -> Path:
    return resource_path("icons", f"{stem}-{size}.png")


def _icon(stem: str) -> QIcon:
    icon = QIcon()
    for size in SIZES:
        icon.addFile(str(_png(stem, size)))
    return icon


def app_icon() -> QIcon:
    return _icon("mcp-approver")


@functools.cache  # the tray changes state on every question: build each look once
def look_icon(look: TrayLook) -> QIcon:
    return _icon(f"mcp-approver-{look.value}")


@functools.lru_cache(maxsize=16)
def pending_icon(count: int) -> QIcon:
    """The pending shield with the number of waiting calls in a red badge (9+ beyond nine)."""
    icon = QIcon()
    text = str(count) if count <= 9 else "9+"
    for size in BADGE_SIZES:
        pixmap = QPixmap(str(_png("mcp-approver-pending", size)))
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        diameter = size * (0.62 if len(text) == 1 else 0.72)
        badge = QRectF(size - diameter, size - diameter, diameter, diameter)
        painter.setPen(QPen(QColor("#ffffff"), max(1.0, size / 24)))
        painter.setBrush(QColor("#d50000"))
        painter.drawEllipse(badge.adjusted(0.5, 0.5, -0.5, -0.5))
        font = QFont()
        font.setBold(True)
        font.setPixelSize(max(7, round(diameter * (0.72 if len(text) == 1 else 0.55))))
        painter.setFont(font)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)
        painter.end()
        icon.addPixmap(pixmap)
    return icon
