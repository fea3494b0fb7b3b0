"""Dataset and EpisodeReader: listing, windowed reads of any stream, frame decode, annotations.

Reads are chunk-aligned: a window ``[start, stop)`` of a stream reads the whole chunks that
cover it once and keeps them in a small per-episode LRU cache, so the trainer's sliding
windows and the UI's scrubbing decode each chunk once.
"""

from __future__ import annotations

import collections
import datetime
import math
import threading
from typing import Any

import numpy as np

from recorder import schema
from recorder.exceptions import (
    CorruptDataError,
    DatasetNotFoundError,
    EpisodeNotFoundError,
    RecorderError,
)
from recorder.info import EpisodeInfo
from recorder.schema import EpisodeStatus
from recorder.store import describe, open_store, storage_error
from recorder.writer import RESERVED_ATTRS, jsonable

#: Annotation attributes ``update_attrs`` accepts (anything else not reserved is stored as is).
ANNOTATION_KEYS = ("segments", "tags", "notes", "success", "trim", "task", "instruction")
#: Default budget of a reader's chunk cache [bytes].
DEFAULT_CACHE_BYTES = 256 * 2**20


def _nbytes(value: np.ndarray) -> int:
    return value.nbytes if value.dtype != object else sum(len(v) for v in value) + 8 * len(value)


class _ChunkCache:
    """Least-recently-used cache of decoded chunks, bounded in bytes; safe to share between threads."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: collections.OrderedDict[tuple[str, int], tuple[np.ndarray, int]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int]) -> np.ndarray | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: tuple[str, int], value: np.ndarray) -> None:
        size = _nbytes(value)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            self._items[key] = (value, size)
            self.bytes += size
            while self.bytes > self.max_bytes and len(self._items) > 1:
                _, (_, old_size) = self._items.popitem(last=False)
                self.bytes -= old_size


class EpisodeReader:
    """Random access to one episode's streams. Made by :meth:`Dataset.episode`.

    Stream names are the paths under the episode group: ``time``, ``state``, ``action``,
    ``robot/q``, ``operator/head_pose``, ``cameras/head/stamp``, ...
    """

    def __init__(self, dataset: "Dataset", group, episode_id: str, cache_bytes: int = DEFAULT_CACHE_BYTES):
        self.dataset = dataset
        self._group = group
        self.episode_id = episode_id
        self._arrays: dict[str, Any] = {}
        self._cache = _ChunkCache(cache_bytes)
        self._time: np.ndarray | None = None
        self._set_attrs(dict(group.attrs))

    def _set_attrs(self, attrs: dict[str, Any]) -> None:
        self._attrs = attrs
        self._info = EpisodeInfo.from_attrs(self.episode_id, attrs)
        self._cameras = dict(attrs.get("cameras", {}))
        self._layout: dict[str, tuple[Any, int, int]] = {}  # name -> (array, rows readable, rows per chunk)

    # ---------------------------------------------------------------- metadata
    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self._attrs)

    @property
    def info(self) -> EpisodeInfo:
        return self._info

    @property
    def status(self) -> EpisodeStatus:
        return self.info.status

    @property
    def n_rows(self) -> int:
        """Rows of the episode; for one still RECORDING, the rows committed by its last flush."""
        return self._info.n_rows

    @property
    def record_hz(self) -> float:
        return float(self._attrs.get("record_hz", self.dataset.record_hz))

    @property
    def cameras(self) -> list[str]:
        return list(self._cameras)

    def streams(self) -> list[str]:
        """Every stored stream (array) name of this episode."""
        return sorted(self._attrs.get("streams", {}))

    @property
    def time(self) -> np.ndarray:
        """(T,) seconds since the first row [s]."""
        if self._time is None:
            self._time = self.read(schema.TIME)
        return self._time

    # ---------------------------------------------------------------- arrays
    def array(self, name: str):
        """The zarr array of stream ``name`` (raises with the valid names if absent)."""
        arr = self._arrays.get(name)
        if arr is None:
            try:
                arr = self._group[name]
            except KeyError:
                raise EpisodeNotFoundError(
                    f"episode {self.episode_id} has no stream '{name}'; streams: {', '.join(self.streams())}"
                ) from None
            if not hasattr(arr, "chunks"):
                raise RecorderError(f"'{name}' in episode {self.episode_id} is a group, not a stream")
            self._arrays[name] = arr
        return arr

    def _chunk(self, name: str, arr, index: int) -> np.ndarray:
        key = (name, index)
        data = self._cache.get(key)
        if data is None:
            rows = arr.chunks[0]
            start = index * rows
            stop = min(start + rows, arr.shape[0])
            try:
                data = arr[start:stop]
            except Exception as exc:  # noqa: BLE001 - codec/checksum errors vary by codec
                raise CorruptDataError(
                    f"episode {self.episode_id}: stream '{name}' chunk {index} (rows {start}-{stop - 1}) "
                    f"cannot be read: {type(exc).__name__}: {exc}. Run `psi-teleop dataset validate` for a full report"
                ) from exc
            self._cache.put(key, data)
        return data

    def read(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Rows ``[start, stop)`` of stream ``name`` (clipped to the episode), chunk-aligned and cached.

        Negative indices count from the end, as for Python slices.
        """
        layout = self._layout.get(name)
        if layout is None:
            arr = self.array(name)
            layout = self._layout[name] = (arr, min(self.n_rows, arr.shape[0]), arr.chunks[0])
        arr, n, rows = layout
        start, stop, _ = slice(start, stop).indices(n)
        if stop <= start:
            return np.empty((0, *arr.shape[1:]), dtype=object if arr.dtype.kind in "OTV" else arr.dtype)
        first, last = start // rows, (stop - 1) // rows
        if first == last:
            chunk = self._chunk(name, arr, first)
            return chunk[start - first * rows: stop - first * rows]
        parts = []
        for c in range(first, last + 1):
            chunk = self._chunk(name, arr, c)
            lo = max(start, c * rows) - c * rows
            hi = min(stop, (c + 1) * rows) - c * rows
            parts.append(chunk[lo:hi])
        return np.concatenate(parts)

    def jpeg(self, camera: str, index: int) -> bytes:
        """The stored JPEG of row ``index`` of ``camera`` (b"" when that row has no frame)."""
        data = self.read(f"{schema.CAMERAS_GROUP}/{camera}/{schema.JPEG}", index, index + 1)
        if len(data) == 0:
            raise IndexError(f"row {index} is outside episode {self.episode_id} (0..{self.n_rows - 1})")
        return bytes(data[0])

    def frame(self, camera: str, index: int, fast: bool = False, out: np.ndarray | None = None) -> np.ndarray:
        """Decoded frame (H, W, 3) uint8 RGB of row ``index``; zeros if the row has no frame.

        ``fast`` uses libjpeg-turbo's fast integer IDCT and upsampling: about a quarter
        faster, pixels within a few grey levels of the exact decode (what training wants).
        ``out``: a C-contiguous (H, W, 3) uint8 array to decode into (no allocation).
        """
        if camera not in self._cameras:
            raise EpisodeNotFoundError(
                f"episode {self.episode_id} has no camera '{camera}'; cameras: {', '.join(self.cameras) or 'none'}"
            )
        if index < 0:
            index += self.n_rows
        return self._decode(camera, index, self.jpeg(camera, index), fast, out)

    def _decode(self, camera: str, index: int, data: bytes, fast: bool = False,
                out: np.ndarray | None = None) -> np.ndarray:
        import simplejpeg

        shape = self._cameras[camera]
        if not data:
            if out is not None:
                out[...] = 0
                return out
            return np.zeros((shape["height"], shape["width"], 3), np.uint8)
        try:
            return simplejpeg.decode_jpeg(data, colorspace="RGB", fastdct=fast, fastupsample=fast, buffer=out)
        except ValueError as exc:
            raise CorruptDataError(
                f"episode {self.episode_id}: camera '{camera}' frame {index} is not a valid JPEG ({exc})"
            ) from exc

    def frames(self, camera: str, start: int = 0, stop: int | None = None, fast: bool = False) -> np.ndarray:
        """Decoded frames ``[start, stop)`` of ``camera`` as (N, H, W, 3) uint8 (``fast``: see :meth:`frame`)."""
        if camera not in self._cameras:
            raise EpisodeNotFoundError(
                f"episode {self.episode_id} has no camera '{camera}'; cameras: {', '.join(self.cameras) or 'none'}"
            )
        start, stop, _ = slice(start, stop).indices(self.n_rows)
        data = self.read(f"{schema.CAMERAS_GROUP}/{camera}/{schema.JPEG}", start, stop)
        shape = self._cameras[camera]
        out = np.empty((len(data), shape["height"], shape["width"], 3), np.uint8)
        for i, d in enumerate(data):
            out[i] = self._decode(camera, start + i, bytes(d), fast)
        return out

    # ---------------------------------------------------------------- annotations
    def update_attrs(self, **changes: Any) -> EpisodeInfo:
        """Write annotations into the episode's attrs (no array is rewritten).

        Recognised keys are checked: ``success`` (True/False/None), ``tags`` (list of str),
        ``notes`` (str), ``segments`` (list of {"start": s, "end": s, "label": str} [s],
        0 <= start <= end <= duration), ``trim`` ([start_s, end_s] or None), ``task``,
        ``instruction``. Other non-reserved keys are stored as given.
        """
        clash = sorted(RESERVED_ATTRS.intersection(changes) | ({"deleted"} & set(changes)))
        if clash:
            raise RecorderError(f"update_attrs cannot change {clash}; those are owned by the recorder tools")
        duration = float(self._attrs.get("duration_s", 0.0) or 0.0)
        tol = 1.0 / self.record_hz
        if "success" in changes and changes["success"] not in (True, False, None):
            raise RecorderError(f"success must be True, False or None, got {changes['success']!r}")
        if "tags" in changes:
            tags = changes["tags"]
            if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
                raise RecorderError(f"tags must be a list of strings, got {tags!r}")
            changes["tags"] = list(dict.fromkeys(tags))
        if "notes" in changes and not isinstance(changes["notes"], str):
            raise RecorderError(f"notes must be a string, got {type(changes['notes']).__name__}")
        if "segments" in changes:
            segs = []
            for seg in changes["segments"]:
                try:
                    start, end, label = float(seg["start"]), float(seg["end"]), str(seg.get("label", ""))
                except (KeyError, TypeError, ValueError):
                    raise RecorderError(
                        f"segment {seg!r} must be a dict with 'start' and 'end' in seconds and a 'label'"
                    ) from None
                if not (0.0 <= start <= end <= duration + tol):
                    raise RecorderError(
                        f"segment {seg!r} must satisfy 0 <= start <= end <= {duration:.3f} s (the episode's duration)"
                    )
                segs.append({**jsonable(seg), "start": start, "end": end, "label": label})
            changes["segments"] = sorted(segs, key=lambda s: (s["start"], s["end"]))
        if "trim" in changes and changes["trim"] is not None:
            try:
                lo, hi = (float(x) for x in changes["trim"])
            except (TypeError, ValueError):
                raise RecorderError(f"trim must be [start_s, end_s] or None, got {changes['trim']!r}") from None
            if not (0.0 <= lo < hi <= duration + tol):
                raise RecorderError(f"trim {changes['trim']!r} must satisfy 0 <= start < end <= {duration:.3f} s")
            changes["trim"] = [lo, hi]
        for key in ("task", "instruction"):
            if key in changes and not isinstance(changes[key], str):
                raise RecorderError(f"{key} must be a string, got {changes[key]!r}")
        changes = jsonable(changes)
        changes["annotated_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        self._write_attrs(changes)
        return self.info

    def _write_attrs(self, changes: dict[str, Any]) -> None:
        try:
            self._group.update_attributes(changes)
        except Exception as exc:  # noqa: BLE001
            raise storage_error(exc, f"updating the attributes of {self.episode_id}", self.episode_id) from exc
        self._set_attrs(dict(self._group.attrs))


class Dataset:
    """A dataset of episodes, opened for reading (and annotating). Use :meth:`open`."""

    def __init__(self, root, location: Any):
        self.root = root
        self.location = location
        self.attrs = dict(root.attrs)

    @classmethod
    def open(cls, location: Any, read_only: bool = False) -> "Dataset":
        """Open the dataset at a path, fsspec URL or zarr Store.

        Raises:
            DatasetNotFoundError: nothing there, or not a psi-teleop dataset.
        """
        import zarr

        store = open_store(location, read_only=read_only)
        try:
            root = zarr.open_group(store, mode="r" if read_only else "r+", zarr_format=3)
        except (FileNotFoundError, zarr.errors.GroupNotFoundError) as exc:
            raise DatasetNotFoundError(
                f"no dataset at {describe(location)}; record one with `psi-teleop demo` or check the path"
            ) from exc
        except Exception as exc:  # noqa: BLE001
            if isinstance(exc, OSError):
                raise storage_error(exc, f"opening {describe(location)}") from exc
            raise DatasetNotFoundError(f"cannot open a dataset at {describe(location)}: {exc}") from exc
        if root.attrs.get("format") != schema.FORMAT:
            raise DatasetNotFoundError(
                f"{describe(location)} is not a psi-teleop dataset (its 'format' attribute is "
                f"{root.attrs.get('format')!r}, expected {schema.FORMAT!r})"
            )
        version = root.attrs.get("schema_version", 0)
        if version > schema.SCHEMA_VERSION:
            raise RecorderError(
                f"{describe(location)} uses schema version {version}; this psi-teleop reads up to "
                f"{schema.SCHEMA_VERSION}. Upgrade psi-teleop"
            )
        return cls(root, location)

    @property
    def record_hz(self) -> float:
        return float(self.attrs.get("record_hz", 30.0))

    def _episodes_group(self):
        try:
            return self.root[schema.EPISODES_GROUP]
        except KeyError:
            return None

    def episode_ids(self) -> list[str]:
        """Every episode id (deleted ones included), sorted."""
        g = self._episodes_group()
        return [] if g is None else sorted(g.group_keys())

    def episodes(self, include_deleted: bool = False, status: EpisodeStatus | None = None) -> list[EpisodeInfo]:
        """Episodes sorted by id, with their attrs; soft-deleted ones only when asked."""
        g = self._episodes_group()
        if g is None:
            return []
        out = []
        for eid, sub in sorted(g.groups(), key=lambda kv: kv[0]):
            info = EpisodeInfo.from_attrs(eid, dict(sub.attrs))
            if info.deleted and not include_deleted:
                continue
            if status is not None and info.status is not status:
                continue
            out.append(info)
        return out

    def episode(self, episode_id: str | int, cache_bytes: int = DEFAULT_CACHE_BYTES) -> EpisodeReader:
        """A reader of one episode (by id, or by index into :meth:`episode_ids`)."""
        ids = self.episode_ids()
        if isinstance(episode_id, int):
            if not -len(ids) <= episode_id < len(ids):
                raise EpisodeNotFoundError(f"episode index {episode_id} out of range; the dataset has {len(ids)}")
            episode_id = ids[episode_id]
        if episode_id not in ids:
            shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
            raise EpisodeNotFoundError(f"no episode '{episode_id}' in {describe(self.location)}; episodes: {shown or 'none'}")
        return EpisodeReader(self, self.root[f"{schema.EPISODES_GROUP}/{episode_id}"], episode_id, cache_bytes)

    def __len__(self) -> int:
        return len(self.episodes())

    def summary(self) -> dict[str, Any]:
        """Counts for ``dataset info``: episodes by status, duration, tasks, success rate, annotation coverage."""
        eps = self.episodes()
        usable = [e for e in eps if e.usable]
        judged = [e for e in usable if e.success is not None]
        by_task: dict[str, dict[str, float]] = {}
        for e in usable:
            t = by_task.setdefault(e.task or "-", {"episodes": 0, "duration_s": 0.0, "success": 0, "judged": 0})
            t["episodes"] += 1
            t["duration_s"] += e.duration_s
            if e.success is not None:
                t["judged"] += 1
                t["success"] += int(bool(e.success))
        total = sum(e.duration_s for e in usable)
        annotated = sum(e.duration_s for e in usable if e.segments)
        return {
            "episodes": len(eps),
            "usable": len(usable),
            "by_status": dict(collections.Counter(e.status.value for e in eps)),
            "deleted": len(self.episodes(include_deleted=True)) - len(eps),
            "duration_s": total,
            "success_rate": (sum(bool(e.success) for e in judged) / len(judged)) if judged else math.nan,
            "judged": len(judged),
            "annotated_episodes": sum(1 for e in usable if e.segments or e.tags or e.notes),
            "segment_coverage": (
                sum(min(e.duration_s, sum(s["end"] - s["start"] for s in e.segments)) for e in usable) / total
                if total else math.nan
            ),
            "annotated_duration_s": annotated,
            "by_task": by_task,
        }
