"""The y-up → z-up conversion: the one function every OpenXR pose goes through."""

from __future__ import annotations

import numpy as np

from teleop.inputs.openxr_convert import C_STAGE_XR, stage_to_xr, xr_to_stage
from teleop.spatial import quat_to_mat


def _random_quats_xyzw(n: int, rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=(n, 4))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_axes_map_forward_left_up():
    out = np.zeros((3, 7))
    p_xr = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # forward, left, up in OpenXR
    xr_to_stage(p_xr, np.tile([0.0, 0.0, 0.0, 1.0], (3, 1)), out)
    np.testing.assert_allclose(out[:, :3], np.eye(3), atol=1e-12)
    np.testing.assert_allclose(out[:, 3:], np.tile([1.0, 0, 0, 0], (3, 1)), atol=1e-12)


def test_change_of_basis_is_a_proper_rotation():
    np.testing.assert_allclose(C_STAGE_XR @ C_STAGE_XR.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(C_STAGE_XR), 1.0)


def test_rotation_is_similarity_transform_and_positions_rotate():
    rng = np.random.default_rng(0)
    q_xr = _random_quats_xyzw(200, rng)
    p_xr = rng.uniform(-2, 2, size=(200, 3))
    out = np.zeros((200, 7))
    xr_to_stage(p_xr, q_xr, out)
    for k in range(200):
        x, y, z, w = q_xr[k]
        R_xr = quat_to_mat(np.array([w, x, y, z]))
        R_expected = C_STAGE_XR @ R_xr @ C_STAGE_XR.T
        assert np.abs(quat_to_mat(out[k, 3:]) - R_expected).max() < 1e-9
        np.testing.assert_allclose(out[k, :3], C_STAGE_XR @ p_xr[k], atol=1e-12)


def test_stage_to_xr_round_trips():
    rng = np.random.default_rng(1)
    q_xr = _random_quats_xyzw(50, rng)
    p_xr = rng.uniform(-2, 2, size=(50, 3))
    out = np.zeros((50, 7))
    p_back, q_back = stage_to_xr(xr_to_stage(p_xr, q_xr, out))
    np.testing.assert_allclose(p_back, p_xr, atol=1e-12)
    np.testing.assert_allclose(q_back, q_xr, atol=1e-12)


def test_head_turned_left_yaws_left_in_stage():
    """OpenXR: +90° about y (up) turns the head to the left; in the stage frame that is +90° yaw."""
    out = np.zeros(7)
    s = np.sqrt(0.5)
    xr_to_stage(np.zeros(3), np.array([0.0, s, 0.0, s]), out)
    R = quat_to_mat(out[3:])
    np.testing.assert_allclose(R @ [1, 0, 0], [0, 1, 0], atol=1e-12)  # x forward now points left (+y)
