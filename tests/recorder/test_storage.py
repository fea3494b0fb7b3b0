"""Storage failures: a full disk ends the episode cleanly and leaves earlier episodes intact."""

from __future__ import annotations

import errno
import time

import numpy as np
import pytest
from zarr.storage import LocalStore

from recorder import Dataset, DatasetWriter, EpisodeStatus, StorageError, StorageFullError
from recorder.recover import recover_dataset
from recorder.validate import validate_dataset
from tests.recorder.conftest import CAM_SHAPE, RowMaker, record


class FullDiskStore(LocalStore):
    """A local store that runs out of space once ``budget`` more bytes have been written."""

    def __init__(self, root, budget: int | None = None):
        super().__init__(root)
        self.budget = budget
        self.written = 0

    async def set(self, key, value) -> None:
        if self.budget is not None and self.written + len(value) > self.budget:
            raise OSError(errno.ENOSPC, "No space left on device", key)
        self.written += len(value)
        await super().set(key, value)


def _record_until_failure(ep, maker, max_rows: int = 3000) -> int:
    for k in range(max_rows):
        try:
            ep.append(maker.row(k))
        except StorageError:
            return k
        time.sleep(0.002)
    pytest.fail(f"the store never filled up in {max_rows} rows")


def test_full_disk_ends_the_episode_cleanly(tmp_path, monkeypatch):
    import recorder.recover

    # the failed writer stopped its heartbeat; do not wait LIVE_GUARD_S for it to age
    monkeypatch.setattr(recorder.recover, "LIVE_GUARD_S", 0.0)
    store = FullDiskStore(tmp_path / "ds")
    ds = DatasetWriter(store, camera_shapes={"head": CAM_SHAPE}, flush_interval_s=0.05)
    first = record(ds, 60)
    before = {p: p.read_bytes() for p in (tmp_path / "ds" / "episodes" / first.episode_id).rglob("*") if p.is_file()}
    store.budget = store.written + 120_000  # room for about one second of the next episode
    ep = ds.start_episode(task="pick_place")
    failed_at = _record_until_failure(ep, RowMaker())
    assert isinstance(ep.error, StorageFullError)
    safe = ep.error.rows_safe
    assert 0 < safe <= failed_at
    with pytest.raises(StorageFullError, match=rf"disk is full .*{ep.episode_id} stopped with {safe} rows safe"):
        ep.finish()
    assert ds.current is None  # the writer can start a new episode once space is freed

    # earlier episode: byte for byte untouched and valid
    after = {p: p.read_bytes() for p in (tmp_path / "ds" / "episodes" / first.episode_id).rglob("*") if p.is_file()}
    assert after == before
    opened = Dataset.open(tmp_path / "ds")
    report = validate_dataset(opened)
    assert report.episodes[0].ok
    assert not report.episodes[1].ok and "interrupted" in report.episodes[1].problems[0]

    store.budget = None  # space freed
    (result,) = recover_dataset(Dataset.open(tmp_path / "ds"))
    assert result.status is EpisodeStatus.RECOVERED and result.rows_kept == safe
    rec = Dataset.open(tmp_path / "ds").episode(ep.episode_id)
    np.testing.assert_allclose(rec.read("state")[:, 0], np.arange(safe), atol=1e-4)
    assert validate_dataset(Dataset.open(tmp_path / "ds")).ok


def test_full_disk_at_episode_start_says_so(tmp_path):
    store = FullDiskStore(tmp_path / "ds")
    ds = DatasetWriter(store)
    store.budget = store.written
    with pytest.raises(StorageFullError, match="disk is full while creating a new episode"):
        ds.start_episode(task="t")


def test_other_storage_errors_are_reported(tmp_path):
    class BrokenStore(FullDiskStore):
        async def set(self, key, value) -> None:
            if "/c/" in key:
                raise PermissionError(errno.EACCES, "Permission denied", key)
            await super().set(key, value)

    ds = DatasetWriter(BrokenStore(tmp_path / "ds"), flush_interval_s=0.05)
    ep = ds.start_episode(task="t")
    _record_until_failure(ep, RowMaker(cameras=()))
    assert "PermissionError" in str(ep.error) and "recover" in str(ep.error)
    assert not isinstance(ep.error, StorageFullError)
