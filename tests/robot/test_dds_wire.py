"""The fixed-layout fast path produces exactly CycloneDDS's bytes and Unitree's CRC, both directions."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("unitree_sdk2py")

from teleop.robot import dds_codec as codec  # noqa: E402
from teleop.robot import dds_wire as wire  # noqa: E402
from teleop.robot import g1  # noqa: E402
from teleop.robot.exceptions import UnsafeCommandError  # noqa: E402
from unitree_sdk2py.idl.unitree_hg.msg.dds_ import HandCmd_, HandState_, LowCmd_, LowState_  # noqa: E402
from unitree_sdk2py.utils.crc import CRC  # noqa: E402

N = len(g1.MODEL_JOINTS)


def random_command(rng: np.random.Generator) -> codec.MotorCommand:
    cmd = codec.MotorCommand()
    for name in ("q", "dq", "tau", "kp", "kd"):
        getattr(cmd, name)[:] = rng.uniform(-2.0, 2.0, N) if name in ("q", "dq", "tau") else rng.uniform(0, 100, N)
    cmd.enabled[:] = rng.uniform(size=N) > 0.2
    return cmd


def random_state(rng: np.random.Generator) -> codec.WireState:
    s = codec.WireState(mode_pr=int(rng.integers(0, 2)), mode_machine=int(rng.integers(0, 256)),
                        tick=int(rng.integers(0, 2**32)))
    s.q[:], s.dq[:], s.tau[:] = rng.uniform(-2, 2, N), rng.uniform(-5, 5, N), rng.uniform(-50, 50, N)
    q = rng.normal(size=4)
    s.quat_wxyz[:] = q / np.linalg.norm(q)
    s.gyro[:], s.acc[:] = rng.normal(size=3), rng.normal(size=3)
    return s


def test_layout_sizes_match_the_idl_serializer():
    from unitree_sdk2py.idl.default import (
        unitree_hg_msg_dds__HandCmd_,
        unitree_hg_msg_dds__HandState_,
        unitree_hg_msg_dds__LowCmd_,
        unitree_hg_msg_dds__LowState_,
    )

    lay = wire.layouts()
    assert lay["LowCmd_"].cdr_size == len(unitree_hg_msg_dds__LowCmd_().serialize()) == 1004
    assert lay["LowState_"].cdr_size == len(unitree_hg_msg_dds__LowState_().serialize()) == 2092
    assert lay["HandCmd_"].cdr_size == len(unitree_hg_msg_dds__HandCmd_().serialize())
    assert lay["HandState_"].cdr_size == len(unitree_hg_msg_dds__HandState_().serialize())
    # the C-struct layouts the CRC runs over: the SDK's own pack formats are 1004 and 2092 bytes
    assert lay["LowCmd_"].c_size == 1004 and lay["LowState_"].c_size == 2092


@pytest.mark.parametrize("seed", range(5))
def test_lowcmd_bytes_and_crc_identical_to_the_sdk(seed):
    rng = np.random.default_rng(seed)
    cmd = random_command(rng)
    mode_pr, mode_machine = int(rng.integers(0, 2)), int(rng.integers(0, 256))
    ref = codec.LowCmdCodec().encode(cmd, mode_pr, mode_machine)  # SDK objects + CRC().Crc
    fast = wire.FastLowCmd().encode(cmd, mode_pr, mode_machine)
    assert fast == ref.serialize()
    back = LowCmd_.deserialize(fast)
    assert back.crc == CRC().Crc(back)
    out = codec.MotorCommand()
    assert wire.FastLowCmd().decode(fast, out) == ref.crc
    body = codec.wire_map().body_model_index
    np.testing.assert_allclose(out.q[body], cmd.q[body], atol=1e-6)
    np.testing.assert_array_equal(out.enabled[body], cmd.enabled[body])


def test_lowcmd_decode_rejects_a_bad_crc_without_writing():
    fast = bytearray(wire.FastLowCmd().encode(random_command(np.random.default_rng(9)), 0, 5))
    fast[100] ^= 0x40  # one flipped bit in a motor target
    out = codec.MotorCommand()
    before = out.q.copy()
    assert wire.FastLowCmd().decode(bytes(fast), out) is None
    np.testing.assert_array_equal(out.q, before)


def test_fast_encoders_refuse_nan():
    cmd = random_command(np.random.default_rng(1))
    cmd.q[g1.load_embodiment().index_of("right_hand_thumb_2_joint")] = np.nan
    wire.FastLowCmd().encode(cmd, 0, 5)  # the body message does not carry hand joints
    with pytest.raises(UnsafeCommandError, match="right_hand_thumb_2_joint"):
        wire.FastHandCmd("right").encode(cmd)
    cmd.kp[0] = np.inf
    with pytest.raises(UnsafeCommandError, match="left_hip_pitch_joint"):
        wire.FastLowCmd().encode(cmd, 0, 5)


@pytest.mark.parametrize("seed", range(5))
def test_lowstate_bytes_and_crc_identical_to_the_sdk(seed):
    rng = np.random.default_rng(100 + seed)
    s = random_state(rng)
    rpy = rng.normal(size=3)
    reserve = [int(x) for x in rng.integers(0, 2**32, 4)]
    ref_codec = codec.LowStateCodec()
    ref_codec.msg.reserve = list(reserve)
    ref = ref_codec.encode(s, rpy=rpy)
    fast = wire.FastLowState().encode(s, rpy=rpy, reserve=reserve)
    assert fast == ref.serialize()
    assert LowState_.deserialize(fast).crc == CRC().Crc(ref)
    out = codec.WireState()
    d = wire.FastLowState().decode(fast, out)
    assert d is not None and list(d["reserve"]) == reserve
    body = codec.wire_map().body_model_index
    np.testing.assert_allclose(out.q[body], s.q[body], atol=1e-6)
    np.testing.assert_allclose(out.quat_wxyz, s.quat_wxyz, atol=1e-6)
    assert (out.mode_pr, out.mode_machine, out.tick) == (s.mode_pr, s.mode_machine, s.tick)


@pytest.mark.parametrize("side", codec.SIDES)
def test_hand_messages_identical_to_the_sdk(side):
    rng = np.random.default_rng(7)
    cmd = random_command(rng)
    assert wire.FastHandCmd(side).encode(cmd) == codec.HandCmdCodec(side).encode(cmd).serialize()
    s = random_state(rng)
    assert wire.FastHandState(side).encode(s) == codec.HandStateCodec(side).encode(s).serialize()
    out = codec.MotorCommand()
    assert wire.FastHandCmd(side).decode(codec.HandCmdCodec(side).encode(cmd).serialize(), out) == 7
    idx = codec.wire_map().hand_model_index[side]
    np.testing.assert_allclose(out.q[idx], cmd.q[idx], atol=1e-6)


def test_hand_messages_of_another_length_fall_back_to_the_idl_path():
    rng = np.random.default_rng(3)
    s = random_state(rng)
    msg = codec.HandStateCodec("left").encode(s)
    short = HandState_.deserialize(msg.serialize())
    short.motor_state = short.motor_state[:5]  # a sender with 5 motors
    out = codec.WireState()
    wire.FastHandState("left").decode(short.serialize(), out)
    idx = codec.wire_map().hand_model_index["left"]
    np.testing.assert_allclose(out.q[idx[:5]], s.q[idx[:5]], atol=1e-6)
    assert np.all(out.q[idx[5:]] == 0.0)
    cmd = random_command(rng)
    hc = HandCmd_.deserialize(codec.HandCmdCodec("right").encode(cmd).serialize())
    hc.motor_cmd = hc.motor_cmd[2:]
    out_cmd = codec.MotorCommand()
    assert wire.FastHandCmd("right").decode(hc.serialize(), out_cmd) == 5


def test_crc_routine_matches_the_reference_bit_by_bit():
    words = np.random.default_rng(5).integers(0, 2**32, 64, dtype=np.uint64).astype(np.uint32)
    assert wire.unitree_crc32(words) == CRC()._crc_py(words.tolist())
