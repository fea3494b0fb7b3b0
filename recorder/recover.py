"""Recovery of interrupted episodes (crash, ``kill -9``, full disk, power loss).

An episode left with ``status=recording`` has a commit point: ``n_rows_flushed``, written
after every stream of a flush was written. Recovery keeps exactly those rows:

1. ``n = n_rows_flushed``; every stream is checked chunk by chunk up to ``n`` and ``n`` is
   lowered to the first row of any chunk that is missing or does not decode;
2. every stream is resized to ``n`` (rows written after the last commit are cut off);
3. the attrs become ``status=recovered``, ``n_rows=n``, ``duration_s``, ``recovered_at``.

An episode interrupted before its first flush has nothing to keep; it becomes
``discarded`` with that reason. Complete, discarded and recovered episodes are never touched.
"""

from __future__ import annotations

import datetime
import socket
import time
from dataclasses import dataclass

import numpy as np

from recorder import schema
from recorder.reader import Dataset
from recorder.ring import pid_alive
from recorder.exceptions import RecorderError
from recorder.schema import EpisodeStatus
from recorder.store import storage_error
from recorder.validate import check_stream_chunks


@dataclass(frozen=True)
class RecoveryResult:
    """What recovery did to one episode.

    Attributes:
        episode_id: the episode.
        status: its status afterwards (RECOVERED or DISCARDED).
        rows_kept: rows kept [rows]; rows_cut: rows written after the last commit or in a bad chunk.
        duration_s: time of the last kept row [s].
        reason: why rows were cut, in operator words.
    """

    episode_id: str
    status: EpisodeStatus
    rows_kept: int
    rows_cut: int
    duration_s: float
    reason: str


#: An episode whose writer's heartbeat (rewritten every 2 s while open) is younger than this
#: may still be recording [s].
LIVE_GUARD_S = 10.0


def still_recording(attrs: dict) -> str | None:
    """Why an episode with status ``recording`` may be live (its writer still running), or None.

    Not live: the writer recorded its own failure or exit (``error``, ``writer_exit``), or
    runs on this host under a process id that no longer exists (the writer process in
    process mode), or its heartbeat is older than :data:`LIVE_GUARD_S`.
    """
    if attrs.get("error") or attrs.get("writer_exit"):
        return None
    writer = attrs.get("writer") or {}
    if writer.get("host") == socket.gethostname() and writer.get("pid"):
        if not pid_alive(int(writer["pid"])):  # the process that writes (a zombie counts as gone)
            return None
    age = time.time() - float(attrs.get("heartbeat_unix", 0.0) or 0.0)
    if age < LIVE_GUARD_S:
        where = f"process {writer.get('pid')} on {writer.get('host', 'another machine')}"
        return f"its writer, {where}, was alive {age:.1f} s ago"
    return None


def recover_episode(dataset: Dataset, episode_id: str, dry_run: bool = False,
                    force: bool = False) -> RecoveryResult | None:
    """Recover one interrupted episode; None when it is not interrupted.

    Raises:
        RecorderError: the episode may still be recording (its writer is alive); ``force`` overrides.
    """
    reader = dataset.episode(episode_id)
    attrs = reader.attrs
    if reader.status is not EpisodeStatus.RECORDING:
        return None
    live = still_recording(attrs)
    if live and not force:
        raise RecorderError(
            f"{episode_id} looks like it is still being recorded ({live}); stop that recording first, "
            f"or pass --force if its writer is gone"
        )
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    n = int(attrs.get("n_rows_flushed", 0) or 0)
    streams = reader.streams()
    reasons = []
    if attrs.get("error"):
        reasons.append(f"it stopped with: {attrs['error']}")
    if n == 0 or not streams:
        result = RecoveryResult(episode_id, EpisodeStatus.DISCARDED, 0, 0, 0.0, "interrupted before any row was flushed")
        if not dry_run:
            reader._write_attrs({"status": result.status.value, "n_rows": 0, "duration_s": 0.0,
                                 "discard_reason": result.reason, "recovered_at": now})
        return result
    longest = 0
    for name in streams:
        try:
            longest = max(longest, reader.array(name).shape[0])
        except Exception:  # noqa: BLE001 - check_stream_chunks reports it below
            pass
    for name in streams:
        problems, good = check_stream_chunks(reader, name, n)
        if good < n:
            reasons.append("; ".join(problems))
            n = good
    if n == 0:
        result = RecoveryResult(episode_id, EpisodeStatus.DISCARDED, 0, longest, 0.0,
                                "no readable rows: " + "; ".join(reasons))
        if not dry_run:
            reader._write_attrs({"status": result.status.value, "n_rows": 0, "duration_s": 0.0,
                                 "discard_reason": result.reason, "recovered_at": now})
        return result
    time_last = float(reader.read(schema.TIME, n - 1, n)[0])
    cut = 0
    try:  # rows written after the commit point: later times (never-written rows read as 0.0)
        beyond = reader.array(schema.TIME)[n:longest] if longest > n else np.empty(0)
        cut = int(np.sum(beyond > time_last))
    except Exception:  # noqa: BLE001 - a damaged chunk past the commit point is cut anyway
        cut = max(0, longest - n)
    if cut:
        reasons.append(f"{cut} rows written after the last commit were cut")
    result = RecoveryResult(episode_id, EpisodeStatus.RECOVERED, n, cut, time_last,
                            "; ".join(reasons) or "interrupted after its last flush")
    if dry_run:
        return result
    try:
        for name in streams:
            arr = reader.array(name)
            if arr.shape[0] != n:
                arr.resize((n, *arr.shape[1:]))
    except Exception as exc:  # noqa: BLE001
        raise storage_error(exc, f"truncating {episode_id} during recovery", episode_id, n) from exc
    reader._write_attrs({
        "status": EpisodeStatus.RECOVERED.value,
        "n_rows": n,
        "duration_s": time_last,
        "recovered_at": now,
        "recovery_note": result.reason,
    })
    return result


def recover_dataset(dataset: Dataset, dry_run: bool = False, force: bool = False) -> list[RecoveryResult]:
    """Recover every interrupted episode of ``dataset``; returns what was done to each."""
    results = []
    for info in dataset.episodes(include_deleted=True, status=EpisodeStatus.RECORDING):
        result = recover_episode(dataset, info.episode_id, dry_run=dry_run, force=force)
        if result is not None:
            results.append(result)
    return results
