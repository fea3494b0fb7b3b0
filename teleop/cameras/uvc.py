"""UVC cameras (and video files) through OpenCV (extra ``cameras``: opencv-python-headless).

Stamps: OpenCV's V4L2 backend reports the kernel's buffer timestamp
(``CAP_PROP_POS_MSEC``), which uvcvideo takes from ``CLOCK_MONOTONIC`` at the end of the
frame's USB transfer -- the clock :func:`teleop.clock.now` reads. The source uses it when it
lies within one second of the arrival time (so it is on our clock) and otherwise stamps at
arrival minus ``CameraConfig.latency_s``. A video file plays at ``fps`` in a loop (dry runs).
"""

from __future__ import annotations

import os

import numpy as np

from teleop import clock
from teleop.cameras.config import CameraConfig, CameraKind
from teleop.cameras.exceptions import CameraError, CameraNotFoundError
from teleop.cameras.source import CameraSource
from teleop.exceptions import MissingExtraError

#: Largest difference between a driver stamp and the arrival time for the stamp to be trusted [s].
DRIVER_STAMP_WINDOW_S = 1.0


def _import_cv2():
    try:
        import cv2
    except ImportError:
        raise MissingExtraError("cv2", "cameras", "UVC cameras (kind uvc)") from None
    return cv2


def driver_stamp(pos_msec: float, arrival: float, latency_s: float = 0.0) -> float:
    """The acquisition time [s] of a frame OpenCV reported at ``pos_msec`` [ms] and that arrived at ``arrival`` [s].

    ``pos_msec / 1000`` when it is a monotonic time at most :data:`DRIVER_STAMP_WINDOW_S`
    before the arrival (V4L2 buffer stamps), else ``arrival - latency_s``.
    """
    t = pos_msec * 1e-3
    if pos_msec > 0 and 0.0 <= arrival - t <= DRIVER_STAMP_WINDOW_S:
        return t
    return arrival - latency_s


class UVCCameraSource(CameraSource):
    """A UVC camera (``device`` = index "0" or "/dev/videoN") or a video file, through ``cv2.VideoCapture``."""

    def __init__(self, config: CameraConfig):
        if config.kind is not CameraKind.UVC:
            raise CameraError(f"camera '{config.name}' is {config.kind.value}, not uvc")
        super().__init__(config)
        self._cv2 = _import_cv2()
        dev = config.device or "0"
        self._index = int(dev) if dev.isdigit() else None
        self._path = None if self._index is not None else dev
        self.is_file = self._path is not None and not self._path.startswith("/dev/") and os.path.isfile(self._path)
        self.paced = self.is_file
        self._cap = None

    def describe(self) -> str:
        if self.is_file:
            return f"video file {self._path}"
        return f"UVC camera {self._path or f'/dev/video{self._index}'}"

    def _open(self) -> None:
        cv2 = self._cv2
        if self._path is not None and not self.is_file and not os.path.exists(self._path):
            raise CameraNotFoundError(
                f"camera '{self.name}': {self._path} does not exist; list cameras with `v4l2-ctl --list-devices` "
                "and check that the user may read /dev/video* (group 'video')"
            )
        if self.is_file:
            cap = cv2.VideoCapture(self._path)
        else:
            cap = cv2.VideoCapture(self._index if self._index is not None else self._path, cv2.CAP_V4L2)
        if not cap.isOpened():
            cap.release()
            raise CameraNotFoundError(
                f"camera '{self.name}': OpenCV cannot open {self.describe()}; check `v4l2-ctl --list-devices`, "
                "that no other program uses it, and the user's access to /dev/video*"
            )
        if not self.is_file:
            h, w = self.config.size
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, w)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, h)
            cap.set(cv2.CAP_PROP_FPS, self.config.fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # newest frame, not a backlog
        self._cap = cap

    def _read(self):
        cv2 = self._cv2
        cap = self._cap
        if not cap.grab():
            if self.is_file:  # end of the file: play it again
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                return None
            raise CameraError(f"camera '{self.name}': {self.describe()} stopped delivering frames (unplugged?)")
        arrival = clock.now()
        stamp = arrival - self.config.latency_s if self.is_file else driver_stamp(
            cap.get(cv2.CAP_PROP_POS_MSEC), arrival, self.config.latency_s)
        ok, bgr = cap.retrieve()
        if not ok or bgr is None:
            return None
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if bgr.ndim == 3 else np.repeat(bgr[..., None], 3, axis=2)
        return rgb, stamp, None

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
