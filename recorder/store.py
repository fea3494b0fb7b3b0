"""Where a dataset lives: a local directory, any fsspec URL zarr supports, or a zarr Store.

Local directories go through :class:`zarr.storage.LocalStore`, which writes every object to
a temporary file and renames it into place, so a ``kill -9`` never leaves a half-written
chunk or metadata document. URLs (``s3://bucket/path``, ``memory://name``, ``file:///path``)
go through :class:`zarr.storage.FsspecStore`; object stores write whole objects atomically,
fsspec's ``file://`` does not (use a plain path for local disks).
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recorder.exceptions import StorageError, StorageFullError

if TYPE_CHECKING:
    from zarr.abc.store import Store

def is_url(location: Any) -> bool:
    return isinstance(location, str) and "://" in location


def open_store(location: Any, *, read_only: bool = False) -> "Store":
    """A zarr Store for ``location`` (a path, a URL, or a Store, returned as is)."""
    from zarr.abc.store import Store
    from zarr.storage import FsspecStore, LocalStore

    if isinstance(location, Store):
        return location.with_read_only(read_only) if read_only and not location.read_only else location
    if is_url(location):
        try:
            options = {"auto_mkdir": True} if location.startswith("file://") else None
            return FsspecStore.from_url(location, read_only=read_only, storage_options=options)
        except ImportError as exc:  # an fsspec backend (s3fs, gcsfs) that is not installed
            raise StorageError(
                f"cannot open {location!r}: {exc}. Install the fsspec backend for that protocol "
                f"(for example: pip install s3fs)"
            ) from exc
    return LocalStore(Path(location).expanduser(), read_only=read_only)


def describe(location: Any) -> str:
    """A short name of ``location`` for messages."""
    from zarr.abc.store import Store

    if isinstance(location, Store):
        return f"{type(location).__name__}({getattr(location, 'root', getattr(location, 'path', ''))})"
    return str(location)


def storage_error(exc: BaseException, what: str, episode_id: str = "", rows_safe: int = 0) -> StorageError:
    """Wrap an exception raised by the store in a :class:`StorageError` that says what to do."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageFullError(
            f"the disk is full while {what}: episode {episode_id} stopped with {rows_safe} rows safe on disk "
            f"(its last flush). Free space, then run `psi-teleop dataset recover PATH` to keep those rows; "
            f"earlier episodes are untouched.",
            episode_id,
            rows_safe,
        )
    return StorageError(
        f"writing failed while {what} ({type(exc).__name__}: {exc}): episode {episode_id} stopped with "
        f"{rows_safe} rows safe on disk (its last flush). Fix the storage, then run "
        f"`psi-teleop dataset recover PATH`; earlier episodes are untouched.",
        episode_id,
        rows_safe,
    )
