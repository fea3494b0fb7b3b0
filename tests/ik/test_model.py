"""The IK models built from the one G1 + Dex3 model file."""

import numpy as np
import pinocchio as pin
import pytest

from ik.model import (
    CAPSULES,
    FINGERS,
    HEAD_FRAME,
    HEIGHT_JOINT,
    P_TORSO_HEAD,
    UPPER_BODY_JOINTS,
    build_hand_model,
    build_upper_body_model,
    fingertip_offsets,
)
from teleop.robot import g1


@pytest.fixture(scope="module")
def model():
    return build_upper_body_model()


def test_upper_body_joints_and_limits(model):
    assert tuple(model.names[1:]) == UPPER_BODY_JOINTS
    assert model.nq == model.nv == 18
    emb = g1.load_embodiment()
    lo, hi = emb.limits(g1.ARM_JOINTS)
    np.testing.assert_allclose(model.lowerPositionLimit[4:], lo)
    np.testing.assert_allclose(model.upperPositionLimit[4:], hi)
    assert (model.lowerPositionLimit[0], model.upperPositionLimit[0]) == g1.TORSO_HEIGHT_RANGE
    # waist yaw, roll, pitch limits are the torso rpy limits
    # q[1:4] = waist yaw, roll, pitch; TORSO_RPY_LIMITS rows are roll, pitch, yaw
    np.testing.assert_allclose(model.lowerPositionLimit[[2, 3, 1]], g1.TORSO_RPY_LIMITS[:, 0], atol=1e-6)
    np.testing.assert_allclose(model.upperPositionLimit[[2, 3, 1]], g1.TORSO_RPY_LIMITS[:, 1], atol=1e-6)
    np.testing.assert_allclose(model.velocityLimit[4:], emb.velocity_limits(g1.ARM_JOINTS))


def test_height_joint_translates_pelvis_vertically(model):
    data = model.createData()
    q = pin.neutral(model)
    for h in (0.5, 0.75):
        q[0] = h
        pin.framesForwardKinematics(model, data, q)
        T = data.oMf[model.getFrameId(g1.PELVIS_FRAME)]
        np.testing.assert_allclose(T.translation, [0.0, 0.0, h], atol=1e-12)
        np.testing.assert_allclose(T.rotation, np.eye(3), atol=1e-12)
    assert model.names[1] == HEIGHT_JOINT


def test_head_frame_is_fixed_on_the_torso(model):
    data = model.createData()
    q = pin.neutral(model)
    q[0] = 0.75
    q[1:4] = [0.3, -0.2, 0.25]
    pin.framesForwardKinematics(model, data, q)
    T_torso = data.oMf[model.getFrameId(g1.TORSO_FRAME)]
    T_head = data.oMf[model.getFrameId(HEAD_FRAME)]
    np.testing.assert_allclose(T_torso.actInv(T_head).translation, P_TORSO_HEAD, atol=1e-12)


def test_capsule_end_frames_exist(model):
    for c in CAPSULES:
        assert model.existFrame(f"capsule_{c.name}_p0") and model.existFrame(f"capsule_{c.name}_p1")


@pytest.mark.parametrize("side", g1.SIDES)
def test_hand_model(side):
    hand = build_hand_model(side)
    names = g1.LEFT_HAND_JOINTS if side == "left" else g1.RIGHT_HAND_JOINTS
    assert tuple(hand.names[1:]) == names
    lo, hi = g1.load_embodiment().limits(names)
    np.testing.assert_allclose(hand.lowerPositionLimit, lo)
    np.testing.assert_allclose(hand.upperPositionLimit, hi)
    data = hand.createData()
    pin.framesForwardKinematics(hand, data, pin.neutral(hand))
    # fingertips of an open hand lie 20-23 cm ahead of the wrist joint (Dex3-1 geometry)
    for finger in ("index", "middle"):
        x = data.oMf[hand.getFrameId(f"{finger}_tip")].translation[0]
        assert 0.20 < x < 0.23
    assert set(fingertip_offsets(side)) == set(FINGERS)


def test_unknown_side_is_refused():
    with pytest.raises(g1.EmbodimentError, match="unknown side"):
        build_hand_model("middle")
