"""Small Qt helpers shared by the console and the annotation app (import only from Qt modules)."""

from __future__ import annotations

import numpy as np

from teleop.exceptions import MissingExtraError


def require_qt(purpose: str) -> None:
    """Raise :class:`MissingExtraError` (naming the ``ui`` extra) if PySide6 or pyqtgraph is absent."""
    try:
        import PySide6  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError("PySide6", "ui", purpose) from exc
    try:
        import pyqtgraph  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError("pyqtgraph", "ui", purpose) from exc


def application():
    """The running QApplication, created (with pyqtgraph's white background) if there is none."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["psi-teleop"])
    style_plots()
    return app


def style_plots() -> None:
    """pyqtgraph's look for both apps (white background, antialiased); call before making plots."""
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, background="w", foreground="k")


def pixmap_from_rgb(frame: np.ndarray):
    """A QPixmap of an (H, W, 3) uint8 RGB image (copied; the array may be reused afterwards)."""
    from PySide6.QtGui import QImage, QPixmap

    frame = np.ascontiguousarray(frame)
    h, w, _ = frame.shape
    image = QImage(frame.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image)  # copies the pixels


def rgb_css(rgb: tuple[int, int, int]) -> str:
    return f"rgb({rgb[0]}, {rgb[1]}, {rgb[2]})"
