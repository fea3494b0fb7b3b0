"""The writer process: shared-memory ring, its death, its cleanup, back-pressure accounting."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from recorder import Dataset, DatasetWriter, EpisodeStatus, StorageError, WriterDiedError
from recorder.recover import recover_dataset
from recorder.ring import SHM_DIR, SHM_PREFIX, pid_alive, sweep_stale_segments
from recorder.validate import validate_dataset
from tests.recorder.conftest import CAM_SHAPE, HZ, RowMaker, record


def _rings(writer: DatasetWriter) -> list[str]:
    return sorted(p.name for p in SHM_DIR.glob(f"{SHM_PREFIX}{os.getpid()}-{writer.writer_pid}-*"))


def _wait_rows_written(ep, n: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while ep.stats["rows_written"] < n:
        assert time.monotonic() < deadline, f"the writer flushed {ep.stats['rows_written']} of {n} rows"
        time.sleep(0.02)


def test_default_mode_is_a_writer_process_and_round_trips(tmp_path):
    maker = RowMaker()
    with DatasetWriter(tmp_path / "ds", camera_shapes={"head": CAM_SHAPE}) as ds:
        assert ds.mode == "process" and ds.writer_pid not in (None, os.getpid()) and pid_alive(ds.writer_pid)
        ep = ds.start_episode(task="t")
        ep.prepare(maker.row(0))
        assert len(_rings(ds)) == 1  # the episode's ring lives in /dev/shm while it records
        for k in range(45):
            assert ep.append(maker.row(k))
        ring_name = _rings(ds)[0]
        info = ep.finish(success=True)
        assert _rings(ds) == []  # and is gone once it is finished
        with open("/proc/self/maps") as maps:
            assert ring_name not in maps.read()  # unmapped too, not only unlinked
        assert ep.stats["mode"] == "process" and ep.stats["writer_pid"] == ds.writer_pid
        pid = ds.writer_pid
    assert not pid_alive(pid)  # close() ends the writer process
    r = Dataset.open(tmp_path / "ds").episode(info.episode_id)
    assert r.n_rows == 45 and r.attrs["writer"]["pid"] == pid and r.attrs["writer"]["teleop_pid"] == os.getpid()
    np.testing.assert_allclose(r.read("state")[:, 0], np.arange(45), atol=1e-4)
    np.testing.assert_allclose(r.time - r.read("cameras/head/stamp"), 0.02, atol=1e-9)
    assert r.frame("head", 44)[:, :, 0].mean() == pytest.approx((44 * 7) % 200 + 20, abs=2)
    assert validate_dataset(Dataset.open(tmp_path / "ds")).ok


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_both_modes_store_the_same_rows(tmp_path, mode):
    with DatasetWriter(tmp_path / "ds", camera_shapes={"head": CAM_SHAPE}, writer=mode) as ds:
        info = record(ds, 70, invalid_every=7)
        assert ds.mode == mode
    r = Dataset.open(tmp_path / "ds").episode(info.episode_id)
    assert r.n_rows == 70 and info.attrs["writer_stats"]["mode"] == mode
    np.testing.assert_array_equal(r.read("cameras/head/valid"), np.arange(70) % 7 != 6)
    np.testing.assert_allclose(r.read("action")[:, 0], -np.arange(70), atol=1e-4)
    np.testing.assert_allclose(r.read("robot/q")[:, 0], np.arange(70) * 0.01, atol=1e-6)


def test_killed_writer_process_gives_a_clear_error_and_the_episode_recovers(tmp_path):
    maker = RowMaker()
    ds = DatasetWriter(tmp_path / "ds", camera_shapes={"head": CAM_SHAPE}, flush_interval_s=0.1)
    first = record(ds, 30)
    ep = ds.start_episode(task="t")
    for k in range(40):
        ep.append(maker.row(k))
    _wait_rows_written(ep, 40)
    victim = ds.writer_pid
    os.kill(victim, signal.SIGKILL)
    with pytest.raises(WriterDiedError, match=rf"writer process \(pid {victim}\) was killed by SIGKILL.*"
                                              rf"{ep.episode_id} stopped with 40 rows safe.*dataset recover"):
        for k in range(40, 400):  # the teleop side notices within a few rows, never silently
            ep.append(maker.row(k))
            time.sleep(0.005)
    assert isinstance(ep.error, StorageError) and ep.error.rows_safe == 40
    with pytest.raises(WriterDiedError):
        ep.finish()
    assert _rings(ds) == [] and not (SHM_DIR / f"{SHM_PREFIX}{os.getpid()}-{victim}-2").exists()
    # the next episode gets a new writer process
    second = record(ds, 20)
    assert ds.writer_pid != victim and second.n_rows == 20
    ds.close()
    results = recover_dataset(Dataset.open(tmp_path / "ds"))
    assert [(r.episode_id, r.status, r.rows_kept) for r in results] == [(ep.episode_id, EpisodeStatus.RECOVERED, 40)]
    report = validate_dataset(Dataset.open(tmp_path / "ds"))
    assert report.ok, [e.problems for e in report.episodes]
    assert [e.n_rows for e in Dataset.open(tmp_path / "ds").episodes()] == [first.n_rows, 40, 20]


def test_writer_process_ignores_ctrl_c(tmp_path):
    maker = RowMaker()
    with DatasetWriter(tmp_path / "ds", camera_shapes={"head": CAM_SHAPE}) as ds:
        ep = ds.start_episode(task="t")
        ep.prepare(maker.row(0))
        os.kill(ds.writer_pid, signal.SIGINT)  # what a Ctrl-C in the operator's terminal sends the group
        for k in range(10):
            ep.append(maker.row(k))
        assert ep.finish().n_rows == 10


def test_stale_rings_of_dead_processes_are_swept(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    assert not pid_alive(dead_pid)
    stale = SHM_DIR / f"{SHM_PREFIX}{dead_pid}-{dead_pid}-1"
    live = SHM_DIR / f"{SHM_PREFIX}{os.getpid()}-{dead_pid}-99"
    try:
        stale.write_bytes(b"x" * 100)
        live.write_bytes(b"x" * 100)
        removed = sweep_stale_segments()
        assert stale.name in removed and not stale.exists()
        assert live.exists()  # its teleop process (this one) is alive
    finally:
        for p in (stale, live):
            p.unlink(missing_ok=True)


def test_full_frame_slots_are_back_pressure_counted_never_silent(tmp_path):
    """A tiny frame ring (2 slots) and no pause: rows are dropped, each one counted and reported."""
    maker = RowMaker()
    with DatasetWriter(tmp_path / "ds", camera_shapes={"head": CAM_SHAPE}, frame_ring_mb=0.01) as ds:
        ep = ds.start_episode(task="t")
        accepted = [k for k in range(200) if ep.append(maker.row(k))]
        info = ep.finish()
    st = ep.stats
    dropped = 200 - len(accepted)
    assert st["frame_slots"] == 2 and dropped > 0
    assert st["dropped_rows"] == dropped and st["dropped_for_frame_slots"] == dropped
    assert info.n_rows == len(accepted) and info.attrs["writer_stats"]["dropped_rows"] == dropped
    r = Dataset.open(tmp_path / "ds").episode(info.episode_id)
    np.testing.assert_allclose(r.read("state")[:, 0], accepted, atol=1e-4)  # exactly the accepted rows
    means = r.frames("head")[:, :, :, 0].mean(axis=(1, 2))
    np.testing.assert_allclose(means, [(k * 7) % 200 + 20 for k in accepted], atol=2)  # each with its own frame
    report = validate_dataset(Dataset.open(tmp_path / "ds"))
    assert not report.ok and any("dropped" in p for p in report.episodes[0].problems)


def test_max_unflushed_is_measured(tmp_path):
    maker = RowMaker()
    with DatasetWriter(tmp_path / "ds", camera_shapes={"head": CAM_SHAPE}, flush_interval_s=0.2) as ds:
        ep = ds.start_episode(task="t")
        ep.prepare(maker.row(0))
        start = time.monotonic()
        for k in range(20):
            while time.monotonic() < start + k / HZ:
                time.sleep(0.002)
            ep.append(maker.row(k))
        _wait_rows_written(ep, 20)
        st = ep.stats
        info = ep.finish()
    assert st["flushes"] >= 2 and 0.0 < st["max_unflushed_s"] < 60.0
    assert info.attrs["writer_stats"]["max_unflushed_s"] >= st["max_unflushed_s"]
