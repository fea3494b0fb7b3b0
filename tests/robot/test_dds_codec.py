"""The DDS wire codec: motor order by name, Dex3 mode byte, CRC, limits and NaN refusal, byte round trips."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("unitree_sdk2py")

from teleop.robot import dds_codec as codec  # noqa: E402
from teleop.robot import g1  # noqa: E402
from teleop.robot.exceptions import UnsafeCommandError  # noqa: E402
from unitree_sdk2py.idl.unitree_hg.msg.dds_ import HandCmd_, HandState_, LowCmd_, LowState_  # noqa: E402

F32 = 1e-6  # float32 round-off on the wire [rad]


def unique_command() -> codec.MotorCommand:
    """Every joint gets its own values, so a misplaced motor shows up as a wrong number."""
    emb = g1.load_embodiment()
    cmd = codec.MotorCommand()
    mid = 0.5 * (emb.q_min + emb.q_max)
    cmd.q[:] = mid + 0.01 * np.arange(len(g1.MODEL_JOINTS)) / len(g1.MODEL_JOINTS)
    cmd.dq[:] = 0.001 * np.arange(len(g1.MODEL_JOINTS))
    cmd.tau[:] = 0.01 * np.arange(len(g1.MODEL_JOINTS))
    cmd.kp[:] = 10.0 + np.arange(len(g1.MODEL_JOINTS))
    cmd.kd[:] = 0.1 + 0.01 * np.arange(len(g1.MODEL_JOINTS))
    return cmd


def test_motor_tables_cover_the_embodiment_by_name():
    assert sorted(codec.G1_MOTOR_INDEX.values()) == list(range(29))
    assert set(codec.G1_MOTOR_INDEX) == set(g1.BODY_JOINTS)
    # Unitree's numbering pins a few well-known motors
    assert codec.G1_MOTOR_INDEX["left_hip_pitch_joint"] == 0
    assert codec.G1_MOTOR_INDEX["waist_yaw_joint"] == 12
    assert codec.G1_MOTOR_INDEX["left_shoulder_pitch_joint"] == 15
    assert codec.G1_MOTOR_INDEX["right_wrist_yaw_joint"] == 28
    m = codec.wire_map()
    emb = g1.load_embodiment()
    for name, slot in codec.G1_MOTOR_INDEX.items():
        assert m.body_model_index[slot] == emb.index_of(name)
    for side in codec.SIDES:
        for part, motor in codec.DEX3_MOTOR_INDEX.items():
            assert m.hand_model_index[side][motor] == emb.index_of(f"{side}_hand_{part}_joint")
    # the model's order is NOT the wire order (hands sit between the arms in the model)
    assert not np.array_equal(m.body_model_index, np.arange(29))


def test_lowcmd_puts_every_joint_in_its_unitree_slot_with_mode_fields_and_crc():
    cmd = unique_command()
    emb = g1.load_embodiment()
    msg = codec.LowCmdCodec().encode(cmd, mode_pr=1, mode_machine=5)
    assert (msg.mode_pr, msg.mode_machine) == (1, 5)
    for name, slot in codec.G1_MOTOR_INDEX.items():
        i = emb.index_of(name)
        m = msg.motor_cmd[slot]
        assert m.mode == codec.BODY_MOTOR_ENABLE
        assert (m.q, m.dq, m.tau, m.kp, m.kd) == pytest.approx((cmd.q[i], cmd.dq[i], cmd.tau[i], cmd.kp[i], cmd.kd[i]))
    for slot in range(29, codec.LOW_MOTOR_SLOTS):  # unused slots stay off
        assert msg.motor_cmd[slot].mode == 0 and msg.motor_cmd[slot].kp == 0.0
    assert codec.crc_ok(msg)


def test_lowcmd_crc_survives_the_wire_and_catches_a_flipped_value():
    msg = codec.LowCmdCodec().encode(unique_command(), 0, 5)
    back = LowCmd_.deserialize(msg.serialize())
    assert back.crc == msg.crc and codec.crc_ok(back)
    back.motor_cmd[18].q += 0.01  # left elbow target changed in transit
    assert not codec.crc_ok(back)


def test_lowcmd_decode_inverts_encode_through_bytes():
    cmd = unique_command()
    cmd.enabled[g1.load_embodiment().index_of("right_knee_joint")] = False
    msg = LowCmd_.deserialize(codec.LowCmdCodec().encode(cmd, 0, 5).serialize())
    out = codec.MotorCommand()
    codec.LowCmdCodec().decode(msg, out)
    body = codec.wire_map().body_model_index
    for name in ("q", "dq", "tau", "kp", "kd"):
        np.testing.assert_allclose(getattr(out, name)[body], getattr(cmd, name)[body], atol=1e-5)
    assert not out.enabled[g1.load_embodiment().index_of("right_knee_joint")]
    assert out.enabled[body].sum() == 28


@pytest.mark.parametrize("motor_id", range(7))
@pytest.mark.parametrize("status", list(codec.Dex3Status))
@pytest.mark.parametrize("timeout", [True, False])
def test_dex3_mode_byte_bits(motor_id, status, timeout):
    b = codec.dex3_mode_byte(motor_id, status, timeout)
    assert b == motor_id | (int(status) << 4) | (int(timeout) << 7)
    assert 0 <= b <= 255
    assert codec.parse_dex3_mode_byte(b) == (motor_id, status, timeout)


def test_dex3_mode_byte_rejects_bad_id():
    with pytest.raises(ValueError, match="motor id"):
        codec.dex3_mode_byte(16)


@pytest.mark.parametrize("side", codec.SIDES)
def test_hand_cmd_maps_dex3_motors_by_name_even_if_reordered(side):
    cmd = unique_command()
    emb = g1.load_embodiment()
    msg = codec.HandCmdCodec(side).encode(cmd)
    assert len(msg.motor_cmd) == 7
    for part, motor in codec.DEX3_MOTOR_INDEX.items():
        i = emb.index_of(f"{side}_hand_{part}_joint")
        m = msg.motor_cmd[motor]
        assert codec.parse_dex3_mode_byte(m.mode) == (motor, codec.Dex3Status.FOC, True)
        assert m.q == pytest.approx(cmd.q[i]) and m.kp == pytest.approx(cmd.kp[i])
    # a sender that lists the motors in another order is still decoded by the id in the mode byte
    wire = HandCmd_.deserialize(msg.serialize())
    wire.motor_cmd = list(reversed(wire.motor_cmd))
    out = codec.MotorCommand()
    assert codec.HandCmdCodec(side).decode(wire, out) == 7
    idx = codec.wire_map().hand_model_index[side]
    np.testing.assert_allclose(out.q[idx], cmd.q[idx], atol=F32)


def test_sanitize_refuses_nan_and_names_the_joint():
    cmd = unique_command()
    cmd.q[g1.load_embodiment().index_of("left_elbow_joint")] = np.nan
    with pytest.raises(UnsafeCommandError, match="left_elbow_joint") as info:
        codec.sanitize_command(cmd, codec.CommandLimits.from_embodiment())
    assert info.value.joints == ("left_elbow_joint",)


def test_encoders_never_write_non_finite_values():
    cmd = unique_command()
    cmd.kd[g1.load_embodiment().index_of("right_hand_index_1_joint")] = np.inf
    with pytest.raises(UnsafeCommandError, match="right_hand_index_1_joint"):
        codec.HandCmdCodec("right").encode(cmd)
    cmd = unique_command()
    cmd.tau[0] = np.nan
    c = codec.LowCmdCodec()
    before = c.msg.motor_cmd[0].tau
    with pytest.raises(UnsafeCommandError):
        c.encode(cmd, 0, 5)
    assert c.msg.motor_cmd[0].tau == before  # nothing was written


def test_sanitize_clips_out_of_limit_values_into_the_limits():
    emb = g1.load_embodiment()
    lim = codec.CommandLimits.from_embodiment(kp_max=300.0, kd_max=10.0)
    cmd = unique_command()
    e = emb.index_of("left_elbow_joint")
    k = emb.index_of("left_knee_joint")
    cmd.q[e] = emb.q_max[e] + 1.0  # 1 rad beyond the stop
    cmd.q[k] = emb.q_min[k] - 0.5
    cmd.kp[e] = 5000.0
    cmd.kd[k] = -3.0
    cmd.tau[e] = 1e4
    n = codec.sanitize_command(cmd, lim)
    assert n == 5
    assert cmd.q[e] == emb.q_max[e] and cmd.q[k] == emb.q_min[k]
    assert cmd.kp[e] == 300.0 and cmd.kd[k] == 0.0 and cmd.tau[e] == emb.tau_max[e]
    assert codec.sanitize_command(cmd, lim) == 0  # now within limits


def test_lowstate_round_trip_through_bytes_with_crc():
    w = codec.WireState(mode_pr=0, mode_machine=5, tick=1234)
    w.q[:] = np.linspace(-0.5, 0.5, len(g1.MODEL_JOINTS))
    w.dq[:] = np.linspace(1.0, -1.0, len(g1.MODEL_JOINTS))
    w.tau[:] = np.linspace(-3.0, 3.0, len(g1.MODEL_JOINTS))
    w.quat_wxyz[:] = [np.cos(0.2), 0.0, 0.0, np.sin(0.2)]
    w.gyro[:] = [0.1, -0.2, 0.3]
    w.acc[:] = [0.0, 0.0, 9.81]
    msg = LowState_.deserialize(codec.LowStateCodec().encode(w).serialize())
    assert codec.crc_ok(msg)
    assert msg.motor_state[codec.G1_MOTOR_INDEX["left_shoulder_pitch_joint"]].q == pytest.approx(
        w.q[g1.load_embodiment().index_of("left_shoulder_pitch_joint")], abs=F32)
    out = codec.WireState()
    codec.LowStateCodec().decode(msg, out)
    body = codec.wire_map().body_model_index
    np.testing.assert_allclose(out.q[body], w.q[body], atol=F32)
    np.testing.assert_allclose(out.dq[body], w.dq[body], atol=F32)
    np.testing.assert_allclose(out.tau[body], w.tau[body], atol=1e-5)
    np.testing.assert_allclose(out.quat_wxyz, w.quat_wxyz, atol=F32)
    np.testing.assert_allclose(out.gyro, w.gyro, atol=F32)
    assert (out.mode_pr, out.mode_machine, out.tick) == (0, 5, 1234)
    msg.motor_state[3].q += 1e-3
    assert not codec.crc_ok(msg)


@pytest.mark.parametrize("side", codec.SIDES)
def test_hand_state_round_trip_and_pressure(side):
    w = codec.WireState()
    w.q[:] = np.linspace(-0.3, 0.9, len(g1.MODEL_JOINTS))
    enc = codec.HandStateCodec(side).encode(w)
    msg = HandState_.deserialize(enc.serialize())
    msg.press_sensor_state[2].pressure = [2.0] * 12
    out = codec.WireState()
    codec.HandStateCodec(side).decode(msg, out)
    idx = codec.wire_map().hand_model_index[side]
    np.testing.assert_allclose(out.q[idx], w.q[idx], atol=F32)
    row = codec.SIDES.index(side)
    assert out.hand_pressure[row, 2] == pytest.approx(2.0)
    assert out.hand_pressure[1 - row].sum() == 0.0


def test_lower_body_message_round_trip_and_nan_refusal():
    cmd = g1.LowerBodyCommand((0.1, -0.2, 0.3), 0.7, 0.4, -0.1, 0.5, 1.2)
    msg = codec.LowerBodyCmd_.deserialize(codec.encode_lower_body(cmd, 7).serialize())
    assert msg.seq == 7
    np.testing.assert_allclose(codec.decode_lower_body(msg).to_array(), cmd.to_array(), atol=1e-12)
    with pytest.raises(UnsafeCommandError, match="non-finite"):
        codec.encode_lower_body(g1.LowerBodyCommand(vx=float("nan")), 8)
