"""Self-collision avoidance between capsules, as a pink control-barrier function."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pinocchio as pin
from pink.barriers import Barrier

from ik.exceptions import IKConfigError
from ik.model import Capsule

if TYPE_CHECKING:
    from pink import Configuration


def _closest_points(p0, p1, q0, q1) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """:func:`closest_points_segments` on sequences of three floats (no numpy: 3-vectors are too
    small for it to pay off); returns the two points as tuples."""
    d1 = (p1[0] - p0[0], p1[1] - p0[1], p1[2] - p0[2])
    d2 = (q1[0] - q0[0], q1[1] - q0[1], q1[2] - q0[2])
    r = (p0[0] - q0[0], p0[1] - q0[1], p0[2] - q0[2])
    a = d1[0] * d1[0] + d1[1] * d1[1] + d1[2] * d1[2]
    e = d2[0] * d2[0] + d2[1] * d2[1] + d2[2] * d2[2]
    f = d2[0] * r[0] + d2[1] * r[1] + d2[2] * r[2]
    eps = 1e-12
    if a <= eps and e <= eps:
        return tuple(p0), tuple(q0)
    if a <= eps:
        s, t = 0.0, min(max(f / e, 0.0), 1.0)
    else:
        c = d1[0] * r[0] + d1[1] * r[1] + d1[2] * r[2]
        if e <= eps:
            s, t = min(max(-c / a, 0.0), 1.0), 0.0
        else:
            b = d1[0] * d2[0] + d1[1] * d2[1] + d1[2] * d2[2]
            denom = a * e - b * b
            s = min(max((b * f - c * e) / denom, 0.0), 1.0) if denom > eps else 0.0
            t = (b * s + f) / e
            if t < 0.0:
                s, t = min(max(-c / a, 0.0), 1.0), 0.0
            elif t > 1.0:
                s, t = min(max((b - c) / a, 0.0), 1.0), 1.0
    return ((p0[0] + s * d1[0], p0[1] + s * d1[1], p0[2] + s * d1[2]),
            (q0[0] + t * d2[0], q0[1] + t * d2[1], q0[2] + t * d2[2]))


def _transform(M, p) -> tuple[float, float, float]:
    """``R p + t`` for a placement ``M`` given as 4x4 rows of floats and a point ``p`` (3 floats)."""
    (a, b, c, x), (d, e, f, y), (g, h, i, z) = M[0], M[1], M[2]
    p0, p1, p2 = p
    return (a * p0 + b * p1 + c * p2 + x, d * p0 + e * p1 + f * p2 + y, g * p0 + h * p1 + i * p2 + z)


def closest_points_segments(
    p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Closest points ``(a, b)`` between segments ``p0``–``p1`` and ``q0``–``q1`` (any frame, same units).

    Minimises :math:`\\|p_0 + s (p_1 - p_0) - q_0 - t (q_1 - q_0)\\|^2` over
    :math:`s, t \\in [0, 1]` (clamped closed form, degenerate segments handled).
    """
    a, b = _closest_points(*(np.asarray(v, dtype=float).tolist() for v in (p0, p1, q0, q1)))
    return np.array(a), np.array(b)


class CapsuleCollisionBarrier(Barrier):
    r"""Keep pairs of capsules at least ``d_min`` apart.

    For each pair :math:`j` of capsules :math:`A` (on frame :math:`a`) and :math:`B` (on
    frame :math:`b`), with closest points :math:`p_A, p_B` of their axes (world frame) and
    radii :math:`r_A, r_B`:

    .. math::

        h_j(q) = \|p_A - p_B\| - r_A - r_B - d_{min}, \qquad
        \frac{\partial h_j}{\partial q} = n^T (J_A(p_A) - J_B(p_B)), \quad
        n = \frac{p_A - p_B}{\|p_A - p_B\|}

    where :math:`J_X(p) = J^{lin}_X - [p - o_X]_\times J^{ang}_X` is the translation
    Jacobian of the point :math:`p` fixed on frame :math:`X` (world-aligned). pink adds the
    barrier condition :math:`\frac{\partial h}{\partial q}\Delta q \ge -\gamma\,h(q)` to
    the QP (:math:`\Delta q` per tick of :math:`\Delta t`), so the margin may shrink at
    most at the rate :math:`\dot h \ge -\gamma h` [m/s]: fast far from contact, zero at it.

    Call :meth:`update` once per solver iteration (after ``configuration.update``);
    :meth:`compute_qp_inequalities` then reuses those values (no recomputation, no
    comparison of configurations).
    """

    def __init__(
        self,
        model: pin.Model,
        capsules: tuple[Capsule, ...],
        pairs: tuple[tuple[str, str], ...],
        d_min: float = 0.01,  # [m]
        gain: float = 20.0,  # [1/s]
        activation_distance: float = 0.10,  # [m]
    ):
        by_name = {c.name: c for c in capsules}
        for pair in pairs:
            for name in pair:
                if name not in by_name:
                    raise IKConfigError(f"collision pair {pair} names capsule '{name}'; known: {sorted(by_name)}")
        for c in capsules:
            if not model.existFrame(c.frame):
                raise IKConfigError(f"capsule '{c.name}' is on frame '{c.frame}', which the IK model lacks")
        super().__init__(dim=len(pairs), gain=gain, safe_displacement_gain=0.0)
        self.model = model
        self.d_min = float(d_min)
        self._names = [c.name for c in capsules]
        self._frame_ids = [model.getFrameId(c.frame) for c in capsules]
        self._radius = np.array([c.radius for c in capsules])
        self._pairs = [(self._names.index(a), self._names.index(b)) for a, b in pairs]
        self.pair_names = tuple(pairs)
        self._h = np.zeros(self.dim)
        self._J = np.zeros((self.dim, model.nv))
        self._end_fids = []
        self._centre_fids = []
        for c in capsules:
            ends = (f"capsule_{c.name}_p0", f"capsule_{c.name}_p1", f"capsule_{c.name}_c")
            if not all(model.existFrame(e) for e in ends):
                raise IKConfigError(f"the IK model lacks the frames {ends} of capsule '{c.name}'; "
                                    "build it with ik.model.build_upper_body_model")
            self._end_fids.append((model.getFrameId(ends[0]), model.getFrameId(ends[1])))
            self._centre_fids.append(model.getFrameId(ends[2]))
        self._centres = np.zeros((len(capsules), 3))
        self._P0 = np.zeros((len(capsules), 3))
        self._P1 = np.zeros((len(capsules), 3))
        self.activation_distance = float(activation_distance)
        self._pa = np.array([a for a, _ in self._pairs])
        self._pb = np.array([b for _, b in self._pairs])
        half = np.array([0.5 * np.linalg.norm(np.subtract(c.p1, c.p0)) for c in capsules])
        self._bound_radius = half + self._radius
        self._active = np.zeros(self.dim, dtype=bool)
        self._bound_sum = [float(self._bound_radius[a] + self._bound_radius[b]) for a, b in self._pairs]
        self._radius_sum = [float(self._radius[a] + self._radius[b]) for a, b in self._pairs]
        self._J_dirty = False
        self._any_active = False
        # capsule axis end points in their frames (floats)
        self._local_ends = [(tuple(map(float, c.p0)), tuple(map(float, c.p1))) for c in capsules]
        self._min_margin = float("inf")
        self._active_pairs: list[int] = []
        self._arrays_stale = False
        self._h_list: list[float] = []

    def _segments(self, data: pin.Data) -> None:
        oMf = data.oMf
        for i, (f0, f1) in enumerate(self._end_fids):
            self._P0[i] = oMf[f0].translation
            self._P1[i] = oMf[f1].translation

    def distances(self, data: pin.Data) -> np.ndarray:
        """Surface distances [m] of every pair (negative: penetration), from frame placements in ``data``."""
        self._segments(data)
        out = np.empty(self.dim)
        for j, (ia, ib) in enumerate(self._pairs):
            pa, pb = closest_points_segments(self._P0[ia], self._P1[ia], self._P0[ib], self._P1[ib])
            out[j] = float(np.linalg.norm(pa - pb)) - self._radius[ia] - self._radius[ib]
        return out

    def update(self, configuration: Configuration) -> None:
        """Compute :math:`h(q)` and :math:`\\partial h / \\partial q` for the configuration's current state.

        Pairs whose bounding spheres are farther apart than ``activation_distance`` cannot
        meet within one tick at the velocity limits: their rows get :math:`h` = that
        distance and a zero Jacobian (an inactive constraint), and no closest-point or
        Jacobian work is done for them.
        """
        self.update_data(configuration.data)

    def update_data(self, data: pin.Data) -> None:
        """:meth:`update` from the frame placements and joint Jacobians already in ``data``.

        The sphere test and the closest points are plain float arithmetic (a few 3-vectors);
        frame Jacobians are fetched only for the capsules of active pairs.
        """
        model = self.model
        frame = pin.updateFramePlacement  # computes and returns one frame's placement, no proxy object
        centres = [frame(model, data, fid).translation.tolist() for fid in self._centre_fids]
        act_d = self.activation_distance
        sqrt = math.sqrt
        d_sphere = [sqrt((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 + (a[2] - b[2]) ** 2) - bound
                    for a, b, bound in ((centres[ia], centres[ib], s) for (ia, ib), s in zip(self._pairs, self._bound_sum))]
        active = [j for j, d in enumerate(d_sphere) if d < act_d]
        h = [max(act_d, d) for d in d_sphere]
        if self._J_dirty:
            self._J.fill(0.0)
            self._J_dirty = False
        if active:
            frame_jac: dict[int, np.ndarray] = {}
            poses = self._capsule_poses(data, active)
            for j in active:
                ia, ib = self._pairs[j]
                pa, pb = self._closest(poses, ia, ib)
                dx, dy, dz = pa[0] - pb[0], pa[1] - pb[1], pa[2] - pb[2]
                dist = math.sqrt(dx * dx + dy * dy + dz * dz)
                n = (dx / dist, dy / dist, dz / dist) if dist > 1e-9 else (0.0, 0.0, 1.0)
                h[j] = dist - self._radius_sum[j] - self.d_min
                row = self._J[j]
                for i, p, sign in ((ia, pa, 1.0), (ib, pb, -1.0)):
                    if i not in frame_jac:
                        frame_jac[i] = pin.getFrameJacobian(model, data, self._frame_ids[i],
                                                            pin.ReferenceFrame.LOCAL_WORLD_ALIGNED)
                    M = poses[i]
                    r0, r1, r2 = p[0] - M[0][3], p[1] - M[1][3], p[2] - M[2][3]
                    # n . v_p = n . (v_o + w x r) = [n, r x n] . [v_o, w]
                    n0, n1, n2 = sign * n[0], sign * n[1], sign * n[2]
                    w6 = np.array([n0, n1, n2, r1 * n2 - r2 * n1, r2 * n0 - r0 * n2, r0 * n1 - r1 * n0])
                    row += w6.dot(frame_jac[i])
            self._J_dirty = True
        self._arrays_stale = True  # margins and the active mask as arrays: built when read
        self._any_active = bool(active)
        self._active_pairs = active
        self._h_list = h
        self._min_margin = min(h)

    def _capsule_poses(self, data: pin.Data, pairs) -> dict[int, list[list[float]]]:
        """Placements (4x4 rows of floats) of the frames of the capsules of ``pairs``, from the joint
        placements in ``data``."""
        model = self.model
        frame = pin.updateFramePlacement  # computes and returns one frame's placement, no proxy object
        poses: dict[int, list[list[float]]] = {}
        for j in pairs:
            for i in self._pairs[j]:
                if i not in poses:
                    poses[i] = frame(model, data, self._frame_ids[i]).homogeneous.tolist()
        return poses

    def _closest(self, poses, ia: int, ib: int):
        """Closest points (world, floats) of the axes of capsules ``ia`` and ``ib``."""
        (a0, a1), (b0, b1) = self._local_ends[ia], self._local_ends[ib]
        Ma, Mb = poses[ia], poses[ib]
        return _closest_points(_transform(Ma, a0), _transform(Ma, a1), _transform(Mb, b0), _transform(Mb, b1))

    def margins_of(self, data: pin.Data, pairs) -> list[float]:
        """:math:`h_j` [m] of the pairs ``pairs`` (indices) from the frame placements in ``data``,
        without Jacobians (a cheap check after a step)."""
        poses = self._capsule_poses(data, pairs)
        out = []
        for j in pairs:
            ia, ib = self._pairs[j]
            pa, pb = self._closest(poses, ia, ib)
            d = math.sqrt((pa[0] - pb[0]) ** 2 + (pa[1] - pb[1]) ** 2 + (pa[2] - pb[2]) ** 2)
            out.append(d - self._radius_sum[j] - self.d_min)
        return out

    @property
    def active(self) -> np.ndarray:
        """Mask of the pairs close enough to be constrained, from the last :meth:`update`."""
        self._refresh_arrays()
        return self._active

    def _refresh_arrays(self) -> None:
        if self._arrays_stale:
            self._h[:] = self._h_list
            self._active[:] = False
            self._active[self._active_pairs] = True
            self._arrays_stale = False

    @property
    def any_active(self) -> bool:
        """Whether any pair was active at the last :meth:`update`."""
        return self._any_active

    @property
    def active_pairs(self) -> list[int]:
        """Indices of the active pairs at the last :meth:`update`."""
        return self._active_pairs

    @property
    def margin_list(self) -> list[float]:
        """:attr:`margins` as floats."""
        return self._h_list

    @property
    def min_margin(self) -> float:
        """Smallest :math:`h_j` [m] at the last :meth:`update`."""
        return self._min_margin

    @property
    def jacobian(self) -> np.ndarray:
        """:math:`\\partial h / \\partial q` (dim, nv) from the last :meth:`update` (view)."""
        return self._J

    @property
    def margins(self) -> np.ndarray:
        """Barrier values :math:`h(q)` [m] from the last :meth:`update` (view, do not modify)."""
        self._refresh_arrays()
        return self._h

    def compute_barrier(self, configuration: Configuration) -> np.ndarray:
        self.update(configuration)
        return self.margins.copy()

    def compute_jacobian(self, configuration: Configuration) -> np.ndarray:
        self.update(configuration)
        return self._J.copy()

    def compute_qp_objective(self, configuration: Configuration) -> tuple[np.ndarray, np.ndarray]:
        nv = configuration.model.nv
        return np.zeros((nv, nv)), np.zeros(nv)

    def compute_qp_inequalities(self, configuration: Configuration, dt: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
        # pink's convention: G dq <= h, dq a displacement over dt: J (dq/dt) >= -gain * h(q)
        return -self._J / dt, self.gain * self.margins
