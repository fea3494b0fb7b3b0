"""HandRetargeter: limits, frame invariance, pinch, scale, bad input; the human hand model."""

import numpy as np
import pytest

from ik import HandRetargeter, HandRetargeterConfig, IKConfigError, IKInputError
from ik.human_hand import (
    HandMotionGenerator,
    HumanHandPose,
    hand_joints,
    hand_keypoints,
)
from teleop.operator_frame import HandJoint
from teleop.robot import g1

DT = 0.01
NO_FILTER = HandRetargeterConfig(filter=None)


def _random_pose_T(rng):
    A = rng.normal(size=(3, 3))
    Q, _ = np.linalg.qr(A)
    Q *= np.sign(np.linalg.det(Q))
    T = np.eye(4)
    T[:3, :3] = Q
    T[:3, 3] = rng.uniform(-1, 1, 3)
    return T


@pytest.fixture(scope="module", params=g1.SIDES)
def side(request):
    return request.param


def test_output_shape_and_limits_over_random_motion(side):
    hr = HandRetargeter(side)
    gen = HandMotionGenerator(side, seed=2)
    for k in range(300):
        q = hr.solve(gen.sample(k * DT), DT)
        assert q.shape == (7,)
        assert np.all(q >= hr.q_min) and np.all(q <= hr.q_max)
    assert hr.joint_names == (g1.LEFT_HAND_JOINTS if side == "left" else g1.RIGHT_HAND_JOINTS)


def test_result_does_not_depend_on_the_tracking_frame(side):
    pose = HumanHandPose(curl=np.array([0.3, 0.6, 0.7, 0.7]), thumb_opposition=0.5)
    rng = np.random.default_rng(0)
    answers = []
    for _ in range(3):
        hr = HandRetargeter(side, NO_FILTER)
        x = hand_joints(side, pose, _random_pose_T(rng))
        for _ in range(15):
            q = hr.solve(x, DT)
        answers.append(q)
    np.testing.assert_allclose(answers[0], answers[1], atol=1e-6)
    np.testing.assert_allclose(answers[0], answers[2], atol=1e-6)


def test_fist_flexes_fingers_more_than_open_hand(side):
    hr = HandRetargeter(side, NO_FILTER)
    flex = {}
    for name, curl in (("open", 0.0), ("fist", 0.9)):
        hr.reset()
        x = hand_joints(side, HumanHandPose(curl=np.full(4, curl)))
        for _ in range(20):
            q = hr.solve(x, DT)
        flex[name] = np.abs(q[3:7]).sum()  # middle_0, middle_1, index_0, index_1 magnitudes
    assert flex["fist"] > flex["open"] + 1.5


@pytest.mark.parametrize("finger,k", [("index", 3), ("middle", 4)])
def test_pinch_brings_the_robot_tips_together(side, finger, k):
    hr = HandRetargeter(side, NO_FILTER)
    x = hand_joints(side, HumanHandPose(curl=np.array([0.45, 0.45, 0.8, 0.8]), thumb_opposition=0.6,
                                        pinch=1.0, pinch_finger=finger))
    for _ in range(15):
        q = hr.solve(x, DT)
    assert hr.pinching[finger]
    gap = np.linalg.norm(hr.robot_vectors(q)[k])
    assert gap < 0.010  # [m] tips meet (pad ends within 1 cm)
    # without pinch handling, the plain vector objective leaves them apart
    plain = HandRetargeter(side, HandRetargeterConfig(filter=None, pinch_enter_distance=0.0, pinch_exit_distance=1e-6))
    for _ in range(15):
        q2 = plain.solve(x, DT)
    assert np.linalg.norm(plain.robot_vectors(q2)[k]) > gap + 0.003


def test_pinch_has_hysteresis(side):
    cfg = HandRetargeterConfig(filter=None, pinch_enter_distance=0.02, pinch_exit_distance=0.04)
    hr = HandRetargeter(side, cfg)
    base = {"curl": np.array([0.45, 0.45, 0.8, 0.8]), "thumb_opposition": 0.6, "pinch_finger": "index"}
    hr.solve(hand_joints(side, HumanHandPose(pinch=1.0, pinch_gap=0.01, **base)), DT)
    assert hr.pinching["index"]
    hr.solve(hand_joints(side, HumanHandPose(pinch=1.0, pinch_gap=0.03, **base)), DT)  # between enter and exit
    assert hr.pinching["index"]
    hr.solve(hand_joints(side, HumanHandPose(pinch=0.0, **base)), DT)
    assert not hr.pinching["index"]


def test_scale_multiplies_the_human_vectors(side):
    x = hand_joints(side, HumanHandPose(curl=np.full(4, 0.3)))
    hr = HandRetargeter(side, HandRetargeterConfig(filter=None, scale=1.2))
    q = np.zeros(7)
    e_scaled = hr.vector_error(x, np.clip(q, hr.q_min, hr.q_max))
    human = hr.human_vectors(x)
    robot = hr.robot_vectors(np.clip(q, hr.q_min, hr.q_max))
    np.testing.assert_allclose(e_scaled, np.linalg.norm(robot - 1.2 * human, axis=1))


def test_non_finite_input_returns_the_previous_answer(side):
    hr = HandRetargeter(side, NO_FILTER)
    x = hand_joints(side, HumanHandPose(curl=np.full(4, 0.5)))
    q = hr.solve(x, DT)
    bad = x.copy()
    bad[HandJoint.INDEX_TIP, 0] = np.nan
    np.testing.assert_array_equal(hr.solve(bad, DT), q)
    np.testing.assert_array_equal(hr.solve(np.zeros((26, 7)), DT), q)  # degenerate: all joints at one point


def test_errors():
    with pytest.raises(IKInputError, match=r"\(26, 7\)"):
        HandRetargeter("left").solve(np.zeros((21, 3)))
    with pytest.raises(IKConfigError, match="side"):
        HandRetargeter("up")
    with pytest.raises(IKConfigError, match="scale"):
        HandRetargeterConfig(scale=0.0)
    with pytest.raises(IKConfigError, match="pinch_exit_distance"):
        HandRetargeterConfig(pinch_enter_distance=0.03, pinch_exit_distance=0.02)


def test_human_hand_model_geometry():
    open_hand = hand_keypoints("right", HumanHandPose(curl=np.zeros(4)))
    assert np.linalg.norm(open_hand[HandJoint.MIDDLE_TIP]) == pytest.approx(0.187, abs=0.005)  # 19 cm hand
    big = hand_keypoints("right", HumanHandPose(curl=np.zeros(4)), size=1.1)
    np.testing.assert_allclose(big[HandJoint.MIDDLE_TIP], 1.1 * open_hand[HandJoint.MIDDLE_TIP], atol=1e-9)
    pinch = hand_keypoints("left", HumanHandPose(curl=np.full(4, 0.4), pinch=1.0, pinch_gap=0.012))
    assert np.linalg.norm(pinch[HandJoint.THUMB_TIP] - pinch[HandJoint.INDEX_TIP]) == pytest.approx(0.012, abs=1e-9)
    # the two sides are mirror images through the palm plane (y -> -y)
    left = hand_keypoints("left", HumanHandPose(curl=np.full(4, 0.5)))
    right = hand_keypoints("right", HumanHandPose(curl=np.full(4, 0.5)))
    np.testing.assert_allclose(left * [1, -1, 1], right, atol=1e-12)
