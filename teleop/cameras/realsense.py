"""Intel RealSense colour (and aligned depth) through ``pyrealsense2`` (extra ``realsense``).

The wheel needs ``libusb-1.0`` at run time (Debian: ``apt-get install libusb-1.0-0``).
Stamps: librealsense stamps a frame in its *global time* domain (the device clock mapped
to the host's wall clock, milliseconds) when global time is on, which it is by default;
:func:`host_stamp` maps such a stamp to :func:`teleop.clock.now` through the current
offset between the wall clock and the monotonic clock. A stamp in the device's
*hardware clock* domain has no relation to the host and the arrival time is used instead.
"""

from __future__ import annotations

import time

import numpy as np

from teleop import clock
from teleop.cameras.config import CameraConfig, CameraKind
from teleop.cameras.exceptions import CameraError, CameraNotFoundError
from teleop.cameras.source import CameraSource
from teleop.exceptions import MissingExtraError

#: Longest wait for a frameset inside one read [ms] (the loop checks for stop in between).
WAIT_MS = 200


def _import_rs():
    try:
        import pyrealsense2 as rs
    except ImportError as exc:
        if "libusb" in str(exc):
            raise CameraError("pyrealsense2 needs libusb-1.0 (Debian: apt-get install libusb-1.0-0)") from None
        raise MissingExtraError("pyrealsense2", "realsense", "Intel RealSense cameras (kind realsense)") from None
    return rs


def host_stamp(frame_ms: float, on_host_clock: bool, arrival: float, wall_now: float, mono_now: float,
               latency_s: float = 0.0) -> float:
    """Acquisition time [s] on the monotonic clock of a frame stamped ``frame_ms`` [ms].

    ``on_host_clock``: the stamp is in librealsense's global or system time domain (wall
    clock, ms); then ``t = mono_now - (wall_now - frame_ms / 1000)``. Otherwise (hardware
    clock) ``arrival - latency_s``. A converted stamp later than the arrival is clipped to it.
    """
    if not on_host_clock:
        return arrival - latency_s
    return min(arrival, mono_now - (wall_now - frame_ms * 1e-3))


class RealSenseCameraSource(CameraSource):
    """Colour (RGB8) and, with ``config.depth``, depth aligned to colour [mm] from one RealSense."""

    def __init__(self, config: CameraConfig):
        if config.kind is not CameraKind.REALSENSE:
            raise CameraError(f"camera '{config.name}' is {config.kind.value}, not realsense")
        super().__init__(config)
        self._rs = _import_rs()
        self._pipeline = None
        self._align = None
        self._depth_to_mm = 1.0
        self.serial = config.device

    def describe(self) -> str:
        return f"RealSense {self.serial or '(first found)'}"

    def _open(self) -> None:
        rs = self._rs
        ctx = rs.context()
        serials = [d.get_info(rs.camera_info.serial_number) for d in ctx.query_devices()]
        if not serials:
            raise CameraNotFoundError(
                f"camera '{self.name}': no RealSense camera is connected; plug it into a USB 3 port "
                "(`rs-enumerate-devices` lists what librealsense sees)"
            )
        if self.config.device and self.config.device not in serials:
            raise CameraNotFoundError(
                f"camera '{self.name}': no RealSense with serial {self.config.device}; connected: {', '.join(serials)}"
            )
        self.serial = self.config.device or serials[0]
        h, w = self.config.size
        fps = round(self.config.fps)
        cfg = rs.config()
        cfg.enable_device(self.serial)
        cfg.enable_stream(rs.stream.color, w, h, rs.format.rgb8, fps)
        if self.config.depth:
            cfg.enable_stream(rs.stream.depth, w, h, rs.format.z16, fps)
        pipeline = rs.pipeline(ctx)
        try:
            profile = pipeline.start(cfg)
        except RuntimeError as exc:
            raise CameraError(
                f"camera '{self.name}': RealSense {self.serial} cannot stream {w}x{h} at {fps} Hz ({exc}); "
                "choose a mode it lists in `rs-enumerate-devices -c`"
            ) from None
        if self.config.depth:
            scale = profile.get_device().first_depth_sensor().get_depth_scale()  # [m] per unit
            self._depth_to_mm = scale * 1e3
            self._align = rs.align(rs.stream.color)
        self._pipeline = pipeline

    def _read(self):
        rs = self._rs
        ok, frames = self._pipeline.try_wait_for_frames(WAIT_MS)
        if not ok:
            return None
        arrival = clock.now()
        wall, mono = time.time(), clock.now()
        if self._align is not None:
            frames = self._align.process(frames)
        color = frames.get_color_frame()
        if not color:
            return None
        image = np.asanyarray(color.get_data()).copy()
        domain = color.get_frame_timestamp_domain()
        on_host = domain in (rs.timestamp_domain.global_time, rs.timestamp_domain.system_time)
        stamp = host_stamp(color.get_timestamp(), on_host, arrival, wall, mono, self.config.latency_s)
        depth = None
        if self._align is not None:
            d = frames.get_depth_frame()
            if d:
                raw = np.asanyarray(d.get_data())
                depth = raw.copy() if abs(self._depth_to_mm - 1.0) < 1e-9 else \
                    np.clip(raw * self._depth_to_mm, 0, 65535).astype(np.uint16)
        return image, stamp, depth

    def _close(self) -> None:
        if self._pipeline is not None:
            try:
                self._pipeline.stop()
            finally:
                self._pipeline = None
