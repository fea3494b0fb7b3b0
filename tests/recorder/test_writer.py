"""DatasetWriter / EpisodeWriter: what goes in comes back out, and nothing is lost silently."""

from __future__ import annotations

import numpy as np
import pytest

from recorder import (
    Dataset,
    DatasetWriter,
    EpisodeStateError,
    EpisodeStatus,
    RecorderError,
    RecordLayoutError,
    TickRecord,
)
from recorder.config import WriterConfig
from teleop.exceptions import ConfigError
from tests.recorder.conftest import CAM_SHAPE, HZ, RowMaker, record, synthetic_frame


def test_round_trip_numbers_stamps_and_attrs(tmp_path):
    with DatasetWriter(tmp_path / "ds", record_hz=HZ, camera_shapes={"head": CAM_SHAPE}) as ds:
        info = record(ds, 100, operator="alice", calibration={"arm_scale": np.float64(1.05)}, config={"hz": 30})
    assert info.status is EpisodeStatus.COMPLETE and info.n_rows == 100 and info.success is True
    assert info.duration_s == pytest.approx(99 / HZ, abs=1e-9)

    ds = Dataset.open(tmp_path / "ds")
    assert ds.attrs["robot"] == "unitree_g1_dex3" and ds.attrs["schema_version"] == 1 and ds.record_hz == HZ
    assert len(ds.attrs["state_names"]) == 32 and len(ds.attrs["action_names"]) == 36
    ep = ds.episode(info.episode_id)
    k = np.arange(100)
    np.testing.assert_allclose(ep.time, k / HZ, atol=1e-9)
    state = ep.read("state")
    assert state.shape == (100, 32) and state.dtype == np.float32
    np.testing.assert_allclose(state, k[:, None] + np.arange(32) * 1e-3, atol=1e-4)
    np.testing.assert_allclose(ep.read("action", 40, 45)[:, 0], -np.arange(40, 45), atol=1e-6)
    np.testing.assert_allclose(ep.read("robot/q")[:, 0], k * 0.01, atol=1e-6)
    assert ep.read("robot/q").shape == (100, 43)
    assert ep.read("operator/hand_joints").shape == (100, 2, 26, 7)
    assert ep.read("operator/hand_valid").dtype == bool
    np.testing.assert_array_equal(ep.read("operator/hand_valid")[:, 0], k % 2 == 0)
    # stamps share the time origin: robot 4 ms, operator 11 ms and camera 20 ms old at each tick
    np.testing.assert_allclose(ep.time - ep.read("robot/stamp"), 0.004, atol=1e-9)
    np.testing.assert_allclose(ep.time - ep.read("operator/stamp"), 0.011, atol=1e-9)
    np.testing.assert_allclose(ep.time - ep.read("cameras/head/stamp"), 0.020, atol=1e-9)
    a = ep.attrs
    assert (a["task"], a["instruction"], a["operator"]) == ("pick_place", "pick the cup", "alice")
    assert a["calibration"] == {"arm_scale": 1.05} and a["config"] == {"hz": 30}
    assert a["segments"] == [] and a["tags"] == [] and a["notes"] == ""
    assert a["writer_stats"]["dropped_rows"] == 0


def test_frames_decode_close_to_the_original(tmp_path):
    with DatasetWriter(tmp_path / "ds", camera_shapes={"head": CAM_SHAPE}, jpeg_quality=90) as ds:
        info = record(ds, 40)
    ep = Dataset.open(tmp_path / "ds").episode(info.episode_id)
    for i in (0, 17, 39, -1):
        decoded = ep.frame("head", i)
        original = synthetic_frame(i % 40)
        assert decoded.shape == (*CAM_SHAPE, 3) and decoded.dtype == np.uint8
        err = np.abs(decoded.astype(int) - original.astype(int))
        assert err.mean() < 2.0 and err.max() < 40, f"frame {i}: mean abs error {err.mean():.2f}"
    frames = ep.frames("head", 28, 33)  # spans the 1 s chunk boundary at row 30
    assert frames.shape == (5, *CAM_SHAPE, 3)
    np.testing.assert_allclose(frames[:, :, :, 0].mean(axis=(1, 2)), [(k * 7) % 200 + 20 for k in range(28, 33)], atol=2)


def test_missing_frames_are_marked_invalid(tmp_path):
    with DatasetWriter(tmp_path / "ds", camera_shapes={"head": CAM_SHAPE}) as ds:
        info = record(ds, 30, invalid_every=5)
    ep = Dataset.open(tmp_path / "ds").episode(info.episode_id)
    valid = ep.read("cameras/head/valid")
    expected = np.arange(30) % 5 != 4
    np.testing.assert_array_equal(valid, expected)
    assert np.isnan(ep.read("cameras/head/stamp")[~expected]).all()
    assert ep.jpeg("head", 4) == b""
    assert (ep.frame("head", 4) == 0).all()


def test_camera_reusing_its_buffer_is_copied(tmp_path):
    buf = np.zeros((*CAM_SHAPE, 3), np.uint8)
    maker = RowMaker()
    with DatasetWriter(tmp_path / "ds", camera_shapes={"head": CAM_SHAPE}) as ds:
        ep = ds.start_episode(task="t")
        for k in range(20):
            rec = maker.row(k)
            buf[:] = synthetic_frame(k)  # the camera refills one buffer every tick
            rec.cameras = {"head": (buf, rec.t - 0.02)}
            ep.append(rec)
        ep.finish()
    assert ep.stats["cameras_copied_for_buffer_reuse"] == ["head"]
    r = Dataset.open(tmp_path / "ds").episode(ep.episode_id)
    means = r.frames("head", 2, 20)[:, :, :, 0].mean(axis=(1, 2))
    np.testing.assert_allclose(means, [(k * 7) % 200 + 20 for k in range(2, 20)], atol=2)


def test_full_queue_drops_are_counted_and_reported(tmp_path):
    maker = RowMaker()
    with DatasetWriter(tmp_path / "ds", camera_shapes={"head": CAM_SHAPE}, queue_size=2) as ds:
        ep = ds.start_episode(task="t")
        accepted = [ep.append(maker.row(k)) for k in range(300)]
        info = ep.finish()
    dropped = accepted.count(False)
    assert dropped > 0, "300 rows into a 2-row queue without pause must overflow it"
    assert ep.stats["dropped_rows"] == dropped
    assert info.n_rows == 300 - dropped
    assert info.attrs["writer_stats"]["dropped_rows"] == dropped


def test_layout_is_fixed_by_the_first_row(tmp_path):
    maker = RowMaker()
    with DatasetWriter(tmp_path / "ds", camera_shapes={"head": CAM_SHAPE}) as ds:
        ep = ds.start_episode(task="t")
        ep.append(maker.row(0))
        bad = maker.row(1)
        bad.state = np.zeros(31)
        with pytest.raises(RecordLayoutError, match=r"'state' has shape \(31,\), expected \(32,\)"):
            ep.append(bad)
        bad = maker.row(2)
        bad.robot = {k: v for k, v in bad.robot.items() if k != "tau"}
        with pytest.raises(RecordLayoutError, match="'robot/tau' is missing"):
            ep.append(bad)
        bad = maker.row(3)
        bad.cameras = {"head": (np.zeros((10, 10, 3), np.uint8), bad.t)}
        with pytest.raises(RecordLayoutError, match=r"camera 'head' frame is \(10, 10, 3\)"):
            ep.append(bad)
        bad = maker.row(4)
        bad.cameras = {**bad.cameras, "wrist": None}
        with pytest.raises(RecordLayoutError, match=r"camera\(s\) \['wrist'\] were not in the first row"):
            ep.append(bad)
        ep.append(maker.row(5))
        info = ep.finish()
    assert info.n_rows == 2  # the rejected rows left nothing behind


def test_life_cycle_errors(tmp_path):
    maker = RowMaker()
    ds = DatasetWriter(tmp_path / "ds")
    ep = ds.start_episode(task="t")
    with pytest.raises(EpisodeStateError, match="still recording"):
        ds.start_episode(task="u")
    ep.append(maker.row(0))
    info = ep.discard(reason="operator dropped the cup")
    assert info.status is EpisodeStatus.DISCARDED and info.attrs["discard_reason"] == "operator dropped the cup"
    with pytest.raises(EpisodeStateError, match="finished"):
        ep.append(maker.row(1))
    with pytest.raises(EpisodeStateError, match="already finished"):
        ep.finish()
    empty = ds.start_episode(task="t").finish()
    assert empty.status is EpisodeStatus.DISCARDED and empty.n_rows == 0
    with pytest.raises(RecorderError, match="extra_attrs may not set"):
        ds.start_episode(extra_attrs={"status": "complete"})
    ds.close()
    ids = [e.episode_id for e in Dataset.open(tmp_path / "ds").episodes()]
    assert ids == ["episode_000000", "episode_000001"]


def test_exception_inside_with_block_discards(tmp_path):
    maker = RowMaker()
    ds = DatasetWriter(tmp_path / "ds")
    with pytest.raises(ZeroDivisionError):
        with ds.start_episode(task="t") as ep:
            ep.append(maker.row(0))
            1 / 0
    info = Dataset.open(tmp_path / "ds").episodes()[0]
    assert info.status is EpisodeStatus.DISCARDED and "ZeroDivisionError" in info.attrs["discard_reason"]


def test_config_validation_names_field_and_range():
    with pytest.raises(ConfigError, match=r"jpeg_quality=0 is out of range; valid: \[1, 100\]"):
        WriterConfig(jpeg_quality=0)
    with pytest.raises(ConfigError, match=r"flush_interval_s=2.0 is out of range"):
        WriterConfig(flush_interval_s=2.0)
    with pytest.raises(ConfigError, match=r"camera_shapes\['head'\]"):
        WriterConfig(camera_shapes={"head": (480,)})


def test_fsspec_memory_url_round_trip():
    url = "memory://psi-teleop-test/ds"
    with DatasetWriter(url, camera_shapes={"head": CAM_SHAPE}) as ds:
        info = record(ds, 35)
    ep = Dataset.open(url).episode(info.episode_id)
    assert ep.n_rows == 35
    np.testing.assert_allclose(ep.read("action", 33)[:, 0], [-33, -34], atol=1e-6)
    assert ep.frame("head", 34).shape == (*CAM_SHAPE, 3)


def test_fsspec_file_url_round_trip(tmp_path):
    url = f"file://{tmp_path}/ds"
    with DatasetWriter(url) as ds:
        info = record(ds, 10, maker=RowMaker(cameras=()))
    assert (tmp_path / "ds" / "episodes" / info.episode_id / "zarr.json").exists()
    np.testing.assert_allclose(Dataset.open(url).episode(0).read("state")[:, 0], np.arange(10), atol=1e-5)


def test_tick_without_robot_or_operator_streams(tmp_path):
    with DatasetWriter(tmp_path / "ds") as ds:
        ep = ds.start_episode(task="t")
        for k in range(5):
            ep.append(TickRecord(t=k / HZ, state=np.full(32, k), action=np.full(36, k)))
        ep.finish()
    r = Dataset.open(tmp_path / "ds").episode(0)
    assert r.streams() == ["action", "state", "time"] and r.cameras == []
    np.testing.assert_allclose(r.read("state")[:, 5], np.arange(5))


def test_fast_decode_stays_close_to_exact(tmp_path):
    with DatasetWriter(tmp_path / "ds", camera_shapes={"head": CAM_SHAPE}) as ds:
        record(ds, 5)
    ep = Dataset.open(tmp_path / "ds").episode(0)
    exact, fast = ep.frames("head").astype(int), ep.frames("head", fast=True).astype(int)
    assert np.abs(exact - fast).mean() < 2.0 and np.abs(exact - fast).max() <= 16  # grey levels


def test_repeated_frames_are_stored_once_encoded_and_counted(tmp_path):
    from recorder.validate import validate_dataset

    maker = RowMaker()
    with DatasetWriter(tmp_path / "ds", camera_shapes={"head": CAM_SHAPE}) as ds:
        ep = ds.start_episode(task="t")
        for k in range(20):
            rec = maker.row(k)
            if k % 2 == 1:  # a 15 Hz camera: every other tick sees the previous frame again
                rec.cameras = {"head": previous}
            previous = rec.cameras["head"]
            ep.append(rec)
        ep.finish()
    assert ep.stats["frames_encoded"] == 10
    r = Dataset.open(tmp_path / "ds").episode(0)
    assert r.jpeg("head", 3) == r.jpeg("head", 2) and r.jpeg("head", 4) != r.jpeg("head", 3)
    np.testing.assert_allclose(r.time - r.read("cameras/head/stamp"), np.where(np.arange(20) % 2, 0.02 + 1 / 30, 0.02))
    cam = validate_dataset(Dataset.open(tmp_path / "ds")).episodes[0].cameras[0]
    assert (cam.repeated_frames, cam.invalid_rows) == (10, 0)


def test_prepare_fixes_the_layout_without_recording(tmp_path):
    maker = RowMaker()
    with DatasetWriter(tmp_path / "ds", camera_shapes={"head": CAM_SHAPE}) as ds:
        ep = ds.start_episode(task="t")
        ep.prepare(maker.row(0))
        for k in range(5, 10):
            ep.append(maker.row(k))
        info = ep.finish()
    assert info.n_rows == 5
    r = Dataset.open(tmp_path / "ds").episode(0)
    np.testing.assert_allclose(r.time, np.arange(5) / HZ, atol=1e-9)  # origin: the first appended row
    np.testing.assert_allclose(r.read("state")[:, 0], np.arange(5, 10), atol=1e-4)
