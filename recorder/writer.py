"""DatasetWriter and EpisodeWriter: append rows from the teleop loop without blocking it.

Data flow inside one episode::

    teleop loop thread                         writer thread (one per episode)
    ------------------                         -------------------------------
    append(TickRecord) ── copy into a free ──► take slot: JPEG-encode frames, copy rows
      (µs, no I/O)        ring slot; put its   into the batch, give the slot back
                          index on the queue   every flush_interval_s (or a full batch):
                                               resize + write every stream, then
                                               attrs["n_rows_flushed"] = n  (commit point)
    finish() ── stop ────────────────────────► last flush, then one attrs write:
                                               status=complete, n_rows, duration (atomic)

The ring has ``queue_size`` slots. When every slot is taken (the writer thread fell that
far behind), ``append`` does not wait: it drops that row, counts it, logs it and the count
lands in the episode's attrs and the validator's report — back-pressure is never silent.

Crash safety: data of a flush is written before the ``n_rows_flushed`` attribute that
commits it, and the status becomes ``complete`` only in the last write. A killed process
leaves ``status=recording`` and ``n_rows_flushed`` at the last commit; ``recover`` truncates
every stream there and marks the episode ``recovered``.
"""

from __future__ import annotations

import collections
import datetime
import logging
import os
import queue
import socket
import threading
import time
import warnings
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any

import numpy as np

from recorder import schema
from recorder.config import WriterConfig
from recorder.exceptions import EpisodeStateError, RecorderError, RecordLayoutError, StorageError
from recorder.info import EpisodeInfo
from recorder.schema import EpisodeStatus, StreamKind
from recorder.store import describe, open_store, storage_error
from recorder.tick import TickRecord
from teleop import clock

log = logging.getLogger(__name__)

#: Attributes the writer owns; ``extra_attrs`` and annotations cannot override them.
RESERVED_ATTRS = frozenset(
    {
        "status", "n_rows", "n_rows_flushed", "last_flush_time", "heartbeat_unix", "duration_s", "schema_version",
        "record_hz", "created_at", "finished_at", "t0_monotonic", "writer_stats", "streams", "cameras", "writer",
    }
)
#: Log at most one back-pressure warning per this many dropped rows (the count is exact anyway).
_DROP_LOG_EVERY = 30
_STOP = -1
#: An open episode rewrites its heartbeat at least this often, rows or not [s].
_HEARTBEAT_S = 2.0
#: Streams grow ahead of the rows by this much recording [s] (fewer metadata writes per flush).
_GROW_S = 30.0
#: Write every chunk, even one equal to the fill value, so a missing chunk always means damage.
_ARRAY_CONFIG = {"write_empty_chunks": True}


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


@dataclass(frozen=True)
class _Stream:
    """Layout of one stored stream: its key under the episode group, row shape and dtype."""

    key: str
    shape: tuple[int, ...]
    dtype: np.dtype
    kind: StreamKind


def _storage_dtype(value: np.ndarray) -> np.dtype:
    """Floats become float32 (stamps stay float64), bool and ints keep their type."""
    if value.dtype.kind == "f":
        return np.dtype(np.float32)
    if value.dtype.kind in "biu":
        return value.dtype
    raise RecordLayoutError(f"stream dtype {value.dtype} is not storable; use float, int or bool arrays")


def _compressors(kind: StreamKind) -> list:
    """Zstd for numbers (not for JPEG bytes, already compressed) and a CRC32C on every chunk.

    The checksum makes any corrupted chunk fail to decode, so the validator can name it.
    """
    from zarr.codecs import Crc32cCodec, ZstdCodec

    if kind is StreamKind.JPEG:
        return [Crc32cCodec()]
    return [ZstdCodec(level=3), Crc32cCodec()]


class EpisodeWriter:
    """Writes one episode; made by :meth:`DatasetWriter.start_episode`.

    ``append`` is called from the teleop loop at the record rate; everything slow (JPEG
    encoding, store I/O) runs on this episode's writer thread.
    """

    def __init__(self, dataset: "DatasetWriter", group, episode_id: str, config: WriterConfig):
        self._dataset = dataset
        self._group = group
        self.episode_id = episode_id
        self._cfg = config
        self._lock = threading.Lock()  # guards _stats_* read by `stats` from another thread
        self._finished = False
        self._error: StorageError | None = None
        # Layout, fixed by the first row.
        self._numeric: list[tuple[_Stream, str | None, str]] = []  # (stream, source group, source name)
        self._cam_names: list[str] = []
        self._cam_shapes: list[tuple[int, int, int]] = []
        self._cam_copy: list[bool] = []
        self._cam_last_obj: list[Any] = []
        self._cam_last_stamp: list[float] = []
        self._cam_last_stored: list[Any] = []
        self._cam_set: frozenset[str] = frozenset()
        self._has_robot = False
        self._has_operator = False
        self._t0: float | None = None
        # Ring of slots between append and the writer thread.
        q = config.queue_size
        self._ring_t = np.zeros(q)
        self._ring_robot_stamp = np.full(q, np.nan)
        self._ring_operator_stamp = np.full(q, np.nan)
        self._ring: dict[str, np.ndarray] = {}
        self._slot_views: list[list[np.ndarray]] = []
        self._ring_frames: list[list[Any]] = []
        self._ring_cam_stamp: np.ndarray | None = None
        self._free: collections.deque[int] = collections.deque(range(q))
        self._queue: queue.SimpleQueue[int] = queue.SimpleQueue()
        # Statistics (append side: only the loop thread writes them).
        self._rows_appended = 0
        self._dropped = 0
        self._queue_depth_max = 0
        self._frames_copied_reuse: set[str] = set()
        # Statistics (writer side).
        self._rows_flushed = 0
        self._capacity = 0  # rows the stored streams are sized for (>= rows flushed)
        self._heartbeat = time.time()  # [s, Unix] last time the attrs said "alive"
        self._n_flushes = 0
        self._last_flush_time = 0.0  # [s] episode time of the last row flushed
        self._last_flush_mono: float | None = None
        self._last_flush_duration_s = 0.0
        self._max_flush_duration_s = 0.0
        self._jpeg_bytes: dict[str, int] = {}
        self._frames_encoded = 0
        self._finalize_s: float | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ loop side
    def append(self, rec: TickRecord) -> bool:
        """Queue one row; returns False when the row was dropped because the queue was full.

        Never blocks and never touches the store: it copies the record's arrays into a
        preallocated slot. Raises :class:`StorageError` once the writer thread has failed
        (disk full, ...), :class:`EpisodeStateError` after finish/discard and
        :class:`RecordLayoutError` when the row does not match the first row's layout.
        """
        if self._finished:
            raise EpisodeStateError(f"episode {self.episode_id} is finished; start a new episode to record more")
        if self._error is not None:
            raise self._error
        if self._thread is None:
            self._init_layout(rec)
        if self._t0 is None:
            self._t0 = float(rec.t)  # the time origin: the first row's tick
        free = self._free
        try:
            slot = free.popleft()
        except IndexError:
            self._dropped += 1
            if self._dropped % _DROP_LOG_EVERY == 1:
                log.warning(
                    "recorder cannot keep up: %d row(s) of episode %s dropped so far (queue of %d rows full); "
                    "lower the camera resolution or JPEG quality, or use a faster disk",
                    self._dropped, self.episode_id, self._cfg.queue_size,
                )
            return False
        try:
            self._fill_slot(slot, rec)
        except BaseException:
            free.appendleft(slot)
            raise
        depth = self._cfg.queue_size - len(free)
        if depth > self._queue_depth_max:
            self._queue_depth_max = depth
        self._rows_appended += 1
        self._queue.put(slot)
        return True

    def prepare(self, example: TickRecord) -> None:
        """Fix the stream layout from ``example`` and start the writer thread, without recording it.

        Optional: the first ``append`` does the same (a millisecond or two of allocation and a
        thread start); call this before the loop starts to keep that off the first tick.
        """
        if self._finished:
            raise EpisodeStateError(f"episode {self.episode_id} is finished; start a new episode to record more")
        if self._thread is None:
            self._init_layout(example)

    def _fill_slot(self, slot: int, rec: TickRecord) -> None:
        self._ring_t[slot] = rec.t
        views = self._slot_views[slot]
        for (stream, source, name), dst in zip(self._numeric, views):
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
                        f"episode {self.episode_id}: stream '{stream.key}' is missing from this row; "
                        f"every row must carry the streams of the first row"
                    ) from None
            if getattr(value, "shape", None) != stream.shape:
                value = np.asarray(value)
                if value.shape != stream.shape:
                    raise RecordLayoutError(
                        f"episode {self.episode_id}: stream '{stream.key}' has shape {value.shape}, "
                        f"expected {stream.shape} (fixed by the first row)"
                    )
            np.copyto(dst, value, casting="unsafe")
        if self._has_robot:
            self._ring_robot_stamp[slot] = self._stamp_of(rec.robot_stamp, rec.robot)
        if self._has_operator:
            self._ring_operator_stamp[slot] = self._stamp_of(rec.operator_stamp, rec.operator)
        if self._cam_names:
            cams = rec.cameras or {}
            frames = self._ring_frames[slot]
            stamps = self._ring_cam_stamp[slot]
            for i, name in enumerate(self._cam_names):
                item = cams.get(name)
                if item is None:
                    frames[i] = None
                    stamps[i] = np.nan
                    continue
                frame, stamp = item
                if frame.shape != self._cam_shapes[i] or frame.dtype != np.uint8:
                    raise RecordLayoutError(
                        f"episode {self.episode_id}: camera '{name}' frame is {frame.shape} {frame.dtype}, "
                        f"expected {self._cam_shapes[i]} uint8 (HxWx3 RGB)"
                    )
                if frame is self._cam_last_obj[i] and stamp != self._cam_last_stamp[i] and not self._cam_copy[i]:
                    # The camera refilled the buffer it gave us last tick: copy from now on.
                    self._cam_copy[i] = True
                    self._frames_copied_reuse.add(name)
                    log.warning("camera '%s' reuses its frame buffer; the recorder copies its frames from now on", name)
                if not self._cam_copy[i]:
                    stored = frame
                elif frame is self._cam_last_obj[i] and stamp == self._cam_last_stamp[i]:
                    stored = self._cam_last_stored[i]  # the same frame again: share its copy
                else:
                    stored = frame.copy()
                self._cam_last_obj[i] = frame
                self._cam_last_stamp[i] = stamp
                self._cam_last_stored[i] = stored
                frames[i] = stored
                stamps[i] = stamp
            if len(cams) > len(self._cam_names) or not self._cam_set.issuperset(cams):
                unknown = sorted(set(cams) - self._cam_set)
                raise RecordLayoutError(
                    f"episode {self.episode_id}: camera(s) {unknown} were not in the first row; declare every "
                    f"camera in DatasetWriter(camera_shapes=...) or send it (or None) from the first row"
                )

    @staticmethod
    def _stamp_of(stamp: float | None, arrays) -> float:
        if stamp is not None:
            return stamp
        if arrays is not None and "stamp" in arrays:
            return float(arrays["stamp"])
        return np.nan

    def _init_layout(self, rec: TickRecord) -> None:
        """Fix the streams and their shapes from the first row; allocate the ring; start the thread."""
        numeric: list[tuple[_Stream, str | None, str]] = []
        src_dtypes: dict[str, np.dtype] = {}
        for key, value in ((schema.STATE, rec.state), (schema.ACTION, rec.action)):
            value = np.asarray(value)
            src_dtypes[key] = value.dtype if value.dtype.kind in "fiub" else np.dtype(np.float64)
            if value.ndim != 1:
                raise RecordLayoutError(f"TickRecord.{key} must be a 1-D vector, got shape {value.shape}")
            numeric.append((_Stream(key, value.shape, np.dtype(np.float32), StreamKind.NUMERIC), None, key))
        for source, arrays in ((schema.ROBOT_GROUP, rec.robot), (schema.OPERATOR_GROUP, rec.operator)):
            for name, value in (arrays or {}).items():
                if name == schema.STAMP:
                    continue
                if not name or "/" in name:
                    raise RecordLayoutError(f"stream name {name!r} in '{source}' must be non-empty without '/'")
                value = np.asarray(value)
                numeric.append(
                    (_Stream(f"{source}/{name}", value.shape, _storage_dtype(value), StreamKind.NUMERIC), source, name)
                )
                src_dtypes[f"{source}/{name}"] = value.dtype
        cams = dict(rec.cameras or {})
        names = list(self._cfg.camera_shapes) + sorted(set(cams) - set(self._cfg.camera_shapes))
        shapes = []
        for name in names:
            if name in self._cfg.camera_shapes:
                h, w = self._cfg.camera_shapes[name]
            elif cams[name] is not None:
                h, w = np.asarray(cams[name][0]).shape[:2]
            else:
                raise RecordLayoutError(
                    f"camera '{name}' has no frame in the first row and no declared size; "
                    f"pass camera_shapes={{'{name}': (H, W)}} to DatasetWriter"
                )
            if "/" in name or not name:
                raise RecordLayoutError(f"camera name {name!r} must be non-empty without '/'")
            shapes.append((int(h), int(w), 3))
        q = self._cfg.queue_size
        self._numeric = numeric
        # The ring keeps each stream's own dtype (no conversion on the loop thread); the writer
        # thread converts to the stored dtype when it moves rows into its batch.
        self._ring = {s.key: np.zeros((q, *s.shape), src_dtypes[s.key]) for s, _, _ in numeric}
        # Per-slot views (0-d views for scalar streams), so append indexes nothing.
        self._slot_views = [[self._ring[s.key][slot, ...] for s, _, _ in numeric] for slot in range(q)]
        self._has_robot = rec.robot is not None
        self._has_operator = rec.operator is not None
        self._cam_names = names
        self._cam_shapes = shapes
        self._cam_copy = [self._cfg.copy_frames] * len(names)
        self._cam_last_obj = [None] * len(names)
        self._cam_last_stamp = [np.nan] * len(names)
        self._cam_last_stored = [None] * len(names)
        self._cam_set = frozenset(names)
        self._ring_frames = [[None] * len(names) for _ in range(q)]
        self._ring_cam_stamp = np.full((q, len(names)), np.nan)
        self._jpeg_bytes = dict.fromkeys(names, 0)
        self._thread = threading.Thread(
            target=self._run, name=f"recorder-{self.episode_id}", daemon=True
        )
        self._thread.start()

    # ------------------------------------------------------------------ writer thread
    def _run(self) -> None:
        import simplejpeg

        batch = _Batch(self, max(2, min(self._cfg.queue_size, round(2 * self._cfg.flush_interval_s * self._cfg.record_hz) + 8)))
        flush_dt = self._cfg.flush_interval_s
        try:  # create the streams now, so the first flush only writes rows
            batch.arrays = self._create_arrays()
        except BaseException as exc:  # noqa: BLE001 - reported to the loop via append/finish
            self._fail(exc, "creating the episode's streams")
            return
        last_flush = time.perf_counter()
        stop = False
        while not stop:
            timeout = flush_dt if batch.n == 0 else max(0.0, last_flush + flush_dt - time.perf_counter())
            try:
                slot = self._queue.get(timeout=timeout)
            except queue.Empty:
                slot = None
            if slot == _STOP:
                stop = True
            elif slot is not None:
                try:
                    batch.take(slot, simplejpeg)
                except BaseException as exc:  # noqa: BLE001 - reported to the loop via append/finish
                    self._fail(exc, "encoding a row")
                    return
                finally:
                    self._free.append(slot)
            due = batch.n and (batch.n >= batch.capacity or time.perf_counter() - last_flush >= flush_dt)
            if due or stop:
                try:
                    self._flush(batch, final=stop)
                except BaseException as exc:  # noqa: BLE001 - reported to the loop via append/finish
                    self._fail(exc, "flushing rows")
                    return
                last_flush = time.perf_counter()
            elif batch.n == 0:
                last_flush = time.perf_counter()
            if time.time() - self._heartbeat >= _HEARTBEAT_S and not stop:
                try:  # an open episode with no rows coming still says its writer is alive
                    self._group.update_attributes({"heartbeat_unix": time.time()})
                except BaseException as exc:  # noqa: BLE001
                    self._fail(exc, "writing the heartbeat")
                    return
                self._heartbeat = time.time()

    def _fail(self, exc: BaseException, what: str) -> None:
        err = storage_error(exc, what, self.episode_id, self._rows_flushed)
        err.__cause__ = exc
        self._error = err
        log.error("%s", err)
        # Give every slot back so a late append raises the error instead of reporting drops.
        while True:
            try:
                slot = self._queue.get_nowait()
            except queue.Empty:
                break
            if slot != _STOP:
                self._free.append(slot)
        try:  # best effort: the store may be full; recover works without this note
            self._group.update_attributes({"error": str(err)})
        except Exception:  # noqa: BLE001
            pass

    def _create_arrays(self) -> dict[str, Any]:
        g = self._group
        arrays: dict[str, Any] = {}
        rows, cam_rows = self._cfg.chunk_rows, self._cfg.camera_chunk_rows

        def make(key: str, shape: tuple[int, ...], dtype, kind: StreamKind, chunk_rows: int, fill) -> None:
            arrays[key] = g.create_array(
                key, shape=(0, *shape), chunks=(chunk_rows, *shape), dtype=dtype,
                compressors=_compressors(kind), fill_value=fill, config=_ARRAY_CONFIG,
            )

        make(schema.TIME, (), np.float64, StreamKind.TIME, rows, 0.0)
        for s, _, _ in self._numeric:
            make(s.key, s.shape, s.dtype, s.kind, rows, 0)
        if self._has_robot:
            make(f"{schema.ROBOT_GROUP}/{schema.STAMP}", (), np.float64, StreamKind.STAMP, rows, np.nan)
        if self._has_operator:
            make(f"{schema.OPERATOR_GROUP}/{schema.STAMP}", (), np.float64, StreamKind.STAMP, rows, np.nan)
        import zarr

        for name, (h, w, _) in zip(self._cam_names, self._cam_shapes):
            base = f"{schema.CAMERAS_GROUP}/{name}"
            arrays[f"{base}/{schema.JPEG}"] = g.create_array(
                f"{base}/{schema.JPEG}", shape=(0,), chunks=(cam_rows,), dtype=zarr.dtype.VariableLengthBytes(),
                compressors=_compressors(StreamKind.JPEG),
                config=_ARRAY_CONFIG,
                attributes={"height": h, "width": w, "encoding": "jpeg", "colorspace": "RGB",
                            "quality": self._cfg.jpeg_quality},
            )
            make(f"{base}/{schema.STAMP}", (), np.float64, StreamKind.STAMP, rows, np.nan)
            make(f"{base}/{schema.VALID}", (), np.bool_, StreamKind.FLAG, rows, False)
        self._group.update_attributes(
            {
                "streams": {k: {"shape": list(a.shape[1:]), "dtype": str(a.dtype)} for k, a in arrays.items()},
                "cameras": {n: {"height": s[0], "width": s[1]} for n, s in zip(self._cam_names, self._cam_shapes)},
            }
        )
        return arrays

    def _flush(self, batch: "_Batch", final: bool = False) -> None:
        """Write the batch's rows to every stream, then commit them with ``n_rows_flushed``.

        Streams grow ahead of the data in steps of ``_GROW_S`` seconds, so most flushes only
        write chunks; the final flush sizes every stream to exactly the rows written.
        """
        import asyncio

        from zarr.core.sync import sync

        t_start = time.perf_counter()
        if batch.arrays is None:
            batch.arrays = self._create_arrays()
        n0, k = self._rows_flushed, batch.n
        n1 = n0 + k
        columns = batch.columns()
        if final:
            target: int | None = n1 if n1 != self._capacity else None
        elif n1 > self._capacity:
            target = n1 + max(1, round(_GROW_S * self._cfg.record_hz))
        else:
            target = None

        async def write_one(arr, data) -> None:
            aa = arr._async_array
            if target is not None:
                await aa.resize((target, *aa.shape[1:]), delete_outside_chunks=False)
            if k:
                await aa.setitem(slice(n0, n1), data)

        async def write_all() -> None:
            await asyncio.gather(*(write_one(batch.arrays[key], data) for key, data in columns.items()))

        if target is None and k == 0:
            return
        sync(write_all())
        if target is not None:
            self._capacity = target
        if k:
            last_time = self._last_flush_time = float(columns[schema.TIME][-1])
            self._heartbeat = time.time()
            self._group.update_attributes(
                {"n_rows_flushed": n1, "last_flush_time": last_time, "heartbeat_unix": self._heartbeat}
            )
        batch.clear()
        dt = time.perf_counter() - t_start
        with self._lock:
            self._rows_flushed = n1
            self._n_flushes += 1
            self._last_flush_mono = clock.now()
            self._last_flush_duration_s = dt
            self._max_flush_duration_s = max(self._max_flush_duration_s, dt)

    # ------------------------------------------------------------------ finishing
    @property
    def stats(self) -> dict[str, Any]:
        """Counters of this episode (safe to call from any thread).

        rows_appended, rows_written (flushed to the store), dropped_rows (back-pressure),
        queue_depth_max [rows], queue_size, flushes, last_flush_age_s [s] (monotonic age),
        last_flush_time [s] (episode time of the last row on disk),
        last_flush_duration_s / max_flush_duration_s [s], jpeg_bytes per camera,
        mb_per_s_per_camera [MB/s of recording], finalize_s [s], error.
        """
        with self._lock:
            age = None if self._last_flush_mono is None else clock.now() - self._last_flush_mono
            duration = (self._rows_flushed / self._cfg.record_hz) if self._rows_flushed else 0.0
            return {
                "rows_appended": self._rows_appended,
                "rows_written": self._rows_flushed,
                "dropped_rows": self._dropped,
                "queue_depth_max": self._queue_depth_max,
                "queue_size": self._cfg.queue_size,
                "flushes": self._n_flushes,
                "last_flush_age_s": age,
                "last_flush_time": self._last_flush_time,
                "last_flush_duration_s": self._last_flush_duration_s,
                "max_flush_duration_s": self._max_flush_duration_s,
                "frames_encoded": self._frames_encoded,
                "jpeg_bytes": dict(self._jpeg_bytes),
                "mb_per_s_per_camera": {
                    n: (b / 1e6 / duration if duration else 0.0) for n, b in self._jpeg_bytes.items()
                },
                "cameras_copied_for_buffer_reuse": sorted(self._frames_copied_reuse),
                "finalize_s": self._finalize_s,
                "error": None if self._error is None else str(self._error),
            }

    @property
    def error(self) -> StorageError | None:
        """The storage error that ended this episode, or None."""
        return self._error

    @property
    def finished(self) -> bool:
        return self._finished

    def _stop_thread(self) -> None:
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout=self._cfg.finish_timeout_s)
        if self._thread.is_alive():
            raise RecorderError(
                f"episode {self.episode_id}: the writer thread did not finish within "
                f"{self._cfg.finish_timeout_s} s (storage too slow?); its rows up to the last flush are safe, "
                f"run `psi-teleop dataset recover PATH` after this process exits"
            )

    def _end(self, status: EpisodeStatus, extra: dict[str, Any]) -> EpisodeInfo:
        if self._finished:
            raise EpisodeStateError(f"episode {self.episode_id} is already finished")
        self._finished = True
        t_start = time.perf_counter()
        try:
            self._stop_thread()
        finally:
            self._dataset._episode_ended(self)
        late = self._drain_late_rows()
        if late:
            log.warning("%d row(s) appended to %s while it was finishing were not recorded", late, self.episode_id)
        if self._error is not None:
            raise self._error
        n = self._rows_flushed
        if n == 0 and status is EpisodeStatus.COMPLETE:
            status = EpisodeStatus.DISCARDED
            extra = {**extra, "discard_reason": "no rows were recorded"}
        stats = self.stats
        attrs = {
            **extra,
            "status": status.value,
            "n_rows": n,
            "duration_s": self._last_flush_time if n else 0.0,
            "finished_at": _utc_now(),
            "writer_stats": jsonable(
                {k: stats[k] for k in ("rows_appended", "dropped_rows", "queue_depth_max", "queue_size",
                                        "flushes", "max_flush_duration_s", "jpeg_bytes",
                                        "cameras_copied_for_buffer_reuse")}
            ),
        }
        try:
            self._group.update_attributes(attrs)  # the commit: one metadata write
        except Exception as exc:  # noqa: BLE001
            self._error = storage_error(exc, "finalizing", self.episode_id, n)
            raise self._error from exc
        self._finalize_s = time.perf_counter() - t_start
        return EpisodeInfo.from_attrs(self.episode_id, dict(self._group.attrs))

    def _drain_late_rows(self) -> int:
        """Rows another thread appended after finish/discard began; counted as dropped, never silent."""
        late = 0
        while True:
            try:
                slot = self._queue.get_nowait()
            except queue.Empty:
                break
            if slot != _STOP:
                late += 1
                self._free.append(slot)
        self._dropped += late
        return late

    def finish(self, success: bool | None = None) -> EpisodeInfo:
        """Flush what is queued and mark the episode complete (one atomic attrs write).

        Args:
            success: the operator's verdict (None: not judged yet; annotate later).
        Returns:
            the finished episode's :class:`EpisodeInfo` (status DISCARDED if it has no rows).
        Raises:
            StorageError: the store failed during the episode; rows up to the last flush are
                recoverable with ``psi-teleop dataset recover``.
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


class _Batch:
    """Rows taken off the ring and not yet flushed (owned by the writer thread)."""

    def __init__(self, ep: EpisodeWriter, capacity: int):
        self.ep = ep
        self.capacity = capacity
        self.n = 0
        self.arrays: dict[str, Any] | None = None
        self.time = np.zeros(capacity)
        self.numeric = {s.key: np.zeros((capacity, *s.shape), s.dtype) for s, _, _ in ep._numeric}
        self.robot_stamp = np.zeros(capacity)
        self.operator_stamp = np.zeros(capacity)
        ncam = len(ep._cam_names)
        self.cam_jpeg = [np.empty(capacity, dtype=object) for _ in range(ncam)]
        self.cam_stamp = np.zeros((capacity, ncam))
        self.prev_frame: list[Any] = [None] * ncam
        self.prev_stamp: list[float] = [np.nan] * ncam
        self.prev_jpeg: list[bytes] = [b""] * ncam

    def take(self, slot: int, simplejpeg) -> None:
        ep, i = self.ep, self.n
        t0 = ep._t0
        self.time[i] = ep._ring_t[slot] - t0
        for key, dst in self.numeric.items():
            dst[i] = ep._ring[key][slot]
        self.robot_stamp[i] = ep._ring_robot_stamp[slot] - t0
        self.operator_stamp[i] = ep._ring_operator_stamp[slot] - t0
        frames = ep._ring_frames[slot]
        quality = ep._cfg.jpeg_quality
        for c, name in enumerate(ep._cam_names):
            frame = frames[c]
            frames[c] = None  # release the frame
            stamp = ep._ring_cam_stamp[slot, c]
            if frame is None:
                self.cam_jpeg[c][i] = b""
                self.cam_stamp[i, c] = np.nan
                continue
            if frame is self.prev_frame[c] and stamp == self.prev_stamp[c]:
                data = self.prev_jpeg[c]  # the same frame again: no new image, reuse its encoding
            else:
                data = simplejpeg.encode_jpeg(
                    np.ascontiguousarray(frame), quality=quality, colorspace="RGB", colorsubsampling="420"
                )
                ep._frames_encoded += 1
            self.prev_frame[c], self.prev_stamp[c], self.prev_jpeg[c] = frame, stamp, data
            self.cam_jpeg[c][i] = data
            self.cam_stamp[i, c] = stamp - t0
            ep._jpeg_bytes[name] += len(data)
        self.n += 1

    def columns(self) -> dict[str, np.ndarray]:
        k, ep = self.n, self.ep
        cols: dict[str, np.ndarray] = {schema.TIME: self.time[:k]}
        for key, arr in self.numeric.items():
            cols[key] = arr[:k]
        if ep._has_robot:
            cols[f"{schema.ROBOT_GROUP}/{schema.STAMP}"] = self.robot_stamp[:k]
        if ep._has_operator:
            cols[f"{schema.OPERATOR_GROUP}/{schema.STAMP}"] = self.operator_stamp[:k]
        for c, name in enumerate(ep._cam_names):
            base = f"{schema.CAMERAS_GROUP}/{name}"
            cols[f"{base}/{schema.JPEG}"] = self.cam_jpeg[c][:k]
            cols[f"{base}/{schema.STAMP}"] = self.cam_stamp[:k, c]
            cols[f"{base}/{schema.VALID}"] = ~np.isnan(self.cam_stamp[:k, c])
        return cols

    def clear(self) -> None:
        self.n = 0
        # keep prev_* (repeat detection spans flushes); drop references to encoded bytes
        for col in self.cam_jpeg:
            col[:] = None


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
            "writer": {"host": socket.gethostname(), "pid": os.getpid()},
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
        ep = EpisodeWriter(self, group, eid, self.config)
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
        if self._current is not None and not self._current.finished:
            log.warning("closing the dataset while episode %s records: finishing it", self._current.episode_id)
            self._current.finish()

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
