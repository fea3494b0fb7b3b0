"""Fault injection through the whole loop: scripted operator (walking) → calibration → IK → safety → simulated G1.

Each fault is injected while the robot follows the operator and walks; the test checks that
commanded joint speeds never exceed the limits, locomotion is zeroed by the first tick that
sees the fault, and the safety filter says what happened in words.
"""

import logging

import numpy as np
import pytest

from teleop.app import SessionOptions, build_session
from teleop.inputs.base import InputSource, SourceStatus, mark_all_invalid
from teleop.operator_frame import ControllerButton, Side, TrackerRole
from teleop.robot import g1
from teleop.status import EngageState

FAULT_T = 4.5  # [s] the scripted operator walks from ~3 s on


class FaultInjector(InputSource):
    """Wraps the scripted operator and corrupts its frames from ``FAULT_T`` on."""

    def __init__(self, inner, fault: str, clock):
        self.inner, self.fault, self.clock = inner, fault, clock
        self.kind = inner.kind
        self._lost = False

    def start(self):
        self.inner.start()

    def stop(self):
        self.inner.stop()

    def devices(self):
        return self.inner.devices()

    @property
    def status(self):
        return SourceStatus.LOST if self._lost else self.inner.status

    @property
    def lost_reason(self):
        return "the OpenXR runtime went away (test)" if self._lost else ""

    def poll(self, frame):
        self.inner.poll(frame)
        t = self.clock()
        if t < FAULT_T:
            return True
        if self.fault == "dropout":
            frame.tracker_valid[:] = False
            frame.head_valid = False
            frame.hand_valid[:] = False
            frame.controller_valid[:] = False
            frame.stamp = t - 0.2  # and the last good sample ages
        elif self.fault == "nan":
            frame.tracker_pose[TrackerRole.RIGHT_WRIST, :3] = np.nan
        elif self.fault == "teleport":
            frame.tracker_pose[TrackerRole.RIGHT_WRIST, 0] += 1.0
        elif self.fault == "runtime_lost":
            self._lost = True
            mark_all_invalid(frame)
        elif self.fault == "estop":
            frame.controller_buttons[Side.LEFT, ControllerButton.MENU] = t < FAULT_T + 0.05
        return True


def _run(fault: str, duration: float = 6.0):
    opts = SessionOptions(input="scripted", robot="sim", task="loco_pick_place", lockstep=True)
    session = build_session(opts)
    loop = session.loop
    loop.source = FaultInjector(loop.source, fault, loop.clock)
    loop.start()
    actions, times, states = [], [], []
    while loop.clock() < duration:
        times.append(loop.clock())  # the time the tick's input is sampled at
        loop.tick()
        actions.append(loop.action.copy())
        states.append(loop.safety.state)
    session.close()
    return np.array(actions), np.array(times), states, loop


@pytest.mark.parametrize("fault,expected_state,words", [
    ("dropout", EngageState.HOLD, "holding the last safe pose"),
    ("nan", EngageState.HOLD, "NaN"),
    ("teleport", EngageState.HOLD, "jumped"),
    ("runtime_lost", EngageState.HOLD, "runtime went away"),
    ("estop", EngageState.ESTOP, "E-STOP"),
])
def test_fault_holds_the_robot_and_stops_walking(fault, expected_state, words, caplog):
    caplog.set_level(logging.INFO)
    actions, times, states, loop = _run(fault)
    dt = loop.dt
    emb = g1.load_embodiment()
    v_max = emb.velocity_limits(g1.ACTION_JOINTS)
    speeds = np.abs(np.diff(actions[:, :28], axis=0)) / dt
    assert np.all(speeds <= v_max + 1e-9), f"joint speed limit exceeded: {speeds.max(axis=0)}"
    before = times < FAULT_T
    assert np.abs(actions[before][-50:, 32]).max() > 0.1  # walking before the fault
    first = int(np.argmax(times >= FAULT_T))
    assert np.all(actions[first:, 32:35] == 0.0), "locomotion not zeroed on the first faulty tick"
    assert states[first] == expected_state
    assert words in caplog.text


def test_engage_during_fast_motion_ramps_within_limits():
    """The operator swings the arm fast while engaging: the command stays within the speed limits."""
    opts = SessionOptions(input="scripted", robot="sim", task="pick_place", lockstep=True)
    session = build_session(opts)
    loop = session.loop
    inner = loop.source

    class Swing(FaultInjector):
        def poll(self, frame):
            self.inner.poll(frame)
            t = self.clock()
            frame.tracker_pose[TrackerRole.RIGHT_WRIST, 1] += 0.15 * np.sin(2 * np.pi * 2.0 * t)  # 2 Hz, ±15 cm
            frame.tracker_pose[TrackerRole.RIGHT_WRIST, 2] += 0.15 * np.cos(2 * np.pi * 2.0 * t)
            return True

    loop.source = Swing(inner, "swing", loop.clock)
    loop.start()
    prev = None
    worst = 0.0
    v_max = g1.load_embodiment().velocity_limits(g1.ACTION_JOINTS)
    while loop.clock() < 3.5:
        loop.tick()
        if prev is not None:
            worst = max(worst, float(np.max(np.abs(loop.action[:28] - prev) / loop.dt / v_max)))
        prev = loop.action[:28].copy()
    assert loop.safety.state == EngageState.ENGAGED
    session.close()
    assert worst <= 1.0 + 1e-9
