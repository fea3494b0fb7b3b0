"""The ring between ``EpisodeWriter.append`` (teleop side) and the episode's writer (thread or process).

One memory block per episode holds, for ``Q`` row slots and, per camera, ``F`` frame slots::

    acks      int64 (1 + ncam)       rows consumed by the writer, then frames consumed per camera
    stats     float64 (N_STATS + ncam) the writer's counters (rows flushed, flushes, ...; JPEG bytes per camera)
    t, robot_stamp, operator_stamp   float64 (Q,)   the row's stamps as given (teleop.clock, or sim time)
    wall      float64 (Q,)           time.monotonic() at append: how long a row waited, across processes
    cam_stamp float64 (Q, ncam)      acquisition stamp of the row's frame (NaN: none)
    cam_slot  int32 (Q, ncam)        frame slot of the row's frame; NO_FRAME / REPEAT_FRAME
    <stream>  (Q, *shape) stored dtype, one block per numeric stream
    frames/c  uint8 (F, H, W, 3)     one block per camera

Row ``k`` lives in slot ``k % Q``; the n-th new frame of camera c in frame slot ``n % F``.
The teleop side writes a slot only when the writer's ack says it was consumed, so neither
side ever waits for the other: a full ring is back-pressure (the row is dropped and counted).

In process mode the block is a file in ``/dev/shm`` (``psi-rec-<teleop pid>-<writer pid>-<n>``)
mapped by both processes; nothing is pickled per row. Stamps are raw ``teleop.clock.now()``
values: CLOCK_MONOTONIC is system-wide, so both processes read them on the same clock.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: ``cam_slot`` value: the row has no frame of that camera.
NO_FRAME = -1
#: ``cam_slot`` value: the row repeats the camera's previous frame (same object, same stamp).
REPEAT_FRAME = -2
#: Fields of ``stats`` (float64), followed by one JPEG byte count per camera.
STAT_FIELDS = (
    "rows_flushed", "flushes", "last_flush_time", "last_flush_duration_s", "max_flush_duration_s",
    "frames_encoded", "max_unflushed_s", "last_flush_mono", "rows_taken",
)
N_STATS = len(STAT_FIELDS)
SHM_DIR = Path("/dev/shm")
SHM_PREFIX = "psi-rec-"
_ALIGN = 64


@dataclass(frozen=True)
class NumericSpec:
    """One numeric stream: its key, per-row shape, stored dtype and where the row comes from."""

    key: str
    shape: tuple[int, ...]
    dtype: str
    source: str | None  # None: TickRecord.state/action; else "robot" / "operator"
    name: str


@dataclass(frozen=True)
class Layout:
    """Everything both sides need to agree on; picklable (sent to the writer process once)."""

    episode_id: str
    queue_size: int  # Q [rows]
    frame_slots: int  # F [frames per camera]
    numeric: tuple[NumericSpec, ...]
    has_robot: bool
    has_operator: bool
    cam_names: tuple[str, ...]
    cam_shapes: tuple[tuple[int, int, int], ...]

    def blocks(self) -> list[tuple[str, tuple[int, ...], str]]:
        q, f, ncam = self.queue_size, self.frame_slots, len(self.cam_names)
        out = [
            ("acks", (1 + ncam,), "int64"),
            ("stats", (N_STATS + ncam,), "float64"),
            ("t", (q,), "float64"),
            ("wall", (q,), "float64"),
            ("robot_stamp", (q,), "float64"),
            ("operator_stamp", (q,), "float64"),
            ("cam_stamp", (q, ncam), "float64"),
            ("cam_slot", (q, ncam), "int32"),
        ]
        out += [(f"s:{s.key}", (q, *s.shape), s.dtype) for s in self.numeric]
        out += [(f"f:{name}", (f, *shape), "uint8") for name, shape in zip(self.cam_names, self.cam_shapes)]
        return out

    def offsets(self) -> tuple[dict[str, int], int]:
        offsets, pos = {}, 0
        for key, shape, dtype in self.blocks():
            offsets[key] = pos
            nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
            pos += (nbytes + _ALIGN - 1) // _ALIGN * _ALIGN
        return offsets, max(pos, _ALIGN)


class Ring:
    """Numpy views of a layout over one buffer (a bytearray, or a /dev/shm file mapped with mmap)."""

    def __init__(self, layout: Layout, buffer: Any, path: Path | None = None, owner: bool = False):
        self.layout = layout
        self.path = path
        self._owner = owner
        self._buffer = buffer
        offsets, _ = layout.offsets()
        self.views: dict[str, np.ndarray] = {}
        for key, shape, dtype in layout.blocks():
            self.views[key] = np.ndarray(shape, dtype=dtype, buffer=buffer, offset=offsets[key])
        v = self.views
        self.acks, self.stats = v["acks"], v["stats"]
        self.t, self.wall = v["t"], v["wall"]
        self.robot_stamp, self.operator_stamp = v["robot_stamp"], v["operator_stamp"]
        self.cam_stamp, self.cam_slot = v["cam_stamp"], v["cam_slot"]
        self.streams = [v[f"s:{s.key}"] for s in layout.numeric]
        self.frames = [v[f"f:{name}"] for name in layout.cam_names]

    @classmethod
    def local(cls, layout: Layout) -> "Ring":
        """A ring in this process's memory (thread mode)."""
        _, size = layout.offsets()
        return cls(layout, bytearray(size))

    @classmethod
    def create_shared(cls, layout: Layout, name: str) -> "Ring":
        """A new ring in ``/dev/shm/<name>`` (process mode); the creator unlinks it (:meth:`close`)."""
        _, size = layout.offsets()
        mm, path = map_shared(name, size, create=True)
        return cls(layout, mm, path, owner=True)

    @classmethod
    def attach(cls, layout: Layout, name: str) -> "Ring":
        """Map an existing shared ring (the writer process)."""
        _, size = layout.offsets()
        mm, path = map_shared(name, size, create=False)
        return cls(layout, mm, path)

    def unlink(self) -> None:
        """Remove the shared file (the mapping stays valid until closed); no-op for local rings."""
        if self.path is not None:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    def close(self) -> None:
        """Drop the views, unmap, and (creator only) unlink."""
        self.views.clear()
        self.streams, self.frames = [], []
        self.acks = self.stats = self.t = self.wall = self.robot_stamp = self.operator_stamp = None
        self.cam_stamp = self.cam_slot = None
        if isinstance(self._buffer, mmap.mmap):
            try:
                self._buffer.close()
            except BufferError:  # a view is still alive somewhere: the OS unmaps it at exit
                import logging

                logging.getLogger(__name__).warning(
                    "recorder ring %s is still referenced; it stays mapped until this process exits", self.path)
        if self._owner:
            self.unlink()


def map_shared(name: str, size: int, create: bool) -> tuple[mmap.mmap, Path]:
    """Create (exclusively) or open ``/dev/shm/<name>`` of ``size`` bytes and map it."""
    path = SHM_DIR / name
    fd = os.open(path, (os.O_RDWR | os.O_CREAT | os.O_EXCL) if create else os.O_RDWR, 0o600)
    try:
        if create:
            os.ftruncate(fd, size)
        return mmap.mmap(fd, size), path
    finally:
        os.close(fd)


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def sweep_stale_segments() -> list[str]:
    """Unlink ``/dev/shm/psi-rec-*`` rings whose teleop and writer processes are both gone.

    Both sides unlink their ring when an episode ends, and the writer process unlinks it
    when the teleop process dies; this catches the rest (both killed at once). Returns the
    names removed.
    """
    removed = []
    if not SHM_DIR.is_dir():
        return removed
    for path in SHM_DIR.glob(f"{SHM_PREFIX}*"):
        parts = path.name[len(SHM_PREFIX):].split("-")
        try:
            pids = [int(parts[0]), int(parts[1])]
        except (ValueError, IndexError):
            continue
        if not any(pid_alive(p) for p in pids if p > 0):
            try:
                path.unlink()
                removed.append(path.name)
            except FileNotFoundError:
                pass
    return removed
