"""The writing side of one episode: takes rows off the ring, JPEG-encodes, writes, flushes, finalizes.

:func:`run_episode` runs in the writer process (default) or in a writer thread of the
teleop process (``WriterConfig.writer="thread"``); it is the same code in both. It talks
to the teleop side through two connections:

* ``data``: 8-byte counts "rows 0..n-1 are in the ring" (one per row, in order);
* ``ctrl``: ``("finish", n_final, status, extra_attrs, teleop_stats)`` from the teleop side;
  ``("error", class_name, message, rows_safe)`` and ``("done", attrs)`` back.

It acknowledges each consumed row and frame in the ring's ``acks`` as soon as the row is in
its batch (frames are encoded straight out of the ring, never copied). Flushes are due
``flush_interval_s`` after the oldest unflushed row was appended (``ring.wall``), so no row
stays in memory longer than that plus one flush; ``max_unflushed_s`` records the worst case.
The teleop side vanishing (EOF on both connections: it was killed) makes the sink write
every row it was handed, record ``writer_exit`` and return: the episode stays
``recording`` for ``psi-teleop dataset recover``, which keeps all of those rows.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
import struct
import time
from multiprocessing.connection import wait
from typing import Any

import numpy as np

from recorder import schema
from recorder.exceptions import StorageError
from recorder.ring import NO_FRAME, STAT_FIELDS, Layout, Ring
from recorder.schema import EpisodeStatus, StreamKind
from recorder.store import storage_error

log = logging.getLogger(__name__)

COUNT = struct.Struct("<q")
#: An open episode rewrites its heartbeat at least this often, rows or not [s].
HEARTBEAT_S = 2.0
#: Streams grow ahead of the rows by this much recording [s] (fewer metadata writes per flush).
GROW_S = 60.0
#: Write every chunk, even one equal to the fill value, so a missing chunk always means damage.
ARRAY_CONFIG = {"write_empty_chunks": True}
_S = {name: i for i, name in enumerate(STAT_FIELDS)}


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def compressors(kind: StreamKind) -> list:
    """Zstd for numbers (not for JPEG bytes, already compressed) and a CRC32C on every chunk.

    The checksum makes any corrupted chunk fail to decode, so the validator can name it.
    """
    from zarr.codecs import Crc32cCodec, ZstdCodec

    if kind is StreamKind.JPEG:
        return [Crc32cCodec()]
    return [ZstdCodec(level=3), Crc32cCodec()]


class _Batch:
    """Rows taken off the ring and not yet flushed."""

    def __init__(self, layout: Layout, capacity: int):
        self.capacity = capacity
        self.n = 0
        self.first_wall = 0.0  # time.monotonic() at which the oldest row of the batch was appended
        self.time = np.zeros(capacity)
        self.numeric = [np.zeros((capacity, *s.shape), s.dtype) for s in layout.numeric]
        self.robot_stamp = np.zeros(capacity)
        self.operator_stamp = np.zeros(capacity)
        ncam = len(layout.cam_names)
        self.cam_jpeg = [np.empty(capacity, dtype=object) for _ in range(ncam)]
        self.cam_stamp = np.zeros((capacity, ncam))

    def clear(self) -> None:
        self.n = 0
        for col in self.cam_jpeg:
            col[:] = None


class _ChunkWriter:
    """One stream's chunk being filled, and the array's own codecs to encode it whole."""

    def __init__(self, arr):
        from zarr.core.buffer import default_buffer_prototype

        aa = arr._async_array
        self.rows = arr.chunks[0]
        self.path = aa.store_path.path
        self.metadata = aa.metadata
        self.config = aa.config
        self.codecs = list(aa.metadata.codecs)
        self.prototype = default_buffer_prototype()
        if arr.dtype.kind in "OTV" or str(arr.dtype).startswith("VariableLength"):
            self.fill = b""
            self.buf = np.full(self.rows, b"", dtype=object)
        else:
            self.fill = arr.fill_value
            self.buf = np.full((self.rows, *arr.shape[1:]), self.fill, dtype=arr.dtype)
        self.ndim = len(arr.shape)

    def encode(self, chunk_index: int):
        """(store key, encoded bytes) of chunk ``chunk_index`` holding the current buffer."""
        coords = (chunk_index,) + (0,) * (self.ndim - 1)
        spec = self.metadata.get_chunk_spec(coords, self.config, self.prototype)
        data = self.codecs[0]._encode_sync(self.prototype.nd_buffer.from_numpy_array(self.buf), spec)
        for codec in self.codecs[1:]:
            data = codec._encode_sync(data, spec)
        return f"{self.path}/{self.metadata.encode_chunk_key(coords)}", data


class EpisodeSink:
    """Writes one episode's rows from a :class:`Ring` into its zarr group."""

    def __init__(self, group, layout: Layout, ring: Ring, cfg, writer_info: dict[str, Any]):
        self.group = group
        self.layout = layout
        self.ring = ring
        self.cfg = cfg
        self.writer_info = writer_info
        self.arrays: dict[str, Any] | None = None
        self.batch = _Batch(layout, max(2, round(2 * cfg.flush_interval_s * cfg.record_hz) + 8))
        self.t0: float | None = None
        self.rows_flushed = 0
        self.capacity = 0  # rows the stored streams are sized for (>= rows flushed)
        self.outs: dict[str, _ChunkWriter] = {}  # per stream: its chunk being filled, and its encoder
        self.store = None
        self.last_flush_time = 0.0
        self.heartbeat = time.time()
        self.error: StorageError | None = None
        ncam = len(layout.cam_names)
        self.prev_jpeg: list[bytes] = [b""] * ncam
        self.frames_consumed = [0] * ncam
        self.jpeg_bytes = [0] * ncam

    # ---------------------------------------------------------------- setup
    def create_arrays(self) -> None:
        import zarr

        g, cfg, lay = self.group, self.cfg, self.layout
        arrays: dict[str, Any] = {}
        rows, cam_rows = cfg.chunk_rows, cfg.camera_chunk_rows

        def make(key: str, shape: tuple[int, ...], dtype, kind: StreamKind, chunk_rows: int, fill) -> None:
            arrays[key] = g.create_array(
                key, shape=(0, *shape), chunks=(chunk_rows, *shape), dtype=dtype,
                compressors=compressors(kind), fill_value=fill, config=ARRAY_CONFIG,
            )

        make(schema.TIME, (), np.float64, StreamKind.TIME, rows, 0.0)
        for s in lay.numeric:
            make(s.key, s.shape, np.dtype(s.dtype), StreamKind.NUMERIC, rows, 0)
        if lay.has_robot:
            make(f"{schema.ROBOT_GROUP}/{schema.STAMP}", (), np.float64, StreamKind.STAMP, rows, np.nan)
        if lay.has_operator:
            make(f"{schema.OPERATOR_GROUP}/{schema.STAMP}", (), np.float64, StreamKind.STAMP, rows, np.nan)
        for name, (h, w, _) in zip(lay.cam_names, lay.cam_shapes):
            base = f"{schema.CAMERAS_GROUP}/{name}"
            arrays[f"{base}/{schema.JPEG}"] = g.create_array(
                f"{base}/{schema.JPEG}", shape=(0,), chunks=(cam_rows,), dtype=zarr.dtype.VariableLengthBytes(),
                compressors=compressors(StreamKind.JPEG), config=ARRAY_CONFIG,
                attributes={"height": h, "width": w, "encoding": "jpeg", "colorspace": "RGB",
                            "quality": cfg.jpeg_quality},
            )
            make(f"{base}/{schema.STAMP}", (), np.float64, StreamKind.STAMP, rows, np.nan)
            make(f"{base}/{schema.VALID}", (), np.bool_, StreamKind.FLAG, rows, False)
        self.heartbeat = time.time()
        g.update_attributes({
            "streams": {k: {"shape": list(a.shape[1:]), "dtype": str(a.dtype)} for k, a in arrays.items()},
            "cameras": {n: {"height": s[0], "width": s[1]} for n, s in zip(lay.cam_names, lay.cam_shapes)},
            "writer": self.writer_info,
            "heartbeat_unix": self.heartbeat,
        })
        self.arrays = arrays
        self.outs = {key: _ChunkWriter(arr) for key, arr in arrays.items()}
        self.store = g.store_path.store if hasattr(g, "store_path") else g.store

    # ---------------------------------------------------------------- rows
    def take(self, k: int, simplejpeg) -> None:
        """Move row ``k`` from the ring into the batch (encoding its new frames), then ack it."""
        ring, lay, b = self.ring, self.layout, self.batch
        slot = k % lay.queue_size
        if self.error is None:
            if self.t0 is None:
                self.t0 = float(ring.t[slot])
            t0, i = self.t0, b.n
            if i == 0:
                b.first_wall = float(ring.wall[slot])
            b.time[i] = ring.t[slot] - t0
            for dst, src in zip(b.numeric, ring.streams):
                dst[i] = src[slot]
            b.robot_stamp[i] = ring.robot_stamp[slot] - t0
            b.operator_stamp[i] = ring.operator_stamp[slot] - t0
        quality = self.cfg.jpeg_quality
        for c in range(len(lay.cam_names)):
            fs = int(ring.cam_slot[slot, c])
            if fs >= 0:
                if self.error is None:
                    data = simplejpeg.encode_jpeg(
                        ring.frames[c][fs], quality=quality, colorspace="RGB", colorsubsampling="420"
                    )
                    self.prev_jpeg[c] = data
                    ring.stats[_S["frames_encoded"]] += 1
                    self.jpeg_bytes[c] += len(data)
                    ring.stats[len(STAT_FIELDS) + c] = self.jpeg_bytes[c]
                self.frames_consumed[c] += 1
                ring.acks[1 + c] = self.frames_consumed[c]
            if self.error is not None:
                continue
            if fs == NO_FRAME:
                b.cam_jpeg[c][b.n] = b""
                b.cam_stamp[b.n, c] = np.nan
            else:
                b.cam_jpeg[c][b.n] = self.prev_jpeg[c]  # REPEAT_FRAME: the previous encoding again
                b.cam_stamp[b.n, c] = ring.cam_stamp[slot, c] - self.t0
        ring.acks[0] = k + 1
        ring.stats[_S["rows_taken"]] = k + 1
        if self.error is None:
            b.n += 1

    def flush_due(self, now: float) -> bool:
        b = self.batch
        return b.n > 0 and (b.n >= b.capacity or now - b.first_wall >= self.cfg.flush_interval_s)

    def columns(self) -> dict[str, np.ndarray]:
        b, k, lay = self.batch, self.batch.n, self.layout
        cols: dict[str, np.ndarray] = {schema.TIME: b.time[:k]}
        for s, arr in zip(lay.numeric, b.numeric):
            cols[s.key] = arr[:k]
        if lay.has_robot:
            cols[f"{schema.ROBOT_GROUP}/{schema.STAMP}"] = b.robot_stamp[:k]
        if lay.has_operator:
            cols[f"{schema.OPERATOR_GROUP}/{schema.STAMP}"] = b.operator_stamp[:k]
        for c, name in enumerate(lay.cam_names):
            base = f"{schema.CAMERAS_GROUP}/{name}"
            cols[f"{base}/{schema.JPEG}"] = b.cam_jpeg[c][:k]
            cols[f"{base}/{schema.STAMP}"] = b.cam_stamp[:k, c]
            cols[f"{base}/{schema.VALID}"] = ~np.isnan(b.cam_stamp[:k, c])
        return cols

    def flush(self, final: bool = False) -> None:
        """Write the batch to every stream, then commit it with ``n_rows_flushed`` (one attrs write).

        The sink keeps each stream's current chunk in memory and writes whole chunks: it
        encodes them with the array's own codecs (zarr's codec objects, so the bytes are what
        zarr would write) and puts them in the store in one batch of concurrent writes. Zarr
        never reads a chunk back to merge rows, and the per-array overhead of zarr's
        ``setitem`` (a few ms each, for ~35 streams every flush) is gone. Streams grow ahead of
        the rows in steps of :data:`GROW_S`; the final flush sizes every stream to exactly the
        rows written.
        """
        import asyncio

        from zarr.core.sync import sync

        t_start = time.perf_counter()
        if self.arrays is None:
            self.create_arrays()
        b = self.batch
        n0, k = self.rows_flushed, b.n
        n1 = n0 + k
        if final:
            target: int | None = n1 if n1 != self.capacity else None
        elif n1 > self.capacity:
            target = n1 + max(1, round(GROW_S * self.cfg.record_hz))
        else:
            target = None
        if target is None and k == 0:
            return
        writes = []
        if k:
            for key, data in self.columns().items():
                out = self.outs[key]
                pos, i = n0, 0
                while pos < n1:
                    ci = pos // out.rows
                    c0 = ci * out.rows
                    take = min(n1, c0 + out.rows) - pos
                    out.buf[pos - c0: pos - c0 + take] = data[i: i + take]
                    writes.append(out.encode(ci))
                    pos, i = pos + take, i + take
                    if pos == c0 + out.rows:  # chunk complete: the next rows start a new one
                        out.buf[...] = out.fill
        store = self.store
        arrays = self.arrays

        async def write_all() -> None:
            if target is not None:
                await asyncio.gather(*(a._async_array.resize((target, *a.shape[1:]), delete_outside_chunks=False)
                                       for a in arrays.values()))
            await asyncio.gather(*(store.set(key, value) for key, value in writes))

        sync(write_all())
        if target is not None:
            self.capacity = target
        stats = self.ring.stats
        if k:
            self.last_flush_time = float(b.time[k - 1])
            self.heartbeat = time.time()
            self.group.update_attributes(
                {"n_rows_flushed": n1, "last_flush_time": self.last_flush_time, "heartbeat_unix": self.heartbeat}
            )
            unflushed = time.monotonic() - b.first_wall  # the oldest row of this flush waited this long
            stats[_S["max_unflushed_s"]] = max(stats[_S["max_unflushed_s"]], unflushed)
        b.clear()
        dt = time.perf_counter() - t_start
        self.rows_flushed = n1
        stats[_S["rows_flushed"]] = n1
        stats[_S["flushes"]] += 1
        stats[_S["last_flush_time"]] = self.last_flush_time
        stats[_S["last_flush_duration_s"]] = dt
        stats[_S["max_flush_duration_s"]] = max(stats[_S["max_flush_duration_s"]], dt)
        stats[_S["last_flush_mono"]] = time.monotonic()

    def beat(self) -> None:
        """Rewrite the heartbeat if it is due (an open episode with no rows still says it is alive)."""
        if self.error is None and time.time() - self.heartbeat >= HEARTBEAT_S:
            self.heartbeat = time.time()
            self.group.update_attributes({"heartbeat_unix": self.heartbeat})

    def fail(self, exc: BaseException, what: str) -> StorageError:
        err = exc if isinstance(exc, StorageError) else storage_error(exc, what, self.layout.episode_id, self.rows_flushed)
        if err is not exc:
            err.__cause__ = exc
        self.error = err
        self.batch.clear()
        log.error("%s", err)
        if self.group is None:
            return err
        try:  # best effort: the store may be full; recover works without this note
            self.group.update_attributes({"error": str(err)})
        except Exception:  # noqa: BLE001
            pass
        return err

    def finalize(self, status: EpisodeStatus, extra: dict[str, Any], teleop_stats: dict[str, Any]) -> dict[str, Any]:
        """Last flush, then the one attrs write that marks the episode finished; returns the attrs."""
        self.flush(final=True)
        n = self.rows_flushed
        if n == 0 and status is EpisodeStatus.COMPLETE:
            status = EpisodeStatus.DISCARDED
            extra = {**extra, "discard_reason": "no rows were recorded"}
        st = self.ring.stats
        writer_stats = {
            **teleop_stats,
            "flushes": int(st[_S["flushes"]]),
            "max_flush_duration_s": float(st[_S["max_flush_duration_s"]]),
            "max_unflushed_s": float(st[_S["max_unflushed_s"]]),
            "jpeg_bytes": {name: int(b) for name, b in zip(self.layout.cam_names, self.jpeg_bytes)},
        }
        attrs = {
            **extra,
            "status": status.value,
            "n_rows": n,
            "duration_s": self.last_flush_time if n else 0.0,
            "finished_at": utc_now(),
            "writer_stats": writer_stats,
        }
        self.group.update_attributes(attrs)  # the commit: one metadata write
        return dict(self.group.attrs)


def _error_message(err: StorageError) -> tuple:
    return ("error", type(err).__name__, str(err), err.rows_safe)


def run_episode(group, layout: Layout, ring: Ring, cfg, data, ctrl, writer_info: dict[str, Any],
                open_error: BaseException | None = None) -> str:
    """Write one episode until the teleop side finishes it or goes away.

    Returns "finished" (finish/discard handled and answered), or "orphaned" (the teleop
    side vanished: every row it handed over is flushed, the episode stays ``recording``).
    """
    import simplejpeg

    sink = EpisodeSink(group, layout, ring, cfg, writer_info)
    try:
        if open_error is not None:
            raise open_error
        sink.create_arrays()
        ctrl_send(ctrl, ("started", layout.episode_id))
    except BaseException as exc:  # noqa: BLE001 - reported to the teleop side
        ctrl_send(ctrl, _error_message(sink.fail(exc, "opening the episode" if open_error else
                                                  "creating the episode's streams")))
    published = consumed = 0
    final: tuple | None = None
    orphaned = False
    interval = cfg.flush_interval_s
    while True:
        now = time.monotonic()
        if consumed < published or (final is not None and consumed >= final[1]):
            timeout = 0.0
        elif sink.batch.n:
            timeout = max(0.0, sink.batch.first_wall + interval - now)
        else:
            timeout = min(HEARTBEAT_S, 0.5)
        if not orphaned:
            for conn in wait([data, ctrl], timeout):
                try:
                    if conn is data:
                        while data.poll():
                            published = max(published, COUNT.unpack(data.recv_bytes())[0])
                    elif final is None:
                        final = ctrl.recv()
                except (EOFError, OSError):
                    orphaned = True
        if orphaned:  # the teleop process is gone: whatever is in the pipe is all there will be
            try:
                while data.poll():
                    published = max(published, COUNT.unpack(data.recv_bytes())[0])
            except (EOFError, OSError):
                pass
        while consumed < published and sink.batch.n < sink.batch.capacity:
            sink.take(consumed, simplejpeg)  # every row that is ready, then flush (if due) once
            consumed += 1
        if sink.error is None and sink.flush_due(time.monotonic()):
            try:
                sink.flush()
            except BaseException as exc:  # noqa: BLE001
                ctrl_send(ctrl, _error_message(sink.fail(exc, "flushing rows")))
        if final is not None and consumed >= final[1]:
            _, _, status, extra, teleop_stats = final
            if sink.error is not None:
                ctrl_send(ctrl, _error_message(sink.error))
                return "finished"
            try:
                attrs = sink.finalize(EpisodeStatus(status), extra, teleop_stats)
            except BaseException as exc:  # noqa: BLE001
                ctrl_send(ctrl, _error_message(sink.fail(exc, "finalizing")))
                return "finished"
            ctrl_send(ctrl, ("done", attrs))
            return "finished"
        if orphaned and consumed >= published:
            if sink.error is None:
                try:
                    sink.flush()
                    group.update_attributes({"writer_exit": (
                        f"the teleop process ended without finishing the episode; its writer flushed all "
                        f"{sink.rows_flushed} rows it had been handed ({utc_now()})")})
                except BaseException as exc:  # noqa: BLE001
                    sink.fail(exc, "flushing the rows of an abandoned episode")
            return "orphaned"
        try:
            sink.beat()
        except BaseException as exc:  # noqa: BLE001
            ctrl_send(ctrl, _error_message(sink.fail(exc, "writing the heartbeat")))


def ctrl_send(ctrl, msg) -> None:
    try:
        ctrl.send(msg)
    except (OSError, EOFError):  # the teleop side is gone; the attrs say what happened
        pass


def writer_info(parent_pid: int) -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "teleop_pid": parent_pid}
