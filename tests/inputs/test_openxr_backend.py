"""The OpenXR backend end to end: real pyopenxr loader → scripted C runtime → OperatorFrame.

Script numbers are OpenXR-native (y up, -z forward, quaternion x y z w); the expected
numbers below are the same poses written by hand in the z-up stage frame
(x_stage = -z_xr, y_stage = -x_xr, z_stage = y_xr).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from teleop import clock
from teleop.exceptions import InputDeviceError
from teleop.inputs import (
    InputKind,
    MissingExtensionError,
    RuntimeUnavailableError,
    SourceStatus,
    TrackerRoleMissingError,
    make_source,
)
from teleop.inputs.openxr_backend import OpenXRSource
from teleop.inputs.openxr_config import OpenXRConfig, TrackerBinding
from teleop.operator_frame import ControllerAxis, ControllerButton, HandJoint, OperatorFrame, Side, TrackerRole
from teleop.spatial import quat_angle

S = math.sqrt(0.5)
RIG = """
device /user/hand/left /interaction_profiles/oculus/touch_controller
device /user/hand/right /interaction_profiles/oculus/touch_controller
device /user/vive_tracker_htcx/role/waist /interaction_profiles/htc/vive_tracker_htcx LHR-0001
device /user/vive_tracker_htcx/role/left_foot /interaction_profiles/htc/vive_tracker_htcx LHR-0002
device /user/vive_tracker_htcx/role/right_foot /interaction_profiles/htc/vive_tracker_htcx LHR-0003
at 0
pose /user/head 0.1 1.6 -0.2 0 0.7071068 0 0.7071068
pose /user/hand/left/input/grip/pose -0.2 1.1 -0.3 0 0 0 1
pose /user/hand/left/input/aim/pose -0.2 1.1 -0.35 0 0 0 1
pose /user/hand/right/input/grip/pose 0.25 1.05 -0.4 0.7071068 0 0 0.7071068
pose /user/vive_tracker_htcx/role/waist/input/grip/pose 0.01 0.95 0.02 0 0 0 1
pose /user/vive_tracker_htcx/role/left_foot/input/grip/pose -0.12 0.08 0.03 0 0 0 1
pose /user/vive_tracker_htcx/role/right_foot/input/grip/pose 0.12 0.08 -0.03 0 0 0 1
value /user/hand/right/input/trigger/value 0.75
value /user/hand/left/input/squeeze/value 0.5
value /user/hand/right/input/a/click 1
value /user/hand/left/input/menu/click 1
vec2 /user/hand/left/input/thumbstick 0.25 -0.5
hand left -0.2 1.1 -0.3 0 0 0 1
"""


def _poll_until(source, frame, predicate, timeout_s=3.0):
    """Poll at ~100 Hz until ``predicate(frame)`` holds; return whether it did."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        source.poll(frame)
        if predicate(frame):
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def rig(xr_script):
    def open_source(extra: str = "", config: OpenXRConfig | None = None) -> OpenXRSource:
        xr_script(RIG + extra)
        source = make_source(InputKind.OPENXR, config=config)
        source.start()
        return source

    opened = []

    def factory(*args, **kwargs):
        opened.append(open_source(*args, **kwargs))
        return opened[-1]

    yield factory
    for s in opened:
        s.stop()


def _mm(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a)[:3] - np.asarray(b)[:3]))) * 1e3


def _deg(a, b) -> float:
    return math.degrees(quat_angle(np.asarray(a)[3:7], np.asarray(b)[3:7]))


def test_head_controller_tracker_poses_in_stage_frame(rig):
    source = rig()
    frame = OperatorFrame()
    before = clock.now()
    assert source.poll(frame)
    assert before <= frame.stamp <= clock.now()  # on our clock, not the runtime's (1000 s apart)
    assert frame.head_valid
    # head: OpenXR (0.1, 1.6, -0.2), turned 90° left about y (up)
    assert _mm(frame.head_pose, [0.2, -0.1, 1.6]) < 0.01
    assert _deg(frame.head_pose, [0, 0, 0, S, 0, 0, S]) < 1e-3  # +90° yaw
    assert frame.controller_valid.all()
    assert _mm(frame.controller_pose[Side.LEFT], [0.3, 0.2, 1.1]) < 0.01
    assert _deg(frame.controller_pose[Side.LEFT], [0, 0, 0, 1, 0, 0, 0]) < 1e-3
    # right grip: +90° about OpenXR's x (right) is +90° about the stage's -y (x_xr maps to -y_stage)
    assert _mm(frame.controller_pose[Side.RIGHT], [0.4, -0.25, 1.05]) < 0.01
    assert _deg(frame.controller_pose[Side.RIGHT], [0, 0, 0, S, 0, -S, 0]) < 1e-3
    assert source.aim_valid[Side.LEFT] and not source.aim_valid[Side.RIGHT]
    assert _mm(source.aim_pose[Side.LEFT], [0.35, 0.2, 1.1]) < 0.01
    # trackers by role
    assert frame.tracker_valid[TrackerRole.WAIST]
    assert _mm(frame.tracker_pose[TrackerRole.WAIST], [-0.02, -0.01, 0.95]) < 0.01
    assert _mm(frame.tracker_pose[TrackerRole.LEFT_ANKLE], [-0.03, 0.12, 0.08]) < 0.01
    assert _mm(frame.tracker_pose[TrackerRole.RIGHT_ANKLE], [0.03, -0.12, 0.08]) < 0.01
    present = {TrackerRole.WAIST, TrackerRole.LEFT_ANKLE, TrackerRole.RIGHT_ANKLE}
    for role in TrackerRole:
        assert frame.tracker_valid[role] == (role in present), role


def test_hand_joints_follow_the_template(rig):
    source = rig()
    frame = OperatorFrame()
    source.poll(frame)
    assert frame.hand_valid[Side.LEFT] and not frame.hand_valid[Side.RIGHT]
    j = np.arange(26)
    # runtime template in OpenXR: hand origin + (0.002 j, 0.001 (j mod 5), -0.01 j), identity orientation
    p_xr = np.stack([-0.2 + 0.002 * j, 1.1 + 0.001 * (j % 5), -0.3 - 0.01 * j], axis=1)
    p_stage = np.stack([-p_xr[:, 2], -p_xr[:, 0], p_xr[:, 1]], axis=1)
    err_mm = np.abs(frame.hand_joints[Side.LEFT, :, :3] - p_stage).max() * 1e3
    assert err_mm < 0.01
    np.testing.assert_allclose(frame.hand_joints[Side.LEFT, :, 3:], np.tile([1.0, 0, 0, 0], (26, 1)), atol=1e-6)
    np.testing.assert_allclose(frame.hand_radii[Side.LEFT], 0.004 + 0.0005 * j, atol=1e-7)
    # fingers point forward (+x): the template puts the index tip 4 joints = 40 mm ahead of its metacarpal
    tip, meta = frame.hand_joints[Side.LEFT, HandJoint.INDEX_TIP], frame.hand_joints[Side.LEFT, HandJoint.INDEX_METACARPAL]
    assert abs((tip[0] - meta[0]) - 0.04) < 1e-5


def test_buttons_and_axes(rig):
    source = rig()
    frame = OperatorFrame()
    source.poll(frame)
    L, R = Side.LEFT, Side.RIGHT
    assert frame.controller_axes[R, ControllerAxis.TRIGGER] == pytest.approx(0.75)
    assert frame.controller_axes[L, ControllerAxis.TRIGGER] == 0.0
    assert frame.controller_axes[L, ControllerAxis.SQUEEZE] == pytest.approx(0.5)
    assert frame.controller_axes[L, ControllerAxis.THUMBSTICK_X] == pytest.approx(0.25)
    assert frame.controller_axes[L, ControllerAxis.THUMBSTICK_Y] == pytest.approx(-0.5)
    assert frame.controller_buttons[R, ControllerButton.PRIMARY]  # A
    assert not frame.controller_buttons[L, ControllerButton.PRIMARY]  # X not pressed
    assert frame.controller_buttons[L, ControllerButton.MENU]
    assert frame.controller_buttons.sum() == 2


def test_inputs_change_over_time(rig):
    source = rig("at 0.2\nvalue /user/hand/right/input/trigger/value 0.1\nvalue /user/hand/right/input/a/click 0\n")
    frame = OperatorFrame()
    assert _poll_until(source, frame, lambda f: f.controller_axes[Side.RIGHT, ControllerAxis.TRIGGER] < 0.5)
    assert frame.controller_axes[Side.RIGHT, ControllerAxis.TRIGGER] == pytest.approx(0.1)
    assert not frame.controller_buttons[Side.RIGHT, ControllerButton.PRIMARY]


def test_tracker_losing_tracking_turns_invalid_and_recovers(rig):
    source = rig(
        "at 0.2\nuntracked /user/vive_tracker_htcx/role/waist/input/grip/pose\nhand left untracked\n"
        "at 0.5\npose /user/vive_tracker_htcx/role/waist/input/grip/pose 0.5 0.9 0 0 0 0 1\n"
    )
    frame = OperatorFrame()
    assert _poll_until(source, frame, lambda f: not f.tracker_valid[TrackerRole.WAIST])
    assert frame.tracker_valid[TrackerRole.LEFT_ANKLE] and frame.head_valid  # the others are unaffected
    assert not frame.hand_valid[Side.LEFT]
    waist = next(d for d in source.devices() if d.role == "waist")
    assert not waist.tracked and not waist.valid
    assert _poll_until(source, frame, lambda f: f.tracker_valid[TrackerRole.WAIST])
    assert _mm(frame.tracker_pose[TrackerRole.WAIST], [0.0, -0.5, 0.9]) < 0.01


def test_inferred_pose_goes_stale(rig):
    """Valid-but-not-tracked poses are kept for stale_after_s, then reported invalid."""
    source = rig("at 0.1\ninferred /user/vive_tracker_htcx/role/waist/input/grip/pose\n")
    frame = OperatorFrame()
    source.poll(frame)  # a tracked sample first
    assert frame.tracker_valid[TrackerRole.WAIST]
    # well after 0.1 s + 100 ms the inferred waist pose is stale
    time.sleep(0.35)
    source.poll(frame)
    assert not frame.tracker_valid[TrackerRole.WAIST]
    waist = next(d for d in source.devices() if d.role == "waist")
    assert "stale" in waist.detail


def test_inferred_pose_within_tolerance_stays_valid(rig):
    lenient = rig("at 0.1\ninferred /user/vive_tracker_htcx/role/waist/input/grip/pose\n",
                  config=OpenXRConfig(stale_after_s=5.0))
    frame = OperatorFrame()
    lenient.poll(frame)  # a tracked sample first
    time.sleep(0.35)
    lenient.poll(frame)
    assert frame.tracker_valid[TrackerRole.WAIST]
    assert not next(d for d in lenient.devices() if d.role == "waist").tracked


@pytest.mark.parametrize("event,reason", [
    ("session_loss", "lost the session"),
    ("instance_loss", "shutting down"),
    ("exiting", "stopped the session"),
])
def test_runtime_loss_mid_session(rig, event, reason):
    source = rig(f"at 0.2\nevent {event}\n")
    frame = OperatorFrame()
    source.poll(frame)
    assert frame.head_valid and frame.controller_valid.all()
    assert _poll_until(source, frame, lambda f: source.lost)
    assert source.status is SourceStatus.LOST
    assert reason in source.lost_reason and "--input scripted" in source.lost_reason
    for _ in range(5):  # keeps delivering frames, all invalid, no exception
        before = clock.now()
        assert source.poll(frame)
        assert frame.stamp >= before
        assert not frame.head_valid and not frame.controller_valid.any()
        assert not frame.tracker_valid.any() and not frame.hand_valid.any()
    devices = source.devices()
    assert devices and not any(d.valid or d.tracked for d in devices)
    source.stop()
    source.stop()
    assert source.status is SourceStatus.STOPPED


def test_stamps_without_timespec_extension_use_estimated_offset(rig):
    """Runtime clock is CLOCK_MONOTONIC + 1000 s; the estimate from events lands well within 0.5 s.

    (The estimate's error is the delivery delay of the fastest session-state event, normally
    well under a millisecond; 0.5 s leaves room for a loaded test machine.)
    """
    source = rig("extensions XR_MND_headless XR_EXT_hand_tracking XR_HTCX_vive_tracker_interaction\n")
    assert "XR_KHR_convert_timespec_time" not in source.extensions
    assert not source._time.exact
    frame = OperatorFrame()
    t0 = clock.now()
    source.poll(frame)
    assert abs(frame.stamp - t0) < 0.5
    assert abs(source._time.to_xr(t0) * 1e-9 - (t0 + 1000.0)) < 0.5


def test_exact_time_conversion_round_trips(rig):
    source = rig()
    assert source._time.exact
    t = clock.now()
    t_xr = source._time.to_xr(t)
    assert abs(t_xr - round(t * 1e9) - 1_000_000_000_000) <= 1  # the runtime's documented offset
    assert abs(source._time.to_mono(t_xr) - t) < 1e-6


def test_prediction_moves_the_sample_time(rig):
    source = rig(config=OpenXRConfig(prediction_s=0.05))
    frame = OperatorFrame()
    before = clock.now()
    source.poll(frame)
    after = clock.now()
    assert before + 0.05 <= frame.stamp <= after + 0.05  # stamped at the predicted time, on our clock
    assert frame.head_valid


def test_path_based_vive_xr_tracker(xr_script):
    xr_script(
        "device /user/xr_tracker_htc/vive_self_tracker_0 /interaction_profiles/htc/vive_xr_tracker\n"
        "at 0\npose /user/head 0 1.6 0 0 0 0 1\n"
        "pose /user/xr_tracker_htc/vive_self_tracker_0/input/entity_htc/pose -0.3 1.0 -0.2 0 0 0 1\n"
    )
    config = OpenXRConfig(trackers=(TrackerBinding("/user/xr_tracker_htc/vive_self_tracker_0", TrackerRole.LEFT_WRIST),),
                          required_roles=(TrackerRole.LEFT_WRIST,))
    source = OpenXRSource(config)
    source.start()
    try:
        frame = OperatorFrame()
        source.poll(frame)
        assert frame.tracker_valid[TrackerRole.LEFT_WRIST] and frame.tracker_valid.sum() == 1
        assert _mm(frame.tracker_pose[TrackerRole.LEFT_WRIST], [0.2, 0.3, 1.0]) < 0.01
    finally:
        source.stop()


# ---- errors that name the fix --------------------------------------------------------------------


def test_no_runtime(monkeypatch, tmp_path):
    pytest.importorskip("xr")
    monkeypatch.setenv("XR_RUNTIME_JSON", str(tmp_path / "missing_runtime.json"))
    with pytest.raises(RuntimeUnavailableError, match="Start SteamVR.*monado-service.*--input scripted"):
        OpenXRSource().start()


def test_runtime_without_headless(xr_script):
    xr_script("extensions XR_EXT_hand_tracking XR_KHR_convert_timespec_time\n")
    source = OpenXRSource()
    with pytest.raises(MissingExtensionError, match="XR_MND_headless.*SteamVR or Monado") as info:
        source.start()
    assert info.value.extension == "XR_MND_headless"
    assert source.status is SourceStatus.IDLE


def test_required_hand_tracking_missing(xr_script):
    xr_script("extensions XR_MND_headless XR_KHR_convert_timespec_time\n")
    with pytest.raises(MissingExtensionError, match="XR_EXT_hand_tracking.*require_hand_tracking=False"):
        OpenXRSource(OpenXRConfig(require_hand_tracking=True)).start()


def test_required_tracker_role_missing(xr_script):
    xr_script(RIG)
    config = OpenXRConfig(required_roles=(TrackerRole.WAIST, TrackerRole.LEFT_WRIST))
    with pytest.raises(TrackerRoleMissingError, match="left_wrist.*Manage Vive Trackers") as info:
        OpenXRSource(config).start()
    assert info.value.missing == ("/user/vive_tracker_htcx/role/left_wrist",)
    assert "/user/vive_tracker_htcx/role/waist" in info.value.present


def test_unstarted_source_is_harmless():
    source = OpenXRSource()
    frame = OperatorFrame()
    frame.head_valid = True
    assert source.devices() == []
    assert not source.poll(frame) and not frame.head_valid
    source.stop()
    assert source.status is SourceStatus.STOPPED


def test_one_source_per_process(rig):
    rig()
    with pytest.raises(InputDeviceError, match="already open"):
        OpenXRSource().start()


def test_no_headset_connected(xr_script):
    xr_script("no_system\n")
    with pytest.raises(RuntimeUnavailableError, match="sees no headset"):
        OpenXRSource().start()


def test_devices_lists_roles_and_absent_trackers(rig):
    source = rig()
    frame = OperatorFrame()
    for _ in range(20):
        source.poll(frame)
        time.sleep(0.005)
    by_role = {d.role: d for d in source.devices()}
    assert by_role["head"].valid and by_role["head"].rate_hz > 0 and by_role["head"].age_s < 1.0
    assert by_role["left_controller"].detail == "/interaction_profiles/oculus/touch_controller"
    assert by_role["waist"].name == "/user/vive_tracker_htcx/role/waist" and by_role["waist"].tracked
    assert not by_role["left_wrist"].valid and "assign its role" in by_role["left_wrist"].detail
    assert by_role["left_hand"].valid and not by_role["right_hand"].valid
