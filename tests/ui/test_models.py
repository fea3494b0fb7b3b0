"""Window-free models of the apps: the timeline cursor and playback, the console's buffers and lights."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from recorder import Dataset
from teleop.status import DeviceStatus, EngageState, EpisodeState, LoopTiming, TeleopStatus
from ui.console_model import ConsoleModel, Light, device_light, overlay
from ui.episode_view import PLOT_GROUPS, EpisodeView, plot_group
from ui.exceptions import UiError
from ui.playback import SPEEDS, Playback
from tests.ui.synthetic import action_row

TIME = np.arange(300) / 30.0  # [s] 10 s at 30 Hz


def test_stepping_and_seeking_clip_to_the_episode():
    p = Playback(TIME)
    assert p.step(5) == 5 and p.t == pytest.approx(5 / 30)
    assert p.step(-10) == 0 and p.step(1000) == 299
    assert p.seek_time(2.0) == 60 and p.seek_time(2.02) == 61 and p.seek_time(-3.0) == 0
    assert p.seek_time(99.0) == 299 and p.duration_s == pytest.approx(299 / 30)


@pytest.mark.parametrize("speed", SPEEDS)
def test_playback_advances_episode_time_at_speed(speed):
    p = Playback(TIME, speed=speed)
    p.play()
    ticks = 0
    while p.playing and ticks < 10_000:
        p.advance(0.016)  # a 60 Hz GUI timer
        ticks += 1
        if ticks == 50:  # after 0.8 s of wall time the cursor is at 0.8 s x speed (to one row)
            assert abs(p.t - min(0.8 * speed, TIME[-1])) <= 1 / 30 + 1e-9
    assert not p.playing and p.index == 299
    assert ticks * 0.016 == pytest.approx(TIME[-1] / speed, abs=0.016)


def test_speed_choices_and_play_from_end():
    p = Playback(TIME)
    assert p.faster() == 2.0 and p.faster() == 4.0 and p.faster() == 4.0
    assert p.slower() == 2.0
    with pytest.raises(UiError, match=r"speed 3 is not offered; valid: 0.25x, 0.5x, 1x, 2x, 4x"):
        p.set_speed(3)
    p.seek(299)
    p.play()
    assert p.index == 0 and p.playing
    assert not p.advance(0.0) and p.step(1) == 1 and not p.playing
    assert not Playback(np.zeros(1)).toggle()  # a one-row episode cannot play


def test_episode_view_reads_groups_from_the_embodiment_layout(dataset):
    view = EpisodeView(Dataset.open(dataset).episode("episode_000000"))
    assert view.n_rows == 90 and view.cameras == ["head"]
    left_arm = plot_group("left arm")
    action, state = view.series(left_arm)
    assert action.shape == (90, 7) and state.shape == (90, 7)
    np.testing.assert_allclose(action[10], action_row(10, 90)[14:21], atol=1e-6)  # action[14:21] is the left arm
    np.testing.assert_allclose(state[10], 0.95 * action_row(10, 90)[14:21], atol=1e-6)
    loco = plot_group("locomotion")
    assert view.series(loco)[1] is None and view.series(loco)[0].shape == (90, 4)
    label, a, s = view.values_at(left_arm, 10)[3]
    assert label == "L elbow" and a == pytest.approx(float(action_row(10, 90)[17]), abs=1e-6) and s is not None
    assert view.frame("head", 45).shape == (120, 160, 3)
    assert [g.name for g in PLOT_GROUPS][:2] == ["left arm", "right arm"]
    with pytest.raises(UiError, match="no plot group 'legs'"):
        plot_group("legs")


def _status(stamp: float, **kw) -> TeleopStatus:
    return TeleopStatus(stamp=stamp, link="ok", **kw)


def test_console_model_history_is_a_ring_over_the_last_seconds():
    m = ConsoleModel(history_s=1.0, rate_hz=10.0)
    assert m.capacity == 11
    for k in range(25):
        m.update(_status(100.0 + 0.1 * k, wrist_error_mm=(float(k), 2.0 * k), timing=LoopTiming(rate_hz=100.0 - k)))
    assert not m.update(_status(100.0 + 0.1 * 24))  # same snapshot again: ignored
    t, v = m.history("wrist_error_left_mm")
    assert len(t) == 11 and t[-1] == 0.0 and t[0] == pytest.approx(-1.0)
    np.testing.assert_array_equal(v, np.arange(14, 25))
    assert m.history("rate_hz")[1][-1] == 76.0
    m.update(_status(50.0))  # the session restarted: history starts again
    assert len(m) == 1


def test_lights_overlay_and_joint_limits():
    assert device_light(DeviceStatus("head", True, 10.0)) is Light.OK
    assert device_light(DeviceStatus("head", True, 80.0)) is Light.STALE
    assert device_light(DeviceStatus("left_wrist", False, 0.0)) is Light.LOST
    assert device_light(DeviceStatus("left_ankle", False, 0.0), seen_valid=False) is Light.OFF
    m = ConsoleModel()
    m.update(_status(1.0, devices=(DeviceStatus("head", True, 5.0), DeviceStatus("left_ankle", False, 9e3))))
    m.update(_status(1.1, devices=(DeviceStatus("head", False, 90.0), DeviceStatus("left_ankle", False, 9e3))))
    # the head was valid, then lost: red and announced; the ankle tracker was never there: grey, not announced
    assert [m.light(d) for d in m.latest.devices] == [Light.LOST, Light.OFF]
    assert ("TRACKING LOST: head", Light.LOST) in m.overlay().items
    assert not any("left_ankle" in text for text, _ in m.overlay().items)
    s = _status(
        1.0,
        engage=EngageState.ESTOP,
        episode=EpisodeState.RECORDING,
        episode_id="episode_000003",
        episode_rows=120,
        devices=(DeviceStatus("head", True, 5.0), DeviceStatus("right_wrist", False, 300.0)),
    )
    words = [text for text, _ in overlay(s).items]
    assert words == [
        "ESTOP",
        "REC episode_000003 120 rows",
        "E-STOP: release before engaging",
        "TRACKING LOST: right_wrist",
    ]
    assert overlay(
        replace(s, link="stale", engage=EngageState.ENGAGED, episode=EpisodeState.IDLE, devices=())
    ).items == (("ENGAGED", Light.OK), ("robot link stale", Light.LOST))
    s = _status(1.0, arm_q=(0.0, 0.95, -0.99, 0.5), arm_q_min=(-1.0,) * 4, arm_q_max=(1.0,) * 4)
    np.testing.assert_allclose(ConsoleModel.joint_fractions(s), [0.5, 0.975, 0.005, 0.75])
    np.testing.assert_array_equal(ConsoleModel.near_limit(s), [False, True, True, False])
    assert np.isnan(ConsoleModel.joint_fractions(_status(1.0, arm_q=(0.1,)))).all()
