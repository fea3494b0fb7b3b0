"""The calibration routine: held poses → a :class:`CalibrationProfile`.

Two halves:

* :func:`calibrate` — a pure function of a :class:`CalibrationRecording` (the frames of
  each held phase). The same recording always gives the same profile.
* :func:`record_routine` — the thin interactive driver: it prompts the operator through the
  phases on the terminal (rich), polls any :class:`teleop.inputs.InputSource` and returns
  the recording.

What :func:`calibrate` derives, in order (body assumptions in :mod:`calibration.body_model`):

1. **Hold statistics.** For each phase, the first ``settle_s`` are dropped; every stream
   used must be valid (and finite) in at least ``min_valid_fraction`` of the remaining
   frames. Its position is the per-axis median, its orientation the chordal mean
   ``argmin_R Σ ||R - R_i||_F²`` (SVD projection of ``Σ R_i``); the 95th percentile of the
   distance (angle) to that centre must stay below ``max_position_spread``
   (``max_rotation_spread``), otherwise the operator moved during the hold.
2. **Standing spot and eye height** from the head in NEUTRAL: ``origin_xy`` = median head
   xy, ``eye_height`` = median head z.
3. **Robot forward** (``yaw_offset``). From NEUTRAL to T_POSE each wrist tracker turns by
   ``R_stage_op Rx(σ 90°) R_stage_op^T`` whatever its mounting, so the axis of
   ``R_T R_N^T`` times ``σ`` is the operator's forward direction; from NEUTRAL to
   ARMS_FORWARD the axis is ``-y_op``. ``yaw_offset`` is the heading of the mean of these
   horizontal unit vectors. The head's yaw in NEUTRAL is kept as a cross-check.
4. **Tracker rotations** ``R_tracker_body`` = chordal mean over the arm phases of
   ``R_k,φ^T R_op_body(φ)`` (``R_k,φ`` the op-frame rotation of arm tracker ``k`` in
   phase ``φ``); for the waist and ankles the body frame is the heading frame.
5. **Wrist tracker translations from hand tracking.** In the hand holds the wrists are in
   view of the headset, so the hand-tracked wrist joint gives the translation directly:
   ``t_k = median_i R_k,i^T (p_wrist,i - p_k,i)``. Without hand tracking the tracker is
   assumed to sit over the wrist joint (no offset along the forearm) — a straight arm
   cannot tell a tracker 3 cm up the forearm from a 3 cm shorter arm.
6. **Arm geometry and the remaining translations**, one linear least-squares problem in the
   op frame. With ``p_k,φ`` the position of arm tracker ``k`` (side ``σ_k``, segment length
   ``ℓ_k``: ``L`` for wrists, ``u`` for elbows)::

       minimise  Σ_k Σ_φ || p_k,φ + R_k,φ t_k - s(σ_k) - ℓ_k a(φ, σ_k) ||²
       over      w, d, L, [u], [b], and t_k = R_tracker_body [0, t_y, t_z] where not measured

   with ``s(σ) = [-b, σ w/2, h - d]`` — linear in every unknown. The unmeasured
   translations (elbows, wrists without hand tracking) are constrained to the plane across
   the arm through the joint. ``b`` (head to shoulder line, horizontally) is fitted when the
   recording has ARMS_FORWARD or hand-measured wrists; otherwise it is
   ``RoutineConfig.head_to_shoulder_back``. The waist's body origin is the torso axis at
   the tracker's height (``[-b, 0, z]``); the ankles' is the tracker itself (rotation only).
7. **Hand ranges**: per side, the median thumb-tip to index-tip distance in HAND_OPEN and
   HAND_PINCH (profile defaults, with a warning, when hand tracking is absent).
"""

from __future__ import annotations

import datetime
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from calibration.body_model import (
    ARM_ROLES,
    HEADING_ROLES,
    ArmPoint,
    arm_direction,
    arm_rotation,
)
from calibration.exceptions import CalibrationError
from calibration.profile import CalibrationProfile
from calibration.recording import (
    ARM_PHASES,
    DEFAULT_PHASES,
    CalibrationRecording,
    Phase,
)
from teleop import clock
from teleop.operator_frame import HandJoint, OperatorFrame, Side, TrackerRole
from teleop.spatial import mat_to_pose, quat_to_mat, rot_z, wrap_angle

if TYPE_CHECKING:
    from rich.console import Console

    from teleop.inputs.base import InputSource

log = logging.getLogger(__name__)

#: Trackers without which the arm geometry cannot be measured.
REQUIRED_ROLES: tuple[TrackerRole, ...] = (TrackerRole.LEFT_WRIST, TrackerRole.RIGHT_WRIST)
#: Fewest frames a hold window must have after settling.
_MIN_FRAMES = 10


@dataclass(frozen=True)
class RoutineConfig:
    """Tolerances and assumptions of the routine.

    Attributes:
        hold_s: how long each pose is held and recorded [s].
        settle_s: start of each hold not used (the operator is still getting into pose) [s].
        min_valid_fraction: share of a hold's frames in which a stream must be valid.
        max_position_spread: 95th-percentile distance of a stream from its hold median [m].
        max_rotation_spread: 95th-percentile angle of a stream from its hold mean [rad].
        max_fit_residual: RMS residual of a tracker in the arm fit above which the poses
            do not match the assumed straight-arm poses [m].
        max_turn_error: how far the NEUTRAL → T_POSE / ARMS_FORWARD wrist rotation may be
            from 90° [rad].
        head_to_shoulder_back: assumed horizontal eye-to-shoulder-line distance when the
            recording has no ARMS_FORWARD phase [m].
    """

    hold_s: float = 3.0
    settle_s: float = 0.5
    min_valid_fraction: float = 0.8
    max_position_spread: float = 0.03
    max_rotation_spread: float = math.radians(8.0)
    max_fit_residual: float = 0.04
    max_turn_error: float = math.radians(30.0)
    head_to_shoulder_back: float = 0.06

    def __post_init__(self) -> None:
        checks = {
            "hold_s": (0.2, 30.0), "settle_s": (0.0, 10.0), "min_valid_fraction": (0.1, 1.0),
            "max_position_spread": (0.001, 0.5), "max_rotation_spread": (0.001, math.pi),
            "max_fit_residual": (0.001, 0.5), "max_turn_error": (0.01, math.pi / 2),
            "head_to_shoulder_back": (-0.2, 0.3),
        }
        for name, (lo, hi) in checks.items():
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and lo <= v <= hi):
                raise CalibrationError(f"RoutineConfig.{name}={v!r} is outside [{lo}, {hi}]")
        if self.settle_s >= self.hold_s:
            raise CalibrationError(f"RoutineConfig.settle_s={self.settle_s} must be shorter than hold_s={self.hold_s}")


@dataclass(frozen=True)
class CalibrationResult:
    """A profile and how well the recording supported it.

    Attributes:
        profile: the derived profile.
        fit_residual_mm: RMS residual of each arm tracker in the arm fit [mm].
        head_yaw_disagreement_deg: head yaw in NEUTRAL minus the arm-derived forward [deg].
        warnings: things the operator should know (missing optional streams, ...).
    """

    profile: CalibrationProfile
    fit_residual_mm: dict[str, float] = field(default_factory=dict)
    head_yaw_disagreement_deg: float = 0.0
    warnings: tuple[str, ...] = ()


# -- hold statistics ----------------------------------------------------------------------------
@dataclass
class _Hold:
    """Stacked streams of one phase's hold window."""

    phase: Phase
    head_pose: np.ndarray  # (N, 7)
    head_valid: np.ndarray  # (N,)
    tracker_pose: np.ndarray  # (N, roles, 7)
    tracker_valid: np.ndarray  # (N, roles)
    hand_joints: np.ndarray  # (N, 2, 26, 7)
    hand_valid: np.ndarray  # (N, 2)


def _window(phase: Phase, frames: Sequence[OperatorFrame], cfg: RoutineConfig) -> _Hold:
    if not frames:
        raise CalibrationError(f"the recording has no {phase.value} hold; re-run `psi-teleop calibrate`")
    t0 = frames[0].stamp
    kept = [f for f in frames if f.stamp >= t0 + cfg.settle_s]
    if len(kept) < _MIN_FRAMES:
        raise CalibrationError(
            f"the {phase.value} hold has {len(kept)} frames after the first {cfg.settle_s:.1f} s (need "
            f"{_MIN_FRAMES}); hold each pose for the whole count-down (--hold {cfg.hold_s:g}) and check the "
            "input device delivers frames"
        )
    return _Hold(
        phase=phase,
        head_pose=np.stack([f.head_pose for f in kept]),
        head_valid=np.array([f.head_valid for f in kept]),
        tracker_pose=np.stack([f.tracker_pose for f in kept]),
        tracker_valid=np.stack([f.tracker_valid for f in kept]),
        hand_joints=np.stack([f.hand_joints for f in kept]),
        hand_valid=np.stack([f.hand_valid for f in kept]),
    )


def chordal_mean(Rs: np.ndarray) -> np.ndarray:
    """``argmin_R Σ ||R - R_i||_F²`` over rotations: the SVD projection of ``Σ R_i`` onto SO(3)."""
    U, _, Vt = np.linalg.svd(np.sum(Rs, axis=0))
    D = np.diag([1.0, 1.0, float(np.sign(np.linalg.det(U @ Vt)) or 1.0)])
    return U @ D @ Vt


def _angles_to(Rs: np.ndarray, R: np.ndarray) -> np.ndarray:
    c = (np.einsum("nij,ij->n", Rs, R) - 1.0) / 2.0  # trace(R_i^T R)
    return np.arccos(np.clip(c, -1.0, 1.0))


def _pose_stats(
    poses: np.ndarray, valid: np.ndarray, what: str, phase: Phase, cfg: RoutineConfig, fix: str
) -> tuple[np.ndarray, np.ndarray]:
    """Median position and mean rotation of a stream over a hold; raises if missing or moving."""
    ok = valid & np.all(np.isfinite(poses), axis=1) & (np.linalg.norm(poses[:, 3:7], axis=1) > 0.5)
    frac = float(np.mean(ok)) if len(ok) else 0.0
    if frac < cfg.min_valid_fraction:
        raise CalibrationError(
            f"the {what} was tracked in only {100 * frac:.0f}% of the {phase.value} hold (need "
            f"{100 * cfg.min_valid_fraction:.0f}%); {fix}, then re-run `psi-teleop calibrate`"
        )
    P = poses[ok]
    p = np.median(P[:, :3], axis=0)
    spread = float(np.percentile(np.linalg.norm(P[:, :3] - p, axis=1), 95))
    if spread > cfg.max_position_spread:
        raise CalibrationError(
            f"the {what} moved {100 * spread:.1f} cm during the {phase.value} hold (limit "
            f"{100 * cfg.max_position_spread:.1f} cm): hold still until the count-down ends, then re-run "
            "`psi-teleop calibrate`"
        )
    Rs = np.stack([quat_to_mat(q) for q in P[:, 3:7]])
    R = chordal_mean(Rs)
    rspread = float(np.percentile(_angles_to(Rs, R), 95))
    if rspread > cfg.max_rotation_spread:
        raise CalibrationError(
            f"the {what} turned {math.degrees(rspread):.1f}° during the {phase.value} hold (limit "
            f"{math.degrees(cfg.max_rotation_spread):.1f}°): hold still until the count-down ends, then re-run "
            "`psi-teleop calibrate`"
        )
    return p, R


def _role_fix(role: TrackerRole) -> str:
    name = role.name.lower()
    part = name.replace("_", " ")
    return (
        f"strap a tracker to the {part}, assign it the role '{name}' in the tracker setup, and keep it in view "
        "of the base stations / cameras"
    )


def _role_fraction(hold: _Hold, role: TrackerRole) -> float:
    ok = hold.tracker_valid[:, role] & np.all(np.isfinite(hold.tracker_pose[:, role]), axis=1)
    return float(np.mean(ok))


def _axis_angle(R: np.ndarray) -> tuple[np.ndarray, float]:
    angle = math.acos(max(-1.0, min(1.0, (np.trace(R) - 1.0) / 2.0)))
    v = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]])
    n = float(np.linalg.norm(v))
    return (v / n if n > 1e-9 else np.zeros(3)), angle



def _wrist_offset_from_hands(
    holds: dict[Phase, _Hold], role: TrackerRole, side: Side, cfg: RoutineConfig
) -> np.ndarray | None:
    """``p_tracker_wrist`` (3,) [m]: the hand-tracked wrist joint in the tracker's frame, median over
    the hand holds; ``None`` if hand tracking and the tracker were not valid together often enough."""
    ts = []
    total = 0
    for p in (Phase.HAND_OPEN, Phase.HAND_PINCH):
        if p not in holds:
            continue
        h = holds[p]
        total += len(h.head_valid)
        trk = h.tracker_pose[:, role]
        wrist = h.hand_joints[:, side, HandJoint.WRIST, :3]
        ok = h.tracker_valid[:, role] & h.hand_valid[:, side]
        ok &= np.all(np.isfinite(trk), axis=1) & np.all(np.isfinite(wrist), axis=1)
        for i in np.flatnonzero(ok):
            ts.append(quat_to_mat(trk[i, 3:7]).T @ (wrist[i] - trk[i, :3]))
    if not total or len(ts) < cfg.min_valid_fraction * total:
        return None
    T = np.array(ts)
    t = np.median(T, axis=0)
    spread = float(np.percentile(np.linalg.norm(T - t, axis=1), 95))
    if spread > cfg.max_position_spread:
        raise CalibrationError(
            f"the {role.name.lower()} tracker moved {100 * spread:.1f} cm relative to the hand-tracked wrist during "
            "the hand holds: strap the tracker tight so it cannot slide, then re-run `psi-teleop calibrate`"
        )
    return t


# -- the routine ----------------------------------------------------------------------------------
def calibrate(
    recording: CalibrationRecording, name: str, config: RoutineConfig | None = None
) -> CalibrationResult:
    """Derive a profile from a recording (pure: same recording, same profile).

    Raises:
        CalibrationError: a phase or a required stream is missing, the operator moved during
            a hold, or the poses do not fit the assumed body model; the message says which
            and what to redo.
    """
    cfg = config or RoutineConfig()
    warnings: list[str] = []
    for phase in (Phase.NEUTRAL, Phase.T_POSE):
        if not recording.frames.get(phase):
            raise CalibrationError(
                f"the recording has no {phase.value} hold, which the routine needs; re-run `psi-teleop calibrate`"
            )
    holds = {p: _window(p, recording.frames[p], cfg) for p in recording.phases}
    arm_phases = [p for p in ARM_PHASES if p in holds]

    # 1-2. the head: hold statistics, standing spot and eye height
    neutral = holds[Phase.NEUTRAL]
    p_head, R_head = _pose_stats(
        neutral.head_pose, neutral.head_valid, "headset", Phase.NEUTRAL, cfg,
        "put the headset on and check that the runtime tracks it",
    )
    eye_height = float(p_head[2])
    origin = np.array([p_head[0], p_head[1], 0.0])
    head_yaw = math.atan2(R_head[1, 0], R_head[0, 0])

    # 1. hold statistics of the trackers
    arm_roles: list[TrackerRole] = []
    for role in ARM_ROLES:
        fractions = {p: _role_fraction(holds[p], role) for p in arm_phases}
        if role in REQUIRED_ROLES or min(fractions.values()) >= cfg.min_valid_fraction:
            arm_roles.append(role)
        elif max(fractions.values()) > 0.0:
            warnings.append(
                f"the {role.name.lower()} tracker was not tracked through every arm pose; its offset is not "
                "calibrated (identity)"
            )
    stats: dict[tuple[TrackerRole, Phase], tuple[np.ndarray, np.ndarray]] = {}
    for role in arm_roles:
        for p in arm_phases:
            h = holds[p]
            stats[role, p] = _pose_stats(
                h.tracker_pose[:, role], h.tracker_valid[:, role], f"{role.name.lower()} tracker", p, cfg,
                _role_fix(role),
            )
    heading_roles = [r for r in HEADING_ROLES if _role_fraction(neutral, r) > 0.0]
    for role in heading_roles:
        stats[role, Phase.NEUTRAL] = _pose_stats(
            neutral.tracker_pose[:, role], neutral.tracker_valid[:, role], f"{role.name.lower()} tracker",
            Phase.NEUTRAL, cfg, _role_fix(role),
        )

    # 3. robot forward from the wrists' rotations between poses
    forward_votes = []
    for role in arm_roles:
        sign = ARM_ROLES[role][0]
        R_N = stats[role, Phase.NEUTRAL][1]
        for p in arm_phases[1:]:
            axis, angle = _axis_angle(stats[role, p][1] @ R_N.T)
            if abs(angle - math.pi / 2) > cfg.max_turn_error:
                raise CalibrationError(
                    f"the {role.name.lower()} tracker turned {math.degrees(angle):.0f}° between the neutral pose "
                    f"and the {p.value} pose, expected 90°: in the T-pose hold the arms straight out to the sides "
                    "at shoulder height with palms down, arms forward with palms facing each other; re-run "
                    "`psi-teleop calibrate`"
                )
            if p is Phase.T_POSE:
                fwd = sign * axis
            else:  # ARMS_FORWARD: axis = -y_op, x_op = y_op × z
                fwd = np.cross(-axis, np.array([0.0, 0.0, 1.0]))
            forward_votes.append(fwd * np.array([1.0, 1.0, 0.0]))
    f = np.mean(forward_votes, axis=0)
    if float(np.linalg.norm(f)) < 0.5:
        raise CalibrationError(
            "the arm poses disagree about which way is forward; face one direction for the whole routine and "
            "re-run `psi-teleop calibrate`"
        )
    yaw_offset = math.atan2(f[1], f[0])
    head_disagreement = float(wrap_angle(head_yaw - yaw_offset))
    if abs(head_disagreement) > math.radians(15.0):
        warnings.append(
            f"the headset looked {math.degrees(head_disagreement):+.0f}° away from the body's forward direction "
            "in the neutral pose; robot forward follows the body"
        )

    # 4. tracker rotations R_tracker_body (chordal mean over the arm phases)
    R_op_stage = rot_z(-yaw_offset)
    R_off: dict[TrackerRole, np.ndarray] = {}
    for role in arm_roles:
        sign = ARM_ROLES[role][0]
        Rs = np.stack([(R_op_stage @ stats[role, p][1]).T @ arm_rotation(p, sign) for p in arm_phases])
        R_off[role] = chordal_mean(Rs)

    # 5. wrist tracker translations measured by hand tracking (wrist joint in view of the headset)
    t_known: dict[TrackerRole, np.ndarray] = {}
    for role, side in ((TrackerRole.LEFT_WRIST, Side.LEFT), (TrackerRole.RIGHT_WRIST, Side.RIGHT)):
        t = _wrist_offset_from_hands(holds, role, side, cfg)
        if t is not None:
            t_known[role] = t
        else:
            warnings.append(
                f"no {side.name.lower()} hand tracking together with the {role.name.lower()} tracker in the hand "
                "holds: assuming the tracker sits right over the wrist joint (its distance along the forearm is "
                "not measured)"
            )

    # 6. arm geometry and the remaining translations (linear least squares in the op frame)
    has_forward = Phase.ARMS_FORWARD in arm_phases
    has_elbow = any(ARM_ROLES[r][1] is ArmPoint.ELBOW for r in arm_roles)
    fit_back = has_forward or all(r in t_known for r in REQUIRED_ROLES)
    names = ["w", "d", "L"] + (["u"] if has_elbow else []) + (["b"] if fit_back else [])
    col = {n: i for i, n in enumerate(names)}
    free = [r for r in arm_roles if r not in t_known]  # unknown: t in the body y-z plane
    for k, role in enumerate(free):
        col[role.name] = len(names) + 2 * k
    n = len(names) + 2 * len(free)
    rows_A, rows_model, rows_y, owner = [], [], [], []
    for role in arm_roles:
        sign, point = ARM_ROLES[role]
        length = "L" if point is ArmPoint.WRIST else "u"
        for p in arm_phases:
            p_stage, R_stage = stats[role, p]
            p_op = R_op_stage @ (p_stage - origin)
            R_op = R_op_stage @ R_stage
            a = arm_direction(p, sign)
            A = np.zeros((3, n))
            A[1, col["w"]] = -sign / 2.0
            A[2, col["d"]] = 1.0
            A[:, col[length]] = -a
            y = -p_op + np.array([0.0, 0.0, eye_height])
            if fit_back:
                A[0, col["b"]] = 1.0
            else:
                y[0] -= cfg.head_to_shoulder_back
            M = A.copy()
            if role in t_known:
                y -= R_op @ t_known[role]
            else:  # t = R_off [0, t_y, t_z]: the tracker lies in the plane of the joint, across the arm
                c = col[role.name]
                A[:, c:c + 2] = (R_op @ R_off[role])[:, 1:3]
                M[:, c:c + 2] = arm_rotation(p, sign)[:, 1:3]
            rows_A.append(A)
            rows_model.append(M)
            rows_y.append(y)
            owner += [role.name.lower()] * 3
    A = np.vstack(rows_A)
    y = np.concatenate(rows_y)
    sv = np.linalg.svd(np.vstack(rows_model), compute_uv=False)
    if sv[-1] < 1e-6 * sv[0]:
        raise CalibrationError(
            "the recorded poses do not determine the arm geometry; record at least the neutral pose and the T-pose "
            "with both wrist trackers, then re-run `psi-teleop calibrate`"
        )
    x = np.linalg.lstsq(A, y, rcond=None)[0]
    res = A @ x - y
    owner_arr = np.array(owner)
    fit_mm: dict[str, float] = {}
    for role in arm_roles:
        r = res[owner_arr == role.name.lower()]
        rms = float(np.sqrt(np.mean(r**2)))
        fit_mm[role.name.lower()] = 1000.0 * rms
        if rms > cfg.max_fit_residual:
            raise CalibrationError(
                f"the {role.name.lower()} tracker does not fit a straight arm ({100 * rms:.1f} cm RMS, limit "
                f"{100 * cfg.max_fit_residual:.1f} cm): keep the arms straight, at shoulder height in the T-pose "
                "and the arms-forward pose, and the tracker strapped tight; then re-run `psi-teleop calibrate`"
            )
    back = float(x[col["b"]]) if fit_back else cfg.head_to_shoulder_back

    offsets: dict[str, tuple[float, ...]] = {}
    for role in arm_roles:
        T = np.eye(4)
        T[:3, :3] = R_off[role]
        if role in t_known:
            T[:3, 3] = t_known[role]
        else:
            c = col[role.name]
            T[:3, 3] = R_off[role] @ np.array([0.0, x[c], x[c + 1]])
        offsets[role.name.lower()] = tuple(float(v) for v in mat_to_pose(T))
    for role in heading_roles:  # body frame = heading frame; waist origin on the torso axis
        p_stage, R_stage = stats[role, Phase.NEUTRAL]
        R_op = R_op_stage @ R_stage
        p_op = R_op_stage @ (p_stage - origin)
        T = np.eye(4)
        T[:3, :3] = R_op.T  # R_tracker_body = R_op_tracker^T R_op_heading, R_op_heading = I
        if role is TrackerRole.WAIST:
            T[:3, 3] = R_op.T @ (np.array([-back, 0.0, p_op[2]]) - p_op)
        offsets[role.name.lower()] = tuple(float(v) for v in mat_to_pose(T))

    # 7. hand ranges
    defaults = CalibrationProfile()
    hand_open, hand_closed = list(defaults.hand_open), list(defaults.hand_closed)
    for side in Side:
        dists = {}
        for p in (Phase.HAND_OPEN, Phase.HAND_PINCH):
            if p not in holds:
                continue
            h = holds[p]
            ok = h.hand_valid[:, side]
            d = np.linalg.norm(
                h.hand_joints[:, side, HandJoint.THUMB_TIP, :3] - h.hand_joints[:, side, HandJoint.INDEX_TIP, :3], axis=1
            )
            ok = ok & np.isfinite(d)
            if np.mean(ok) >= cfg.min_valid_fraction:
                dists[p] = float(np.median(d[ok]))
        if len(dists) < 2:
            warnings.append(
                f"no {side.name.lower()} hand tracking in the open-hand and pinch holds; the hand range keeps its "
                f"default ({defaults.hand_closed[side] * 100:.1f}–{defaults.hand_open[side] * 100:.1f} cm)"
            )
            continue
        if dists[Phase.HAND_PINCH] >= dists[Phase.HAND_OPEN] - 0.01:
            raise CalibrationError(
                f"the {side.name.lower()} pinch ({100 * dists[Phase.HAND_PINCH]:.1f} cm between thumb and index tips) "
                f"was not narrower than the open hand ({100 * dists[Phase.HAND_OPEN]:.1f} cm): spread the fingers "
                "wide for the open hand and touch thumb and index tips for the pinch, then re-run"
            )
        hand_open[side], hand_closed[side] = dists[Phase.HAND_OPEN], dists[Phase.HAND_PINCH]

    profile = CalibrationProfile(
        name=name,
        eye_height=eye_height,
        shoulder_width=float(x[col["w"]]),
        arm_length=float(x[col["L"]]),
        shoulder_drop=float(x[col["d"]]),
        head_to_shoulder_back=back,
        yaw_offset=float(wrap_angle(yaw_offset)),
        origin_xy=(float(origin[0]), float(origin[1])),
        tracker_offsets=offsets,
        hand_open=(hand_open[0], hand_open[1]),
        hand_closed=(hand_closed[0], hand_closed[1]),
        created=recording.created,
    )
    return CalibrationResult(
        profile=profile,
        fit_residual_mm=fit_mm,
        head_yaw_disagreement_deg=math.degrees(head_disagreement),
        warnings=tuple(warnings),
    )


# -- the interactive driver -----------------------------------------------------------------------
#: What the operator is told for each phase.
PROMPTS: dict[Phase, str] = {
    Phase.NEUTRAL: "Stand straight on your spot and look straight ahead. Arms hanging, palms against your thighs.",
    Phase.T_POSE: "T-pose: arms straight out to the sides at shoulder height, palms facing the floor.",
    Phase.ARMS_FORWARD: "Arms straight ahead at shoulder height, palms facing each other.",
    Phase.HAND_OPEN: "Hold both hands in front of the headset, fingers spread wide.",
    Phase.HAND_PINCH: "Keep the hands in front of the headset and pinch: thumb and index fingertips touching.",
}


def record_routine(
    source: InputSource,
    phases: Sequence[Phase] = DEFAULT_PHASES,
    hold_s: float = 3.0,
    prepare_s: float = 3.0,
    rate_hz: float = 100.0,
    console: Console | None = None,
    on_phase: Callable[[Phase], None] | None = None,
) -> CalibrationRecording:
    """Prompt the operator through ``phases`` and record each hold from a started ``source``.

    For each phase: the prompt, a ``prepare_s`` count-down (not recorded), then ``hold_s``
    of frames polled at ``rate_hz`` with a progress bar. ``on_phase`` is called when a
    prompt is shown (the synthetic operator uses it to take the pose).

    Args:
        source: a started :class:`teleop.inputs.InputSource`.
        console: a ``rich.console.Console`` (a default one if ``None``).
    """
    from rich.console import Console as _Console
    from rich.panel import Panel
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    con = console if console is not None else _Console()
    rec = CalibrationRecording(created=datetime.datetime.now().isoformat(timespec="seconds"))
    period = 1.0 / rate_hz
    frame = OperatorFrame()
    for i, phase in enumerate(phases):
        con.print(Panel(PROMPTS[phase], title=f"step {i + 1}/{len(phases)}: {phase.value.replace('_', ' ')}"))
        if on_phase is not None:
            on_phase(phase)
        t_end = clock.now() + prepare_s
        shown = None
        while (left := t_end - clock.now()) > 0:
            if math.ceil(left) != shown:
                shown = math.ceil(left)
                con.print(f"  get ready… {shown}")
            source.poll(frame)  # keeps the device session serviced
            clock.sleep_until(clock.now() + min(left, period))
        frames: list[OperatorFrame] = []
        with Progress(
            TextColumn("  hold still"), BarColumn(), TimeRemainingColumn(), console=con, transient=True
        ) as bar:
            task = bar.add_task("hold", total=hold_s)
            t0 = clock.now()
            deadline = t0
            while (t := clock.now()) < t0 + hold_s:
                if source.poll(frame):
                    frames.append(frame.copy())
                bar.update(task, completed=min(hold_s, t - t0))
                deadline += period
                clock.sleep_until(deadline)
        rec.frames[phase] = frames
        con.print(f"  [green]✓[/green] {phase.value.replace('_', ' ')}: {len(frames)} frames")
    return rec
