"""A synthetic operator of known size with trackers at known mounting offsets.

It generates what the devices would report while a person of the given body dimensions
goes through the calibration routine, following :mod:`calibration.body_model` exactly,
plus measurement noise, dropouts and (optionally) motion during a hold. Tests use it to
check that :func:`calibration.routine.calibrate` recovers the dimensions and offsets;
``psi-teleop calibrate --synthetic`` uses it to show the routine without hardware.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from calibration.body_model import (
    ARM_ROLES,
    ArmPoint,
    arm_direction,
    arm_rotation,
    shoulder,
)
from calibration.mapping import R_XRWRIST_ROBOTWRIST
from calibration.recording import (
    ARM_PHASES,
    DEFAULT_PHASES,
    CalibrationRecording,
    Phase,
)
from teleop.inputs.base import DeviceInfo, InputKind, InputSource, SourceStatus
from teleop.operator_frame import HandJoint, OperatorFrame, Side, TrackerRole
from teleop.spatial import mat_to_pose, pose_to_mat, rot_z, rpy_to_mat


def _pose(xyz: tuple[float, float, float], rpy_deg: tuple[float, float, float], inverse: bool = False) -> tuple[float, ...]:
    T = np.eye(4)
    T[:3, :3] = rpy_to_mat(np.radians(rpy_deg))
    T[:3, 3] = xyz
    return tuple(float(v) for v in mat_to_pose(np.linalg.inv(T) if inverse else T))


#: Mounting offsets ``T_tracker_body`` of a plausible rig (a few cm, tens of degrees). The
#: elbow trackers sit across the upper arm at the joint (given as ``T_body_tracker`` with no
#: offset along the arm, the routine's assumption for them); the wrist trackers anywhere.
DEFAULT_OFFSETS: dict[TrackerRole, tuple[float, ...]] = {
    TrackerRole.LEFT_WRIST: _pose((0.015, -0.01, -0.045), (10.0, -20.0, 35.0)),
    TrackerRole.RIGHT_WRIST: _pose((-0.01, 0.02, -0.04), (-15.0, 25.0, -30.0)),
    TrackerRole.WAIST: _pose((0.0, 0.0, -0.09), (90.0, 0.0, 180.0)),
    TrackerRole.LEFT_ANKLE: _pose((0.0, 0.0, 0.0), (0.0, 80.0, 20.0)),
    TrackerRole.RIGHT_ANKLE: _pose((0.0, 0.0, 0.0), (0.0, 80.0, -20.0)),
    TrackerRole.LEFT_ELBOW: _pose((0.0, 0.015, 0.05), (5.0, 10.0, 60.0), inverse=True),
    TrackerRole.RIGHT_ELBOW: _pose((0.0, -0.015, 0.05), (-5.0, -10.0, -60.0), inverse=True),
}


@dataclass(frozen=True)
class SyntheticOperator:
    """A person of known size wearing trackers with known offsets.

    Attributes:
        eye_height, shoulder_width, arm_length, upper_arm_length, shoulder_drop,
            head_to_shoulder_back, waist_height: body dimensions [m].
        yaw: the stage heading the person faces [rad].
        origin_xy: where the person stands on the stage [m].
        hand_open, hand_closed: thumb-index tip distance, open and pinched [m].
        roles: the trackers worn.
        offsets: ``T_tracker_body`` pose rows per role.
        noise_pos: per-axis position noise, standard deviation [m].
        noise_rot_deg: per-axis rotation noise, standard deviation [deg].
        dropout: share of frames in which each tracker is reported invalid (with garbage numbers).
        hand_tracking: whether hands are tracked (only in the hand phases, in view of the headset).
    """

    eye_height: float = 1.70
    shoulder_width: float = 0.40
    arm_length: float = 0.60
    upper_arm_length: float = 0.30
    shoulder_drop: float = 0.24
    head_to_shoulder_back: float = 0.07
    waist_height: float = 1.02
    yaw: float = 0.6
    origin_xy: tuple[float, float] = (0.4, -0.2)
    hand_open: float = 0.11
    hand_closed: float = 0.012
    roles: tuple[TrackerRole, ...] = (
        TrackerRole.LEFT_WRIST, TrackerRole.RIGHT_WRIST, TrackerRole.WAIST, TrackerRole.LEFT_ANKLE,
        TrackerRole.RIGHT_ANKLE,
    )
    offsets: dict[TrackerRole, tuple[float, ...]] = field(default_factory=lambda: dict(DEFAULT_OFFSETS))
    noise_pos: float = 0.002
    noise_rot_deg: float = 1.0
    dropout: float = 0.0
    hand_tracking: bool = True

    # -- body -------------------------------------------------------------------------------
    def _T_stage_op(self) -> np.ndarray:
        T = np.eye(4)
        T[:3, :3] = rot_z(self.yaw)
        T[:2, 3] = self.origin_xy
        return T

    def body_poses_op(self, phase: Phase) -> dict[object, np.ndarray]:
        """``T_op_<part>`` (4x4) of the head, each tracker role's body part and the hand wrists."""
        out: dict[object, np.ndarray] = {}
        T = np.eye(4)
        T[:3, 3] = (0.0, 0.0, self.eye_height)
        out["head"] = T
        arm_phase = phase if phase in ARM_PHASES else Phase.NEUTRAL
        for role, (sign, point) in ARM_ROLES.items():
            length = self.arm_length if point is ArmPoint.WRIST else self.upper_arm_length
            s = shoulder(sign, self.eye_height, self.shoulder_width, self.shoulder_drop, self.head_to_shoulder_back)
            T = np.eye(4)
            T[:3, :3] = arm_rotation(arm_phase, sign)
            T[:3, 3] = s + length * arm_direction(arm_phase, sign)
            out[role] = T
        for role, y in ((TrackerRole.WAIST, 0.0), (TrackerRole.LEFT_ANKLE, 0.1), (TrackerRole.RIGHT_ANKLE, -0.1)):
            T = np.eye(4)
            z = self.waist_height if role is TrackerRole.WAIST else 0.08
            T[:3, 3] = (-self.head_to_shoulder_back, y, z)
            out[role] = T
        if phase in (Phase.HAND_OPEN, Phase.HAND_PINCH):  # wrists in front of the headset
            for role, side, sign in ((TrackerRole.LEFT_WRIST, Side.LEFT, 1), (TrackerRole.RIGHT_WRIST, Side.RIGHT, -1)):
                T = np.eye(4)
                T[:3, :3] = arm_rotation(Phase.ARMS_FORWARD, sign)
                T[:3, 3] = (0.35, sign * 0.15, self.eye_height - 0.35)
                out[role] = T
                X = T.copy()  # the hand-tracking WRIST joint frame (OpenXR axes)
                X[:3, :3] = T[:3, :3] @ R_XRWRIST_ROBOTWRIST[side.name.lower()].T
                out[f"hand_{side.name.lower()}"] = X  # (IntEnum keys would collide with TrackerRole)
        return out

    # -- frames -----------------------------------------------------------------------------
    def frame(self, phase: Phase, stamp: float, rng: np.random.Generator, sway: np.ndarray | None = None) -> OperatorFrame:
        """One noisy OperatorFrame of the person holding ``phase`` (``sway``: extra op-frame shift [m])."""
        return self.frames(phase, np.array([stamp]), rng, None if sway is None else np.asarray(sway)[None])[0]

    def frames(
        self, phase: Phase, stamps: np.ndarray, rng: np.random.Generator, sway: np.ndarray | None = None
    ) -> list[OperatorFrame]:
        """Noisy OperatorFrames at ``stamps`` (N,) [s]; ``sway`` (N, 3) shifts the whole body (op frame) [m]."""
        n = len(stamps)
        T_so = self._T_stage_op()
        shift = np.zeros((n, 3)) if sway is None else (T_so[:3, :3] @ np.asarray(sway, dtype=float).T).T
        body = {k: T_so @ v for k, v in self.body_poses_op(phase).items()}
        out = [OperatorFrame(stamp=float(t)) for t in stamps]
        head = self._noisy(body["head"], n, rng, shift)
        for i, f in enumerate(out):
            f.head_pose[:] = head[i]
            f.head_valid = True
        for role in self.roles:
            T_trk = body[role] @ np.linalg.inv(pose_to_mat(np.asarray(self.offsets[role])))
            poses = self._noisy(T_trk, n, rng, shift)
            drop = rng.random(n) < self.dropout if self.dropout else np.zeros(n, dtype=bool)
            for i, f in enumerate(out):
                if drop[i]:
                    f.tracker_pose[role] = (9.0, -9.0, 9.0, 0.3, 0.3, 0.3, 0.3)  # garbage, flagged invalid
                else:
                    f.tracker_pose[role] = poses[i]
                    f.tracker_valid[role] = True
        if self.hand_tracking and phase in (Phase.HAND_OPEN, Phase.HAND_PINCH):
            gap = self.hand_open if phase is Phase.HAND_OPEN else self.hand_closed
            for side in Side:
                wrist = body[f"hand_{side.name.lower()}"]
                joints = self._noisy(wrist, n, rng, shift)
                tips = {}
                for joint, dy in ((HandJoint.THUMB_TIP, gap / 2), (HandJoint.INDEX_TIP, -gap / 2)):
                    tip = wrist.copy()  # fingers along -z of the OpenXR joint frame
                    tip[:3, 3] = wrist[:3, :3] @ np.array([0.0, dy, -0.15]) + wrist[:3, 3]
                    tips[joint] = self._noisy(tip, n, rng, shift, pos_scale=0.5)
                for i, f in enumerate(out):
                    f.hand_joints[side, :] = joints[i]
                    for joint, arr in tips.items():
                        f.hand_joints[side, joint] = arr[i]
                    f.hand_valid[side] = True
        return out

    def _noisy(
        self, T: np.ndarray, n: int, rng: np.random.Generator, shift: np.ndarray, pos_scale: float = 1.0
    ) -> np.ndarray:
        """``n`` pose rows of ``T`` with position noise, body-frame rotation noise and a shift (n, 3)."""
        base = mat_to_pose(T)
        out = np.empty((n, 7))
        out[:, :3] = base[:3] + shift + rng.normal(0.0, self.noise_pos * pos_scale, (n, 3))
        r = rng.normal(0.0, np.radians(self.noise_rot_deg), (n, 3))  # rotation vectors [rad]
        ang = np.linalg.norm(r, axis=1)
        axis = r / np.where(ang > 0, ang, 1.0)[:, None]
        qn = np.column_stack([np.cos(ang / 2), np.sin(ang / 2)[:, None] * axis])
        w1, x1, y1, z1 = base[3:7]
        w2, x2, y2, z2 = qn.T
        out[:, 3] = w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2
        out[:, 4] = w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2
        out[:, 5] = w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2
        out[:, 6] = w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2
        return out

    def record(
        self,
        phases: Iterable[Phase] = DEFAULT_PHASES,
        hold_s: float = 3.0,
        rate_hz: float = 100.0,
        seed: int = 0,
        moving: dict[Phase, float] | None = None,
        created: str = "2026-01-01T00:00:00",
    ) -> CalibrationRecording:
        """A recording of the routine; ``moving`` maps a phase to a sway amplitude [m] (sideways, 1.5 s period)."""
        rng = np.random.default_rng(seed)
        rec = CalibrationRecording(created=created)
        t = 100.0
        for phase in phases:
            k = np.arange(int(round(hold_s * rate_hz)))
            stamps = t + k / rate_hz
            amp = (moving or {}).get(phase, 0.0)
            sway = None
            if amp:
                sway = np.zeros((len(k), 3))
                sway[:, 1] = amp * np.sin(2 * np.pi * k / rate_hz / 1.5)
            rec.frames[phase] = self.frames(phase, stamps, rng, sway)
            t = float(stamps[-1]) + 2.0
        return rec


class SyntheticSource(InputSource):
    """:class:`SyntheticOperator` as a live input source that takes the pose it is told to."""

    kind = InputKind.SCRIPTED

    def __init__(self, operator: SyntheticOperator | None = None, seed: int = 0):
        self.operator = operator or SyntheticOperator()
        self.phase = Phase.NEUTRAL
        self._rng = np.random.default_rng(seed)
        self._status = SourceStatus.IDLE

    def set_phase(self, phase: Phase) -> None:
        self.phase = phase

    def start(self) -> None:
        self._status = SourceStatus.RUNNING

    def stop(self) -> None:
        self._status = SourceStatus.STOPPED

    def poll(self, frame: OperatorFrame) -> bool:
        from teleop import clock

        self.operator.frame(self.phase, clock.now(), self._rng).copy_into(frame)
        return True

    def devices(self) -> list[DeviceInfo]:
        return [DeviceInfo(name="synthetic operator", role=r.name.lower(), tracked=True, valid=True) for r in self.operator.roles]

    @property
    def status(self) -> SourceStatus:
        return self._status
