"""Validation: is every episode complete, readable and synchronized? Says what is wrong.

For each episode the validator

* checks the status (an interrupted ``recording`` episode is a problem: run ``recover``),
* reads every chunk of every stream (a CRC32C on each chunk makes corruption fail loudly)
  and names the chunk that cannot be read or is missing,
* checks that every stream has ``n_rows`` rows, that ``time`` is finite and increasing, and
  counts rows the writer had to drop,
* measures each stream's alignment error ``e_k = time_k - stamp_k`` (the age of the stream's
  sample at tick k [s]) and reports ``max |e|`` and the 99th percentile of ``|e|``,
* per camera: rows without a frame, repeated frames (no new frame since the previous row),
  and JPEG headers that do not decode or do not match the stored size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recorder import schema
from recorder.reader import Dataset, EpisodeReader
from recorder.schema import EpisodeStatus


@dataclass(frozen=True)
class StreamAlignment:
    """Alignment error of one stream over an episode [ms]; ``missing``: rows with no stamp."""

    stream: str
    max_ms: float
    p99_ms: float
    missing: int


@dataclass(frozen=True)
class CameraReport:
    """Frame statistics of one camera over an episode."""

    name: str
    rows: int
    invalid_rows: int  # rows with no frame (camera had no fresh valid frame at that tick)
    repeated_frames: int  # rows whose frame has the same stamp as the previous row's
    mean_frame_bytes: float  # [bytes]
    mb_per_s: float  # [MB/s of recording]


@dataclass
class EpisodeReport:
    """Findings for one episode; ``problems`` make ``validate`` fail, ``notes`` do not."""

    episode_id: str
    status: str
    n_rows: int
    duration_s: float
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    alignment: list[StreamAlignment] = field(default_factory=list)
    cameras: list[CameraReport] = field(default_factory=list)
    gaps: int = 0  # rows where the spacing exceeded 1.5 record periods
    dropped_rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class DatasetReport:
    """Findings for a whole dataset."""

    location: str
    episodes: list[EpisodeReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(e.ok for e in self.episodes)


def _chunk_key_exists(arr, chunk_index: int) -> bool:
    from zarr.core.sync import sync

    coords = (chunk_index,) + (0,) * (len(arr.shape) - 1)
    key = arr.metadata.encode_chunk_key(coords)
    sp = arr._async_array.store_path
    return bool(sync(sp.store.exists(f"{sp.path}/{key}" if sp.path else key)))


def check_stream_chunks(reader: EpisodeReader, name: str, n_rows: int) -> tuple[list[str], int]:
    """Read every chunk of stream ``name``; return (problems, first row that cannot be trusted).

    The returned row is ``n_rows`` when the whole stream is fine, otherwise the first row of
    the first missing or unreadable chunk (where ``recover`` truncates).
    """
    problems: list[str] = []
    try:
        arr = reader.array(name)
    except Exception as exc:  # noqa: BLE001 - a missing or unreadable array metadata document
        return [f"stream '{name}' cannot be opened: {type(exc).__name__}: {exc}"], 0
    if arr.shape[0] < n_rows:
        problems.append(f"stream '{name}' has {arr.shape[0]} rows, expected {n_rows}")
    rows = arr.chunks[0]
    good_until = min(n_rows, arr.shape[0])
    for c in range(0, (min(n_rows, arr.shape[0]) + rows - 1) // rows):
        lo, hi = c * rows, min((c + 1) * rows, n_rows)
        where = f"stream '{name}' chunk {c} (rows {lo}-{hi - 1})"
        try:
            if not _chunk_key_exists(arr, c):
                problems.append(f"{where} is missing from the store")
                good_until = min(good_until, lo)
                break
            arr[lo:hi]
        except Exception as exc:  # noqa: BLE001 - codec and checksum errors differ by codec
            problems.append(f"{where} is corrupt: {type(exc).__name__}: {exc}")
            good_until = min(good_until, lo)
            break
    return problems, good_until


def _alignment(name: str, time: np.ndarray, stamp: np.ndarray) -> StreamAlignment:
    ok = np.isfinite(stamp)
    err_ms = np.abs(time[ok] - stamp[ok]) * 1e3
    if err_ms.size == 0:
        return StreamAlignment(name, float("nan"), float("nan"), int((~ok).sum()))
    return StreamAlignment(name, float(err_ms.max()), float(np.percentile(err_ms, 99)), int((~ok).sum()))


def validate_episode(reader: EpisodeReader, check_frames: bool = True) -> EpisodeReport:
    """Validate one episode (see the module docstring for what is checked)."""
    import simplejpeg

    info = reader.info
    report = EpisodeReport(info.episode_id, info.status.value, info.n_rows, info.duration_s)
    attrs = reader.attrs
    if info.status is EpisodeStatus.RECORDING:
        from recorder.recover import still_recording

        live = still_recording(attrs)
        if live:
            report.problems.append(f"still being recorded ({live}; {info.n_rows} rows so far): validate it "
                                   f"once the recording has ended")
        else:
            report.problems.append(
                f"interrupted while recording ({info.n_rows} rows flushed"
                + (f"; {attrs['error']}" if attrs.get("error") else "")
                + "): run `psi-teleop dataset recover PATH` to keep those rows"
            )
    elif info.status is EpisodeStatus.DISCARDED:
        report.notes.append(f"discarded ({attrs.get('discard_reason') or 'no reason given'})")
    if info.deleted:
        report.notes.append("soft-deleted (undo with `psi-teleop dataset delete PATH ID --undo`)")
    n = info.n_rows
    streams = reader.streams()
    if n == 0:
        return report
    if not streams:
        report.problems.append("has rows but no stream list in its attrs (metadata damaged)")
        return report
    for name in streams:
        problems, _ = check_stream_chunks(reader, name, n)
        report.problems.extend(problems)
    if report.problems and any("chunk" in p or "cannot be opened" in p for p in report.problems):
        return report  # numbers below would read the damaged chunks again
    time = reader.read(schema.TIME)
    if not np.isfinite(time).all():
        report.problems.append(f"time has {int((~np.isfinite(time)).sum())} non-finite values")
    dt = np.diff(time)
    if (dt <= 0).any():
        bad = int(np.flatnonzero(dt <= 0)[0]) + 1
        report.problems.append(f"time is not increasing at row {bad} ({time[bad - 1]:.4f} s -> {time[bad]:.4f} s)")
    period = 1.0 / reader.record_hz
    report.gaps = int((dt > 1.5 * period).sum())
    if report.gaps:
        report.notes.append(
            f"{report.gaps} gaps longer than 1.5 record periods (largest {dt.max() * 1e3:.1f} ms): the loop ran late"
        )
    report.dropped_rows = int(attrs.get("writer_stats", {}).get("dropped_rows", 0))
    if report.dropped_rows:
        report.problems.append(
            f"{report.dropped_rows} rows were dropped by the writer (its queue was full): the disk or CPU was too slow"
        )
    for key in (schema.STATE, schema.ACTION):
        if key in streams:
            values = reader.read(key)
            bad = ~np.isfinite(values).all(axis=1)
            if bad.any():
                report.problems.append(f"{key} has non-finite values in {int(bad.sum())} rows (first: {int(np.flatnonzero(bad)[0])})")
    for group in (schema.ROBOT_GROUP, schema.OPERATOR_GROUP):
        key = f"{group}/{schema.STAMP}"
        if key in streams:
            report.alignment.append(_alignment(group, time, reader.read(key)))
    for cam in reader.cameras:
        base = f"{schema.CAMERAS_GROUP}/{cam}"
        stamp = reader.read(f"{base}/{schema.STAMP}")
        valid = reader.read(f"{base}/{schema.VALID}")
        report.alignment.append(_alignment(f"{base}", time, stamp))
        jpeg = reader.read(f"{base}/{schema.JPEG}")
        sizes = np.array([len(b) for b in jpeg])
        repeated = int(np.sum(valid[1:] & valid[:-1] & (stamp[1:] == stamp[:-1])))
        duration = max(info.duration_s, period)
        report.cameras.append(
            CameraReport(cam, n, int((~valid).sum()), repeated, float(sizes[valid].mean()) if valid.any() else 0.0,
                         float(sizes.sum()) / 1e6 / duration)
        )
        if (sizes[valid] == 0).any() or (sizes[~valid] != 0).any():
            report.problems.append(f"camera '{cam}': the valid flags disagree with the stored frames")
        if check_frames:
            shape = attrs["cameras"][cam]
            for i in np.flatnonzero(valid):
                try:
                    h, w, _, _ = simplejpeg.decode_jpeg_header(bytes(jpeg[i]))
                except ValueError as exc:
                    report.problems.append(f"camera '{cam}' frame {i} is not a valid JPEG ({exc})")
                    continue
                if (h, w) != (shape["height"], shape["width"]):
                    report.problems.append(
                        f"camera '{cam}' frame {i} is {h}x{w}, expected {shape['height']}x{shape['width']}"
                    )
    return report


def validate_dataset(
    dataset: Dataset,
    include_deleted: bool = True,
    check_frames: bool = True,
    progress: Callable[[str], Any] | None = None,
) -> DatasetReport:
    """Validate every episode of ``dataset`` (deleted ones too, by default)."""
    from recorder.store import describe

    report = DatasetReport(describe(dataset.location))
    for info in dataset.episodes(include_deleted=include_deleted):
        if progress is not None:
            progress(info.episode_id)
        try:
            reader = dataset.episode(info.episode_id)
            report.episodes.append(validate_episode(reader, check_frames=check_frames))
        except Exception as exc:  # noqa: BLE001 - one broken episode must not hide the others
            ep = EpisodeReport(info.episode_id, info.status.value, info.n_rows, info.duration_s)
            ep.problems.append(f"cannot be validated: {type(exc).__name__}: {exc}")
            report.episodes.append(ep)
    return report
