"""Capsule distances and the barrier Jacobian."""

import numpy as np
import pink
import pinocchio as pin
import pytest

from ik.capsule_barrier import CapsuleCollisionBarrier, closest_points_segments
from ik.exceptions import IKConfigError
from ik.model import CAPSULES, COLLISION_PAIRS, build_upper_body_model


def _brute_force(p0, p1, q0, q1, n=401):
    s = np.linspace(0.0, 1.0, n)
    a = p0 + s[:, None] * (p1 - p0)
    b = q0 + s[:, None] * (q1 - q0)
    return np.min(np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2))


@pytest.mark.parametrize("seed", range(20))
def test_closest_points_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    p0, p1, q0, q1 = rng.normal(size=(4, 3))
    if seed % 5 == 0:  # parallel segments
        q0, q1 = p0 + [0.0, 0.0, 0.3], p1 + [0.0, 0.0, 0.3]
    if seed % 7 == 0:  # degenerate: a point
        p1 = p0.copy()
    a, b = closest_points_segments(p0, p1, q0, q1)
    assert np.linalg.norm(a - b) == pytest.approx(_brute_force(p0, p1, q0, q1), abs=2e-3)
    assert np.linalg.norm(a - b) <= _brute_force(p0, p1, q0, q1) + 1e-9


def test_barrier_jacobian_matches_finite_differences():
    model = build_upper_body_model()
    barrier = CapsuleCollisionBarrier(model, CAPSULES, COLLISION_PAIRS, activation_distance=10.0)
    q = pin.neutral(model)
    q[0] = 0.7
    q[4:] = np.random.default_rng(1).uniform(-0.4, 0.4, 14)
    conf = pink.Configuration(model, model.createData(), q)
    barrier.update(conf)
    h0, J = barrier.margins.copy(), barrier.jacobian.copy()
    assert barrier.active.all()
    eps = 1e-7
    for i in range(model.nv):
        dq = q.copy()
        dq[i] += eps
        conf.update(dq)
        barrier.update(conf)
        np.testing.assert_allclose((barrier.margins - h0) / eps, J[:, i], atol=1e-4)


def test_far_pairs_are_inactive_with_zero_rows():
    model = build_upper_body_model()
    barrier = CapsuleCollisionBarrier(model, CAPSULES, COLLISION_PAIRS, activation_distance=0.05)
    q = pin.neutral(model)
    q[0] = 0.75
    conf = pink.Configuration(model, model.createData(), q)
    barrier.update(conf)
    inactive = ~barrier.active
    assert inactive.any()
    assert np.all(barrier.jacobian[inactive] == 0.0)
    assert np.all(barrier.margins[inactive] >= 0.05)


def test_unknown_capsule_is_refused():
    model = build_upper_body_model()
    with pytest.raises(IKConfigError, match="names capsule 'nose'"):
        CapsuleCollisionBarrier(model, CAPSULES, (("nose", "torso"),))
