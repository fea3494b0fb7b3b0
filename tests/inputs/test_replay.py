"""Replay of recorded operator streams: the frames that come back are the frames that were recorded."""

import numpy as np
import pytest

from recorder import DatasetWriter, TickRecord
from teleop.exceptions import ConfigError, InputDeviceError
from teleop.inputs.replay import ReplayConfig, ReplaySource
from teleop.operator_frame import OperatorFrame, TrackerRole


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "ds"
    writer = DatasetWriter(path, record_hz=30.0)
    ep = writer.start_episode(task="pick_place", instruction="x", operator="test")
    frame = OperatorFrame()
    for k in range(60):
        t = 10.0 + k / 30.0
        frame.stamp = t
        frame.head_valid = True
        frame.head_pose[:3] = (0.0, 0.0, 1.6 + 0.001 * k)
        frame.tracker_valid[TrackerRole.RIGHT_WRIST] = True
        frame.tracker_pose[TrackerRole.RIGHT_WRIST, :3] = (0.3, -0.2, 1.0 + 0.002 * k)
        frame.controller_buttons[1, 0] = k == 5
        ep.append(TickRecord(t=t, state=np.zeros(32), action=np.zeros(36), operator=frame.as_arrays(),
                             operator_stamp=t))
    info = ep.finish(success=True)
    writer.close()
    return str(path), info.episode_id


def test_replay_returns_the_recorded_frames_at_recorded_and_scaled_speed(dataset):
    path, episode = dataset
    for speed in (1.0, 2.0):
        clock = FakeClock()
        src = ReplaySource(ReplayConfig(path, episode, speed=speed), clock=clock)
        src.start()
        frame = OperatorFrame()
        for k in (0, 10, 59):
            clock.t = 100.0 + (k / 30.0) / speed + 1e-6
            assert src.poll(frame) or k == 0
            assert frame.head_pose[2] == pytest.approx(1.6 + 0.001 * k, abs=1e-6)
            assert frame.tracker_pose[TrackerRole.RIGHT_WRIST, 2] == pytest.approx(1.0 + 0.002 * k, abs=1e-6)
            assert frame.stamp == pytest.approx(100.0 + (k / 30.0) / speed, abs=1e-3)
            assert frame.tracker_valid[TrackerRole.RIGHT_WRIST] and not frame.tracker_valid[TrackerRole.WAIST]
        assert src.duration == pytest.approx((59 / 30.0) / speed, abs=1e-3)
        clock.t += 1.0  # past the end: the operator left, every stream invalid
        src.poll(frame)
        assert src.finished and not frame.head_valid and not frame.tracker_valid.any()
        src.stop()


def test_replay_by_index_and_clear_errors(dataset):
    path, episode = dataset
    src = ReplaySource(ReplayConfig.parse(f"{path}:0"), clock=FakeClock())
    src.start()
    assert src.devices()[0].valid
    with pytest.raises(InputDeviceError, match="no episode 'episode_999999'"):
        ReplaySource(ReplayConfig(path, "episode_999999")).start()
    with pytest.raises(InputDeviceError, match="out of range"):
        ReplaySource(ReplayConfig(path, "7")).start()
    with pytest.raises(ConfigError, match="DATASET:EPISODE"):
        ReplayConfig.parse("just-a-path")
    with pytest.raises(ConfigError, match="speed"):
        ReplayConfig(path, episode, speed=100.0)


def test_looped_replay_plays_back_and_forth_without_a_jump(dataset):
    """--loop: after the last sample the episode plays backward, then forward again; poses stay continuous."""
    path, episode = dataset
    clock = FakeClock()
    src = ReplaySource(ReplayConfig.parse(f"{path}:{episode}", loop=True), clock=clock)
    src.start()
    frame = OperatorFrame()
    end = 59 / 30.0
    heights = []
    for i in range(int(3.2 * end * 100)):  # 1.6 round trips at 100 Hz
        clock.t = 100.0 + i / 100.0
        src.poll(frame)
        assert frame.head_valid and not src.finished
        assert 0.0 <= clock.t - frame.stamp <= 1 / 30.0 + 1e-9  # at most one recorded sample old
        heights.append(frame.head_pose[2])
    steps = np.abs(np.diff(heights))
    assert steps.max() <= 0.001 + 1e-6  # (float32 storage) never more than one recorded sample apart: no wrap-around jump
    i_end, i_back = int(round(end * 100)), int(1.5 * end * 100)
    assert heights[i_end] == pytest.approx(1.6 + 0.001 * 59, abs=2e-3)  # turned at the end...
    assert heights[i_back] < heights[i_end] - 0.02  # ...and came back
    assert heights[int(2 * end * 100) + 2] == pytest.approx(1.6, abs=2e-3)  # at the start again
