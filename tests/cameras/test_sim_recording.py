"""Simulated cameras through the whole path: sim → tap → camera thread → recorder → reader, stamps checked."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from teleop import clock
from teleop.cameras import CameraError, open_rig, parse_camera
from teleop.cameras.sim import SimStateTap


@pytest.fixture(scope="module")
def sim():
    from teleop.robot.sim import MujocoSim, SimConfig

    s = MujocoSim(SimConfig(cameras=("head", "left_wrist"), camera_size=(48, 64)))
    yield s
    s.close()


def test_missing_scene_camera_is_named(sim):
    tap = SimStateTap(sim.model)
    with pytest.raises(CameraError, match="no camera 'right_wrist'; it has: head, left_wrist"):
        open_rig([parse_camera("right_wrist=sim")], sim=sim, tap=tap)


def test_rendered_frame_matches_the_published_state(sim):
    """The camera thread renders the tapped state, not the live data: same picture as rendering in place."""
    import mujoco

    # after mj_step, data.xpos lags qpos by one step; make the live data consistent to compare
    mujoco.mj_forward(sim.model, sim.data)
    tap = SimStateTap(sim.model)
    tap.publish_sim(sim, stamp=123.0)
    rig = open_rig([parse_camera("head=sim", fps=20.0)], sim=sim, tap=tap)
    rig.start()
    try:
        f = rig["head"].wait_frame(timeout=30.0)
    finally:
        rig.stop()
    assert f is not None and f.stamp == 123.0  # the state's time, not the render's
    expected = sim.render("head")  # the loop-thread path, same state
    assert f.image.shape == (48, 64, 3)
    assert np.abs(f.image.astype(int) - expected.astype(int)).max() <= 1


def test_source_to_recorder_to_reader(sim, tmp_path):
    from recorder import Dataset, DatasetWriter, TickRecord
    from recorder.validate import validate_episode

    tap = SimStateTap(sim.model)
    rig = open_rig([parse_camera("head=sim", fps=15.0, stale_after_s=5.0),
                    parse_camera("left_wrist=sim", fps=15.0, stale_after_s=5.0)], sim=sim, tap=tap)
    stop = threading.Event()
    sim_lock = threading.Lock()

    def physics():  # the simulation's own thread: steps and publishes at ~100 Hz
        while not stop.is_set():
            with sim_lock:
                sim.step(2)
                tap.publish_sim(sim)
            time.sleep(0.02)

    t = threading.Thread(target=physics, daemon=True)
    t.start()
    rig.start(wait=False)
    rows, ticks = [], []
    try:
        rig["head"].wait_frame(timeout=30.0)
        rig["left_wrist"].wait_frame(timeout=30.0)
        with DatasetWriter(tmp_path / "ds", record_hz=30.0, camera_shapes=rig.shapes()) as ds:
            ep = ds.start_episode(task="camera_test")
            state, action = np.zeros(32), np.zeros(36)
            next_t = clock.now()
            for _ in range(45):  # 1.5 s at 30 Hz
                clock.sleep_until(next_t)
                now = clock.now()
                cams = rig.snapshot(now)
                rows.append({k: (None if v is None else v[1]) for k, v in cams.items()})
                ticks.append(now)
                ep.append(TickRecord(t=now, state=state, action=action, cameras=cams))
                next_t += 1 / 30
            info = ep.finish(success=True)
    finally:
        stop.set()
        t.join(2.0)
        rig.stop()
    reader = Dataset.open(tmp_path / "ds").episode(info.episode_id)
    assert sorted(reader.cameras) == ["head", "left_wrist"]
    time_s = reader.read("time")
    for cam in ("head", "left_wrist"):
        stamp = reader.read(f"cameras/{cam}/stamp")
        valid = reader.read(f"cameras/{cam}/valid")
        sent = np.array([np.nan if r[cam] is None else r[cam] for r in rows])
        assert np.array_equal(valid, np.isfinite(sent))
        assert valid.sum() >= 1
        # stored stamps are the acquisition stamps we handed over, relative to the first row's tick
        np.testing.assert_allclose(stamp[valid] + ticks[0], sent[valid], atol=1e-6)
        np.testing.assert_allclose(time_s + ticks[0], ticks, atol=1e-6)
        age = time_s[valid] - stamp[valid]
        assert (age >= 0).all() and (age <= 5.0).all()  # a frame is never from the future, never stale
        frame = reader.frame(cam, int(np.flatnonzero(valid)[-1]))
        assert frame.shape == (48, 64, 3) and frame.std() > 5  # a real picture, not a blank
    report = validate_episode(reader)
    assert report.ok, report.problems
    cams = {c.name: c for c in report.cameras}
    assert cams["head"].invalid_rows == int((~reader.read("cameras/head/valid")).sum())
    sent = np.array([np.nan if r["head"] is None else r["head"] for r in rows])
    assert cams["head"].repeated_frames == int(np.sum(sent[1:] == sent[:-1]))  # rows that re-used a frame
    assert {a.stream for a in report.alignment} >= {"cameras/head", "cameras/left_wrist"}
