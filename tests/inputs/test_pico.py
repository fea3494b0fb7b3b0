"""PICO backend: conversion and mapping of the XRoboToolkit SDK's data structures.

The headset is absent here, so :class:`FakeSdk` stands in for ``xrobotoolkit_sdk`` with the
same functions and the same return shapes (flat 7-float poses ``x y z qx qy qz qw`` in the
OpenXR convention, 26x7 hand joints, 24x7 body joints). The real wheel is exercised where it
can be: it imports, and without the PC Service ``start`` fails with the fix.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from teleop.exceptions import ConfigError, MissingExtraError
from teleop.inputs import RuntimeUnavailableError, SourceStatus, TrackerRoleMissingError
from teleop.inputs.pico import PicoConfig, PicoSource, PicoTrackerBinding, PicoTrackerMode
from teleop.operator_frame import ControllerAxis, ControllerButton, OperatorFrame, Side, TrackerRole
from teleop.spatial import quat_angle

S = math.sqrt(0.5)


class FakeSdk:
    """The functions of ``xrobotoolkit_sdk`` that PicoSource calls, with settable data."""

    def __init__(self):
        self.ts = 1_000_000_000
        self.head = [0.1, 1.6, -0.2, 0.0, S, 0.0, S]
        self.left = [-0.2, 1.1, -0.3, 0.0, 0.0, 0.0, 1.0]
        self.right = [0.0] * 7  # right controller off: zeros
        self.hand = [[-0.2 + 0.002 * j, 1.1, -0.3 - 0.01 * j, 0.0, 0.0, 0.0, 1.0] for j in range(26)]
        self.body = [[0.0] * 7 for _ in range(24)]
        self.body[0] = [0.01, 0.95, 0.02, 0.0, 0.0, 0.0, 1.0]  # pelvis
        self.body[7] = [-0.12, 0.08, 0.03, 0.0, 0.0, 0.0, 1.0]  # left ankle
        self.body_on = True
        self.serials = ["PC2310ABC", "PC2310XYZ"]
        self.trackers = [[0.3, 1.0, -0.1, 0.0, 0.0, 0.0, 1.0], [0.0, 0.1, 0.0, 0.0, 0.0, 0.0, 1.0]]
        self.inited = self.closed = 0
        self.streaming = True

    def init(self): self.inited += 1
    def close(self): self.closed += 1

    def get_time_stamp_ns(self):
        if self.streaming:
            self.ts += 11_000_000  # ~90 Hz
        return self.ts if self.inited else 0

    def get_headset_pose(self): return list(self.head)
    def get_left_controller_pose(self): return list(self.left)
    def get_right_controller_pose(self): return list(self.right)
    def get_left_trigger(self): return 0.0
    def get_right_trigger(self): return 0.8
    def get_left_grip(self): return 0.3
    def get_right_grip(self): return 0.0
    def get_left_axis(self): return [0.1, 0.9]
    def get_right_axis(self): return [0.0, 0.0]
    def get_X_button(self): return True
    def get_Y_button(self): return False
    def get_A_button(self): return False
    def get_B_button(self): return True
    def get_left_axis_click(self): return False
    def get_right_axis_click(self): return True
    def get_left_menu_button(self): return False
    def get_right_menu_button(self): return False
    def get_left_hand_tracking_state(self): return [list(r) for r in self.hand]
    def get_right_hand_tracking_state(self): return [[0.0] * 7 for _ in range(26)]
    def get_left_hand_is_active(self): return 1
    def get_right_hand_is_active(self): return 0
    def is_body_data_available(self): return self.body_on
    def get_body_joints_pose(self): return [list(r) for r in self.body]
    def num_motion_data_available(self): return len(self.serials)
    def get_motion_tracker_serial_numbers(self): return list(self.serials)
    def get_motion_tracker_pose(self): return [list(r) for r in self.trackers]


def _mm(a, b):
    return float(np.abs(np.asarray(a)[:3] - np.asarray(b)[:3]).max()) * 1e3


def test_head_controllers_buttons_hands_body():
    sdk = FakeSdk()
    source = PicoSource(sdk=sdk)
    source.start()
    frame = OperatorFrame()
    assert source.poll(frame)
    assert frame.head_valid and _mm(frame.head_pose, [0.2, -0.1, 1.6]) < 1e-6
    assert math.degrees(quat_angle(frame.head_pose[3:], np.array([S, 0, 0, S]))) < 1e-6  # 90° left yaw
    assert frame.controller_valid.tolist() == [True, False]  # zeros = right controller off
    assert _mm(frame.controller_pose[Side.LEFT], [0.3, 0.2, 1.1]) < 1e-6
    assert frame.controller_axes[Side.RIGHT, ControllerAxis.TRIGGER] == pytest.approx(0.8)
    assert frame.controller_axes[Side.LEFT, ControllerAxis.SQUEEZE] == pytest.approx(0.3)
    assert frame.controller_axes[Side.LEFT, ControllerAxis.THUMBSTICK_Y] == pytest.approx(0.9)
    assert frame.controller_buttons[Side.LEFT, ControllerButton.PRIMARY]  # X
    assert frame.controller_buttons[Side.RIGHT, ControllerButton.SECONDARY]  # B
    assert frame.controller_buttons[Side.RIGHT, ControllerButton.THUMBSTICK_CLICK]
    assert frame.controller_buttons.sum() == 3
    assert frame.hand_valid.tolist() == [True, False]
    j = np.arange(26)
    expected = np.stack([0.3 + 0.01 * j, 0.2 - 0.002 * j, np.full(26, 1.1)], axis=1)
    assert np.abs(frame.hand_joints[Side.LEFT, :, :3] - expected).max() * 1e3 < 1e-6
    assert frame.tracker_valid[TrackerRole.WAIST] and frame.tracker_valid[TrackerRole.LEFT_ANKLE]
    assert not frame.tracker_valid[TrackerRole.RIGHT_ANKLE]  # zeros in the body array
    assert _mm(frame.tracker_pose[TrackerRole.WAIST], [-0.02, -0.01, 0.95]) < 1e-6
    source.stop()
    assert sdk.closed == 1


def test_motion_trackers_by_serial_and_devices_list():
    sdk = FakeSdk()
    config = PicoConfig(tracker_mode=PicoTrackerMode.MOTION_TRACKERS,
                        trackers=(PicoTrackerBinding("PC2310ABC", TrackerRole.RIGHT_WRIST),
                                  PicoTrackerBinding("PC2310MISSING", TrackerRole.WAIST)))
    source = PicoSource(config, sdk=sdk)
    source.start()
    frame = OperatorFrame()
    source.poll(frame)
    assert frame.tracker_valid.tolist() == [r is TrackerRole.RIGHT_WRIST for r in TrackerRole]
    assert _mm(frame.tracker_pose[TrackerRole.RIGHT_WRIST], [0.1, -0.3, 1.0]) < 1e-6
    devices = {d.name: d for d in source.devices()}
    assert devices["tracker/PC2310ABC"].role == "right_wrist" and devices["tracker/PC2310ABC"].valid
    assert devices["tracker/PC2310XYZ"].role == "" and "not mapped" in devices["tracker/PC2310XYZ"].detail
    assert not devices["tracker/PC2310MISSING"].valid and "not connected" in devices["tracker/PC2310MISSING"].detail


def test_stale_then_lost_then_resumes():
    sdk = FakeSdk()
    source = PicoSource(PicoConfig(stale_after_s=0.05, lost_after_s=0.2), sdk=sdk)
    source.start()
    frame = OperatorFrame()
    source.poll(frame)
    assert frame.head_valid
    sdk.streaming = False  # timestamp and numbers freeze
    time.sleep(0.1)
    assert not source.poll(frame)  # nothing new
    assert not frame.head_valid  # frozen for longer than stale_after_s
    time.sleep(0.15)
    assert source.poll(frame) and source.status is SourceStatus.LOST
    assert "Wake the headset" in source.lost_reason
    assert not frame.head_valid and not frame.tracker_valid.any()
    sdk.streaming = True
    sdk.head = [0.1, 1.7, -0.2, 0.0, S, 0.0, S]
    source.poll(frame)
    assert source.status is SourceStatus.RUNNING and frame.head_valid
    assert frame.head_pose[2] == pytest.approx(1.7)


def test_stamps_are_on_our_clock():
    from teleop import clock

    sdk = FakeSdk()
    source = PicoSource(sdk=sdk)
    source.start()
    frame = OperatorFrame()
    before = clock.now()
    source.poll(frame)
    assert before - 0.05 < frame.stamp <= clock.now()  # the SDK clock is ~1 s here: offset removed


def test_required_role_without_body_data():
    sdk = FakeSdk()
    sdk.body_on = False
    with pytest.raises(TrackerRoleMissingError, match="Full body"):
        PicoSource(PicoConfig(required_roles=(TrackerRole.WAIST,)), sdk=sdk).start()
    assert sdk.closed == 1


def test_no_service_with_fake_sdk():
    sdk = FakeSdk()
    sdk.get_time_stamp_ns = lambda: 0
    with pytest.raises(RuntimeUnavailableError, match="XRoboToolkit PC Service.*--input scripted"):
        PicoSource(PicoConfig(connect_timeout_s=0.05), sdk=sdk).start()


def test_config_validation():
    with pytest.raises(ConfigError, match="stale_after_s"):
        PicoConfig(stale_after_s=0.0)
    with pytest.raises(ConfigError, match="twice"):
        PicoConfig(trackers=(PicoTrackerBinding("A", TrackerRole.WAIST), PicoTrackerBinding("B", TrackerRole.WAIST)))
    with pytest.raises(ConfigError, match="cannot be tracked"):
        PicoConfig(tracker_mode=PicoTrackerMode.NONE, required_roles=(TrackerRole.WAIST,))


def test_missing_extra_names_it(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "xrobotoolkit_sdk":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(MissingExtraError, match=r"psi-teleop\[pico\]"):
        PicoSource().start()


def test_real_sdk_without_service_names_the_fix():
    """The real wheel: init() connects to 127.0.0.1:60061; nothing listens here."""
    pytest.importorskip("xrobotoolkit_sdk")
    with pytest.raises(RuntimeUnavailableError, match="XRoboToolkit PC Service"):
        PicoSource(PicoConfig(connect_timeout_s=0.3)).start()
