"""The safety filter: ramps, holds, rejections, limits, e-stop."""

import numpy as np
import pytest

from teleop.exceptions import ConfigError
from teleop.operator_frame import OperatorFrame, TrackerRole
from teleop.robot import g1
from teleop.safety import SafetyConfig, SafetyFilter
from teleop.status import EngageState

DT = 0.01


def _frame(t, x=0.3):
    f = OperatorFrame()
    f.stamp = t
    f.head_valid = True
    f.head_pose[:3] = (0, 0, 1.6)
    f.tracker_valid[TrackerRole.RIGHT_WRIST] = True
    f.tracker_pose[TrackerRole.RIGHT_WRIST, :3] = (x, -0.2, 1.1)
    return f


def _engaged(desired):
    sf = SafetyFilter(SafetyConfig(ramp_time=0.5))
    sf.reset(g1.load_embodiment().default_action())
    sf.engage()
    for _ in range(60):
        sf.apply(desired, None, DT)
    assert sf.state == EngageState.ENGAGED
    return sf


def test_follows_only_after_engage_and_ramps_within_velocity_limits():
    emb = g1.load_embodiment()
    sf = SafetyFilter(SafetyConfig(ramp_time=0.5))
    start = emb.default_action()
    sf.reset(start)
    desired = start.copy()
    desired[14:28] += 0.5
    desired[32] = 0.5
    out = sf.apply(desired, None, DT)
    assert np.allclose(out[:28], start[:28]) and out[32] == 0.0  # idle: no following, no walking
    sf.engage()
    prev = out
    for _ in range(100):
        out = sf.apply(desired, None, DT)
        assert np.all(np.abs(out[:28] - prev[:28]) <= sf.rate[:28] * DT + 1e-12)
        prev = out
    assert sf.state == EngageState.ENGAGED
    assert np.allclose(out[14:28], desired[14:28]) and out[32] == pytest.approx(0.5)
    assert sf.max_joint_speed <= emb.velocity_limits(g1.ACTION_JOINTS).max() + 1e-9


@pytest.mark.parametrize("problem", ["nan", "stale", "teleport"])
def test_bad_input_holds_and_zeroes_locomotion_in_one_tick(problem):
    desired = g1.load_embodiment().default_action()
    desired[32:35] = (0.4, 0.1, 0.3)
    sf = _engaged(desired)
    now = 10.0
    assert sf.check_frame(_frame(now), now) is None
    f = _frame(now + DT)
    if problem == "nan":
        f.tracker_pose[TrackerRole.RIGHT_WRIST, 0] = np.nan
    elif problem == "stale":
        f.stamp = now - 0.5
    else:
        f.tracker_pose[TrackerRole.RIGHT_WRIST, 0] += 1.0
    why = sf.check_frame(f, now + DT)
    assert why is not None
    held = sf.apply(desired, why, DT)
    assert sf.state == EngageState.HOLD
    assert np.all(held[32:35] == 0.0)
    assert any("holding" in e for e in sf.events)
    # input back: re-engages with a ramp, locomotion stays zero during the ramp
    out = sf.apply(desired, None, DT)
    assert sf.state == EngageState.ENGAGING and np.all(out[32:35] == 0.0)


def test_teleport_accepted_after_persistent_jump():
    sf = SafetyFilter(SafetyConfig(teleport_reject_ticks=3))
    assert sf.check_frame(_frame(0.0, x=0.3), 0.0) is None
    verdicts = [sf.check_frame(_frame(0.01 * k, x=1.3), 0.01 * k) for k in range(1, 6)]
    assert all(v is not None and "jumped 100 cm" in v for v in verdicts[:3])
    assert verdicts[3] is None


def test_estop_and_release():
    emb = g1.load_embodiment()
    sf = _engaged(emb.default_action())
    sf.estop()
    out = sf.apply(emb.default_action(), None, DT)
    assert sf.state == EngageState.ESTOP and np.all(out[32:35] == 0)
    sf.engage()
    assert sf.state == EngageState.ESTOP and "release the e-stop" in sf.events[-1]
    sf.release(emb.default_action())
    assert sf.state == EngageState.IDLE


def test_limits_held_for_out_of_range_requests():
    emb = g1.load_embodiment()
    desired = emb.default_action()
    desired[:28] = 10.0
    sf = _engaged(desired)
    for _ in range(500):
        out = sf.apply(desired, None, DT)
    lo, hi = emb.action_limits()
    assert np.all(out[:32] <= hi[:32] + 1e-12) and np.all(out[:32] >= lo[:32] - 1e-12)


def test_config_is_validated():
    with pytest.raises(ConfigError, match="ramp_time"):
        SafetyConfig(ramp_time=0.0)
