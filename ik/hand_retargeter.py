"""Dex3-1 hand retargeting: 26 OpenXR hand joints → 7 joint angles, with pinch handling."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ik.exceptions import IKConfigError, IKInputError
from ik.model import FINGERS, build_hand_model
from ik.one_euro import OneEuroConfig, OneEuroFilter
from teleop.operator_frame import N_HAND_JOINTS, HandJoint
from teleop.robot import g1

#: Human keypoints of the five retargeted vectors: (origin, tip) per vector.
#: Origin "palm" = midpoint of the index and middle knuckles (proximal joints).
VECTOR_NAMES = ("palm->thumb", "palm->index", "palm->middle", "thumb->index", "thumb->middle")
#: A pinch moves to the other finger when that one is closer by this much [m].
_PINCH_SWITCH_MARGIN = 0.005
#: Largest joint change of one Levenberg–Marquardt step [rad] (trust region).
_MAX_STEP = 0.4
#: Rows of the 26 OpenXR joints the retargeter reads.
_KEYPOINTS = np.array([HandJoint.WRIST, HandJoint.INDEX_PROXIMAL, HandJoint.MIDDLE_PROXIMAL, HandJoint.LITTLE_PROXIMAL,
                       HandJoint.THUMB_TIP, HandJoint.INDEX_TIP, HandJoint.MIDDLE_TIP])


@dataclass(frozen=True)
class HandRetargeterConfig:
    """Options of :class:`HandRetargeter`.

    Attributes:
        scale: Robot length per human length (per operator, from calibration): human
            vectors are multiplied by it before being matched.
        palm_weight: Weight of the three palm→fingertip vectors [1/m].
        pinch_weight: Weight of the thumb→finger vectors when not pinching [1/m].
        pinch_active_weight: Weight of a thumb→finger vector while that pinch is on [1/m].
        pinch_enter_distance: Human thumb–finger tip distance below which a pinch starts [m].
        pinch_exit_distance: Distance above which it ends (hysteresis, > enter) [m].
        pinch_target_distance: Robot tip-to-tip distance asked for during a pinch [m]
            (the fingertip points are on the pads' ends, so a small positive value means contact).
        regularization: Weight pulling toward the previous solution [1/rad] (smoothness,
            and a unique answer where the vectors do not fix every joint).
        max_iterations: Levenberg–Marquardt iterations per call.
        tolerance: Stop when the step is below this [rad].
        filter: One-Euro smoothing of the output angles; ``None`` disables it.
    """

    scale: float = 1.0
    palm_weight: float = 1.0  # [1/m]
    pinch_weight: float = 0.5  # [1/m]
    pinch_active_weight: float = 4.0  # [1/m]
    pinch_enter_distance: float = 0.025  # [m]
    pinch_exit_distance: float = 0.035  # [m]
    pinch_target_distance: float = 0.005  # [m]
    regularization: float = 2e-3  # [1/rad]
    max_iterations: int = 4
    tolerance: float = 1e-3  # [rad]
    filter: OneEuroConfig | None = field(default_factory=OneEuroConfig)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.scale) and 0.3 <= self.scale <= 3.0):
            raise IKConfigError(f"HandRetargeterConfig.scale must be in [0.3, 3.0] (robot/human length), "
                                f"got {self.scale!r}; re-run the hand calibration")
        for name in ("palm_weight", "pinch_weight", "pinch_active_weight", "pinch_enter_distance",
                     "pinch_target_distance", "regularization", "tolerance"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0.0):
                raise IKConfigError(f"HandRetargeterConfig.{name} must be finite and >= 0, got {v!r}")
        if not (math.isfinite(self.pinch_exit_distance) and self.pinch_exit_distance > self.pinch_enter_distance):
            raise IKConfigError(f"HandRetargeterConfig.pinch_exit_distance ({self.pinch_exit_distance!r} m) must exceed "
                                f"pinch_enter_distance ({self.pinch_enter_distance!r} m)")
        if not 1 <= self.max_iterations <= 100:
            raise IKConfigError(f"HandRetargeterConfig.max_iterations must be in [1, 100], got {self.max_iterations!r}")


def human_hand_frame(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canonical hand frame ``(R_frame_hand, p_frame_palm)`` from the 26 joint positions (any frame).

    ``x`` from the wrist toward the palm point, ``z`` orthogonalised from little
    knuckle → index knuckle (the thumb side), ``y = z × x``; origin at the palm point
    (midpoint of the index and middle knuckles). Positions only: the same construction is
    applied to the robot, so no joint-orientation convention matters.
    """
    wrist = points[HandJoint.WRIST]
    palm = 0.5 * (points[HandJoint.INDEX_PROXIMAL] + points[HandJoint.MIDDLE_PROXIMAL])
    x = palm - wrist
    z = points[HandJoint.INDEX_PROXIMAL] - points[HandJoint.LITTLE_PROXIMAL]
    return _frame(x, z), palm


def _frame(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Rotation with columns ``x``, ``z × x``, ``z`` (``z`` orthogonalised); all-NaN if degenerate."""
    nx = float(np.sqrt(x @ x))
    if not nx > 1e-9:
        return np.full((3, 3), np.nan)
    x = x / nx
    z = z - (z @ x) * x
    nz = float(np.sqrt(z @ z))
    if not nz > 1e-9:
        return np.full((3, 3), np.nan)
    z = z / nz
    y = np.array([z[1] * x[2] - z[2] * x[1], z[2] * x[0] - z[0] * x[2], z[0] * x[1] - z[1] * x[0]])
    return np.column_stack([x, y, z])


class HandRetargeter:
    r"""Retarget one human hand to one Dex3-1 hand.

    Both hands are expressed in a *canonical frame* built the same way from keypoints
    (:func:`human_hand_frame`; on the robot from the wrist, index and middle knuckle
    joints), so the result does not depend on the tracker's world frame. With
    :math:`v_i(q)` the robot vectors (palm→thumb/index/middle tips, thumb→index/middle
    tips) in that frame and :math:`\hat v_i` the human ones, it minimises over the 7 joints

    .. math::

        \sum_i w_i^2 \| v_i(q) - s\,\hat v_i^{*} \|^2 + \lambda^2 \| q - q_{prev} \|^2
        \quad \text{s.t.}\; q_{min} \le q \le q_{max}

    where :math:`s` is ``scale`` and :math:`\hat v_i^{*} = \hat v_i`, except for a
    thumb→finger vector during a pinch (human tips closer than ``pinch_enter_distance``,
    released above ``pinch_exit_distance``; one finger at a time, the closer one): then it is :math:`\hat v_i` rescaled to
    ``pinch_target_distance`` and its weight raised to ``pinch_active_weight``, so the
    robot's thumb meets the finger (DexPilot's idea). Solved by projected
    Levenberg–Marquardt from the previous solution (a few iterations, 7×7 systems; joints
    held on a bound by the gradient are fixed for the step, as in projected Newton),
    then One-Euro filtered. Not thread-safe: one instance per hand.
    """

    def __init__(self, side: str, config: HandRetargeterConfig | None = None):
        import pinocchio as pin

        if side not in g1.SIDES:
            raise IKConfigError(f"HandRetargeter side must be one of {g1.SIDES}, got {side!r}")
        self.side = side
        self.config = cfg = config or HandRetargeterConfig()
        self._pin = pin
        self.model = build_hand_model(side)
        self._data = self.model.createData()
        self.joint_names = g1.LEFT_HAND_JOINTS if side == "left" else g1.RIGHT_HAND_JOINTS
        self.q_min = self.model.lowerPositionLimit.copy()
        self.q_max = self.model.upperPositionLimit.copy()
        self._tip_fids = [self.model.getFrameId(f"{f}_tip") for f in FINGERS]
        # Robot canonical frame from the knuckle joints at the neutral pose (a fixed frame of the palm).
        pin.framesForwardKinematics(self.model, self._data, pin.neutral(self.model))
        o = {n: self._data.oMf[self.model.getFrameId(f"{self.side}_hand_{n}_0_link")].translation.copy()
             for n in ("index", "middle")}
        self._p_wrist_palm = 0.5 * (o["index"] + o["middle"])
        self._R_wrist_frame = _frame(self._p_wrist_palm, o["index"] - o["middle"])
        self._q = np.clip(np.zeros(7), self.q_min, self.q_max)
        self._pinch = {"index": False, "middle": False}
        self._filter = OneEuroFilter(cfg.filter, 7) if cfg.filter is not None else None
        self._target: list[list[float]] = [[0.0] * 3 for _ in range(5)]
        # vectors = S @ tips + offsets (rows: palm->thumb, palm->index, palm->middle, thumb->index, thumb->middle)
        S = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [-1.0, 1.0, 0], [-1.0, 0, 1.0]])
        self._S9 = np.kron(S, np.eye(3))  # (15, 9)
        self._palm_offsets = np.array([self._p_wrist_palm] * 3 + [np.zeros(3)] * 2)  # added to targets [m]
        self._M = np.zeros((9, 8))  # [tip position Jacobians (9x7) | tip positions (9)]
        self._selection_cache: dict[tuple[float, ...], tuple[np.ndarray, np.ndarray]] = {}
        self._mask_cache: dict[tuple[bool, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._q_lo_eps_list = (self.q_min + 1e-9).tolist()
        self._q_hi_eps_list = (self.q_max - 1e-9).tolist()
        from scipy.linalg.lapack import dposv

        self._dposv = dposv
        self._lwa = pin.ReferenceFrame.LOCAL_WORLD_ALIGNED
        self._weights = np.zeros(5)
        self.last_solve_time_s = 0.0

    @property
    def pinching(self) -> dict[str, bool]:
        """Whether the index and middle pinches are on (after the last :meth:`solve`)."""
        return dict(self._pinch)

    def reset(self, q: np.ndarray | None = None) -> None:
        """Restart from ``q`` (7,) [rad] (default: open hand) and forget the pinch and filter state."""
        self._q = np.clip(np.zeros(7) if q is None else np.asarray(q, dtype=float), self.q_min, self.q_max)
        self._pinch = {"index": False, "middle": False}
        if self._filter is not None:
            self._filter.reset()

    def human_vectors(self, hand_joints: np.ndarray) -> np.ndarray | None:
        """The five human vectors (5, 3) [m] in the canonical frame, unscaled; ``None`` if degenerate."""
        v = self._human_vectors_floats(np.asarray(hand_joints, dtype=float)[_KEYPOINTS, 0:3].tolist())
        return None if v is None else np.array(v)

    @staticmethod
    def _human_vectors_floats(k: list[list[float]]) -> list[list[float]] | None:
        """:meth:`human_vectors` on the keypoint rows (wrist, index/middle/little knuckles,
        thumb/index/middle tips) as floats; ``None`` if non-finite or degenerate.

        Plain float arithmetic: the frame of :func:`_frame` and five 3-vectors.
        """
        (wx, wy, wz), (ix, iy, iz), (mx, my, mz), (lx, ly, lz) = k[0], k[1], k[2], k[3]
        if not math.isfinite(wx + wy + wz + ix + iy + iz + mx + my + mz + lx + ly + lz + sum(k[4]) + sum(k[5])
                             + sum(k[6])):
            return None
        px, py, pz = 0.5 * (ix + mx), 0.5 * (iy + my), 0.5 * (iz + mz)  # palm point
        x0, x1, x2 = px - wx, py - wy, pz - wz
        nx = math.sqrt(x0 * x0 + x1 * x1 + x2 * x2)
        if not nx > 1e-9:
            return None
        x0, x1, x2 = x0 / nx, x1 / nx, x2 / nx
        z0, z1, z2 = ix - lx, iy - ly, iz - lz
        d = z0 * x0 + z1 * x1 + z2 * x2
        z0, z1, z2 = z0 - d * x0, z1 - d * x1, z2 - d * x2
        nz = math.sqrt(z0 * z0 + z1 * z1 + z2 * z2)
        if not nz > 1e-9:
            return None
        z0, z1, z2 = z0 / nz, z1 / nz, z2 / nz
        y0, y1, y2 = z1 * x2 - z2 * x1, z2 * x0 - z0 * x2, z0 * x1 - z1 * x0
        tips = []
        for tx, ty, tz in k[4:7]:  # thumb, index, middle tips in the canonical frame
            tx, ty, tz = tx - px, ty - py, tz - pz
            tips.append([tx * x0 + ty * x1 + tz * x2, tx * y0 + ty * y1 + tz * y2, tx * z0 + ty * z1 + tz * z2])
        t, i, m = tips
        return [t, i, m, [i[0] - t[0], i[1] - t[1], i[2] - t[2]], [m[0] - t[0], m[1] - t[1], m[2] - t[2]]]

    def robot_vectors(self, q: np.ndarray) -> np.ndarray:
        """The five robot vectors (5, 3) [m] in the canonical frame for joint angles ``q`` (7,)."""
        self._pin.framesForwardKinematics(self.model, self._data, np.asarray(q, dtype=float))
        tips = [(self._data.oMf[f].translation - self._p_wrist_palm) @ self._R_wrist_frame for f in self._tip_fids]
        return np.array([tips[0], tips[1], tips[2], tips[1] - tips[0], tips[2] - tips[0]])

    def vector_error(self, hand_joints: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Per-vector distance (5,) [m] between the robot's vectors at ``q`` and the scaled human ones
        (plain vectors, no pinch substitution): the figure of merit of the benchmarks."""
        human = self.human_vectors(np.asarray(hand_joints, dtype=float))
        return np.linalg.norm(self.robot_vectors(q) - self.config.scale * human, axis=1)

    def _set_targets(self, human: list[list[float]]) -> None:
        """Targets and weights of the five vectors from the human ones (floats), with the pinch logic."""
        cfg = self.config
        s = cfg.scale
        target = [[s * a, s * b, s * c] for a, b, c in human]
        weights = self._weights
        weights[0:3] = [cfg.palm_weight] * 3
        (a, b, c), (e, f, g) = human[3], human[4]
        d = {"index": math.sqrt(a * a + b * b + c * c), "middle": math.sqrt(e * e + f * f + g * g)}
        # At most one pinch at a time (the thumb cannot meet both tips): hysteresis on the
        # active one, and a new one starts only on the closer finger.
        active = "index" if self._pinch["index"] else "middle" if self._pinch["middle"] else None
        if active is not None and d[active] >= cfg.pinch_exit_distance:
            active = None
        closest = "index" if d["index"] <= d["middle"] else "middle"
        if d[closest] < cfg.pinch_enter_distance and (active is None or d[closest] + _PINCH_SWITCH_MARGIN < d[active]):
            active = closest
        self._pinch = {"index": active == "index", "middle": active == "middle"}
        for k, finger in ((3, "index"), (4, "middle")):
            if self._pinch[finger]:
                f = cfg.pinch_target_distance / max(d[finger], 1e-6)
                target[k] = [f * v for v in human[k]]
                weights[k] = cfg.pinch_active_weight
            else:
                weights[k] = cfg.pinch_weight
        self._target = target

    def solve(self, hand_joints: np.ndarray, dt: float = 0.01) -> np.ndarray:
        """Joint angles (7,) [rad] in ``g1.LEFT/RIGHT_HAND_JOINTS`` order, within limits.

        Args:
            hand_joints: (26, 7) rows ``[x y z qw qx qy qz]`` of the OpenXR hand joints in any
                common frame (only positions are used).
            dt: Time since the previous call [s] (for the output filter).

        A frame with non-finite or degenerate positions returns the previous answer.
        """
        t0 = time.perf_counter()
        hand_joints = np.asarray(hand_joints, dtype=float)
        if hand_joints.shape != (N_HAND_JOINTS, 7):
            raise IKInputError(f"hand_joints must have shape ({N_HAND_JOINTS}, 7) rows [x y z qw qx qy qz], "
                               f"got {hand_joints.shape}")
        human = self._human_vectors_floats(hand_joints[_KEYPOINTS, 0:3].tolist())
        if human is None:
            out = self._filter(self._q, dt) if self._filter is not None else self._q
            self.last_solve_time_s = time.perf_counter() - t0
            return np.clip(out, self.q_min, self.q_max)
        self._set_targets(human)
        cfg = self.config
        pin = self._pin
        q = self._q.copy()
        q_prev = self._q
        model, data, fids = self.model, self._data, self._tip_fids
        joint_jacobians, frame, frame_jacobian, lwa = (pin.computeJointJacobians, pin.updateFramePlacement,
                                                       pin.getFrameJacobian, self._lwa)
        # Work in the wrist frame (the objective is rotation invariant): residual
        # r = SW vec(P) - b with P the 3 tip positions, SW = diag(w) (S kron I3) the weighted
        # selection of the 5 vectors, b the weighted targets (+ palm offsets). With
        # M = [J_P | vec(P)] (9x8) and X = SW M - [0 | b] = [J | r], one product XᵀX holds
        # the Gauss-Newton Hessian JᵀJ, the gradient Jᵀr and the squared residual rᵀr.
        W15, SW = self._weighted_selection()
        b = W15 * (np.array(self._target).dot(self._R_wrist_frame.T) + self._palm_offsets).reshape(15)
        lam2 = cfg.regularization ** 2
        M = self._M
        q_lo, q_hi = self._q_lo_eps_list, self._q_hi_eps_list
        mu = -1.0  # set relative to the Gauss-Newton Hessian on the first iteration
        cost_prev = math.inf
        q_last = q
        for _ in range(cfg.max_iterations):
            joint_jacobians(model, data, q)
            for k in range(3):
                M[3 * k:3 * k + 3, 7] = frame(model, data, fids[k]).translation
                M[3 * k:3 * k + 3, 0:7] = frame_jacobian(model, data, fids[k], lwa)[:3]
            X = SW.dot(M)
            X[:, 7] -= b
            G = X.T.dot(X)
            dq = q - q_prev
            cost = float(G[7, 7]) + lam2 * float(dq.dot(dq))
            if cost > cost_prev:  # LM: the last step made it worse — undo it and damp more
                q = q_last
                mu *= 10.0 / 0.3  # undo the decrease applied below, then damp 10x more
                if mu > 1e3:
                    break
                continue
            H = G[:7, :7]
            Hd = G.reshape(-1)[0:63:9]  # view of the diagonal of H
            if mu < 0.0:
                mu = 1e-3 * float(Hd.sum()) / 7.0  # trace(H) / 7
            else:
                mu = max(mu * 0.3, 1e-12)
            g = G[:7, 7] + lam2 * dq
            # projected Newton: joints on a bound that the gradient pushes outward stay fixed
            # (their rows and columns of the system replaced by the identity: a zero step)
            q_l, g_l = q.tolist(), g.tolist()
            free = [not ((qi <= lo and gi > 0.0) or (qi >= hi and gi < 0.0))
                    for qi, gi, lo, hi in zip(q_l, g_l, q_lo, q_hi)]
            Hd += lam2 + mu
            if not all(free):
                ff, not_f, f = self._free_masks(tuple(free))
                H *= ff
                Hd += not_f
                g *= f
            step = self._solve_spd(H, g)
            if step is None:  # not positive definite (cannot happen with lam2 + mu > 0): hold
                break
            peak = max(map(abs, step.tolist()))
            if peak > _MAX_STEP:
                step *= _MAX_STEP / peak
            q_last = q
            cost_prev = cost
            q = q + step
            np.minimum(q, self.q_max, out=q)
            np.maximum(q, self.q_min, out=q)
            if max(map(abs, (q - q_last).tolist())) < cfg.tolerance:
                break
        self._q = q
        out = self._filter(q, dt) if self._filter is not None else q
        self.last_solve_time_s = time.perf_counter() - t0
        out = np.minimum(out, self.q_max)
        return np.maximum(out, self.q_min, out=out)

    def _weighted_selection(self) -> tuple[np.ndarray, np.ndarray]:
        """``(W15, SW)`` for the current five weights (cached: they change only with the pinch state)."""
        key = tuple(self._weights.tolist())
        cached = self._selection_cache.get(key)
        if cached is None:
            W15 = np.repeat(self._weights, 3)
            cached = self._selection_cache[key] = (W15, W15[:, None] * self._S9)
        return cached

    def _free_masks(self, free: tuple[bool, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For a mask of free joints: the (7, 7) mask of free rows and columns, the held joints' unit
        diagonal and the free mask as floats (cached: at most 2^7 of them)."""
        cached = self._mask_cache.get(free)
        if cached is None:
            f = np.array(free, dtype=float)
            cached = self._mask_cache[free] = (f[:, None] * f, 1.0 - f, f)
        return cached

    def _solve_spd(self, H: np.ndarray, g: np.ndarray) -> np.ndarray | None:
        """``-H⁻¹ g`` for a symmetric positive definite ``H`` (Cholesky, LAPACK ``dposv``)."""
        _, x, info = self._dposv(H, g)
        if info != 0:
            return None
        return np.negative(x, out=x)
