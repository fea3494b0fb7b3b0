"""Online application of a calibration profile: operator poses (stage frame) → robot IK targets (base frame).

Frames: ``stage`` is the input devices' z-up frame (``teleop.operator_frame``); ``op`` is
the operator's frame — the stage rotated by the calibrated yaw so that x is the operator's
forward, with its origin at the calibrated standing spot on the floor; ``base`` is the
robot heading frame the IK works in (origin on the floor below the pelvis, x forward, z up).

The map is a uniform scaling of the operator's workspace about the shoulder centre::

    p_op   = Rz(-yaw_offset) (p_stage - [origin_xy, 0])
    p_base = c_robot + s (p_op - c_human)            s = L_robot / L_human  (arm lengths)
    R_base = Rz(-yaw_offset) R_stage R_body          (R_body: tracker mounting offset)

with ``c_human`` the operator's shoulder centre in neutral stance
(``[-head_to_shoulder_back, 0, eye_height - shoulder_drop]``) and ``c_robot`` the G1's
shoulder centre at the default pelvis height. Reach therefore scales to the G1's shorter
arms, and a squat or lean moves the targets by the same scaled amount. The head maps about
its own neutral point, so that standing upright asks for the default pelvis height:
``p_base_head = head_robot + s (p_op_head - [0, 0, eye_height])``, and the torso height
follows head height: ``h = h_default + s (z_head - eye_height)``. The inverse map
(:meth:`OperatorToRobot.robot_to_stage`) is what the scripted operator uses to act like a
person of the profile's size.
"""

from __future__ import annotations

import functools

import numpy as np

from calibration.profile import CalibrationProfile
from ik.upper_body import UpperBodyTargets
from teleop.operator_frame import OperatorFrame, TrackerRole
from teleop.robot import g1
from teleop.spatial import pose_to_mat, quat_to_mat, rot_z

#: Rotation ``R_handwrist_robotwrist`` from the hand-tracking WRIST joint frame to the robot
#: wrist convention. OperatorFrame body frames are OpenXR's re-expressed z-up
#: (``teleop.inputs.openxr_convert``): for hand joints x points to the fingertips and z out
#: of the back of the hand. The G1 wrist frame has x along the fingers and the palm facing
#: +y (right hand) or -y (left hand).
R_XRWRIST_ROBOTWRIST = {
    "left": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),
    "right": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
}


@functools.cache
def robot_reference() -> tuple[np.ndarray, float, np.ndarray]:
    """The G1's shoulder centre [m], arm length [m] and head point [m], in the base frame at the default height.

    Read from the model by forward kinematics (waist straight, elbows straight); the head
    point is the head-camera mount the IK's head task uses (``ik.model.P_TORSO_HEAD``).
    """
    from ik.model import P_TORSO_HEAD

    import mujoco

    m = g1.load_mujoco_model()
    d = mujoco.MjData(m)
    d.qpos[:] = m.qpos0
    d.qpos[2] = g1.DEFAULT_TORSO_HEIGHT
    mujoco.mj_kinematics(m, d)
    body = lambda n: d.xpos[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, n)].copy()  # noqa: E731
    shoulders = [body(f"{s}_shoulder_pitch_link") for s in g1.SIDES]
    center = (shoulders[0] + shoulders[1]) / 2
    arm = float(np.linalg.norm(body("left_wrist_yaw_link") - shoulders[0]))
    head = body(g1.TORSO_FRAME) + P_TORSO_HEAD
    return center, arm, head


class OperatorToRobot:
    """Applies a :class:`CalibrationProfile` to OperatorFrames (and its inverse)."""

    def __init__(self, profile: CalibrationProfile):
        self.profile = profile
        self.c_robot, self.robot_arm, self.head_robot = robot_reference()
        self.scale = self.robot_arm / profile.arm_length
        self.c_human = np.array([-profile.head_to_shoulder_back, 0.0, profile.eye_height - profile.shoulder_drop])
        self.R_align = rot_z(-profile.yaw_offset)
        self.origin = np.array([*profile.origin_xy, 0.0])
        self._offsets = {role: pose_to_mat(profile.tracker_offset(role)) for role in TrackerRole}

    # -- points ----------------------------------------------------------------------------
    def stage_to_base(self, p_stage: np.ndarray) -> np.ndarray:
        p_op = self.R_align @ (np.asarray(p_stage, dtype=float) - self.origin)
        return self.c_robot + self.scale * (p_op - self.c_human)

    def base_to_stage(self, p_base: np.ndarray) -> np.ndarray:
        p_op = self.c_human + (np.asarray(p_base, dtype=float) - self.c_robot) / self.scale
        return self.R_align.T @ p_op + self.origin

    def rotation_to_base(self, R_stage: np.ndarray) -> np.ndarray:
        return self.R_align @ R_stage

    def rotation_to_stage(self, R_base: np.ndarray) -> np.ndarray:
        return self.R_align.T @ R_base

    def head_stage_to_base(self, p_stage: np.ndarray) -> np.ndarray:
        p_op = self.R_align @ (np.asarray(p_stage, dtype=float) - self.origin)
        return self.head_robot + self.scale * (p_op - np.array([0.0, 0.0, self.profile.eye_height]))

    def head_base_to_stage(self, p_base: np.ndarray) -> np.ndarray:
        p_op = np.array([0.0, 0.0, self.profile.eye_height]) + (np.asarray(p_base, dtype=float) - self.head_robot) / self.scale
        return self.R_align.T @ p_op + self.origin

    def torso_height(self, head_z_stage: float) -> float:
        h = g1.DEFAULT_TORSO_HEIGHT + self.scale * (head_z_stage - self.profile.eye_height)
        return float(np.clip(h, *g1.TORSO_HEIGHT_RANGE))

    def head_height_for(self, torso_height: float) -> float:
        return self.profile.eye_height + (torso_height - g1.DEFAULT_TORSO_HEIGHT) / self.scale

    # -- poses -----------------------------------------------------------------------------
    def body_pose(self, frame: OperatorFrame, role: TrackerRole) -> np.ndarray | None:
        """``T_stage_body`` (4x4) of the body part ``role`` stands for, or None if not tracked."""
        pose = frame.tracker(role)
        if pose is None:
            return None
        return pose_to_mat(pose) @ self._offsets[role]

    def _to_base(self, T_stage: np.ndarray) -> np.ndarray:
        T = np.eye(4)
        T[:3, :3] = self.rotation_to_base(T_stage[:3, :3])
        T[:3, 3] = self.stage_to_base(T_stage[:3, 3])
        return T

    def wrist_from_hand(self, frame: OperatorFrame, side: str) -> np.ndarray | None:
        """``T_stage_wrist`` in the robot wrist convention from hand tracking alone, or None."""
        s = 0 if side == "left" else 1
        if not frame.hand_valid[s]:
            return None
        T = pose_to_mat(frame.hand_joints[s, 1])  # HandJoint.WRIST
        T[:3, :3] = T[:3, :3] @ R_XRWRIST_ROBOTWRIST[side]
        return T

    def targets(self, frame: OperatorFrame, out: UpperBodyTargets | None = None) -> UpperBodyTargets:
        """IK targets for one frame. Wrists come from wrist trackers, else from hand tracking."""
        t = out or UpperBodyTargets()
        for side, role, elbow_role in (
            ("left", TrackerRole.LEFT_WRIST, TrackerRole.LEFT_ELBOW),
            ("right", TrackerRole.RIGHT_WRIST, TrackerRole.RIGHT_ELBOW),
        ):
            T_stage = self.body_pose(frame, role)
            if T_stage is None:
                T_stage = self.wrist_from_hand(frame, side)
            setattr(t, f"T_base_{side}_wrist", None if T_stage is None else self._to_base(T_stage))
            T_elbow = self.body_pose(frame, elbow_role)
            setattr(t, f"p_base_{side}_elbow", None if T_elbow is None else self.stage_to_base(T_elbow[:3, 3]))
        if frame.head_valid:
            T_head = np.eye(4)
            T_head[:3, :3] = quat_to_mat(frame.head_pose[3:7])
            T_head[:3, 3] = frame.head_pose[:3]
            t.T_base_head = self._to_base(T_head)
            t.T_base_head[:3, 3] = self.head_stage_to_base(frame.head_pose[:3])
        else:
            t.T_base_head = None
        T_waist = self.body_pose(frame, TrackerRole.WAIST)
        t.R_base_waist = None if T_waist is None else self.rotation_to_base(T_waist[:3, :3])
        return t
