"""OperatorFrame: everything the operator's devices said at one instant.

Every input backend (OpenXR, PICO, replay, scripted) produces these; calibration, IK, the
locomotion channel and the recorder consume them. The layout is fixed-size numpy arrays so
that a backend can fill one frame in place every tick and the recorder can store it as
rows without reshaping.

Frame convention: every pose is ``T_stage_X``: position [m] and orientation quaternion
``wxyz`` of body part X in the *stage* frame, which is z-up, x forward (the direction the
operator faced at calibration, roughly), y to the operator's left, origin on the floor.
Backends convert from their native convention (OpenXR is y-up, -z forward) before
filling a frame, so nothing downstream ever sees a y-up pose.

Body frames follow the same z-up habit: a device's OpenXR frame (-z forward, +y up, +x
right) is re-expressed as x forward, y left, z up, so an upright head looking along the
operator's forward has the identity orientation. For hand joints this makes x point toward
the fingertips and z out of the back of the hand.

A pose row is ``[x, y, z, qw, qx, qy, qz]``. Each stream has a validity flag; an invalid
stream's numbers are meaningless and must not be used.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np


class Side(enum.IntEnum):
    LEFT = 0
    RIGHT = 1


class TrackerRole(enum.IntEnum):
    """Body parts a wearable tracker can stand for (rows of ``OperatorFrame.tracker_pose``)."""

    LEFT_WRIST = 0
    RIGHT_WRIST = 1
    WAIST = 2
    LEFT_ANKLE = 3
    RIGHT_ANKLE = 4
    LEFT_ELBOW = 5
    RIGHT_ELBOW = 6

    @classmethod
    def parse(cls, name: str) -> "TrackerRole":
        try:
            return cls[name.strip().upper()]
        except KeyError:
            valid = ", ".join(r.name.lower() for r in cls)
            raise ValueError(f"unknown tracker role '{name}'; valid roles: {valid}") from None


class HandJoint(enum.IntEnum):
    """The 26 hand joints of ``XR_EXT_hand_tracking``, in OpenXR's order."""

    PALM = 0
    WRIST = 1
    THUMB_METACARPAL = 2
    THUMB_PROXIMAL = 3
    THUMB_DISTAL = 4
    THUMB_TIP = 5
    INDEX_METACARPAL = 6
    INDEX_PROXIMAL = 7
    INDEX_INTERMEDIATE = 8
    INDEX_DISTAL = 9
    INDEX_TIP = 10
    MIDDLE_METACARPAL = 11
    MIDDLE_PROXIMAL = 12
    MIDDLE_INTERMEDIATE = 13
    MIDDLE_DISTAL = 14
    MIDDLE_TIP = 15
    RING_METACARPAL = 16
    RING_PROXIMAL = 17
    RING_INTERMEDIATE = 18
    RING_DISTAL = 19
    RING_TIP = 20
    LITTLE_METACARPAL = 21
    LITTLE_PROXIMAL = 22
    LITTLE_INTERMEDIATE = 23
    LITTLE_DISTAL = 24
    LITTLE_TIP = 25


class ControllerAxis(enum.IntEnum):
    """Columns of ``OperatorFrame.controller_axes`` (triggers in [0, 1], sticks in [-1, 1])."""

    TRIGGER = 0
    SQUEEZE = 1
    THUMBSTICK_X = 2  # right positive
    THUMBSTICK_Y = 3  # forward (push away) positive


class ControllerButton(enum.IntEnum):
    """Columns of ``OperatorFrame.controller_buttons``."""

    PRIMARY = 0  # A on the right controller, X on the left
    SECONDARY = 1  # B on the right, Y on the left
    THUMBSTICK_CLICK = 2
    MENU = 3


N_TRACKER_ROLES = len(TrackerRole)
N_HAND_JOINTS = len(HandJoint)
N_AXES = len(ControllerAxis)
N_BUTTONS = len(ControllerButton)
POSE_DIM = 7
#: The identity pose row ``[x y z qw qx qy qz]``.
IDENTITY_POSE = np.array([0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])


def _poses(*shape: int) -> np.ndarray:
    out = np.zeros((*shape, POSE_DIM))
    out[..., 3] = 1.0
    return out


@dataclass
class OperatorFrame:
    """One sample of every operator stream, on the process's monotonic clock.

    Attributes:
        stamp: When the device runtime says the poses are valid (prediction time or sample
            time), on :func:`teleop.clock.now` [s].
        head_pose: (7,) ``T_stage_head`` (between the eyes, x forward).
        tracker_pose: (7 roles, 7) ``T_stage_<role>`` by :class:`TrackerRole`.
        hand_joints: (2, 26, 7) ``T_stage_<joint>`` per :class:`Side` and :class:`HandJoint`.
        hand_radii: (2, 26) joint radii [m] as reported by hand tracking (0 if unknown).
        controller_pose: (2, 7) grip pose of each controller.
        controller_axes: (2, 4) per :class:`ControllerAxis`.
        controller_buttons: (2, 4) bool per :class:`ControllerButton`.
        *_valid: validity flags of each stream.
    """

    stamp: float = 0.0
    head_pose: np.ndarray = field(default_factory=lambda: _poses())
    head_valid: bool = False
    tracker_pose: np.ndarray = field(default_factory=lambda: _poses(N_TRACKER_ROLES))
    tracker_valid: np.ndarray = field(default_factory=lambda: np.zeros(N_TRACKER_ROLES, dtype=bool))
    hand_joints: np.ndarray = field(default_factory=lambda: _poses(2, N_HAND_JOINTS))
    hand_radii: np.ndarray = field(default_factory=lambda: np.zeros((2, N_HAND_JOINTS)))
    hand_valid: np.ndarray = field(default_factory=lambda: np.zeros(2, dtype=bool))
    controller_pose: np.ndarray = field(default_factory=lambda: _poses(2))
    controller_axes: np.ndarray = field(default_factory=lambda: np.zeros((2, N_AXES)))
    controller_buttons: np.ndarray = field(default_factory=lambda: np.zeros((2, N_BUTTONS), dtype=bool))
    controller_valid: np.ndarray = field(default_factory=lambda: np.zeros(2, dtype=bool))

    def copy(self) -> "OperatorFrame":
        """A deep copy (for handing a frame to another thread)."""
        return OperatorFrame(
            stamp=self.stamp,
            head_pose=self.head_pose.copy(),
            head_valid=self.head_valid,
            tracker_pose=self.tracker_pose.copy(),
            tracker_valid=self.tracker_valid.copy(),
            hand_joints=self.hand_joints.copy(),
            hand_radii=self.hand_radii.copy(),
            hand_valid=self.hand_valid.copy(),
            controller_pose=self.controller_pose.copy(),
            controller_axes=self.controller_axes.copy(),
            controller_buttons=self.controller_buttons.copy(),
            controller_valid=self.controller_valid.copy(),
        )

    def copy_into(self, other: "OperatorFrame") -> None:
        """Copy this frame's numbers into ``other`` without allocating."""
        other.stamp = self.stamp
        other.head_valid = self.head_valid
        np.copyto(other.head_pose, self.head_pose)
        np.copyto(other.tracker_pose, self.tracker_pose)
        np.copyto(other.tracker_valid, self.tracker_valid)
        np.copyto(other.hand_joints, self.hand_joints)
        np.copyto(other.hand_radii, self.hand_radii)
        np.copyto(other.hand_valid, self.hand_valid)
        np.copyto(other.controller_pose, self.controller_pose)
        np.copyto(other.controller_axes, self.controller_axes)
        np.copyto(other.controller_buttons, self.controller_buttons)
        np.copyto(other.controller_valid, self.controller_valid)

    def tracker(self, role: TrackerRole) -> np.ndarray | None:
        """The pose row of ``role``, or ``None`` when that tracker is not valid."""
        return self.tracker_pose[role] if self.tracker_valid[role] else None

    def as_arrays(self) -> dict[str, np.ndarray]:
        """The frame as named arrays (the recorder's ``operator/`` streams)."""
        return {
            "stamp": np.array(self.stamp),
            "head_pose": self.head_pose,
            "head_valid": np.array(self.head_valid),
            "tracker_pose": self.tracker_pose,
            "tracker_valid": self.tracker_valid,
            "hand_joints": self.hand_joints,
            "hand_radii": self.hand_radii,
            "hand_valid": self.hand_valid,
            "controller_pose": self.controller_pose,
            "controller_axes": self.controller_axes,
            "controller_buttons": self.controller_buttons,
            "controller_valid": self.controller_valid,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "OperatorFrame":
        """Inverse of :meth:`as_arrays` (used by replay)."""
        f = cls()
        f.stamp = float(arrays["stamp"])
        f.head_valid = bool(arrays["head_valid"])
        for name in (
            "head_pose", "tracker_pose", "tracker_valid", "hand_joints", "hand_radii", "hand_valid",
            "controller_pose", "controller_axes", "controller_buttons", "controller_valid",
        ):
            np.copyto(getattr(f, name), np.asarray(arrays[name]))
        return f
