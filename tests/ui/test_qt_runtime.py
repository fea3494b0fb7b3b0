"""The installed Qt binding must not corrupt reference counts (the apps paint thousands of times a second).

PySide6 6.12.0 decrements None's reference count on every void call; on Python 3.11 (where
None is not immortal) the console aborted with ``none_dealloc`` after about a minute of
plotting. pyproject.toml excludes it; this test catches a binding with that bug.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QImage, QPainter, QPen


def test_void_calls_keep_the_reference_count_of_none(qapp):
    image = QImage(64, 64, QImage.Format.Format_RGB32)
    painter = QPainter(image)
    try:
        before = sys.getrefcount(None)
        for _ in range(2000):
            painter.setPen(QPen(QColor("red")))
            painter.drawLine(QPointF(0, 0), QPointF(5, 5))
            painter.fillRect(QRectF(0, 0, 4, 4), QColor("blue"))
        after = sys.getrefcount(None)
    finally:
        painter.end()
    assert after - before > -100, f"None lost {before - after} references in 6000 Qt calls: broken PySide6 build"
