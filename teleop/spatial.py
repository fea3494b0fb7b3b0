"""Small rigid-body helpers on plain numpy arrays.

Conventions: quaternions are ``wxyz`` and unit-norm; a pose row is ``[x, y, z, qw, qx,
qy, qz]``; rotation matrices are 3x3 and act on column vectors; ``rpy`` is roll, pitch,
yaw [rad] about fixed x, y, z (``R = Rz(yaw) Ry(pitch) Rx(roll)``).
"""

from __future__ import annotations

import math

import numpy as np


def quat_mul(q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """Hamilton product ``q1 ⊗ q2`` (wxyz)."""
    w1, x1, y1, z1 = q1
    w2, x2, y2, z2 = q2
    return np.array(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ]
    )


def quat_conj(q: np.ndarray) -> np.ndarray:
    return np.array([q[0], -q[1], -q[2], -q[3]])


def _unit_wxyz(q: np.ndarray) -> tuple[float, float, float, float]:
    """``q`` normalised, as Python floats (the identity for a zero, NaN or inf quaternion).

    Plain float arithmetic: on four numbers it is several times faster than numpy scalars,
    and these helpers run several times per teleop tick.
    """
    w, x, y, z = np.asarray(q, dtype=float).tolist()
    n = math.sqrt(w * w + x * x + y * y + z * z)
    if not math.isfinite(n) or n < 1e-9:
        return 1.0, 0.0, 0.0, 0.0
    return w / n, x / n, y / n, z / n


def quat_normalize(q: np.ndarray) -> np.ndarray:
    return np.array(_unit_wxyz(q))


def _rotation_rows(w: float, x: float, y: float, z: float) -> tuple[list[float], list[float], list[float]]:
    """Rows of the rotation matrix of the unit quaternion ``(w, x, y, z)``."""
    return (
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    )


def quat_to_mat(q: np.ndarray) -> np.ndarray:
    return np.array(_rotation_rows(*_unit_wxyz(q)))


def mat_to_quat(R: np.ndarray) -> np.ndarray:
    """Rotation matrix to a unit quaternion (wxyz) with ``w >= 0``."""
    m = np.asarray(R, dtype=float)
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = np.array([0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s])
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = np.array([(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s])
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = np.array([(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s])
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = np.array([(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s])
    q = quat_normalize(q)
    return q if q[0] >= 0 else -q


def rpy_to_mat(rpy: np.ndarray) -> np.ndarray:
    r, p, y = rpy
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )


def mat_to_rpy(R: np.ndarray) -> np.ndarray:
    pitch = np.arcsin(np.clip(-R[2, 0], -1.0, 1.0))
    roll = np.arctan2(R[2, 1], R[2, 2])
    yaw = np.arctan2(R[1, 0], R[0, 0])
    return np.array([roll, pitch, yaw])


def rpy_to_quat(rpy: np.ndarray) -> np.ndarray:
    return mat_to_quat(rpy_to_mat(rpy))


def quat_to_rpy(q: np.ndarray) -> np.ndarray:
    return mat_to_rpy(quat_to_mat(q))


def yaw_of(q: np.ndarray) -> float:
    """Heading [rad] of the x axis of ``q`` projected on the horizontal plane."""
    R = quat_to_mat(q)
    return float(np.arctan2(R[1, 0], R[0, 0]))


def rot_z(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def wrap_angle(a: float | np.ndarray) -> float | np.ndarray:
    """Wrap an angle [rad] to [-pi, pi)."""
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def pose_to_mat(pose: np.ndarray) -> np.ndarray:
    """Pose row ``[x y z qw qx qy qz]`` to a 4x4 homogeneous transform."""
    px, py, pz, *q = np.asarray(pose, dtype=float).tolist()
    r0, r1, r2 = _rotation_rows(*_unit_wxyz(q))
    return np.array([[*r0, px], [*r1, py], [*r2, pz], [0.0, 0.0, 0.0, 1.0]])


def mat_to_pose(T: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    p = np.empty(7) if out is None else out
    p[:3] = T[:3, 3]
    p[3:7] = mat_to_quat(T[:3, :3])
    return p


def quat_angle(q1: np.ndarray, q2: np.ndarray) -> float:
    """Angle [rad] of the rotation between two unit quaternions."""
    d = abs(float(np.dot(quat_normalize(q1), quat_normalize(q2))))
    return 2.0 * float(np.arccos(min(1.0, d)))


def rotation_angle(R1: np.ndarray, R2: np.ndarray) -> float:
    """Angle [rad] of ``R1^T R2``."""
    c = (np.trace(R1.T @ R2) - 1.0) / 2.0
    return float(np.arccos(np.clip(c, -1.0, 1.0)))
