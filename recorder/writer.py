"""DatasetWriter and EpisodeWriter: append rows from the teleop loop without blocking it.

Data flow inside one episode (process mode, the default)::

    teleop process                                      writer process (one per DatasetWriter)
    --------------                                      --------------------------------------
    loop thread: append(TickRecord)                     recorder.sink.run_episode:
      copy state/action/robot/operator vectors            take row k off the ring: JPEG-encode its
      into ring slot k % Q (shared memory); reserve       frames straight from shared memory, copy
      frame slots; hand (k+1, frames) to ──┐              its vectors into the batch, ack the row
    copier thread:                         │            flush when the oldest unflushed row is
      copy the frames into their slots <───┘              flush_interval_s old: write every stream,
      (numpy copy, GIL released), then send                 then attrs n_rows_flushed (commit point)
      "rows 0..k are ready" (8 bytes) ─── data pipe ──►  finish: last flush, one attrs write
    finish() ── ("finish", n, status, attrs) ─ ctrl ──►     (status=complete) ── ("done", attrs) ──►

The ring (:mod:`recorder.ring`) has ``queue_size`` row slots and ``frame_ring_mb`` of frame
slots per camera. When the writer falls that far behind, ``append`` does not wait: it
drops that row, counts it, logs it, and the count lands in the episode's attrs and the
validator's report — back-pressure is never silent. The loop thread never encodes, never
touches the store and never copies a camera frame; the writer's Python code (zarr,
numcodecs) runs under another process's GIL.

``WriterConfig.writer="thread"`` runs the same sink in a thread of this process instead
(needed for zarr Store objects and ``memory://`` URLs, which another process cannot open;
"auto", the default, picks it for those).

Crash safety: data of a flush is written before the ``n_rows_flushed`` attribute that
commits it, and the status becomes ``complete`` only in the last write. ``kill -9`` of the
teleop process: the writer process writes every row it was handed, notes ``writer_exit``
and exits. ``kill -9`` of the writer process: ``append``/``finish`` raise
:class:`WriterDiedError` (a :class:`StorageError`) saying so. Either way the episode stays
``recording`` with ``n_rows_flushed`` at its last commit, and ``recover`` truncates every
stream there and marks it ``recovered``.
"""

from __future__ import annotations

import collections
import datetime
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import asdict, is_dataclass
from multiprocessing import Pipe
from pathlib import Path
from typing import Any

import numpy as np

from recorder import schema
from recorder.config import WriterConfig
from recorder.exceptions import (
    EpisodeStateError,
    RecorderError,
    RecordLayoutError,
    StorageError,
    StorageFullError,
    WriterDiedError,
)
from recorder.info import EpisodeInfo
from recorder.ring import NO_FRAME, REPEAT_FRAME, SHM_DIR, SHM_PREFIX, STAT_FIELDS, Layout, NumericSpec, Ring
from recorder.schema import EpisodeStatus
from recorder.store import describe, open_store, storage_error
from recorder.tick import TickRecord

log = logging.getLogger(__name__)

#: Attributes the writer owns; ``extra_attrs`` and annotations cannot override them.
RESERVED_ATTRS = frozenset(
    {
        "status", "n_rows", "n_rows_flushed", "last_flush_time", "heartbeat_unix", "duration_s", "schema_version",
        "record_hz", "created_at", "finished_at", "t0_monotonic", "writer_stats", "streams", "cameras", "writer",
        "writer_exit",
    }
)
#: Log at most one back-pressure warning per this many dropped rows (the count is exact anyway).
_DROP_LOG_EVERY = 30
#: How often the copier thread looks for new rows [s] (append never wakes it).
_COPIER_POLL_S = 0.004
_S = {name: i for i, name in enumerate(STAT_FIELDS)}
#: How long the copier thread waits for a row before it checks the writer's health [s].
_HEALTH_S = 0.1
_NO_COPIES: tuple = ()
_U8 = np.dtype(np.uint8)


def jsonable(value: Any) -> Any:
    """``value`` as JSON-compatible data (numpy arrays and scalars, tuples, dataclasses, Enums)."""
    if is_dataclass(value) and not isinstance(value, type):
        return jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if hasattr(value, "value") and hasattr(value, "name") and not isinstance(value, (str, int, float, bool)):
        return jsonable(value.value)  # Enum
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


#: The JPEG streams use zarr's variable-length bytes dtype on purpose (one encoded frame per
#: row, readable by zarr-python 3); zarr warns on every use that the dtype has no finished
#: Zarr v3 spec yet. docs/recorder.md records the decision; silence exactly that warning.
warnings.filterwarnings("ignore", message=r"The data type \(VariableLengthBytes\(\)\) does not have a Zarr V3")


def _utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _storage_dtype(value: np.ndarray) -> np.dtype:
    """Floats become float32 (stamps stay float64), bool and ints keep their type."""
    if value.dtype.kind == "f":
        return np.dtype(np.float32)
    if value.dtype.kind in "biu":
        return value.dtype
    raise RecordLayoutError(f"stream dtype {value.dtype} is not storable; use float, int or bool arrays")


def _exit_reason(returncode: int | None) -> str:
    if returncode is None:
        return "stopped answering"
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


class _WriterProcess:
    """The writer process of a :class:`DatasetWriter` (``python -m recorder.writer_proc``)."""

    def __init__(self):
        self.ctrl, child_ctrl = Pipe(duplex=True)
        data_r, self.data = Pipe(duplex=False)
        root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        fds = (child_ctrl.fileno(), data_r.fileno())
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "recorder.writer_proc", str(fds[0]), str(fds[1]), str(os.getpid())],
                pass_fds=fds, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env, close_fds=True,
            )
        finally:
            child_ctrl.close()
            data_r.close()
        self.pid = self.proc.pid
        self.serial = 0

    def alive(self) -> bool:
        return self.proc.poll() is None

    def died_error(self, episode_id: str, rows_safe: int) -> WriterDiedError:
        return WriterDiedError(
            f"the recorder's writer process (pid {self.pid}) {_exit_reason(self.proc.poll())}: episode "
            f"{episode_id} stopped with {rows_safe} rows safe on disk (its last flush). Recording has stopped; "
            f"run `psi-teleop dataset recover PATH` to keep those rows; earlier episodes are untouched. "
            f"The next episode starts a new writer process.",
            episode_id, rows_safe,
        )

    def close(self, timeout: float = 10.0) -> None:
        try:
            self.ctrl.send(("exit",))
        except OSError:
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.error("the recorder's writer process (pid %d) did not exit within %.0f s; killing it", self.pid, timeout)
            self.proc.kill()
            self.proc.wait()
        self.ctrl.close()
        self.data.close()


_ERRORS = {"StorageFullError": StorageFullError, "StorageError": StorageError, "WriterDiedError": WriterDiedError}


def _error_from(msg: tuple, episode_id: str) -> StorageError:
    _, cls_name, message, rows_safe = msg
    cls = _ERRORS.get(cls_name, StorageError)
    return cls(message, episode_id, int(rows_safe))


class EpisodeWriter:
    """Writes one episode; made by :meth:`DatasetWriter.start_episode`.

    ``append`` is called from the teleop loop at the record rate; everything slow (JPEG
    encoding, store I/O) runs in the dataset's writer process (or thread, see WriterConfig.writer).
    """

    def __init__(self, dataset: "DatasetWriter", group, episode_id: str, config: WriterConfig,
                 process: _WriterProcess | None):
        self._dataset = dataset
        self._group = group
        self.episode_id = episode_id
        self._cfg = config
        self._proc = process
        self.mode = "process" if process is not None else "thread"
        self._finished = False
        self._error: StorageError | None = None
        self._ring: Ring | None = None
        self._layout: Layout | None = None
        # Layout, fixed by the first row.
        self._numeric: list[tuple[NumericSpec, np.ndarray]] = []
        self._cam_names: list[str] = []
        self._cam_shapes: list[tuple[int, int, int]] = []
        self._cam_set: frozenset[str] = frozenset()
        self._cam_sync: list[bool] = []  # copy this camera's frames in append (buffer reuse / copy_frames)
        self._cam_last_obj: list[Any] = []
        self._cam_last_stamp: list[float] = []
        self._plan: list[int] = []
        self._has_robot = False
        self._has_operator = False
        self._q = 0
        self._f = 0
        self._frames_next: list[int] = []
        # Counters of the teleop side (only the appending thread writes them).
        self._reserved = 0  # rows put in the ring
        self._rows_appended = 0
        self._dropped = 0
        self._dropped_frame_slots = 0
        self._queue_depth_max = 0
        self._frames_copied_reuse: set[str] = set()
        self._finalize_s: float | None = None
        # The copier thread and the writer connections.
        self._queue: collections.deque = collections.deque()  # (rows ready, frame copies) for the copier
        self._stopping = False
        self._slot_views: list[list[np.ndarray]] = []
        self._access: list[tuple[int, str, tuple[int, ...]]] = []  # per stream: (source index, name, shape)
        self._copier: threading.Thread | None = None
        self._published = 0
        self._ctrl = None
        self._data = None
        self._sink_thread: threading.Thread | None = None
        self._final_stats: dict[str, Any] | None = None

    # ------------------------------------------------------------------ loop side
    def append(self, rec: TickRecord) -> bool:
        """Queue one row; returns False when the row was dropped because the ring was full.

        Never blocks, never touches the store and never copies a camera frame (a copier
        thread does, outside the GIL). Raises :class:`StorageError` once writing failed
        (disk full, ...; :class:`WriterDiedError` if the writer process died),
        :class:`EpisodeStateError` after finish/discard and :class:`RecordLayoutError` when
        the row does not match the first row's layout (nothing of that row is kept).
        """
        if self._finished:
            raise EpisodeStateError(f"episode {self.episode_id} is finished; start a new episode to record more")
        if self._error is not None:
            raise self._error
        ring = self._ring
        if ring is None:
            self._init_layout(rec)
            ring = self._ring
        k = self._reserved
        if k - int(ring.acks[0]) >= self._q:
            return self._drop(False)
        plan = self._plan
        cams = rec.cameras
        if self._cam_names:
            cams = cams or {}
            if len(cams) > len(self._cam_names) or not self._cam_set.issuperset(cams):
                unknown = sorted(set(cams) - self._cam_set)
                raise RecordLayoutError(
                    f"episode {self.episode_id}: camera(s) {unknown} were not in the first row; declare every "
                    f"camera in DatasetWriter(camera_shapes=...) or send it (or None) from the first row"
                )
            for i, name in enumerate(self._cam_names):
                item = cams.get(name)
                if item is None:
                    plan[i] = NO_FRAME
                    continue
                frame, stamp = item
                if frame is self._cam_last_obj[i]:
                    if stamp == self._cam_last_stamp[i]:
                        plan[i] = REPEAT_FRAME  # the same frame again: stored again, encoded once
                        continue
                    if not self._cam_sync[i]:  # the camera refilled the buffer it gave us last tick
                        self._cam_sync[i] = True
                        self._frames_copied_reuse.add(name)
                        log.warning("camera '%s' reuses its frame buffer; the recorder copies its frames in "
                                    "append from now on", name)
                if frame.shape != self._cam_shapes[i] or frame.dtype != _U8:
                    raise RecordLayoutError(
                        f"episode {self.episode_id}: camera '{name}' frame is {frame.shape} {frame.dtype}, "
                        f"expected {self._cam_shapes[i]} uint8 (HxWx3 RGB)"
                    )
                n = self._frames_next[i]
                if n - int(ring.acks[1 + i]) >= self._f:
                    return self._drop(True)
                plan[i] = n % self._f
        slot = k % self._q
        self._fill_numeric(slot, rec)
        ring.t[slot] = rec.t
        ring.wall[slot] = time.monotonic()
        if self._has_robot:
            ring.robot_stamp[slot] = self._stamp_of(rec.robot_stamp, rec.robot)
        if self._has_operator:
            ring.operator_stamp[slot] = self._stamp_of(rec.operator_stamp, rec.operator)
        copies = _NO_COPIES
        if self._cam_names:
            copies = []
            cam_slot, cam_stamp = ring.cam_slot[slot], ring.cam_stamp[slot]
            for i, fs in enumerate(plan):
                cam_slot[i] = fs
                if fs == NO_FRAME:
                    cam_stamp[i] = np.nan
                    continue
                frame, stamp = cams[self._cam_names[i]]
                cam_stamp[i] = stamp
                if fs >= 0:
                    dst = ring.frames[i][fs]
                    if self._cam_sync[i]:
                        np.copyto(dst, frame)
                    else:
                        copies.append((dst, frame))
                    self._frames_next[i] += 1
                    self._cam_last_obj[i] = frame
                    self._cam_last_stamp[i] = stamp
        self._reserved = k + 1
        depth = k + 1 - int(ring.acks[0])
        if depth > self._queue_depth_max:
            self._queue_depth_max = depth
        self._rows_appended += 1
        self._queue.append((k + 1, copies))  # no wake-up: the copier polls (a futex wake costs the loop more)
        return True

    def _drop(self, frames: bool) -> bool:
        self._dropped += 1
        if frames:
            self._dropped_frame_slots += 1
        if self._dropped % _DROP_LOG_EVERY == 1:
            log.warning(
                "recorder cannot keep up: %d row(s) of episode %s dropped so far (%s full); "
                "lower the camera resolution or JPEG quality, or use a faster disk",
                self._dropped, self.episode_id,
                f"{self._f} frame slots per camera" if frames else f"queue of {self._q} rows",
            )
        return False

    def _fill_numeric(self, slot: int, rec: TickRecord) -> None:
        """Copy the row's vectors into ring slot ``slot``: a lean loop; anything unusual takes the checked one."""
        srcs = (rec.state, rec.action, rec.robot, rec.operator)
        copyto = np.copyto
        try:
            for (which, name, shape), dst in zip(self._access, self._slot_views[slot]):
                value = srcs[which] if which < 2 else srcs[which][name]
                if value.shape != shape:
                    break
                copyto(dst, value, casting="unsafe")
            else:
                return
        except (TypeError, KeyError, AttributeError):
            pass
        self._fill_numeric_checked(slot, rec)  # a list, a missing stream, a wrong shape: clear errors

    def _fill_numeric_checked(self, slot: int, rec: TickRecord) -> None:
        copyto = np.copyto
        for (spec, _), dst in zip(self._numeric, self._slot_views[slot]):
            source, name = spec.source, spec.name
            if source is None:
                value = rec.state if name == schema.STATE else rec.action
            else:
                container = rec.robot if source == schema.ROBOT_GROUP else rec.operator
                if container is None:
                    raise RecordLayoutError(
                        f"episode {self.episode_id}: row has no '{source}' streams but the first row had them"
                    )
                try:
                    value = container[name]
                except KeyError:
                    raise RecordLayoutError(
                        f"episode {self.episode_id}: stream '{spec.key}' is missing from this row; "
                        f"every row must carry the streams of the first row"
                    ) from None
            if getattr(value, "shape", None) != spec.shape:
                value = np.asarray(value)
                if value.shape != spec.shape:
                    raise RecordLayoutError(
                        f"episode {self.episode_id}: stream '{spec.key}' has shape {value.shape}, "
                        f"expected {spec.shape} (fixed by the first row)"
                    )
            copyto(dst, value, casting="unsafe")

    @staticmethod
    def _stamp_of(stamp: float | None, arrays) -> float:
        if stamp is not None:
            return stamp
        if arrays is not None and "stamp" in arrays:
            return float(arrays["stamp"])
        return np.nan

    def prepare(self, example: TickRecord) -> None:
        """Fix the stream layout from ``example`` and set up the ring and writer, without recording it.

        Optional: the first ``append`` does the same (a few milliseconds: the shared-memory
        ring is allocated and touched); call this before the loop starts to keep that off
        the first tick.
        """
        if self._finished:
            raise EpisodeStateError(f"episode {self.episode_id} is finished; start a new episode to record more")
        if self._ring is None:
            self._init_layout(example, wait=True)

    def _init_layout(self, rec: TickRecord, wait: bool = False) -> None:
        """Fix the streams and their shapes from the first row; make the ring; start the writer side."""
        if self._proc is not None and not self._proc.alive():
            self._error = self._proc.died_error(self.episode_id, 0)
            raise self._error
        numeric: list[NumericSpec] = []
        for key, value in ((schema.STATE, rec.state), (schema.ACTION, rec.action)):
            value = np.asarray(value)
            if value.ndim != 1:
                raise RecordLayoutError(f"TickRecord.{key} must be a 1-D vector, got shape {value.shape}")
            numeric.append(NumericSpec(key, value.shape, "float32", None, key))
        for source, arrays in ((schema.ROBOT_GROUP, rec.robot), (schema.OPERATOR_GROUP, rec.operator)):
            for name, value in (arrays or {}).items():
                if name == schema.STAMP:
                    continue
                if not name or "/" in name:
                    raise RecordLayoutError(f"stream name {name!r} in '{source}' must be non-empty without '/'")
                value = np.asarray(value)
                numeric.append(NumericSpec(f"{source}/{name}", value.shape, _storage_dtype(value).str, source, name))
        cams = dict(rec.cameras or {})
        names = list(self._cfg.camera_shapes) + sorted(set(cams) - set(self._cfg.camera_shapes))
        shapes = []
        for name in names:
            if "/" in name or not name:
                raise RecordLayoutError(f"camera name {name!r} must be non-empty without '/'")
            if name in self._cfg.camera_shapes:
                h, w = self._cfg.camera_shapes[name]
            elif cams[name] is not None:
                h, w = np.asarray(cams[name][0]).shape[:2]
            else:
                raise RecordLayoutError(
                    f"camera '{name}' has no frame in the first row and no declared size; "
                    f"pass camera_shapes={{'{name}': (H, W)}} to DatasetWriter"
                )
            shapes.append((int(h), int(w), 3))
        q = self._cfg.queue_size
        f = min((self._cfg.frame_slots(h, w) for h, w, _ in shapes), default=2)
        layout = Layout(self.episode_id, q, f, tuple(numeric), rec.robot is not None, rec.operator is not None,
                        tuple(names), tuple(shapes))
        if self._proc is not None:
            self._proc.serial += 1
            name = f"{SHM_PREFIX}{os.getpid()}-{self._proc.pid}-{self._proc.serial}"
            try:
                ring = Ring.create_shared(layout, name)
            except OSError as exc:
                raise storage_error(exc, f"allocating the recorder's shared memory ({SHM_DIR})", self.episode_id) from exc
        else:
            ring = Ring.local(layout)
        # Touch the row blocks now, so the first rows do not page-fault on the loop thread.
        for key, arr in ring.views.items():
            if not key.startswith("f:"):
                arr.fill(0)
        self._ring, self._layout = ring, layout
        self._q, self._f = q, f
        self._numeric = list(zip(numeric, ring.streams))
        which = {None: 0, schema.ROBOT_GROUP: 2, schema.OPERATOR_GROUP: 3}
        self._access = [((1 if s.name == schema.ACTION else 0) if s.source is None else which[s.source], s.name, s.shape)
                        for s in numeric]
        # Per-slot views (0-d for scalar streams), so append indexes nothing.
        self._slot_views = [[arr[slot, ...] for arr in ring.streams] for slot in range(q)]
        self._has_robot, self._has_operator = layout.has_robot, layout.has_operator
        self._cam_names, self._cam_shapes, self._cam_set = names, shapes, frozenset(names)
        self._cam_sync = [self._cfg.copy_frames] * len(names)
        self._cam_last_obj = [None] * len(names)
        self._cam_last_stamp = [np.nan] * len(names)
        self._plan = [NO_FRAME] * len(names)
        self._frames_next = [0] * len(names)
        if self._proc is not None:
            self._ctrl, self._data = self._proc.ctrl, self._proc.data
            try:
                self._ctrl.send(("episode", self._dataset._location_arg, self.episode_id, layout, ring.path.name,
                                 self._cfg))
            except OSError:
                self._error = self._proc.died_error(self.episode_id, 0)
                raise self._error from None
        else:
            from recorder.sink import run_episode, writer_info

            self._ctrl, sink_ctrl = Pipe(duplex=True)
            data_r, self._data = Pipe(duplex=False)
            info = writer_info(os.getpid())
            self._sink_thread = threading.Thread(
                target=run_episode, args=(self._group, layout, ring, self._cfg, data_r, sink_ctrl, info),
                name=f"recorder-{self.episode_id}", daemon=True,
            )
            self._sink_thread.start()
        if wait:
            self._wait_started()
        self._copier = threading.Thread(target=self._copy_loop, name=f"recorder-copier-{self.episode_id}", daemon=True)
        self._copier.start()

    def _wait_started(self) -> None:
        """Wait until the writer created the episode's streams (prepare only; append never waits)."""
        deadline = time.monotonic() + self._cfg.finish_timeout_s
        while time.monotonic() < deadline:
            try:
                msg = self._ctrl.recv() if self._ctrl.poll(_HEALTH_S) else None
            except (EOFError, OSError):
                msg = None
            if msg is not None:
                if msg[0] == "started":
                    return
                if msg[0] == "error":
                    self._error = _error_from(msg, self.episode_id)
                    raise self._error
                continue
            if self._proc is not None and not self._proc.alive():
                self._error = self._proc.died_error(self.episode_id, 0)
                raise self._error
        log.warning("episode %s: the writer has not set up the streams after %.0f s; recording anyway",
                    self.episode_id, self._cfg.finish_timeout_s)

    # ------------------------------------------------------------------ copier thread
    def _copy_loop(self) -> None:
        """Copy frames into the ring (numpy releases the GIL), then publish the row to the writer."""
        from recorder.sink import COUNT

        popleft, send, pack = self._queue.popleft, self._data.send_bytes, COUNT.pack
        copyto, monotonic, sleep = np.copyto, time.monotonic, time.sleep
        n = 0
        checked = monotonic()
        while True:
            try:
                item = popleft()
            except IndexError:
                if self._stopping:
                    return
                if monotonic() - checked >= _HEALTH_S:
                    checked = monotonic()
                    if not self._check_writer():
                        return
                sleep(_COPIER_POLL_S)
                continue
            count, copies = item
            for dst, src in copies:
                copyto(dst, src)
            try:
                send(pack(count))
            except OSError:
                self._check_writer(dead=True)
                return
            self._published = count
            n += 1
            if n % 8 == 0 and not self._check_writer():
                return

    def _check_writer(self, dead: bool = False) -> bool:
        """Read the writer's error reports and check it is alive; False once it is gone."""
        try:
            while self._ctrl.poll():
                msg = self._ctrl.recv()
                if msg[0] == "error" and self._error is None:
                    self._error = _error_from(msg, self.episode_id)
        except (EOFError, OSError):
            dead = True
        if self._proc is not None and (dead or not self._proc.alive()):
            if not isinstance(self._error, WriterDiedError):
                self._error = self._proc.died_error(self.episode_id, self._rows_flushed())
                log.error("%s", self._error)
            return False
        if self._sink_thread is not None and not self._sink_thread.is_alive() and self._error is None:
            self._error = StorageError(f"the writer thread of episode {self.episode_id} stopped unexpectedly; "
                                       f"run `psi-teleop dataset recover PATH`", self.episode_id, self._rows_flushed())
            return False
        return True

    def _rows_flushed(self) -> int:
        return int(self._ring.stats[_S["rows_flushed"]]) if self._ring is not None and self._ring.stats is not None else 0

    # ------------------------------------------------------------------ finishing
    @property
    def stats(self) -> dict[str, Any]:
        """Counters of this episode (safe to call from any thread).

        rows_appended, rows_written (flushed to the store), dropped_rows (back-pressure;
        dropped_for_frame_slots of them because a camera's frame slots were all in use),
        queue_depth_max [rows], queue_size, frame_slots, flushes, last_flush_age_s [s]
        (monotonic age), last_flush_time [s] (episode time of the last row on disk),
        last_flush_duration_s / max_flush_duration_s [s], max_unflushed_s [s] (longest a
        row waited from append to its commit), jpeg_bytes per camera, mb_per_s_per_camera
        [MB/s of recording], frames_encoded, finalize_s [s], mode, writer_pid, error.
        """
        ring = self._ring
        st = ring.stats.copy() if ring is not None and ring.stats is not None else None
        if st is None and self._final_stats is not None:
            return dict(self._final_stats)
        zero = np.zeros(len(STAT_FIELDS) + len(self._cam_names)) if st is None else st
        rows_flushed = int(zero[_S["rows_flushed"]])
        duration = rows_flushed / self._cfg.record_hz if rows_flushed else 0.0
        jpeg = {n: int(zero[len(STAT_FIELDS) + i]) for i, n in enumerate(self._cam_names)}
        last_mono = zero[_S["last_flush_mono"]]
        return {
            "rows_appended": self._rows_appended,
            "rows_written": rows_flushed,
            "dropped_rows": self._dropped,
            "dropped_for_frame_slots": self._dropped_frame_slots,
            "queue_depth_max": self._queue_depth_max,
            "queue_size": self._cfg.queue_size,
            "frame_slots": self._f,
            "flushes": int(zero[_S["flushes"]]),
            "last_flush_age_s": (time.monotonic() - last_mono) if last_mono else None,
            "last_flush_time": float(zero[_S["last_flush_time"]]),
            "last_flush_duration_s": float(zero[_S["last_flush_duration_s"]]),
            "max_flush_duration_s": float(zero[_S["max_flush_duration_s"]]),
            "max_unflushed_s": float(zero[_S["max_unflushed_s"]]),
            "frames_encoded": int(zero[_S["frames_encoded"]]),
            "jpeg_bytes": jpeg,
            "mb_per_s_per_camera": {n: (b / 1e6 / duration if duration else 0.0) for n, b in jpeg.items()},
            "cameras_copied_for_buffer_reuse": sorted(self._frames_copied_reuse),
            "finalize_s": self._finalize_s,
            "mode": self.mode,
            "writer_pid": self._proc.pid if self._proc is not None else os.getpid(),
            "error": None if self._error is None else str(self._error),
        }

    @property
    def error(self) -> StorageError | None:
        """The storage error that ended this episode, or None."""
        return self._error

    @property
    def finished(self) -> bool:
        return self._finished

    def _teleop_stats(self) -> dict[str, Any]:
        return {
            "rows_appended": self._rows_appended,
            "dropped_rows": self._dropped,
            "dropped_for_frame_slots": self._dropped_frame_slots,
            "queue_depth_max": self._queue_depth_max,
            "queue_size": self._cfg.queue_size,
            "frame_slots": self._f,
            "cameras_copied_for_buffer_reuse": sorted(self._frames_copied_reuse),
            "mode": self.mode,
        }

    def _stop_copier(self) -> int:
        """Stop the copier thread after it published every queued row; returns rows that came too late."""
        if self._copier is None:
            return 0
        self._stopping = True  # the copier publishes what is queued, then returns
        self._copier.join(timeout=self._cfg.finish_timeout_s)
        late = len(self._queue)  # rows another thread appended after finish/discard began
        self._queue.clear()
        return late

    def _await_writer(self, deadline: float) -> dict[str, Any] | None:
        """The writer's answer to "finish": the final attrs, or None with self._error set."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._error = StorageError(
                    f"episode {self.episode_id}: the writer did not finish within {self._cfg.finish_timeout_s} s "
                    f"(storage too slow?); its rows up to the last flush are safe, run "
                    f"`psi-teleop dataset recover PATH` once it stopped", self.episode_id, self._rows_flushed())
                return None
            try:
                ready = self._ctrl.poll(min(remaining, _HEALTH_S))
                msg = self._ctrl.recv() if ready else None
            except (EOFError, OSError):
                msg, ready = None, False
                if self._proc is not None:
                    self._proc.proc.wait(timeout=5)
            if msg is not None:
                if msg[0] == "done":
                    return msg[1]
                if msg[0] == "error":
                    self._error = _error_from(msg, self.episode_id)
                    return None
                continue  # "ready" from a writer process that started meanwhile
            if self._proc is not None and not self._proc.alive():
                self._error = self._proc.died_error(self.episode_id, self._rows_flushed())
                return None
            if self._sink_thread is not None and not self._sink_thread.is_alive() and not self._ctrl.poll():
                self._error = StorageError(f"the writer thread of episode {self.episode_id} stopped unexpectedly",
                                           self.episode_id, self._rows_flushed())
                return None

    def _end(self, status: EpisodeStatus, extra: dict[str, Any]) -> EpisodeInfo:
        if self._finished:
            raise EpisodeStateError(f"episode {self.episode_id} is already finished")
        self._finished = True
        t_start = time.perf_counter()
        attrs = None
        try:
            late = self._stop_copier()
            if late:
                self._dropped += late
                log.warning("%d row(s) appended to %s while it was finishing were not recorded", late, self.episode_id)
            if self._ring is None:  # nothing was ever appended: no writer involved
                if status is EpisodeStatus.COMPLETE:
                    status = EpisodeStatus.DISCARDED
                    extra = {**extra, "discard_reason": "no rows were recorded"}
                attrs = {**extra, "status": status.value, "n_rows": 0, "duration_s": 0.0, "finished_at": _utc_now(),
                         "writer_stats": jsonable(self._teleop_stats())}
                try:
                    self._group.update_attributes(attrs)
                except Exception as exc:  # noqa: BLE001
                    self._error = storage_error(exc, "finalizing", self.episode_id, 0)
                    raise self._error from exc
                attrs = dict(self._group.attrs)
            elif not isinstance(self._error, WriterDiedError):
                msg = ("finish", self._published, status.value, jsonable(extra), jsonable(self._teleop_stats()))
                try:
                    self._ctrl.send(msg)
                except OSError:
                    self._check_writer(dead=True)
                else:
                    attrs = self._await_writer(time.monotonic() + self._cfg.finish_timeout_s)
        finally:
            self._final_stats = self.stats
            self._close_ring()
            self._dataset._episode_ended(self)
        if self._error is not None:
            self._final_stats["error"] = str(self._error)
            raise self._error
        self._finalize_s = time.perf_counter() - t_start
        self._final_stats["finalize_s"] = self._finalize_s
        return EpisodeInfo.from_attrs(self.episode_id, attrs)

    def _close_ring(self) -> None:
        if self._sink_thread is not None:
            self._sink_thread.join(timeout=self._cfg.finish_timeout_s)
            for conn in (self._ctrl, self._data):
                conn.close()
        if self._ring is not None:
            ring, self._ring = self._ring, None
            # drop every view of the shared memory first, so it can be unmapped (else it stays mapped)
            self._slot_views, self._numeric = [], [(spec, None) for spec, _ in self._numeric]
            self._queue.clear()
            ring.close()  # the creator unlinks the shared file

    def finish(self, success: bool | None = None) -> EpisodeInfo:
        """Write what is queued and mark the episode complete (one atomic attrs write).

        Args:
            success: the operator's verdict (None: not judged yet; annotate later).
        Returns:
            the finished episode's :class:`EpisodeInfo` (status DISCARDED if it has no rows).
        Raises:
            StorageError: the store failed (or the writer process died, :class:`WriterDiedError`)
                during the episode; rows up to the last flush are recoverable with
                ``psi-teleop dataset recover``.
        """
        if success is not None and not isinstance(success, (bool, np.bool_)):
            raise RecorderError(f"success must be True, False or None, got {success!r}")
        return self._end(EpisodeStatus.COMPLETE, {"success": None if success is None else bool(success)})

    def discard(self, reason: str = "") -> EpisodeInfo:
        """End the episode as DISCARDED (its data stays on disk; listings hide it from training)."""
        return self._end(EpisodeStatus.DISCARDED, {"discard_reason": str(reason)})

    def __enter__(self) -> "EpisodeWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._finished:
            return
        if exc_type is None:
            self.finish()
        else:
            try:
                self.discard(reason=f"{exc_type.__name__}: {exc}")
            except RecorderError as err:
                log.error("while discarding episode %s after an error: %s", self.episode_id, err)


class DatasetWriter:
    """Creates or opens a dataset and records episodes into it, one at a time.

    Args:
        location: a directory, an fsspec URL zarr supports (``s3://…``, ``memory://…``,
            ``file://…``) or a zarr Store.
        record_hz, camera_shapes, jpeg_quality, queue_size, **options: see :class:`WriterConfig`
            (or pass ``config=WriterConfig(...)``).
    Raises:
        DatasetNotFoundError: ``location`` holds a zarr group that is not a psi-teleop dataset.
    """

    def __init__(
        self,
        location: Any,
        record_hz: float = 30.0,
        camera_shapes: dict[str, tuple[int, int]] | None = None,
        jpeg_quality: int = 90,
        queue_size: int = 256,
        *,
        config: WriterConfig | None = None,
        **options: Any,
    ):
        import zarr

        from recorder.exceptions import DatasetNotFoundError

        if config is None:
            config = WriterConfig(
                record_hz=record_hz, camera_shapes=dict(camera_shapes or {}), jpeg_quality=jpeg_quality,
                queue_size=queue_size, **options,
            )
        self.config = config
        self.location = location
        self._store = open_store(location)
        try:
            root = zarr.open_group(self._store, mode="a", zarr_format=3)
        except Exception as exc:  # noqa: BLE001
            raise storage_error(exc, f"opening the dataset at {describe(location)}") from exc
        if root.attrs.get("format") is None:
            if len(list(root.keys())) > 0:
                raise DatasetNotFoundError(
                    f"{describe(location)} is a zarr group but not a psi-teleop dataset (no 'format' attribute); "
                    f"choose an empty or new directory"
                )
            from teleop.robot import g1

            root.update_attributes(
                {
                    "format": schema.FORMAT,
                    "schema_version": schema.SCHEMA_VERSION,
                    "robot": schema.ROBOT,
                    "record_hz": config.record_hz,
                    "created_at": _utc_now(),
                    "state_names": list(g1.STATE_NAMES),
                    "action_names": list(g1.ACTION_NAMES),
                }
            )
        elif root.attrs.get("schema_version", 0) > schema.SCHEMA_VERSION:
            raise RecorderError(
                f"{describe(location)} uses schema version {root.attrs['schema_version']}, newer than this "
                f"psi-teleop ({schema.SCHEMA_VERSION}); upgrade psi-teleop to record into it"
            )
        self.root = root
        self._episodes = root.require_group(schema.EPISODES_GROUP)
        self._current: EpisodeWriter | None = None
        self._closed = False
        self.mode = self._choose_mode(config.writer, location)
        self._location_arg = str(location) if self.mode == "process" else None
        self._process: _WriterProcess | None = None
        if self.mode == "process":
            from recorder.ring import sweep_stale_segments

            removed = sweep_stale_segments()
            if removed:
                log.info("removed %d shared-memory ring(s) left by killed recorders: %s", len(removed), removed)
            self._process = _WriterProcess()  # starts importing now; the first episode does not wait for it

    @staticmethod
    def _choose_mode(mode: str, location: Any) -> str:
        """"process" for local paths and URLs another process can open; "thread" otherwise."""
        shareable = isinstance(location, (str, os.PathLike)) and not str(location).startswith("memory://")
        if mode == "auto":
            return "process" if shareable and SHM_DIR.is_dir() else "thread"
        if mode == "process" and not shareable:
            raise RecorderError(
                f"WriterConfig.writer='process' needs a path or a URL another process can open, not "
                f"{describe(location)}; use writer='thread' (or 'auto') for zarr Store objects and memory:// URLs"
            )
        if mode == "process" and not SHM_DIR.is_dir():
            raise RecorderError(f"WriterConfig.writer='process' needs {SHM_DIR} (Linux shared memory); use 'thread'")
        return mode

    @property
    def writer_pid(self) -> int | None:
        """Process id of the writer process (process mode), or None."""
        return self._process.pid if self._process is not None else None

    @property
    def current(self) -> EpisodeWriter | None:
        """The episode being recorded, if any."""
        return self._current

    def _next_index(self) -> int:
        indices = [schema.episode_index(k) for k in self._episodes.group_keys()]
        return max((i for i in indices if i is not None), default=-1) + 1

    def start_episode(
        self,
        task: str = "",
        instruction: str = "",
        operator: str = "",
        calibration: dict | Any | None = None,
        config: dict | Any | None = None,
        extra_attrs: dict[str, Any] | None = None,
    ) -> EpisodeWriter:
        """Create the next episode (status RECORDING) and return its writer.

        Args:
            task: task name (``pick_place``); instruction: the language instruction;
            operator: who recorded; calibration: the operator calibration used (saved as attrs);
            config: the resolved session config (saved with the episode); extra_attrs: more attrs.
        Raises:
            EpisodeStateError: an episode is still being recorded (finish or discard it first).
        """
        if self._closed:
            raise EpisodeStateError("this DatasetWriter is closed; open a new one")
        if self._current is not None:
            raise EpisodeStateError(
                f"episode {self._current.episode_id} is still recording; finish() or discard() it first"
            )
        extra = dict(extra_attrs or {})
        clash = sorted(RESERVED_ATTRS.intersection(extra))
        if clash:
            raise RecorderError(f"extra_attrs may not set {clash}: the writer owns those attributes")
        from zarr.errors import ContainsGroupError

        attrs = {
            **jsonable(extra),
            "task": str(task),
            "instruction": str(instruction),
            "operator": str(operator),
            "calibration": jsonable(calibration or {}),
            "config": jsonable(config or {}),
            "status": EpisodeStatus.RECORDING.value,
            "success": None,
            "segments": [],
            "tags": [],
            "notes": "",
            "schema_version": schema.SCHEMA_VERSION,
            "record_hz": self.config.record_hz,
            "created_at": _utc_now(),
            "n_rows_flushed": 0,
            "last_flush_time": 0.0,
            "writer": {"host": socket.gethostname(), "pid": os.getpid(), "teleop_pid": os.getpid()},
            "heartbeat_unix": time.time(),
        }
        index = self._next_index()
        for _ in range(100):
            eid = schema.episode_id(index)
            try:
                group = self._episodes.create_group(eid, overwrite=False, attributes=attrs)
                break
            except ContainsGroupError:
                index += 1
            except Exception as exc:  # noqa: BLE001
                raise storage_error(exc, "creating a new episode", eid) from exc
        else:
            raise RecorderError("could not allocate a new episode id; is another writer creating episodes?")
        if self.mode == "process" and not self._process.alive():
            log.warning("the recorder's writer process (pid %d) %s; starting a new one",
                        self._process.pid, _exit_reason(self._process.proc.poll()))
            self._process.close(timeout=1.0)
            self._process = _WriterProcess()
        ep = EpisodeWriter(self, group, eid, self.config, self._process)
        self._current = ep
        log.info("recording episode %s (task %s)", eid, task or "-")
        return ep

    def _episode_ended(self, ep: EpisodeWriter) -> None:
        if self._current is ep:
            self._current = None

    def close(self) -> None:
        """Finish the episode still recording (success unknown), then release the dataset."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._current is not None and not self._current.finished:
                log.warning("closing the dataset while episode %s records: finishing it", self._current.episode_id)
                self._current.finish()
        finally:
            if self._process is not None:
                self._process.close()

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
