"""WriterConfig: how a DatasetWriter records (rates, encoding, buffering)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from teleop.exceptions import ConfigError


def _check_range(name: str, value: float, lo: float, hi: float) -> None:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not lo <= value <= hi:
        raise ConfigError(f"WriterConfig.{name}={value!r} is out of range; valid: [{lo}, {hi}]")


@dataclass(frozen=True)
class WriterConfig:
    """Settings of the episode writer.

    Attributes:
        record_hz: rows per second the teleop loop appends [Hz]; sets the chunk sizes and
            the validator's expected row spacing.
        camera_shapes: camera name -> (height, width) [px]; cameras not listed are accepted
            and sized from their first frame.
        jpeg_quality: JPEG quality of the stored frames [1..100].
        queue_size: rows the append queue holds before back-pressure [rows]; a row appended to
            a full queue is dropped, counted and reported (never silently).
        flush_interval_s: longest time rows stay in memory before being written [s].
        chunk_s: rows per chunk of numeric streams, in seconds of recording [s].
        camera_chunk_s: rows per chunk of JPEG streams, in seconds of recording [s].
        copy_frames: copy camera frames at append time. False hands the frame over (a camera
            delivers a new buffer per frame); a caller that passes the same buffer twice is
            detected and copied from then on.
        finish_timeout_s: longest wait for the writer to drain at finish [s].
        frame_ring_mb: shared memory for camera frames per camera [MB]: the ring holds
            ``min(queue_size, frame_ring_mb / frame size)`` frames of each camera before
            back-pressure (64 MB: 72 frames of 640x480, 2.4 s at 30 Hz).
        writer: where rows are encoded and written: "process" (a writer process fed through
            shared memory: the loop's GIL is never held by zarr or JPEG code), "thread" (a thread
            of this process; needed for zarr Store objects and memory:// URLs) or "auto"
            (process when the location is a path or URL, thread otherwise).
    """

    record_hz: float = 30.0  # [Hz]
    camera_shapes: dict[str, tuple[int, int]] = field(default_factory=dict)  # [px] (H, W)
    jpeg_quality: int = 90  # [1..100]
    queue_size: int = 256  # [rows]
    flush_interval_s: float = 0.25  # [s]
    chunk_s: float = 10.0  # [s]
    camera_chunk_s: float = 1.0  # [s]
    copy_frames: bool = False
    finish_timeout_s: float = 30.0  # [s]
    frame_ring_mb: float = 64.0  # [MB per camera]
    writer: str = "auto"

    def __post_init__(self) -> None:
        _check_range("record_hz", self.record_hz, 1.0, 1000.0)
        _check_range("jpeg_quality", self.jpeg_quality, 1, 100)
        if not isinstance(self.jpeg_quality, int):
            raise ConfigError(f"WriterConfig.jpeg_quality={self.jpeg_quality!r} must be an integer in [1, 100]")
        _check_range("queue_size", self.queue_size, 2, 100_000)
        if not isinstance(self.queue_size, int):
            raise ConfigError(f"WriterConfig.queue_size={self.queue_size!r} must be an integer number of rows")
        _check_range("flush_interval_s", self.flush_interval_s, 0.01, 1.0)
        _check_range("chunk_s", self.chunk_s, 0.1, 600.0)
        _check_range("camera_chunk_s", self.camera_chunk_s, 0.03, 60.0)
        _check_range("finish_timeout_s", self.finish_timeout_s, 0.1, 3600.0)
        _check_range("frame_ring_mb", self.frame_ring_mb, 0.001, 65536.0)
        if self.writer not in ("auto", "process", "thread"):
            raise ConfigError(f"WriterConfig.writer={self.writer!r} is not one of 'auto', 'process', 'thread'")
        for name, shape in self.camera_shapes.items():
            if not name or "/" in name:
                raise ConfigError(f"WriterConfig.camera_shapes: camera name {name!r} must be non-empty without '/'")
            if len(tuple(shape)) != 2 or min(int(s) for s in shape) < 1:
                raise ConfigError(f"WriterConfig.camera_shapes[{name!r}]={shape!r} must be (height, width) in pixels")

    def frame_slots(self, height: int, width: int) -> int:
        """Frame slots per camera of that size in the ring [frames]."""
        return max(2, min(self.queue_size, int(self.frame_ring_mb * 1e6 // (height * width * 3))))

    @property
    def chunk_rows(self) -> int:
        """Rows per chunk of numeric streams."""
        return max(1, round(self.chunk_s * self.record_hz))

    @property
    def camera_chunk_rows(self) -> int:
        """Rows (frames) per chunk of JPEG streams."""
        return max(1, round(self.camera_chunk_s * self.record_hz))
