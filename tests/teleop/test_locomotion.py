"""The locomotion channel: deadzones, quantisation, rate limits, yaw integration, stops, sources."""

from __future__ import annotations

import math

import numpy as np
import pytest

from teleop.exceptions import ConfigError
from teleop.inputs.keyboard import KeyboardSticks, KeyState, keys_to_input
from teleop.locomotion import (
    ControllerSticks,
    LocomotionChannel,
    LocomotionConfig,
    StepQuantizer,
    StickInput,
    StickSourceKind,
    axial_deadzone,
    radial_deadzone,
)
from teleop.operator_frame import ControllerAxis, ControllerButton, OperatorFrame, Side
from teleop.robot import g1
from teleop.robot.remote import (
    RemoteKey,
    RemoteState,
    RemoteSticks,
    decode_remote_block,
    decode_wireless_controller,
    encode_remote_block,
)

DT = 0.01


class FakeSticks:
    """A StickSource whose values the test sets."""

    def __init__(self) -> None:
        self.inp = StickInput(valid=True, stamp=0.0)

    def set(self, now: float, **kw: object) -> None:
        base = dict(forward=0.0, left=0.0, turn=0.0, valid=True, stamp=now)
        base.update(kw)
        self.inp = StickInput(**base)  # type: ignore[arg-type]

    def read(self, frame, now):
        inp, self.inp = self.inp, StickInput(self.inp.forward, self.inp.left, self.inp.turn, self.inp.valid, now)
        return inp


def run(ch: LocomotionChannel, src: FakeSticks, seconds: float, t0: float = 0.0, **stick: float):
    cmd = None
    n = int(round(seconds / DT))
    for k in range(n):
        now = t0 + (k + 1) * DT
        src.set(now, **stick)
        cmd = ch.update(None, DT, now)
    return cmd, t0 + n * DT


def engaged(config: LocomotionConfig | None = None) -> tuple[LocomotionChannel, FakeSticks]:
    src = FakeSticks()
    ch = LocomotionChannel(config or LocomotionConfig(), source=src)
    ch.reset(yaw=0.0)
    src.set(0.0)
    ch.update(None, DT, 0.0)  # sticks neutral → unlatched
    return ch, src


def test_deadzone_helpers_are_continuous_and_reach_full_scale():
    assert radial_deadzone(0.1, 0.05, 0.15) == (0.0, 0.0)
    x, y = radial_deadzone(1.0 / math.sqrt(2), 1.0 / math.sqrt(2), 0.15)
    assert math.hypot(x, y) == pytest.approx(1.0)
    assert x == pytest.approx(y)
    assert axial_deadzone(0.1499, 0.15) == 0.0
    assert axial_deadzone(0.1501, 0.15) == pytest.approx(0.0001 / 0.85, abs=1e-9)
    assert axial_deadzone(-1.0, 0.15) == -1.0


def test_stick_inside_deadzone_does_not_move():
    ch, src = engaged()
    cmd, _ = run(ch, src, 2.0, forward=0.14, left=0.0, turn=-0.14)
    assert (cmd.vx, cmd.vy, cmd.vyaw) == (0.0, 0.0, 0.0)
    assert cmd.target_yaw == 0.0


def test_full_stick_reaches_max_velocity_at_the_acceleration_limit():
    cfg = LocomotionConfig(max_velocity=(0.6, 0.4, 0.8), max_acceleration=(0.8, 0.8, 2.0))
    ch, src = engaged(cfg)
    vx = []
    t = 0.0
    for _ in range(100):
        cmd, t = run(ch, src, DT, t0=t, forward=1.0)
        vx.append(cmd.vx)
    steps = np.diff([0.0, *vx])
    assert steps.max() <= 0.8 * DT + 1e-12  # never faster than the acceleration limit
    assert vx[int(0.6 / 0.8 / DT) + 1] == pytest.approx(0.6)  # 0.6 m/s after 0.75 s
    assert max(vx) == pytest.approx(0.6)


def test_release_decelerates_at_the_braking_limit():
    cfg = LocomotionConfig(max_velocity=(0.6, 0.4, 0.8), max_deceleration=(1.6, 1.6, 4.0))
    ch, src = engaged(cfg)
    cmd, t = run(ch, src, 2.0, forward=1.0)
    assert cmd.vx == pytest.approx(0.6)
    cmd, t = run(ch, src, 0.2, t0=t, forward=0.0)
    assert cmd.vx == pytest.approx(0.6 - 1.6 * 0.2, abs=1e-9)
    cmd, t = run(ch, src, 0.3, t0=t, forward=0.0)
    assert cmd.vx == 0.0


def test_reversal_uses_braking_then_acceleration():
    ch, src = engaged(LocomotionConfig(max_velocity=(0.6, 0.4, 0.8)))
    cmd, t = run(ch, src, 2.0, left=1.0)
    assert cmd.vy == pytest.approx(0.4)
    cmd, t = run(ch, src, 0.25, t0=t, left=-1.0)  # 0.25 s at 1.6 m/s² brakes exactly to 0
    assert cmd.vy == pytest.approx(0.0, abs=1e-9)


def test_velocities_never_exceed_the_embodiment_limits():
    cfg = LocomotionConfig(max_velocity=tuple(g1.VELOCITY_LIMITS), max_acceleration=(20.0, 20.0, 20.0))
    ch, src = engaged(cfg)
    cmd, _ = run(ch, src, 1.0, forward=5.0, left=-5.0, turn=5.0)  # out-of-range sticks
    v = np.abs([cmd.vx, cmd.vy, cmd.vyaw])
    assert np.all(v <= g1.VELOCITY_LIMITS + 1e-12)


def test_max_velocity_above_the_limit_is_rejected():
    with pytest.raises(ConfigError, match=r"max_velocity\[vx\]=2.0 is outside"):
        LocomotionConfig(max_velocity=(2.0, 0.4, 0.8))


def test_yaw_integration_and_wrapping():
    cfg = LocomotionConfig(max_velocity=(0.6, 0.4, 0.8), max_acceleration=(0.8, 0.8, 20.0), deadzone=0.0)
    ch, src = engaged(cfg)
    ch.reset(yaw=3.0)
    src.set(0.0)
    ch.update(None, DT, 0.0)
    # turn left for 1 s: vyaw ramps 0.2, 0.4, 0.6, then 0.8 rad/s; target_yaw = 3 + sum(vyaw_k dt)
    cmd, _ = run(ch, src, 1.0, turn=1.0)
    expected = 3.0 + sum(min(0.2 * k, 0.8) * DT for k in range(1, 101))
    assert cmd.target_yaw == pytest.approx(expected - 2 * math.pi, abs=1e-6)
    assert -math.pi <= cmd.target_yaw < math.pi


def test_target_yaw_stays_within_the_lead_of_the_measured_heading():
    ch, src = engaged(LocomotionConfig(max_yaw_lead=0.3))
    t = 0.0
    for k in range(300):  # robot does not turn at all
        t += DT
        src.set(t, turn=1.0)
        cmd = ch.update(None, DT, t, measured_yaw=0.0)
    assert cmd.target_yaw == pytest.approx(0.3)


def test_zero_stops_in_one_tick_and_latches_until_neutral():
    ch, src = engaged()
    cmd, t = run(ch, src, 2.0, forward=1.0, turn=0.5)
    assert cmd.vx > 0.5
    ch.zero(yaw=0.25, reason="tracking lost")
    src.set(t + DT, forward=1.0, turn=0.5)
    cmd = ch.update(None, DT, t + DT)
    assert (cmd.vx, cmd.vy, cmd.vyaw) == (0.0, 0.0, 0.0)
    assert cmd.target_yaw == pytest.approx(0.25)
    assert cmd.latched and cmd.reason == "tracking lost"
    cmd, t = run(ch, src, 1.0, t0=t + DT, forward=1.0)  # still held: stays stopped
    assert cmd.vx == 0.0 and cmd.latched
    cmd, t = run(ch, src, DT, t0=t, forward=0.0)  # released → unlatched
    assert not cmd.latched
    cmd, t = run(ch, src, 0.5, t0=t, forward=1.0)
    assert cmd.vx == pytest.approx(0.4)  # 0.8 m/s² for 0.5 s


def test_invalid_and_stale_input_stop_at_once():
    ch, src = engaged()
    cmd, t = run(ch, src, 2.0, forward=1.0)
    src.set(t + DT, forward=1.0, valid=False)
    cmd = ch.update(None, DT, t + DT)
    assert cmd.vx == 0.0 and "not available" in cmd.reason
    ch2, src2 = engaged()
    cmd, t = run(ch2, src2, 2.0, forward=1.0)
    src2.set(t - 0.5, forward=1.0)  # a sample 0.5 s old
    cmd = ch2.update(None, DT, t + DT)
    assert cmd.vx == 0.0 and "old" in cmd.reason


def test_psi0_quantisation_levels():
    ch, src = engaged(LocomotionConfig.psi0_release(max_acceleration=(20.0, 20.0, 20.0)))
    for stick, want in ((0.29, 0.0), (0.31, 0.6), (1.0, 0.6), (-0.5, -0.6)):
        cmd, _ = run(ch, src, 0.5, forward=stick)
        assert cmd.vx == pytest.approx(want), stick
    for stick, want in ((0.19, 0.0), (0.3, 0.3), (0.49, 0.3), (0.9, 0.5), (-0.6, -0.5)):
        cmd, _ = run(ch, src, 0.5, turn=stick)
        assert cmd.vyaw == pytest.approx(want), stick
    for stick, want in ((0.69, 0.0), (0.71, 0.5)):
        cmd, _ = run(ch, src, 0.5, left=stick)
        assert cmd.vy == pytest.approx(want), stick


def test_quantizer_validation():
    with pytest.raises(ConfigError, match="strictly increasing"):
        StepQuantizer((0.5, 0.3), (0.1, 0.2))
    with pytest.raises(ConfigError, match="exceeds the limit"):
        LocomotionConfig(quantize=(StepQuantizer((0.3,), (1.5,)), None, None))


def test_height_presets_step_and_clamp():
    ch, src = engaged(LocomotionConfig(height_presets=(0.75, 0.65, 0.55)))
    assert ch.command().height_preset is None
    src.set(1.0, preset_step=1)
    assert ch.update(None, DT, 1.0).height_preset == 0.75
    for k in range(5):
        src.set(1.1 + k, preset_step=1)
        cmd = ch.update(None, DT, 1.1 + k)
    assert cmd.height_preset == 0.55
    src.set(7.0, preset_select=0)
    assert ch.update(None, DT, 7.0).height_preset is None


def test_controller_source_maps_axes_and_button_edges():
    f = OperatorFrame(stamp=5.0)
    f.controller_valid[:] = True
    f.controller_axes[Side.LEFT, ControllerAxis.THUMBSTICK_Y] = 0.7
    f.controller_axes[Side.LEFT, ControllerAxis.THUMBSTICK_X] = 0.4  # right
    f.controller_axes[Side.RIGHT, ControllerAxis.THUMBSTICK_X] = -0.5  # left = counter-clockwise
    src = ControllerSticks()
    inp = src.read(f, 5.0)
    assert (inp.forward, inp.left, inp.turn, inp.valid) == (0.7, -0.4, 0.5, True)
    f.controller_buttons[Side.LEFT, ControllerButton.THUMBSTICK_CLICK] = True
    assert src.read(f, 5.0).preset_step == 1
    assert src.read(f, 5.0).preset_step == 0  # held: one step only
    f.controller_valid[Side.RIGHT] = False
    assert not src.read(f, 5.0).valid
    f.controller_valid[Side.RIGHT] = True
    f.controller_axes[Side.LEFT, ControllerAxis.THUMBSTICK_Y] = math.nan
    assert not src.read(f, 5.0).valid


def test_channel_with_controllers_end_to_end():
    ch = LocomotionChannel(LocomotionConfig(source=StickSourceKind.CONTROLLERS))
    ch.reset(yaw=0.0)
    f = OperatorFrame()
    f.controller_valid[:] = True
    for k in range(200):
        f.stamp = k * DT
        f.controller_axes[Side.LEFT, ControllerAxis.THUMBSTICK_Y] = 1.0 if k > 0 else 0.0
        cmd = ch.update(f, DT, f.stamp)
    assert cmd.vx == pytest.approx(0.6)
    action = np.zeros(g1.ACTION_DIM)
    cmd.write_action(action)
    assert action[g1.ACTION_VX] == pytest.approx(0.6) and action[g1.ACTION_TARGET_YAW] == cmd.target_yaw


def test_non_controller_source_needs_its_device():
    with pytest.raises(ConfigError, match="WirelessRemote"):
        LocomotionChannel(LocomotionConfig(source="remote"))


# -- Unitree remote -----------------------------------------------------------------------------
def test_wireless_controller_message_decoding():
    from unitree_sdk2py.idl.unitree_go.msg.dds_ import WirelessController_

    msg = WirelessController_(lx=0.25, ly=-0.5, rx=1.0, ry=0.0, keys=int(RemoteKey.A | RemoteKey.DOWN))
    s = decode_wireless_controller(msg, stamp=3.0)
    assert (s.lx, s.ly, s.rx, s.ry, s.stamp) == (0.25, -0.5, 1.0, 0.0, 3.0)
    assert s.pressed(RemoteKey.A) and s.pressed(RemoteKey.DOWN) and not s.pressed(RemoteKey.B)
    assert int(RemoteKey.A) == 1 << 8 and int(RemoteKey.LEFT) == 1 << 15 and int(RemoteKey.R1) == 1


def test_lowstate_remote_block_round_trip_and_layout():
    state = RemoteState(lx=-0.125, ly=0.75, rx=0.5, ry=-1.0, keys=RemoteKey.SELECT | RemoteKey.Y, stamp=1.0)
    block = encode_remote_block(state)
    assert len(block) == 40
    assert block[2:4] == (int(RemoteKey.SELECT | RemoteKey.Y)).to_bytes(2, "little")
    assert np.frombuffer(block[4:24], dtype="<f4").tolist() == [-0.125, 0.5, -1.0, 0.0, 0.75]  # lx rx ry L2 ly
    back = decode_remote_block(list(block), stamp=1.0)
    assert back == state


def test_remote_sticks_mapping_edges_and_stop():
    src = RemoteSticks()
    assert not src.read(None, 0.0).valid  # nothing received yet
    src.on_state(RemoteState(lx=0.5, ly=0.8, rx=-0.3, stamp=1.0))
    inp = src.read(None, 1.0)
    assert (inp.forward, inp.left, inp.turn, inp.valid) == (0.8, -0.5, 0.3, True)
    src.on_state(RemoteState(keys=RemoteKey.DOWN, stamp=1.01))
    src.on_state(RemoteState(keys=RemoteKey.DOWN, stamp=1.02))  # held: one edge
    src.on_state(RemoteState(keys=RemoteKey(0), stamp=1.03))
    src.on_state(RemoteState(keys=RemoteKey.DOWN, stamp=1.04))  # pressed again between two reads
    assert src.read(None, 1.05).preset_step == 2
    src.on_state(RemoteState(keys=RemoteKey.B, stamp=1.1))
    assert src.read(None, 1.1).stop


# -- keyboard -----------------------------------------------------------------------------------
def test_keyboard_mapping():
    inp = keys_to_input({"w", "a"}, [], now=2.0)
    assert inp.forward == pytest.approx(1 / math.sqrt(2)) and inp.left == pytest.approx(1 / math.sqrt(2))
    assert keys_to_input({"w", "s", "q"}, [], 2.0).forward == 0.0
    assert keys_to_input({"e"}, [], 2.0).turn == -1.0
    assert keys_to_input(set(), ["f", "f", "r"], 2.0).preset_step == 1
    assert keys_to_input(set(), ["2"], 2.0).preset_select == 2
    assert keys_to_input(set(), ["0"], 2.0).preset_select == 0
    assert keys_to_input({"space"}, [], 2.0).stop


def test_terminal_key_hold_emulation():
    keys = KeyState(hold_s=0.5)
    keys.press("W", 0.0)
    keys.press("w", 0.3)  # auto-repeat: not a new press
    assert keys.held(0.7) == {"w"}
    assert keys.held(0.81) == frozenset()
    assert keys.take_presses() == ["w"]
    keys.press(" ", 1.0)
    assert keys.held(1.0) == {"space"}


def test_keyboard_drives_the_channel():
    keys = KeyState()
    ch = LocomotionChannel(LocomotionConfig(source="keyboard"), source=KeyboardSticks(keys))
    ch.reset(yaw=0.0)
    ch.update(None, DT, 0.0)
    keys.press("q", 0.0)
    for k in range(1, 101):
        cmd = ch.update(None, DT, k * DT)
    assert cmd.vyaw == pytest.approx(0.8) and cmd.target_yaw > 0.3
    keys.press("space", 1.0)
    cmd = ch.update(None, DT, 1.01)
    assert cmd.vyaw == 0.0 and cmd.latched


def test_terminal_reader_in_cbreak_mode_on_a_pty():
    import os
    import pty

    from teleop.inputs.keyboard import TerminalKeys

    master, slave = pty.openpty()
    try:
        with os.fdopen(slave, "r", closefd=False) as stream, TerminalKeys(stream) as term:
            assert term.poll(0.0) == []
            os.write(master, b"wq ")
            keys = KeyState(hold_s=0.6)
            for ch in term.poll(timeout_s=1.0):
                keys.press(ch, 10.0)
            assert keys.held(10.1) == {"w", "q", "space"}
    finally:
        os.close(master)
        os.close(slave)


def test_make_stick_source():
    from teleop.inputs.keyboard import KeyboardSticks
    from teleop.locomotion import make_stick_source
    from teleop.robot.remote import WirelessRemote

    assert isinstance(make_stick_source("controllers"), ControllerSticks)
    assert isinstance(make_stick_source("keyboard"), KeyboardSticks)
    remote = make_stick_source(StickSourceKind.REMOTE, domain=1, interface="lo")
    assert isinstance(remote, WirelessRemote) and remote.domain == 1
    with pytest.raises(ConfigError, match="valid sources: controllers, remote, keyboard"):
        make_stick_source("joystick")
