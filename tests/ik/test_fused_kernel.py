"""The compiled FUSED path (ik.fused_kernel, numba) against the pure-Python fused path and pinocchio."""

import numpy as np
import pinocchio as pin
import pytest

from ik import UpperBodyIK, UpperBodyIKConfig, UpperBodyTargets
from ik.trajectories import UpperBodyTrajectory
from ik.upper_body import IKBackend

pytest.importorskip("numba")

DT = 0.01


def _pair(**kw):
    compiled = UpperBodyIK(UpperBodyIKConfig(backend=IKBackend.FUSED, **kw))
    python = UpperBodyIK(UpperBodyIKConfig(backend=IKBackend.FUSED_PYTHON, **kw))
    assert compiled.compiled and not python.compiled
    return compiled, python


def _same(a, b, sa, sb):
    np.testing.assert_allclose(a.q, b.q, rtol=0, atol=1e-9)
    ia, ib = sa.info, sb.info
    assert ia.qp_failed == ib.qp_failed and ia.rejected == ib.rejected
    np.testing.assert_allclose(ia.wrist_position_error, ib.wrist_position_error, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ia.wrist_orientation_error, ib.wrist_orientation_error, rtol=0, atol=1e-7)
    np.testing.assert_allclose(ia.head_height_error, ib.head_height_error, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ia.min_collision_distance, ib.min_collision_distance, rtol=0, atol=1e-9)


@pytest.mark.parametrize("filtered", [False, True])
def test_compiled_step_equals_python_fused_on_smooth_targets(filtered):
    compiled, python = _pair(**({} if filtered else {"filter": None}))
    samples = UpperBodyTrajectory(compiled, seed=1).samples(3.0, DT)
    for ik in (compiled, python):
        ik.reset(samples[0].arm_q, samples[0].torso_rpy, samples[0].torso_height)
    for s in samples:
        _same(compiled, python, compiled.solve(s.targets, DT), python.solve(s.targets, DT))


def test_compiled_step_equals_python_fused_on_adversarial_targets():
    """NaN, garbage, non-rotations, teleports, far and colliding targets, targets switching on and off,
    late ticks: same step (barrier rows, relaxation and backtracking included), same diagnostics."""
    compiled, python = _pair()
    rng = np.random.default_rng(7)
    fk = compiled.forward(compiled.q_posture[4:], np.zeros(3), 0.75)
    lw, rw, head = fk["left_wrist"], fk["right_wrist"], fk["head"]
    active_ticks = 0
    for tick in range(400):
        kind = tick // 25
        L, R, H = lw.copy(), rw.copy(), head.copy()
        waist = fk["torso"][:3, :3].copy()
        elbow = fk["left_elbow"][:3, 3].copy()
        phase = tick % 25
        if kind == 0:  # hands driven through each other (barrier active, backtracking)
            L[:3, 3] = 0.5 * (lw[:3, 3] + rw[:3, 3]) + [0.25, -0.1 + 0.02 * phase, 0.0]
            R[:3, 3] = 0.5 * (lw[:3, 3] + rw[:3, 3]) + [0.25, 0.1 - 0.02 * phase, 0.0]
        elif kind == 1:
            L[:3, 3] = [np.nan, 0.0, np.inf]
            R[:3, :3] *= 3.0  # not a rotation
        elif kind == 2:
            L[:3, 3] += [3.0, 2.0, -2.0]  # far, unreachable (and a teleport)
            R[:3, 3] = rng.uniform(-2.0, 2.0, 3)
        elif kind == 3:
            L = rng.normal(size=(4, 4)) * 10.0  # garbage
            H[:3, 3] += [0.0, 0.0, -0.4 * (phase % 2)]  # head height jumping
        elif kind == 4:  # hands into the torso and pelvis
            L[:3, 3] = [0.05, 0.0, 0.75 + 0.01 * phase]
            R[:3, 3] = [0.05, -0.02, 0.55]
        elif kind == 5:  # targets switching on and off
            L = L if phase % 3 else None
            H = H if phase % 2 else None
            waist = None
        elif kind == 6:  # rotations near pi
            ax = rng.normal(size=3)
            L[:3, :3] = pin.exp3(ax / np.linalg.norm(ax) * (np.pi - 1e-7 * phase)) @ lw[:3, :3]
            R[:3, :3] = pin.exp3(np.array([0.0, 0.0, np.pi])) @ rw[:3, :3]
        else:  # random wrist motion with elbow hints
            L[:3, 3] += rng.normal(scale=0.2, size=3)
            R[:3, :3] = pin.exp3(rng.normal(scale=1.0, size=3)) @ R[:3, :3]
            elbow = elbow + rng.normal(scale=0.3, size=3)
        targets = UpperBodyTargets(T_base_left_wrist=L, T_base_right_wrist=R, T_base_head=H, R_base_waist=waist,
                                   p_base_left_elbow=elbow, p_base_right_elbow=None)
        dt = 0.2 if tick % 37 == 0 else DT  # late ticks (clamped to max_dt)
        sa, sb = compiled.solve(targets, dt), python.solve(targets, dt)
        active_ticks += python._barrier.any_active
        _same(compiled, python, sa, sb)
        assert np.all(np.isfinite(compiled.q))
        np.testing.assert_array_equal(compiled._barrier.active, python._barrier.active)
    assert active_ticks > 20


def test_log6_and_jlog6_match_pinocchio():
    from ik import _fused_numba as k

    rng = np.random.default_rng(3)
    out = np.empty(6)
    J = np.empty((6, 6))
    angles = [0.0, 1e-9, 1e-5, 1e-3, 0.3, 2.0, np.pi - 1e-3, np.pi - 1e-6, np.pi]
    for theta in angles * 6:
        axis = rng.normal(size=3)
        M = pin.SE3(pin.exp3(axis / np.linalg.norm(axis) * theta), rng.normal(size=3))
        k.log6(M.rotation, M.translation, out)
        np.testing.assert_allclose(out, pin.log6(M).vector, rtol=0, atol=1e-9)
        k.jlog6(M.rotation, M.translation, J)
        np.testing.assert_allclose(J, pin.Jlog6(M), rtol=0, atol=1e-7 if theta > 3.14 else 1e-9)


def test_without_numba_fused_falls_back_to_python(monkeypatch):
    from ik import fused_kernel

    monkeypatch.setattr(fused_kernel, "_KERNELS", False)
    ik = UpperBodyIK(UpperBodyIKConfig(backend=IKBackend.FUSED, filter=None))
    assert not ik.compiled
    fk = ik.forward(ik.q_posture[4:] + 0.1, np.zeros(3), 0.75)
    sol = ik.solve(UpperBodyTargets(T_base_left_wrist=fk["left_wrist"]), DT)
    assert np.isfinite(sol.info.wrist_position_error[0])


@pytest.mark.parametrize("kw", [
    {"collision_avoidance": False},
    {"head_height_cost": 0.0, "wrist_orientation_cost": 0.0, "elbow_position_cost": 0.0},
    {"teleport_hold_ticks": 0, "max_target_jump": 0.01, "filter": None},
])
def test_compiled_step_equals_python_fused_for_other_configs(kw):
    """Dropped rows (zero weights), no barrier and other validation settings go through the same tables."""
    compiled, python = _pair(**kw)
    samples = UpperBodyTrajectory(compiled, seed=2).samples(1.5, DT)
    for ik in (compiled, python):
        ik.reset(samples[0].arm_q, samples[0].torso_rpy, samples[0].torso_height)
    for i, s in enumerate(samples):
        t = s.targets
        if i % 20 == 10:  # a glitch and a dropped target now and then
            t = UpperBodyTargets(T_base_left_wrist=t.T_base_left_wrist + 0.3 * (i % 40 == 10),
                                 T_base_right_wrist=None, T_base_head=t.T_base_head, R_base_waist=t.R_base_waist,
                                 p_base_left_elbow=t.p_base_left_elbow, p_base_right_elbow=t.p_base_right_elbow)
        _same(compiled, python, compiled.solve(t, DT), python.solve(t, DT))
