"""Upper-body multi-target IK of the G1: both wrists, head, waist tracker and elbow hints → arms and torso."""

from __future__ import annotations

import enum
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ik.exceptions import IKConfigError, IKInputError
from ik.model import (
    CAPSULES,
    COLLISION_PAIRS,
    ELBOW_FRAMES,
    HEAD_FRAME,
    UPPER_BODY_JOINTS,
    build_upper_body_model,
)
from ik.one_euro import OneEuroConfig, OneEuroFilter
from teleop.robot import g1

log = logging.getLogger(__name__)

#: Index of the pelvis height in the IK configuration vector.
_Q_HEIGHT = 0
#: Indices of waist roll, pitch, yaw (the torso_rpy order) in the IK configuration vector
#: (the model's chain order is yaw, roll, pitch: q[1], q[2], q[3]).
_Q_TORSO_RPY = np.array([2, 3, 1])
#: The 14 arm joints in the IK configuration vector (g1.ARM_JOINTS order).
_Q_ARMS = slice(4, 18)
_LOCAL = None  # pinocchio reference frames, bound on first use (pinocchio is imported lazily)
_LOCAL_WORLD_ALIGNED = None
#: Target names, for info and filters.
_WRIST_KEYS = {"left": "T_base_left_wrist", "right": "T_base_right_wrist"}
_ELBOW_KEYS = {"left": "p_base_left_elbow", "right": "p_base_right_elbow"}
_WRIST_SIDE = {v: k for k, v in _WRIST_KEYS.items()}
_ELBOW_SIDE = {v: k for k, v in _ELBOW_KEYS.items()}


class IKBackend(enum.Enum):
    """How the QP of :class:`UpperBodyIK` is assembled and solved.

    ``FUSED`` builds exactly pink's QP (same tasks, errors, Jacobians, limits and barrier
    rows) and calls daqp directly: the per-tick budget of the teleop loop. With numba
    installed its per-tick arithmetic (kinematics, task errors and Jacobians, the stacked
    system, bounds, barrier, step clip and backtracking) runs in two compiled kernels
    (:mod:`ik.fused_kernel`); without numba it falls back to ``FUSED_PYTHON``.
    ``FUSED_PYTHON`` is the same assembly in Python over pinocchio calls and preallocated
    arrays (the cross-check of the compiled kernels). ``PINK`` goes through
    :func:`pink.solve_ik` with pink task objects and qpsolvers: the reference the tests
    compare the fused paths against.
    """

    FUSED = "fused"
    FUSED_PYTHON = "fused_python"
    PINK = "pink"


def _positive(name: str, value: float, allow_zero: bool = True) -> None:
    ok = math.isfinite(value) and (value >= 0.0 if allow_zero else value > 0.0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise IKConfigError(f"UpperBodyIKConfig.{name} must be finite and {bound}, got {value!r}")


@dataclass(frozen=True)
class UpperBodyIKConfig:
    """Weights and options of :class:`UpperBodyIK`.

    Costs weigh the squared task errors of the QP (see :class:`UpperBodyIK`); they are
    relative to each other, with a wrist position error of 1 cm costing like 0.01 / cost.

    Attributes:
        wrist_position_cost: Wrist position weight [cost/m].
        wrist_orientation_cost: Wrist orientation weight [cost/rad].
        head_height_cost: Head height weight (drives the pelvis height) [cost/m].
        head_orientation_cost: Head orientation weight (drives the torso; the G1 has no neck) [cost/rad].
        waist_orientation_cost: Torso orientation weight from the waist tracker [cost/rad].
        elbow_position_cost: Elbow hint weight [cost/m] (hints only: keep it well below the wrists).
        posture_cost: Regularisation toward ``posture`` [cost/rad] (and [cost/m] on the height).
        torso_posture_cost: Regularisation of the pelvis height and waist toward upright at
            the default height: without head or waist targets the torso stays put instead of
            serving as two extra arm joints (a head target moves it at will).
        posture_gain: Fraction of the posture error corrected per tick, in (0, 1]: in the null
            space of the other tasks (elbow swivel, an inactive wrist) the pose drifts back to
            the natural one gently instead of at full joint speed.
        damping: Tikhonov damping of the QP [cost²/rad²], keeps singular poses well-posed.
        lm_damping: Levenberg–Marquardt damping of the frame tasks (unitless): large errors
            (unreachable targets) are approached more softly.
        posture_arm_q: Natural arm pose (14,) in ``g1.ARM_JOINTS`` order [rad]; ``None`` =
            the model's standing pose.
        collision_avoidance: Keep the capsules of :data:`ik.model.COLLISION_PAIRS` apart.
        collision_margin: Minimum surface distance between colliding capsules [m].
        collision_gain: Barrier rate: the margin may shrink at most at ``gain * margin`` [1/s].
        config_limit_gain: pink's approach gain to position limits (0, 1].
        filter: One-Euro smoothing of targets; ``None`` disables smoothing.
        max_target_jump: A wrist or head target that moves more than this in one tick [m] is
            held for ``teleport_hold_ticks`` ticks before being accepted (rejects single-frame
            tracker glitches); the velocity limits bound the motion either way.
        teleport_hold_ticks: How many consecutive jumped samples to reject before accepting
            the new position as real (a re-centred tracker).
        max_dt: Longest tick the solver integrates [s]: after a stall (a late tick), the step
            still moves at most ``v_max * max_dt`` instead of jumping by ``v_max * dt``.
        solver: QP solver of the ``PINK`` backend, through qpsolvers (``daqp`` or ``quadprog``);
            ``FUSED`` always calls daqp directly.
        backend: :class:`IKBackend`.
    """

    wrist_position_cost: float = 1.0  # [cost/m]
    wrist_orientation_cost: float = 0.2  # [cost/rad]
    head_height_cost: float = 0.5  # [cost/m]
    head_orientation_cost: float = 0.2  # [cost/rad]
    waist_orientation_cost: float = 0.2  # [cost/rad]
    elbow_position_cost: float = 0.02  # [cost/m]
    posture_cost: float = 1e-3  # [cost/rad]
    posture_gain: float = 0.05
    torso_posture_cost: float = 0.02  # [cost/rad], [cost/m]
    damping: float = 1e-8  # [cost²/rad²]
    lm_damping: float = 1e-2
    posture_arm_q: tuple[float, ...] | None = None  # (14,) [rad]
    collision_avoidance: bool = True
    collision_margin: float = 0.01  # [m]
    collision_gain: float = 20.0  # [1/s]
    config_limit_gain: float = 0.5
    filter: OneEuroConfig | None = field(default_factory=OneEuroConfig)
    max_target_jump: float = 0.25  # [m]
    teleport_hold_ticks: int = 5
    max_dt: float = 0.05  # [s]
    solver: str = "daqp"
    backend: IKBackend = IKBackend.FUSED

    def __post_init__(self) -> None:
        for name in ("wrist_position_cost", "wrist_orientation_cost", "head_height_cost", "head_orientation_cost",
                     "waist_orientation_cost", "elbow_position_cost", "posture_cost", "torso_posture_cost",
                     "damping", "lm_damping",
                     "collision_margin"):
            _positive(name, getattr(self, name))
        _positive("collision_gain", self.collision_gain, allow_zero=False)
        _positive("max_target_jump", self.max_target_jump, allow_zero=False)
        _positive("max_dt", self.max_dt, allow_zero=False)
        if not 0.0 < self.posture_gain <= 1.0:
            raise IKConfigError(f"UpperBodyIKConfig.posture_gain must be in (0, 1], got {self.posture_gain!r}")
        if not 0.0 < self.config_limit_gain <= 1.0:
            raise IKConfigError(f"UpperBodyIKConfig.config_limit_gain must be in (0, 1], got {self.config_limit_gain!r}")
        if self.teleport_hold_ticks < 0:
            raise IKConfigError(f"UpperBodyIKConfig.teleport_hold_ticks must be >= 0, got {self.teleport_hold_ticks!r}")
        if self.posture_arm_q is not None:
            q = np.asarray(self.posture_arm_q, dtype=float)
            if q.shape != (14,) or not np.all(np.isfinite(q)):
                raise IKConfigError(f"UpperBodyIKConfig.posture_arm_q must be 14 finite angles [rad] in g1.ARM_JOINTS "
                                    f"order, got {self.posture_arm_q!r}")
        if not isinstance(self.backend, IKBackend):
            raise IKConfigError(f"UpperBodyIKConfig.backend must be an IKBackend ({[b.name for b in IKBackend]}), "
                                f"got {self.backend!r}")
        if self.solver not in ("daqp", "quadprog"):
            raise IKConfigError(f"UpperBodyIKConfig.solver must be 'daqp' or 'quadprog', got {self.solver!r}")


@dataclass
class UpperBodyTargets:
    """Targets of one tick, in the base (heading) frame; ``None`` = inactive.

    Attributes:
        T_base_left_wrist, T_base_right_wrist: 4x4 poses of ``g1.WRIST_FRAMES`` [m].
        T_base_head: 4x4 pose of the head frame (:data:`ik.model.HEAD_FRAME`): its height
            drives the pelvis height, its orientation the torso.
        R_base_waist: 3x3 orientation of the torso (waist tracker).
        p_base_left_elbow, p_base_right_elbow: (3,) elbow position hints [m].
    """

    T_base_left_wrist: np.ndarray | None = None
    T_base_right_wrist: np.ndarray | None = None
    T_base_head: np.ndarray | None = None
    R_base_waist: np.ndarray | None = None
    p_base_left_elbow: np.ndarray | None = None
    p_base_right_elbow: np.ndarray | None = None


@dataclass(frozen=True)
class IKInfo:
    """Diagnostics of one :meth:`UpperBodyIK.solve` call.

    Attributes:
        solve_time_s: Wall time of the call [s].
        iterations: QP solves in this call.
        wrist_position_error: (2,) left, right distance between the reached wrist and the
            (filtered) target [m]; NaN for an inactive target.
        wrist_orientation_error: (2,) angle between reached and target wrist orientation [rad].
        head_height_error: Reached minus target head height [m] (NaN if inactive).
        min_collision_distance: Smallest capsule surface distance at the start of the tick [m]
            (inf if avoidance is off).
        qp_failed: The QP had no solution; the previous pose was held.
        rejected: Names of the targets whose sample was rejected this tick (non-finite, not a
            rotation, or a jump), the last good value being used instead.
    """

    solve_time_s: float
    iterations: int
    wrist_position_error: np.ndarray
    wrist_orientation_error: np.ndarray
    head_height_error: float
    min_collision_distance: float
    qp_failed: bool
    rejected: tuple[str, ...]


@dataclass(frozen=True)
class UpperBodySolution:
    """Joint targets of one tick.

    Attributes:
        arm_q: (14,) arm joints in ``g1.ARM_JOINTS`` order [rad].
        torso_rpy: (3,) torso roll, pitch, yaw = waist roll, pitch, yaw joint angles [rad].
        torso_height: Pelvis height above the floor [m].
        info: Diagnostics.
    """

    arm_q: np.ndarray
    torso_rpy: np.ndarray
    torso_height: float
    info: IKInfo


#: A target "rotation" farther than this from its nearest rotation (max element error) is rejected.
_ROTATION_TOLERANCE = 0.05


def _rotation_to_quat_wxyz(R) -> tuple[float, float, float, float] | None:
    """Unit quaternion ``(w, x, y, z)`` of the rotation nearest to ``R`` (3x3: rows of floats, e.g.
    ``M.tolist()``; extra columns ignored); ``None`` if ``R`` is non-finite or not close to a
    rotation (scaled, sheared, reflected or garbage: element error above :data:`_ROTATION_TOLERANCE`).

    Plain float arithmetic (a 3x3 is too small for numpy to pay off): Shepperd's method with
    the branch choice of Eigen's ``Quaternion(Matrix3)``, normalised, then the rotation matrix
    of that quaternion compared with ``R`` element by element.
    """
    (m00, m01, m02), (m10, m11, m12), (m20, m21, m22) = R[0][0:3], R[1][0:3], R[2][0:3]
    if not math.isfinite(m00 + m01 + m02 + m10 + m11 + m12 + m20 + m21 + m22):
        return None
    t = m00 + m11 + m22
    if t > 0.0:
        t = math.sqrt(t + 1.0)
        w = 0.5 * t
        t = 0.5 / t
        x, y, z = (m21 - m12) * t, (m02 - m20) * t, (m10 - m01) * t
    elif m11 > m00 and m11 >= m22:  # largest diagonal element: y
        t = math.sqrt(m11 - m22 - m00 + 1.0)
        y = 0.5 * t
        t = 0.5 / t
        w, z, x = (m02 - m20) * t, (m21 + m12) * t, (m01 + m10) * t
    elif m22 > m00 and m22 > m11:  # z
        t = math.sqrt(m22 - m00 - m11 + 1.0)
        z = 0.5 * t
        t = 0.5 / t
        w, x, y = (m10 - m01) * t, (m02 + m20) * t, (m12 + m21) * t
    else:  # x
        t = math.sqrt(m00 - m11 - m22 + 1.0)
        x = 0.5 * t
        t = 0.5 / t
        w, y, z = (m21 - m12) * t, (m10 + m01) * t, (m20 + m02) * t
    n = math.sqrt(x * x + y * y + z * z + w * w)
    if not 0.5 < n < 1.5:
        return None
    w, x, y, z = w / n, x / n, y / n, z / n
    tx, ty, tz = 2.0 * x, 2.0 * y, 2.0 * z
    twx, twy, twz = tx * w, ty * w, tz * w
    txx, txy, txz = tx * x, ty * x, tz * x
    tyy, tyz, tzz = ty * y, tz * y, tz * z
    err = max(abs(1.0 - (tyy + tzz) - m00), abs(txy - twz - m01), abs(txz + twy - m02),
              abs(txy + twz - m10), abs(1.0 - (txx + tzz) - m11), abs(tyz - twx - m12),
              abs(txz - twy - m20), abs(tyz + twx - m21), abs(1.0 - (txx + tyy) - m22))
    if not err <= _ROTATION_TOLERANCE:
        return None
    return w, x, y, z


class _TargetChannel:
    """Validation and glitch rejection of one pose target, staged into a shared filter input.

    Each channel owns a slice of the stacked target vector that :class:`UpperBodyIK` smooths
    with one One-Euro filter call per tick: positions as they are, orientations as unit
    quaternions kept in one hemisphere (sign-continuous), renormalised after filtering
    (accurate for the small per-tick rotations of tracked bodies). The per-sample work is
    plain float arithmetic on a handful of numbers.
    """

    __slots__ = (
        "_jumps",
        "_last",
        "_valid",
        "has_position",
        "has_rotation",
        "hold_ticks",
        "max_jump2",
        "name",
        "p",
        "part",
        "pose",
        "position",
        "restarted",
    )

    def __init__(self, name: str, part: slice, max_jump: float, hold_ticks: int, has_position: bool,
                 has_rotation: bool):
        self.name = name
        self.part = part
        self.has_position = has_position
        self.has_rotation = has_rotation
        self.max_jump2 = max_jump ** 2
        self.hold_ticks = hold_ticks
        self._last: list[float] = []  # last accepted raw sample: position (3) then quaternion wxyz (4)
        self._valid = False
        self._jumps = 0
        self.restarted = False  # the filter must restart this slice from the staged sample
        self.p = [0.0, 0.0, 0.0]  # filtered position [m] (floats)
        self.position = np.zeros(3)  # the same as an array
        self.pose = None  # filtered target as a pinocchio SE3 (rotation channels; translation 0 without position)

    def reset(self) -> None:
        self._valid = False
        self._jumps = 0

    def stage(self, p: list[float] | None, R: list[list[float]] | None, x_all: list[float]) -> tuple[bool, bool]:
        """Validate one sample (``p``: 3 floats, ``R``: 3 rows of floats) and write it, or the last
        good one, into ``x_all[part]`` (a list of floats).

        Returns ``(usable, rejected)``: whether a target exists, and whether this sample was
        replaced by the last good one.
        """
        ok = True
        raw: list[float] = []
        if self.has_position:
            if p is None or not math.isfinite(p[0] + p[1] + p[2]):
                ok = False
            else:
                raw = p
        if self.has_rotation and ok:
            quat = None if R is None else _rotation_to_quat_wxyz(R)
            if quat is None:
                ok = False
            else:
                if self._valid:
                    i = len(raw)
                    last = self._last
                    if quat[0] * last[i] + quat[1] * last[i + 1] + quat[2] * last[i + 2] + quat[3] * last[i + 3] < 0.0:
                        quat = (-quat[0], -quat[1], -quat[2], -quat[3])
                raw.extend(quat)
        if ok and self._valid and self.has_position and self.hold_ticks > 0:
            last = self._last
            dx, dy, dz = raw[0] - last[0], raw[1] - last[1], raw[2] - last[2]
            if dx * dx + dy * dy + dz * dz > self.max_jump2 and self._jumps < self.hold_ticks:
                self._jumps += 1
                ok = False
            else:
                self._jumps = 0
        self.restarted = ok and not self._valid
        if not ok:
            if not self._valid:
                return False, True
            x_all[self.part] = self._last
            return True, True
        self._last = raw
        self._valid = True
        x_all[self.part] = raw
        return True, False

    def read(self, out: list[float], make_pose) -> None:
        """Set :attr:`p`, :attr:`position` and :attr:`pose` from the filtered stacked vector ``out`` (floats)."""
        part = out[self.part]
        if self.has_position:
            self.p = part[0:3]
            self.position[:] = self.p
            i = 3
        else:
            i = 0
        if self.has_rotation:
            w, x, y, z = part[i:i + 4]
            n2 = w * w + x * x + y * y + z * z
            if not n2 > 1e-12:
                w, x, y, z = self._last[i:i + 4]
                n2 = w * w + x * x + y * y + z * z
            n = math.sqrt(n2)
            px, py, pz = self.p if self.has_position else (0.0, 0.0, 0.0)
            self.pose = make_pose([px, py, pz, x / n, y / n, z / n, w / n])


class UpperBodyIK:
    r"""Multi-target differential IK of the G1 upper body on pink + pinocchio.

    Configuration (18): :math:`q = (h, \psi_{yaw}, \psi_{roll}, \psi_{pitch}, q_{arms}^{14})`
    — pelvis height [m], waist joints and arm joints [rad] (see :mod:`ik.model`).

    Every tick, from the current :math:`q` and with :math:`\Delta t` the tick period, one
    quadratic program (pink, solved by daqp) gives the displacement :math:`\Delta q`:

    .. math::

        \min_{\Delta q}\; & \sum_{s\in\{l,r\}} \| W_w (J_{w_s} \Delta q + e_{w_s}) \|^2
            + w_h^2 (J_{z,head} \Delta q + e_{z,head})^2
            + \| w_{ho} (J^{rot}_{head} \Delta q + e^{rot}_{head}) \|^2 \\
          & + \| w_{t} (J^{rot}_{torso} \Delta q + e^{rot}_{torso}) \|^2
            + \sum_s \| w_e (J^{lin}_{e_s} \Delta q + e_{e_s}) \|^2
            + w_p^2 \| \Delta q + \alpha_p (q - q_{posture}) \|^2 + \mu \|\Delta q\|^2 \\
        \text{s.t.}\; & q_{min} \ominus q \le \Delta q \le q_{max} \ominus q \;\text{(scaled by pink's gain)},
            \quad |\Delta q| \le v_{max} \Delta t, \\
          & J_{h_j} \Delta q / \Delta t \ge -\gamma\, h_j(q) \quad \text{(capsule barriers)}

    where :math:`e_{w} = \log_6(T_{target}^{-1} T_{wrist}(q))` is the 6-D wrist error in the
    wrist frame (weights :math:`W_w = \mathrm{diag}(w_p I_3, w_o I_3)`), :math:`e_{z,head}`
    the head height error, :math:`e^{rot}` orientation errors, and :math:`h_j` the capsule
    distances of :class:`ik.capsule_barrier.CapsuleCollisionBarrier`. Then
    :math:`q \leftarrow \mathrm{clip}(q \oplus \Delta q,\ q_{min}, q_{max})`: limits are held
    even if the QP is inexact, and the step never exceeds the velocity limits.

    Targets go first through a validation and One-Euro smoothing stage: a non-finite value,
    a matrix that is not a rotation, or a single-tick jump beyond ``max_target_jump`` is
    replaced by the last good sample (never a NaN, never a jump); inactive targets drop
    their task. Not thread-safe: one instance per loop.
    """

    def __init__(self, config: UpperBodyIKConfig | None = None):
        import pink
        import pinocchio as pin
        from pink.limits import ConfigurationLimit, VelocityLimit
        from pink.tasks import FrameTask, PostureTask

        from ik.capsule_barrier import CapsuleCollisionBarrier
        from ik.frame_position_task import FramePositionTask

        global _LOCAL, _LOCAL_WORLD_ALIGNED
        _LOCAL, _LOCAL_WORLD_ALIGNED = pin.ReferenceFrame.LOCAL, pin.ReferenceFrame.LOCAL_WORLD_ALIGNED
        self.config = cfg = config or UpperBodyIKConfig()
        self._pin = pin
        self._pink = pink
        self.model = build_upper_body_model()
        self._data = self.model.createData()
        self._fk_data = self.model.createData()
        self.joint_names = UPPER_BODY_JOINTS
        self.q_min = self.model.lowerPositionLimit.copy()
        self.q_max = self.model.upperPositionLimit.copy()
        self.v_max = self.model.velocityLimit.copy()

        emb = g1.load_embodiment()
        self.q_posture = np.zeros(self.model.nq)
        self.q_posture[_Q_HEIGHT] = g1.DEFAULT_TORSO_HEIGHT
        self.q_posture[_Q_ARMS] = (np.asarray(cfg.posture_arm_q, dtype=float) if cfg.posture_arm_q is not None
                                   else emb.default(g1.ARM_JOINTS))
        self.q_posture = np.clip(self.q_posture, self.q_min, self.q_max)

        self._wrist_tasks = {
            side: FrameTask(g1.WRIST_FRAMES[side], position_cost=cfg.wrist_position_cost,
                            orientation_cost=cfg.wrist_orientation_cost, lm_damping=cfg.lm_damping)
            for side in g1.SIDES
        }
        self._elbow_tasks = {
            side: FramePositionTask(ELBOW_FRAMES[side], cost=np.full(3, cfg.elbow_position_cost))
            for side in g1.SIDES
        }
        self._head_height_task = FramePositionTask(HEAD_FRAME, cost=np.array([0.0, 0.0, cfg.head_height_cost]),
                                                   lm_damping=cfg.lm_damping)
        self._head_rot_task = FrameTask(HEAD_FRAME, position_cost=0.0, orientation_cost=cfg.head_orientation_cost)
        self._waist_task = FrameTask(g1.TORSO_FRAME, position_cost=0.0, orientation_cost=cfg.waist_orientation_cost)
        posture_cost = np.full(self.model.nv, cfg.posture_cost)
        posture_cost[0:4] = max(cfg.posture_cost, cfg.torso_posture_cost)
        self._posture_cost = posture_cost
        self._posture_task = PostureTask(cost=posture_cost, gain=cfg.posture_gain)
        self._posture_task.set_target(self.q_posture)
        self._limits = [ConfigurationLimit(self.model, config_limit_gain=cfg.config_limit_gain),
                        VelocityLimit(self.model)]
        self._barrier = (CapsuleCollisionBarrier(self.model, CAPSULES, COLLISION_PAIRS, d_min=cfg.collision_margin,
                                                 gain=cfg.collision_gain)
                         if cfg.collision_avoidance else None)

        jump, hold = cfg.max_target_jump, cfg.teleport_hold_ticks
        layout = [(_WRIST_KEYS["left"], True, True), (_WRIST_KEYS["right"], True, True), ("T_base_head", True, True),
                  ("R_base_waist", False, True), (_ELBOW_KEYS["left"], True, False), (_ELBOW_KEYS["right"], True, False)]
        self._channels: dict[str, _TargetChannel] = {}
        offset = 0
        for key, has_p, has_r in layout:
            size = (3 if has_p else 0) + (4 if has_r else 0)
            self._channels[key] = _TargetChannel(key, slice(offset, offset + size), jump, 0 if key == "R_base_waist"
                                                 else hold, has_p, has_r)
            offset += size
        self._x_targets = np.zeros(offset)  # stacked staged targets, smoothed by one filter call
        self._x_list = [0.0] * offset  # the same, staged as floats
        self._filter = OneEuroFilter(cfg.filter, offset) if cfg.filter is not None else None
        self._make_pose = pin.XYZQUATToSE3
        # (channel, attribute of UpperBodyTargets, kind) in staging order; kind: 0 pose, 1 rotation, 2 position
        self._inputs = [(self._channels[_WRIST_KEYS["left"]], _WRIST_KEYS["left"], 0),
                        (self._channels[_WRIST_KEYS["right"]], _WRIST_KEYS["right"], 0),
                        (self._channels["T_base_head"], "T_base_head", 0),
                        (self._channels["R_base_waist"], "R_base_waist", 1),
                        (self._channels[_ELBOW_KEYS["left"]], _ELBOW_KEYS["left"], 2),
                        (self._channels[_ELBOW_KEYS["right"]], _ELBOW_KEYS["right"], 2)]
        self._wrist_fids = {s: self.model.getFrameId(g1.WRIST_FRAMES[s]) for s in g1.SIDES}
        self._head_fid = self.model.getFrameId(HEAD_FRAME)
        # pink tasks of each channel (PINK backend), in the order they enter the QP
        self._channel_tasks = {
            _WRIST_KEYS["left"]: [self._wrist_tasks["left"]], _WRIST_KEYS["right"]: [self._wrist_tasks["right"]],
            "T_base_head": [self._head_height_task, self._head_rot_task], "R_base_waist": [self._waist_task],
            _ELBOW_KEYS["left"]: [self._elbow_tasks["left"]], _ELBOW_KEYS["right"]: [self._elbow_tasks["right"]],
        }
        # FUSED backend: every task owns a fixed block of rows of one stacked least-squares
        # system: unweighted Jacobian rows in A, errors in e; the weights (negated for FrameTask
        # rows, whose Jacobian is -Jlog6 J) are applied to the whole stack at once. Rows of
        # inactive tasks are zero and add nothing. Rows whose weight is zero are dropped (as
        # pink's cost does). Per channel: (is a FrameTask, frame id, kept rows (slice, or None
        # for all), first row, end row).
        frame_tasks = [*self._wrist_tasks.values(), self._head_rot_task, self._waist_task]
        self._specs: dict[str, list[tuple]] = {}
        weights, signs, lms = [], [], []
        for key, tasks in self._channel_tasks.items():
            specs = []
            for task in tasks:
                w = np.asarray(task.cost, dtype=float)
                kept = np.flatnonzero(w > 0.0)
                if not kept.size:
                    continue
                rows = slice(int(kept[0]), int(kept[-1]) + 1)
                w = w[rows]
                is_frame = task in frame_tasks
                full = rows.start == 0 and rows.stop == w.size and w.size == (6 if is_frame else 3)
                specs.append((is_frame, self.model.getFrameId(task.frame), None if full else rows, len(weights),
                              len(weights) + w.size))
                weights += w.tolist()
                signs += [-1.0 if is_frame else 1.0] * w.size
                lms += [float(task.lm_damping)] * w.size
            self._specs[key] = specs
        nv = self.model.nv
        self._A = np.zeros((len(weights), nv))  # unweighted task Jacobian rows
        self._e = np.zeros(len(weights))  # unweighted task errors
        self._row_w = np.array(weights)
        self._row_w_signed = (np.array(signs) * self._row_w)[:, None]
        self._row_lm = np.array(lms)
        self._live: set[str] = set()  # channels whose rows hold values
        self._H = np.zeros((nv, nv))
        self._H_diag = self._H.reshape(-1)[::nv + 1]  # view of the diagonal
        self._h_diag = posture_cost ** 2  # posture term on the Hessian diagonal (+ damping)
        self._f_posture = (posture_cost ** 2) * cfg.posture_gain  # posture gradient per unit of q - q_posture
        self._g_q_max = cfg.config_limit_gain * self.q_max
        self._g_q_min = cfg.config_limit_gain * self.q_min
        self._no_rows = np.zeros((0, nv))
        n_pairs = self._barrier.dim if self._barrier is not None else 0
        self._upper = np.full(nv + n_pairs, 1e30)  # [box upper bounds | barrier rows: no upper bound]
        self._lower = np.zeros(nv + n_pairs)
        self._sense_all = np.zeros(nv + n_pairs, dtype=np.int32)
        self._barrier_gain = self._barrier.gain.tolist() if self._barrier is not None else []
        self._sense = np.zeros(nv, dtype=np.int32)
        self._fused = cfg.backend in (IKBackend.FUSED, IKBackend.FUSED_PYTHON)
        import daqp

        self._daqp = daqp
        self._dt_cached = -1.0  # tick period of the cached velocity bounds
        self._vdt = np.zeros(nv)
        self._neg_vdt = np.zeros(nv)

        self._q = self.q_posture.copy()
        self._configuration = pink.Configuration(self.model, self._data, self._q, copy_data=False)
        self._kernels = None
        if cfg.backend is IKBackend.FUSED:
            self._init_compiled()

    @property
    def compiled(self) -> bool:
        """Whether the per-tick work runs in the compiled kernels (``FUSED`` with numba installed)."""
        return self._kernels is not None

    def _init_compiled(self) -> None:
        """Export the model once for :mod:`ik.fused_kernel` and preallocate its buffers (no-op without numba)."""
        from ik import fused_kernel

        kernels = fused_kernel.load()
        if kernels is None:
            return
        chans = list(self._channels)
        specs = [(*spec, chans.index(key)) for key, key_specs in self._specs.items() for spec in key_specs]
        info = [(self._wrist_fids["left"], chans.index(_WRIST_KEYS["left"])),
                (self._wrist_fids["right"], chans.index(_WRIST_KEYS["right"])),
                (self._head_fid, chans.index("T_base_head"))]
        kinds = {key: kind for _, key, kind in self._inputs}
        channels = [(kinds[key], ch.has_position, ch.has_rotation, ch.hold_ticks, ch.part.start,
                     ch.part.stop - ch.part.start) for key, ch in self._channels.items()]
        cfg = self.config
        floats = {"row_w": self._row_w, "row_ws": self._row_w_signed.ravel(), "row_lm": self._row_lm,
                  "h_diag": self._h_diag, "f_post": self._f_posture, "q_post": self.q_posture,
                  "g_q_max": self._g_q_max, "g_q_min": self._g_q_min, "q_min": self.q_min, "q_max": self.q_max,
                  "sc": np.array([cfg.damping, cfg.config_limit_gain, cfg.collision_margin,
                                  self._barrier.activation_distance if self._barrier is not None else 0.0]),
                  "max_jump2": np.array([ch.max_jump2 for ch in self._channels.values()])}
        cm = fused_kernel.CompiledModel(self.model, specs, info, self._barrier, channels, floats)
        self._cm = cm
        views = cm.views
        if [ch.name for ch, _, _ in self._inputs] != chans:  # the kernels index both by channel
            raise AssertionError("UpperBodyIK: target inputs must be staged in channel order")
        self._raw = np.zeros((len(chans), 4, 4))  # samples as given, one 4x4 slot per channel
        self._present = np.zeros(len(chans), dtype=np.bool_)
        self._vdt = views["vdt"]  # the kernels read the velocity bounds of this tick from W
        self._dt_cached = -1.0
        self._Hc, self._fc, self._upper_c, self._lower_c, self._Ab = (views[k] for k in ("H", "f", "upper", "lower",
                                                                                           "Ab"))
        self._xc, self._err, self._valid = views["x"], views["err"], views["valid"]
        if self._barrier is not None:  # the barrier's public state is the kernel's output
            self._barrier._J, self._barrier._h = views["bJ"], views["bh"]
            self._bactive = self._barrier._active
        else:
            self._bactive = np.zeros(0, dtype=np.bool_)
        self._keys = chans
        self._kernels = kernels
        # compile (first use on a machine, cached on disk after) or load now, not in the first tick
        log.info("loading the compiled IK kernels (the first run on a machine compiles them: up to a minute)")
        t0 = time.perf_counter()
        self._tick_compiled(UpperBodyTargets(), self.config.max_dt)
        if time.perf_counter() - t0 > 2.0:
            log.info("IK kernels compiled in %.0f s and cached in %s (later runs load them in under a second)",
                     time.perf_counter() - t0, Path(__file__).parent / "__pycache__")
        self._q = self.q_posture.copy()
        if self._filter is not None:
            self._filter.reset()

    def _tick_compiled(self, targets: UpperBodyTargets, dt: float) -> tuple[bool, list[str]]:
        """One tick through :mod:`ik.fused_kernel`: the same validation, smoothing, QP, step,
        backtracking and diagnostics as the Python path. Sets ``self._q`` and ``self._err``;
        returns (QP failed, names of the rejected targets)."""
        stage, assemble, finish = self._kernels
        cm = self._cm
        raw, present = self._raw, self._present
        for i, (ch, key, kind) in enumerate(self._inputs):
            v = getattr(targets, key)
            if v is None:
                present[i] = False
                continue
            v = np.asarray(v, dtype=float)
            if kind == 0:
                if v.shape != (4, 4):
                    raise IKInputError(f"{key} must be a 4x4 homogeneous transform, got shape {v.shape}")
                raw[i] = v
            elif kind == 1:
                if v.shape != (3, 3):
                    raise IKInputError(f"{key} must be a 3x3 rotation matrix, got shape {v.shape}")
                raw[i, :3, :3] = v
            else:
                if v.shape != (3,):
                    raise IKInputError(f"{key} must have shape (3,) [m], got {v.shape}")
                raw[i, 0, :3] = v
            present[i] = True
        rej, restart = stage(raw, present, _ROTATION_TOLERANCE, cm.F, cm.I, cm.W, cm.WI, cm.hdr)
        x = self._xc
        if self._filter is not None:
            if restart:
                for i, ch in enumerate(self._channels.values()):
                    if restart >> i & 1:
                        self._filter.reset_part(ch.part, x[ch.part])
            xf = self._filter(x, dt)
        else:
            xf = x
        q = self._q
        nb, _ = assemble(xf, q, dt, cm.F, cm.I, cm.W, cm.WI, cm.hdr, self._bactive)
        barrier = self._barrier
        if barrier is not None:
            self._sync_barrier(barrier, nb)
        daqp = self._daqp
        nv = q.shape[0]
        H, f, upper, lower = self._Hc, self._fc, self._upper_c, self._lower_c
        if nb:
            Ab, sense = self._Ab[:nb], self._sense_all[:nv + nb]
            x, _, flag, _ = daqp.solve(H, f, Ab, upper[:nv + nb], lower[:nv + nb], sense)
            if not (flag > 0 and math.isfinite(x.sum())):
                # infeasible: relax the barrier rows to "no pair gets closer" (see _step_fused)
                np.minimum(lower[nv:nv + nb], 0.0, out=lower[nv:nv + nb])
                x, _, flag, _ = daqp.solve(H, f, Ab, upper[:nv + nb], lower[:nv + nb], sense)
        else:
            x, _, flag, _ = daqp.solve(H, f, self._no_rows, upper[:nv], lower[:nv], self._sense)
        ok = flag > 0 and math.isfinite(x.sum())
        q_new = np.empty(nv)
        finish(q, x if ok else q, ok, nb, cm.F, cm.I, cm.W, cm.WI, cm.hdr, self._bactive, q_new)
        self._q = q_new
        keys = self._keys
        return not ok, [keys[i] for i in range(len(keys)) if rej >> i & 1] if rej else []

    @staticmethod
    def _sync_barrier(barrier, nb: int) -> None:
        """The barrier's public state after the kernel filled its margins, mask and Jacobian arrays."""
        barrier._arrays_stale = False
        barrier._J_dirty = False
        barrier._any_active = nb > 0
        barrier._active_pairs = np.flatnonzero(barrier._active).tolist() if nb else []
        h = barrier._h.tolist()
        barrier._h_list = h
        barrier._min_margin = min(h)

    # ------------------------------------------------------------------ state
    @property
    def q(self) -> np.ndarray:
        """Copy of the current IK configuration (18,) in :data:`ik.model.UPPER_BODY_JOINTS` order."""
        return self._q.copy()

    def _pack(self, arm_q: np.ndarray | None, torso_rpy: np.ndarray | None, torso_height: float | None,
              base: np.ndarray) -> np.ndarray:
        q = base.copy()
        if arm_q is not None:
            arm_q = np.asarray(arm_q, dtype=float)
            if arm_q.shape != (14,):
                raise IKInputError(f"arm_q must have shape (14,) in g1.ARM_JOINTS order, got {arm_q.shape}")
            q[_Q_ARMS] = arm_q
        if torso_rpy is not None:
            torso_rpy = np.asarray(torso_rpy, dtype=float)
            if torso_rpy.shape != (3,):
                raise IKInputError(f"torso_rpy must have shape (3,) [rad], got {torso_rpy.shape}")
            q[_Q_TORSO_RPY] = torso_rpy
        if torso_height is not None:
            q[_Q_HEIGHT] = float(torso_height)
        q = np.where(np.isfinite(q), q, base)
        return np.clip(q, self.q_min, self.q_max)

    def reset(self, arm_q: np.ndarray | None = None, torso_rpy: np.ndarray | None = None,
              torso_height: float | None = None) -> None:
        """Start from a pose (e.g. the robot's measured one); ``None`` parts take the natural posture.

        Values are clipped into the limits; filters and target history are cleared.
        """
        self._q = self._pack(arm_q, torso_rpy, torso_height, self.q_posture)
        self._configuration.update(self._q)
        for ch in self._channels.values():
            ch.reset()
        if self._kernels is not None:
            self._cm.views["valid"][:] = 0
            self._cm.views["jumps"][:] = 0
        if self._filter is not None:
            self._filter.reset()

    def forward(self, arm_q: np.ndarray, torso_rpy: np.ndarray, torso_height: float) -> dict[str, np.ndarray]:
        """Frame poses (4x4, base frame [m]) for a pose: keys ``left_wrist``, ``right_wrist``,
        ``head``, ``left_elbow``, ``right_elbow``, ``torso``, ``pelvis``.

        Uses its own data: calling it never disturbs :meth:`solve`.
        """
        pin = self._pin
        q = self._pack(arm_q, torso_rpy, torso_height, self.q_posture)
        pin.framesForwardKinematics(self.model, self._fk_data, q)
        frames = {
            "left_wrist": g1.WRIST_FRAMES["left"], "right_wrist": g1.WRIST_FRAMES["right"], "head": HEAD_FRAME,
            "left_elbow": ELBOW_FRAMES["left"], "right_elbow": ELBOW_FRAMES["right"],
            "torso": g1.TORSO_FRAME, "pelvis": g1.PELVIS_FRAME,
        }
        return {k: self._fk_data.oMf[self.model.getFrameId(f)].homogeneous.copy() for k, f in frames.items()}

    def collision_distances(self, arm_q: np.ndarray, torso_rpy: np.ndarray, torso_height: float) -> dict[str, float]:
        """Surface distance [m] of every capsule pair of :data:`ik.model.COLLISION_PAIRS` for a pose."""
        from ik.capsule_barrier import CapsuleCollisionBarrier

        pin = self._pin
        q = self._pack(arm_q, torso_rpy, torso_height, self.q_posture)
        pin.framesForwardKinematics(self.model, self._fk_data, q)
        barrier = self._barrier or CapsuleCollisionBarrier(self.model, CAPSULES, COLLISION_PAIRS)
        d = barrier.distances(self._fk_data)
        return {f"{a}/{b}": float(x) for (a, b), x in zip(COLLISION_PAIRS, d)}

    # ------------------------------------------------------------------ QP
    def _kinematics(self, q: np.ndarray) -> None:
        """Joint placements and Jacobians of ``q`` into the solver's data (what pink's
        ``Configuration.update`` does; the FUSED backend calls pinocchio directly and leaves the
        frame placements to be computed where they are read)."""
        if self._fused:  # frame placements are computed where they are read (updateFramePlacement, getFrameJacobian)
            self._pin.computeJointJacobians(self.model, self._data, q)
        else:
            self._configuration.update(q)

    def _backtrack_collision(self, q_new: np.ndarray) -> np.ndarray:
        """Shorten a step that the linearised barrier let through into a capsule margin.

        The segment–segment distance is strongly non-linear when capsules cross, so a step
        allowed by the first-order barrier can end inside the margin. Accept ``q + s Δq``
        with the largest ``s`` in (1, 1/2, 1/4, 1/8, 0) such that no pair ends below
        ``min(h_before, 0) - 1 mm``; the kinematics are left at the accepted pose.
        """
        barrier = self._barrier
        pairs = barrier.active_pairs
        h_before = barrier.margin_list
        floor = [min(h_before[j], 0.0) - 1e-3 for j in pairs]
        q = self._q
        data = self._data
        step = None
        for scale in (1.0, 0.5, 0.25, 0.125):
            if scale == 1.0:
                candidate = q_new
            else:
                if step is None:
                    step = q_new - q
                candidate = q + scale * step
            if scale != 1.0:
                self._kinematics(candidate)
            if all(h >= f for h, f in zip(barrier.margins_of(data, pairs), floor)):
                return candidate
        self._kinematics(q)
        return q.copy()

    def _step_pink(self, staged: list[_TargetChannel], dt: float) -> np.ndarray | None:
        """Δq from :func:`pink.solve_ik` with pink task objects (reference path); ``None`` if the QP fails."""
        from pink.exceptions import PinkError
        from qpsolvers import QPError

        tasks = [self._posture_task]
        for ch in staged:
            for task in self._channel_tasks[ch.name]:
                if task is self._head_height_task or ch.name in _ELBOW_SIDE:
                    task.set_target(ch.position)
                else:
                    task.set_target(ch.pose)
                tasks.append(task)
        barriers = [self._barrier] if self._barrier is not None else []
        try:
            v = self._pink.solve_ik(self._configuration, tasks, dt, solver=self.config.solver,
                                    damping=self.config.damping, limits=self._limits, barriers=barriers,
                                    safety_break=False)
        except (PinkError, QPError, ValueError):  # no solution or a solver error: the caller holds the pose
            return None
        return v * dt if np.all(np.isfinite(v)) else None

    def _step_fused(self, staged: list[_TargetChannel], dt: float) -> np.ndarray | None:
        """Δq of the same QP as :meth:`_step_pink`, assembled in one pass and solved by daqp.

        Per task the same error and Jacobian as pink's (``FrameTask``: ``e = log6(T_b⁻¹ T_t)``,
        ``J = -Jlog6(T_t⁻¹ T_b) J_b``; position tasks: world-axis translation error and
        Jacobian), weighted rows written into one preallocated stack ``A``, ``b``; then
        ``H = AᵀA + diag``, ``f = -Aᵀb + posture``, one daqp call. If the barrier rows make the
        QP infeasible, they are relaxed to "no pair gets closer" (always feasible: Δq = 0
        satisfies it); ``None`` only if daqp still fails.
        """
        daqp = self._daqp
        pin = self._pin
        model, data, q = self.model, self._data, self._q
        frame = pin.updateFramePlacement  # the frame's placement (already computed), without a proxy object
        log6, Jlog6, frame_jacobian = pin.log6, pin.Jlog6, pin.getFrameJacobian
        A, E = self._A, self._e
        live = self._live
        names = set()
        for ch in staged:
            names.add(ch.name)
            for is_frame, fid, rows, r0, r1 in self._specs[ch.name]:
                if is_frame:  # pink FrameTask: e = log6(T_b⁻¹ T_t), J = -Jlog6(T_t⁻¹ T_b) J_b (sign in the weights)
                    T_bt = frame(model, data, fid).actInv(ch.pose)
                    Jlog = Jlog6(T_bt.inverse())
                    if rows is None:
                        E[r0:r1] = log6(T_bt).vector
                    else:
                        E[r0:r1] = log6(T_bt).vector[rows]
                        Jlog = Jlog[rows]
                    Jlog.dot(frame_jacobian(model, data, fid, _LOCAL), out=A[r0:r1])
                else:  # world-axis position task (FramePositionTask)
                    e = frame(model, data, fid).translation - ch.position
                    Jp = frame_jacobian(model, data, fid, _LOCAL_WORLD_ALIGNED)
                    if rows is None:
                        E[r0:r1] = e
                        A[r0:r1] = Jp[:3]
                    else:
                        E[r0:r1] = e[rows]
                        A[r0:r1] = Jp[rows]
        for name in live - names:  # tasks that went inactive: clear their rows
            for spec in self._specs[name]:
                A[spec[3]:spec[4]] = 0.0
                E[spec[3]:spec[4]] = 0.0
        self._live = names
        Aw = A * self._row_w_signed  # weighted rows (pink's A)
        we = E * self._row_w  # weighted errors (-b)
        mu = self.config.damping + (self._row_lm * we).dot(we)  # + Σ lm_task |w e|² (LM damping)
        H = Aw.T.dot(Aw, out=self._H)
        np.add(self._H_diag, self._h_diag + mu, out=self._H_diag)
        f = self._f_posture * (q - self.q_posture) + Aw.T.dot(we)
        # bounds: the first nv entries are box bounds on Δq, then one row per active barrier pair
        nv = model.nv
        upper, lower = self._upper, self._lower
        ub, lb = upper[:nv], lower[:nv]
        gq = self.config.config_limit_gain * q
        np.subtract(self._g_q_max, gq, out=ub)  # pink's ConfigurationLimit: gain * (q_max - q)
        np.minimum(ub, self._vdt, out=ub)
        np.subtract(self._g_q_min, gq, out=lb)
        np.maximum(lb, self._neg_vdt, out=lb)
        np.minimum(lb, ub, out=lb)
        barrier = self._barrier
        if barrier is not None and barrier.any_active:
            pairs = barrier.active_pairs
            nb = len(pairs)
            h = barrier.margin_list
            Ab = barrier.jacobian[pairs]
            bl = [-self._barrier_gain[j] * h[j] * dt for j in pairs]  # J Δq >= -gamma h dt
            lower[nv:nv + nb] = bl
            x, _, flag, _ = daqp.solve(H, f, Ab, upper[:nv + nb], lower[:nv + nb], self._sense_all[:nv + nb])
            if flag > 0 and math.isfinite(x.sum()):
                return x
            # Infeasible (a pair already inside its margin and the bounds forbid backing out at
            # rate gamma): ask only "no closer than now", which dq = 0 always satisfies.
            lower[nv:nv + nb] = [min(v, 0.0) for v in bl]
            x, _, flag, _ = daqp.solve(H, f, Ab, upper[:nv + nb], lower[:nv + nb], self._sense_all[:nv + nb])
            if flag > 0 and math.isfinite(x.sum()):
                return x
            return None
        x, _, flag, _ = daqp.solve(H, f, self._no_rows, ub, lb, self._sense)
        if flag > 0 and math.isfinite(x.sum()):
            return x
        return None

    # ------------------------------------------------------------------ solve
    def solve(self, targets: UpperBodyTargets, dt: float) -> UpperBodySolution:
        """One IK tick: move toward ``targets`` for ``dt`` [s] and return the joint targets.

        Bad target values never raise (see the class docstring); a wrong shape raises
        :class:`ik.exceptions.IKInputError`.
        """
        t0 = time.perf_counter()
        if not (math.isfinite(dt) and dt > 0.0):
            raise IKInputError(f"dt must be a finite period > 0 s, got {dt!r}")
        cfg = self.config
        dt = min(dt, cfg.max_dt)
        if dt != self._dt_cached:
            np.multiply(self.v_max, dt, out=self._vdt)
            np.negative(self._vdt, out=self._neg_vdt)
            self._dt_cached = dt
        if self._kernels is not None:
            qp_failed, rejected = self._tick_compiled(targets, dt)
            l_pos, r_pos, l_rot, r_rot, head_err = self._err.tolist()
            barrier = self._barrier
            q = self._q
            info = IKInfo(
                solve_time_s=time.perf_counter() - t0, iterations=1, wrist_position_error=np.array([l_pos, r_pos]),
                wrist_orientation_error=np.array([l_rot, r_rot]), head_height_error=head_err,
                min_collision_distance=barrier.min_margin + barrier.d_min if barrier is not None else float("inf"),
                qp_failed=qp_failed, rejected=tuple(rejected),
            )
            return UpperBodySolution(arm_q=q[_Q_ARMS].copy(), torso_rpy=q[_Q_TORSO_RPY],
                                     torso_height=float(q[_Q_HEIGHT]), info=info)
        rejected: list[str] = []
        xs = self._x_list
        staged: list[_TargetChannel] = []
        for ch, key, kind in self._inputs:
            v = getattr(targets, key)
            if v is None:
                ch.reset()
                continue
            v = np.asarray(v, dtype=float)
            if kind == 0:
                if v.shape != (4, 4):
                    raise IKInputError(f"{key} must be a 4x4 homogeneous transform, got shape {v.shape}")
                rows = v.tolist()
                usable, rej = ch.stage([rows[0][3], rows[1][3], rows[2][3]], rows, xs)
            elif kind == 1:
                if v.shape != (3, 3):
                    raise IKInputError(f"{key} must be a 3x3 rotation matrix, got shape {v.shape}")
                usable, rej = ch.stage(None, v.tolist(), xs)
            else:
                if v.shape != (3,):
                    raise IKInputError(f"{key} must have shape (3,) [m], got {v.shape}")
                usable, rej = ch.stage(v.tolist(), None, xs)
            if rej:
                rejected.append(key)
            if usable:
                staged.append(ch)
        x_all = self._x_targets
        x_all[:] = xs

        if self._filter is not None:
            for ch in staged:
                if ch.restarted:
                    self._filter.reset_part(ch.part, x_all[ch.part])
            out = self._filter(x_all, dt).tolist()
        else:
            out = x_all.tolist()
        make_pose = self._make_pose
        for ch in staged:
            ch.read(out, make_pose)

        barrier = self._barrier
        if barrier is not None:
            barrier.update_data(self._data)
        dq = self._step_fused(staged, dt) if self._fused else self._step_pink(staged, dt)
        qp_failed = dq is None
        if not qp_failed:
            step = np.minimum(dq, self._vdt)
            np.maximum(step, self._neg_vdt, out=step)
            step += self._q  # all joints are 1-DoF: integrate = add
            q_new = np.minimum(step, self.q_max, out=step)
            np.maximum(q_new, self.q_min, out=q_new)
            self._kinematics(q_new)
            if barrier is not None and barrier.any_active:
                q_new = self._backtrack_collision(q_new)
            self._q = q_new

        frame = self._pin.updateFramePlacement
        model, data = self.model, self._data
        nan = math.nan
        pos_err = [nan, nan]
        rot_err = [nan, nan]
        head_err = nan
        for ch in staged:
            key = ch.name
            if key in _WRIST_SIDE:
                i = 0 if key == _WRIST_KEYS["left"] else 1
                (a0, a1, a2, x), (a3, a4, a5, y), (a6, a7, a8, z), _ = frame(
                    model, data, self._wrist_fids[_WRIST_SIDE[key]]).homogeneous.tolist()
                (b0, b1, b2, tx), (b3, b4, b5, ty), (b6, b7, b8, tz), _ = ch.pose.homogeneous.tolist()
                pos_err[i] = math.sqrt((x - tx) ** 2 + (y - ty) ** 2 + (z - tz) ** 2)
                # trace(R_tᵀ R) = Σ R_t ⊙ R
                cos = (a0 * b0 + a1 * b1 + a2 * b2 + a3 * b3 + a4 * b4 + a5 * b5 + a6 * b6 + a7 * b7 + a8 * b8 - 1.0) / 2.0
                rot_err[i] = math.acos(min(1.0, max(-1.0, cos)))
            elif key == "T_base_head":
                head_err = frame(model, data, self._head_fid).translation[2] - ch.p[2]
        min_dist = float("inf")
        if barrier is not None:
            min_dist = barrier.min_margin + barrier.d_min
        q = self._q
        info = IKInfo(
            solve_time_s=time.perf_counter() - t0, iterations=1, wrist_position_error=np.array(pos_err),
            wrist_orientation_error=np.array(rot_err), head_height_error=head_err, min_collision_distance=min_dist,
            qp_failed=qp_failed, rejected=tuple(rejected),
        )
        return UpperBodySolution(arm_q=q[_Q_ARMS].copy(), torso_rpy=q[_Q_TORSO_RPY],  # fancy index: a copy
                                 torso_height=float(q[_Q_HEIGHT]), info=info)
