"""Dataset housekeeping: soft delete (undoable) and merging datasets.

Deleting only sets ``deleted=true`` (and when) in the episode's attrs: listings and training
skip it, nothing is removed, ``--undo`` brings it back. Merging copies the stored objects
of each episode byte for byte (no re-encoding) under a new id in the destination, writing
the episode's attrs last so an interrupted merge leaves a ``recording`` episode that
``recover``/``validate`` flag instead of a half-copied ``complete`` one.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from recorder import schema
from recorder.exceptions import EpisodeNotFoundError, RecorderError
from recorder.info import EpisodeInfo
from recorder.reader import Dataset
from recorder.schema import EpisodeStatus
from recorder.store import describe, storage_error

#: Objects copied concurrently while merging (store round trips in flight).
_COPY_CONCURRENCY = 32


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def set_deleted(dataset: Dataset, episode_ids: Iterable[str], deleted: bool = True) -> list[EpisodeInfo]:
    """Soft-delete (or, with ``deleted=False``, restore) episodes; returns their new infos."""
    ids = list(episode_ids)
    known = set(dataset.episode_ids())
    missing = [e for e in ids if e not in known]
    if missing:
        raise EpisodeNotFoundError(
            f"no episode {', '.join(missing)} in {describe(dataset.location)}; "
            f"see `psi-teleop dataset list PATH --all` for the ids"
        )
    out = []
    for eid in ids:
        reader = dataset.episode(eid)
        reader._write_attrs({"deleted": deleted, ("deleted_at" if deleted else "restored_at"): _now()})
        out.append(reader.info)
    return out


@dataclass(frozen=True)
class MergedEpisode:
    """One episode copied by :func:`merge_datasets`."""

    source: str
    source_id: str
    episode_id: str
    n_rows: int


def _copy_prefix(src_store, src_prefix: str, dst_store, dst_prefix: str, skip: set[str]) -> int:
    """Copy every object under ``src_prefix`` to ``dst_prefix``; returns the bytes copied."""
    import asyncio

    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    proto = default_buffer_prototype()

    async def run() -> int:
        keys = [k async for k in src_store.list_prefix(src_prefix) if k not in skip]
        total = 0
        sem = asyncio.Semaphore(_COPY_CONCURRENCY)

        async def one(key: str) -> int:
            async with sem:
                buf = await src_store.get(key, prototype=proto)
                if buf is None:
                    return 0
                await dst_store.set(dst_prefix + key[len(src_prefix):], buf)
                return len(buf)

        for n in await asyncio.gather(*(one(k) for k in keys)):
            total += n
        return total

    return sync(run())


def merge_datasets(
    sources: Iterable[Any],
    destination: Any,
    include_discarded: bool = False,
    progress: Callable[[str], Any] | None = None,
) -> list[MergedEpisode]:
    """Copy the episodes of ``sources`` into ``destination`` (created if needed) under new ids.

    Copies complete and recovered episodes that are not deleted (and discarded ones with
    ``include_discarded``); interrupted (``recording``) ones are refused: recover them first.
    Every source must have the destination's robot, schema version and record rate.
    """
    from recorder.writer import DatasetWriter

    srcs = [Dataset.open(s, read_only=True) for s in sources]
    if not srcs:
        raise RecorderError("merge needs at least one source dataset")
    hz = srcs[0].record_hz
    writer = DatasetWriter(destination, record_hz=hz)
    dst_attrs = dict(writer.root.attrs)
    for src in srcs:
        for key in ("robot", "schema_version", "record_hz"):
            if src.attrs.get(key) != dst_attrs.get(key):
                raise RecorderError(
                    f"cannot merge {describe(src.location)} into {describe(destination)}: their '{key}' differ "
                    f"({src.attrs.get(key)!r} vs {dst_attrs.get(key)!r})"
                )
        interrupted = [e.episode_id for e in src.episodes(status=EpisodeStatus.RECORDING)]
        if interrupted:
            raise RecorderError(
                f"{describe(src.location)} has interrupted episodes ({', '.join(interrupted)}); "
                f"run `psi-teleop dataset recover {describe(src.location)}` first"
            )
    dst_store = writer.root.store_path.store
    dst_root = writer.root.store_path.path
    merged: list[MergedEpisode] = []
    for src in srcs:
        src_store = src.root.store_path.store
        src_root = src.root.store_path.path
        for info in src.episodes():
            if info.status is EpisodeStatus.DISCARDED and not include_discarded:
                continue
            if progress is not None:
                progress(f"{describe(src.location)}:{info.episode_id}")
            eid = schema.episode_id(writer._next_index())
            pending = {**info.attrs, "status": EpisodeStatus.RECORDING.value, "n_rows_flushed": 0}
            group = writer._episodes.create_group(eid, overwrite=False, attributes=pending)
            src_prefix = "/".join(p for p in (src_root, schema.EPISODES_GROUP, info.episode_id) if p) + "/"
            dst_prefix = "/".join(p for p in (dst_root, schema.EPISODES_GROUP, eid) if p) + "/"
            try:
                _copy_prefix(src_store, src_prefix, dst_store, dst_prefix, skip={src_prefix + "zarr.json"})
                group.update_attributes({
                    **info.attrs,
                    "merged_from": {"dataset": describe(src.location), "episode_id": info.episode_id},
                    "merged_at": _now(),
                })
            except Exception as exc:  # noqa: BLE001
                raise storage_error(exc, f"copying {info.episode_id} into {describe(destination)}", eid) from exc
            merged.append(MergedEpisode(describe(src.location), info.episode_id, eid, info.n_rows))
    writer.close()
    return merged
