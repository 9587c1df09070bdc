"""Render the SVG icons in resources/icons to the PNG sizes desktops and the tray ask for.

    .venv/bin/python packaging/render_icons.py

Writes approver/resources/icons/NAME-SIZE.png for every resources/icons/NAME.svg; the PNGs are committed and ship
inside the package, so the app and the installers need no SVG renderer at run time. Run it again after changing an SVG.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt  # noqa: E402  (the platform must be chosen before Qt loads)
from PySide6.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "resources" / "icons"
OUTPUT = ROOT / "approver" / "resources" / "icons"
SIZES = (16, 22, 32, 48, 64, 128, 256)


def render(svg: Path, size: int, target: Path) -> None:
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    if not image.save(str(target), "PNG"):
        raise SystemExit(f"{target}: could not be written")


def main() -> None:
    app = QGuiApplication(sys.argv)
    OUTPUT.mkdir(exist_ok=True)
    for svg in sorted(SOURCES.glob("*.svg")):
        for size in SIZES:
            render(svg, size, OUTPUT / f"{svg.stem}-{size}.png")
    print(f"rendered {len(list(SOURCES.glob('*.svg')))} icons at {len(SIZES)} sizes into {OUTPUT}")
    del app


if __name__ == "__main__":
    main()
