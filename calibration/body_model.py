"""The body poses the calibration routine assumes for each held phase (the "known" side of the fit).

Frames: ``op`` is the operator frame (x forward, y left, z up, origin on the floor below
the eyes; see :mod:`calibration.mapping`). The shoulder joints sit at
``s(σ) = [-b, σ w/2, h - d]`` with ``σ = +1`` left and ``-1`` right, ``h`` the eye height,
``w`` the shoulder width, ``d`` the shoulder drop and ``b`` the head-to-shoulder-back
distance. With the arm straight, a point at distance ``ℓ`` from the shoulder along the arm
(``ℓ = L`` the wrist, ``ℓ = u`` the elbow) is at ``s(σ) + ℓ a(phase, σ)`` with the arm
direction

* NEUTRAL: ``a = [0, 0, -1]`` (hanging), palms facing the thighs;
* T_POSE: ``a = [0, σ, 0]`` (sideways), palms down;
* ARMS_FORWARD: ``a = [1, 0, 0]``, palms facing each other.

Wrist and elbow frames follow the robot wrist convention (:mod:`calibration.mapping`):
x along the arm toward the fingers, palm facing -y (left) / +y (right), so both sides have
``R_op_wrist = R_NEUTRAL`` in NEUTRAL, ``Rx(σ 90°) R_NEUTRAL`` in T_POSE and
``Ry(-90°) R_NEUTRAL`` in ARMS_FORWARD. The waist and ankle frames are the heading frame
(``R_op = I``) in every phase.
"""

from __future__ import annotations

import enum

import numpy as np

from calibration.recording import Phase
from teleop.operator_frame import TrackerRole


def rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


#: ``R_op_wrist`` of either arm hanging with the palm facing the thigh.
R_NEUTRAL = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])

class ArmPoint(enum.Enum):
    """The arm joint a tracker stands for; its distance from the shoulder is the arm or upper-arm length."""

    WRIST = "wrist"  # at the arm length L from the shoulder
    ELBOW = "elbow"  # at the upper-arm length u


#: Arm tracker roles → (side sign σ, the joint it stands for).
ARM_ROLES: dict[TrackerRole, tuple[int, ArmPoint]] = {
    TrackerRole.LEFT_WRIST: (1, ArmPoint.WRIST),
    TrackerRole.RIGHT_WRIST: (-1, ArmPoint.WRIST),
    TrackerRole.LEFT_ELBOW: (1, ArmPoint.ELBOW),
    TrackerRole.RIGHT_ELBOW: (-1, ArmPoint.ELBOW),
}
#: Trackers whose body frame is the heading frame.
HEADING_ROLES: tuple[TrackerRole, ...] = (TrackerRole.WAIST, TrackerRole.LEFT_ANKLE, TrackerRole.RIGHT_ANKLE)


def arm_direction(phase: Phase, sign: int) -> np.ndarray:
    """Unit direction ``a(phase, σ)`` of a straight arm in the op frame."""
    if phase is Phase.NEUTRAL:
        return np.array([0.0, 0.0, -1.0])
    if phase is Phase.T_POSE:
        return np.array([0.0, float(sign), 0.0])
    if phase is Phase.ARMS_FORWARD:
        return np.array([1.0, 0.0, 0.0])
    raise ValueError(f"phase {phase} has no assumed arm pose")


def arm_rotation(phase: Phase, sign: int) -> np.ndarray:
    """``R_op_wrist`` (= ``R_op_elbow``) of a straight arm in ``phase``."""
    if phase is Phase.NEUTRAL:
        return R_NEUTRAL.copy()
    if phase is Phase.T_POSE:
        return rot_x(sign * np.pi / 2) @ R_NEUTRAL
    if phase is Phase.ARMS_FORWARD:
        return rot_y(-np.pi / 2) @ R_NEUTRAL
    raise ValueError(f"phase {phase} has no assumed arm pose")


def shoulder(sign: int, eye_height: float, shoulder_width: float, shoulder_drop: float, back: float) -> np.ndarray:
    """Shoulder joint ``s(σ)`` in the op frame [m]."""
    return np.array([-back, sign * shoulder_width / 2.0, eye_height - shoulder_drop])
