"""UpperBodyIK: API, math properties, limits, adversarial targets, collision avoidance."""

import numpy as np
import pinocchio as pin
import pytest

from ik import (
    IKConfigError,
    IKInputError,
    UpperBodyIK,
    UpperBodyIKConfig,
    UpperBodySolution,
    UpperBodyTargets,
)
from ik.frame_position_task import FramePositionTask
from ik.trajectories import UpperBodyTrajectory
from ik.upper_body import IKBackend
from teleop.robot import g1

DT = 0.01


@pytest.fixture(scope="module")
def ik():
    return UpperBodyIK(UpperBodyIKConfig(filter=None))


def _targets(ik, arm_q, rpy, h, elbows=True):
    fk = ik.forward(arm_q, rpy, h)
    return UpperBodyTargets(
        T_base_left_wrist=fk["left_wrist"], T_base_right_wrist=fk["right_wrist"], T_base_head=fk["head"],
        R_base_waist=fk["torso"][:3, :3], p_base_left_elbow=fk["left_elbow"][:3, 3] if elbows else None,
        p_base_right_elbow=fk["right_elbow"][:3, 3] if elbows else None)


def _q_star(ik):
    arm_q, rpy, h = UpperBodyTrajectory(ik, seed=3).pose(1.7)
    return arm_q, rpy, h


def _wrist_distance(ik, sol, side, T_target):
    fk = ik.forward(sol.arm_q, sol.torso_rpy, sol.torso_height)
    return float(np.linalg.norm(fk[f"{side}_wrist"][:3, 3] - T_target[:3, 3]))


def _in_limits(ik, sol):
    q = np.concatenate([[sol.torso_height], sol.torso_rpy[[2, 0, 1]], sol.arm_q])
    return np.all(q >= ik.q_min - 1e-12) and np.all(q <= ik.q_max + 1e-12)


def test_solution_api(ik):
    ik.reset()
    sol = ik.solve(UpperBodyTargets(), DT)
    assert isinstance(sol, UpperBodySolution)
    assert sol.arm_q.shape == (14,) and sol.torso_rpy.shape == (3,)
    assert sol.torso_height == pytest.approx(g1.DEFAULT_TORSO_HEIGHT)
    assert np.isnan(sol.info.wrist_position_error).all()  # no wrist target: no error to report
    assert sol.info.iterations == 1 and not sol.info.qp_failed


def test_torso_rpy_are_the_waist_joint_angles(ik):
    roll, pitch, yaw = 0.2, -0.15, 0.4
    fk = ik.forward(ik.q_posture[4:], np.array([roll, pitch, yaw]), 0.7)
    R = fk["torso"][:3, :3]
    # chain pelvis -> waist_yaw (z) -> waist_roll (x) -> waist_pitch (y) -> torso
    Rz = pin.utils.rotate("z", yaw)
    Rx = pin.utils.rotate("x", roll)
    Ry = pin.utils.rotate("y", pitch)
    np.testing.assert_allclose(R, Rz @ Rx @ Ry, atol=1e-9)
    assert fk["pelvis"][2, 3] == pytest.approx(0.7)


def test_zero_error_at_target_keeps_the_pose(ik):
    """At the target, only the (slow) posture pull acts, in the tasks' null space: errors stay zero."""
    arm_q, rpy, h = _q_star(ik)
    ik.reset(arm_q, rpy, h)
    sol = ik.solve(_targets(ik, arm_q, rpy, h), DT)
    np.testing.assert_allclose(sol.arm_q, arm_q, atol=5e-3)  # null-space drift <= posture_gain * error
    np.testing.assert_allclose(sol.torso_rpy, rpy, atol=1e-3)
    assert sol.torso_height == pytest.approx(h, abs=1e-3)
    assert np.max(sol.info.wrist_position_error) < 1e-5  # [m]
    assert np.max(sol.info.wrist_orientation_error) < 1e-4  # [rad]


def test_converges_to_a_reachable_target(ik):
    arm_q, rpy, h = _q_star(ik)
    ik.reset()
    targets = _targets(ik, arm_q, rpy, h)
    for _ in range(300):
        sol = ik.solve(targets, DT)
    assert np.max(sol.info.wrist_position_error) < 1e-3  # [m]
    assert np.degrees(np.max(sol.info.wrist_orientation_error)) < 0.5
    assert abs(sol.info.head_height_error) < 1e-3


def test_tracks_a_smooth_trajectory_within_a_millimetre(ik):
    samples = UpperBodyTrajectory(ik, seed=4).samples(2.0, DT)
    ik.reset(samples[0].arm_q, samples[0].torso_rpy, samples[0].torso_height)
    worst_mm, worst_deg = 0.0, 0.0
    for s in samples:
        sol = ik.solve(s.targets, DT)
        worst_mm = max(worst_mm, 1e3 * np.max(sol.info.wrist_position_error))
        worst_deg = max(worst_deg, np.degrees(np.max(sol.info.wrist_orientation_error)))
        assert _in_limits(ik, sol)
    assert worst_mm < 1.0 and worst_deg < 0.5


def test_fused_qp_equals_pink_qp():
    """The fused assembly builds the same QP as pink.solve_ik: same step, barrier rows active."""
    fused = UpperBodyIK(UpperBodyIKConfig(filter=None, backend=IKBackend.FUSED))
    ref = UpperBodyIK(UpperBodyIKConfig(filter=None, backend=IKBackend.PINK))
    arm_q = fused.q_posture[4:] + 0.1
    targets = _targets(fused, arm_q, np.array([0.05, 0.1, 0.2]), 0.7)
    active_seen = False
    for _ in range(40):
        a = fused.solve(targets, DT)
        b = ref.solve(targets, DT)
        active_seen |= bool(fused._barrier.active.any())
        np.testing.assert_allclose(a.arm_q, b.arm_q, atol=1e-7)
        np.testing.assert_allclose(a.torso_rpy, b.torso_rpy, atol=1e-7)
        assert a.torso_height == pytest.approx(b.torso_height, abs=1e-9)
    assert active_seen


def test_frame_position_task_jacobian_matches_finite_differences(ik):
    import pink

    task = FramePositionTask(g1.WRIST_FRAMES["left"], cost=np.ones(3))
    task.set_target(np.array([0.3, 0.2, 0.9]))
    q = ik.q_posture.copy()
    q[4:] += 0.2
    conf = pink.Configuration(ik.model, ik.model.createData(), q)
    J = task.compute_jacobian(conf)
    e0 = task.compute_error(conf)
    eps = 1e-7
    for i in range(ik.model.nv):
        dq = q.copy()
        dq[i] += eps
        conf.update(dq)
        np.testing.assert_allclose((task.compute_error(conf) - e0) / eps, J[:, i], atol=1e-5)


def test_far_targets_hold_limits_and_velocity(ik):
    ik.reset()
    T = np.eye(4)
    T[:3, 3] = [2.0, 1.5, 2.5]  # 2.5 m away: unreachable
    q_prev = ik.q
    for _ in range(200):
        sol = ik.solve(UpperBodyTargets(T_base_left_wrist=T, T_base_right_wrist=T), DT)
        q = ik.q
        assert _in_limits(ik, sol)
        assert np.all(np.abs(q - q_prev) <= ik.v_max * DT + 1e-12)
        assert np.all(np.isfinite(q))
        q_prev = q
    # the nearest sensible pose: the hand reaches toward the target
    fk = ik.forward(sol.arm_q, sol.torso_rpy, sol.torso_height)
    assert np.linalg.norm(fk["left_wrist"][:3, 3] - T[:3, 3]) < np.linalg.norm(
        ik.forward(ik.q_posture[4:], np.zeros(3), 0.75)["left_wrist"][:3, 3] - T[:3, 3]) - 0.3


@pytest.mark.parametrize("kind", ["nan", "inf", "reflection", "scaled", "zeros"])
def test_bad_target_values_are_rejected_and_the_last_good_one_held(ik, kind):
    arm_q, rpy, h = _q_star(ik)
    good = _targets(ik, arm_q, rpy, h, elbows=False)
    ik.reset(arm_q, rpy, h)
    ik.solve(good, DT)
    bad = good.T_base_left_wrist.copy()
    if kind == "nan":
        bad[1, 3] = np.nan
    elif kind == "inf":
        bad[0, 0] = np.inf
    elif kind == "reflection":
        bad[:3, :3] = bad[:3, :3] @ np.diag([1.0, 1.0, -1.0])
    elif kind == "scaled":
        bad[:3, :3] *= 2.0
    else:
        bad[:] = 0.0
    targets = UpperBodyTargets(T_base_left_wrist=bad, T_base_right_wrist=good.T_base_right_wrist,
                               T_base_head=good.T_base_head, R_base_waist=good.R_base_waist)
    for _ in range(5):
        sol = ik.solve(targets, DT)
        assert "T_base_left_wrist" in sol.info.rejected
        assert np.all(np.isfinite(sol.arm_q))
    # held at the last good target (joints may drift in the null space, the wrist does not)
    assert _wrist_distance(ik, sol, "left", good.T_base_left_wrist) < 1e-4


def test_single_tick_teleport_is_ignored_and_a_lasting_one_followed_slowly():
    ik = UpperBodyIK(UpperBodyIKConfig(filter=None, teleport_hold_ticks=3))
    arm_q, rpy, h = _q_star(ik)
    good = _targets(ik, arm_q, rpy, h, elbows=False)
    ik.reset(arm_q, rpy, h)
    ik.solve(good, DT)
    jumped = good.T_base_left_wrist.copy()
    jumped[:3, 3] += [0.0, 0.4, 0.0]
    glitch = UpperBodyTargets(T_base_left_wrist=jumped, T_base_right_wrist=good.T_base_right_wrist)
    sol = ik.solve(glitch, DT)
    assert "T_base_left_wrist" in sol.info.rejected
    assert _wrist_distance(ik, sol, "left", good.T_base_left_wrist) < 1e-4
    # a jump that persists (tracker re-centred) is accepted after the hold, approached at <= v_max
    q_prev = ik.q
    for k in range(10):
        sol = ik.solve(glitch, DT)
        assert np.all(np.abs(ik.q - q_prev) <= ik.v_max * DT + 1e-12)
        q_prev = ik.q
    assert "T_base_left_wrist" not in sol.info.rejected


def _crossing_targets(ik):
    """Left hand aimed at the right side and vice versa (the hands must cross), torso upright."""
    T_l = np.eye(4)
    T_l[:3, 3] = [0.35, -0.15, 0.95]
    T_r = np.eye(4)
    T_r[:3, 3] = [0.35, 0.15, 0.95]
    head = ik.forward(ik.q_posture[4:], np.zeros(3), 0.75)["head"]
    return UpperBodyTargets(T_base_left_wrist=T_l, T_base_right_wrist=T_r, T_base_head=head, R_base_waist=np.eye(3))


def test_hands_driven_through_each_other_keep_the_collision_margin(ik):
    ik.reset()
    targets = _crossing_targets(ik)
    for _ in range(300):
        sol = ik.solve(targets, DT)
        d = ik.collision_distances(sol.arm_q, sol.torso_rpy, sol.torso_height)
        assert min(d.values()) > ik.config.collision_margin - 5e-3, d  # linearised barrier + backtracking


def test_without_collision_avoidance_the_same_targets_collide():
    ik = UpperBodyIK(UpperBodyIKConfig(filter=None, collision_avoidance=False))
    targets = _crossing_targets(ik)
    for _ in range(300):
        sol = ik.solve(targets, DT)
    assert min(ik.collision_distances(sol.arm_q, sol.torso_rpy, sol.torso_height).values()) < 0.0


def test_head_height_drives_the_pelvis_height(ik):
    ik.reset()
    fk = ik.forward(ik.q_posture[4:], np.zeros(3), 0.60)
    for _ in range(200):
        sol = ik.solve(UpperBodyTargets(T_base_head=fk["head"]), DT)
    assert sol.torso_height == pytest.approx(0.60, abs=2e-3)
    assert abs(sol.info.head_height_error) < 2e-3


def test_a_late_tick_does_not_make_a_jump(ik):
    ik.reset()
    T = np.eye(4)
    T[:3, 3] = [0.45, 0.3, 1.2]
    q0 = ik.q
    ik.solve(UpperBodyTargets(T_base_left_wrist=T), dt=2.0)  # the loop stalled for 2 s
    assert np.all(np.abs(ik.q - q0) <= ik.v_max * ik.config.max_dt + 1e-12)


def test_reset_clips_into_limits(ik):
    ik.reset(arm_q=np.full(14, 10.0), torso_rpy=np.array([1.0, -1.0, 5.0]), torso_height=2.0)
    q = ik.q
    assert np.all(q <= ik.q_max) and np.all(q >= ik.q_min)
    assert q[0] == g1.TORSO_HEIGHT_RANGE[1]


def test_wrong_shapes_raise(ik):
    with pytest.raises(IKInputError, match="4x4"):
        ik.solve(UpperBodyTargets(T_base_left_wrist=np.eye(3)), DT)
    with pytest.raises(IKInputError, match="3x3"):
        ik.solve(UpperBodyTargets(R_base_waist=np.eye(4)), DT)
    with pytest.raises(IKInputError, match=r"shape \(3,\)"):
        ik.solve(UpperBodyTargets(p_base_left_elbow=np.zeros(4)), DT)
    with pytest.raises(IKInputError, match="dt"):
        ik.solve(UpperBodyTargets(), 0.0)
    with pytest.raises(IKInputError, match="arm_q"):
        ik.reset(arm_q=np.zeros(7))


def test_config_validation():
    with pytest.raises(IKConfigError, match="wrist_position_cost"):
        UpperBodyIKConfig(wrist_position_cost=-1.0)
    with pytest.raises(IKConfigError, match="config_limit_gain"):
        UpperBodyIKConfig(config_limit_gain=0.0)
    with pytest.raises(IKConfigError, match="posture_arm_q"):
        UpperBodyIKConfig(posture_arm_q=(0.0,) * 7)
    with pytest.raises(IKConfigError, match="solver"):
        UpperBodyIKConfig(solver="osqp")
    with pytest.raises(IKConfigError, match="backend"):
        UpperBodyIKConfig(backend="fused")
