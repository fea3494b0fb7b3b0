"""Smooth, human-like upper-body target trajectories for tests, benchmarks and the scripted operator.

Targets are made *reachable by construction*: a random but smooth joint trajectory (sums
of sinusoids inside a working range of each joint, in the spirit of a person reaching in
front of the body) is pushed through the IK model's forward kinematics, and its wrist,
head, torso and elbow poses become the targets. The generating joint values are kept, so
a test knows the exact answer exists.

Per joint: ``q(t) = c + sum_{k=1..3} a_k sin(2 pi f_k t + phi_k)`` with ``f_k`` uniform in
[0.05, 0.4] Hz and amplitudes splitting the working half-range, so ``q`` stays inside it.
Peak wrist speeds are around 0.3–0.8 m/s, a brisk human reach.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ik.upper_body import UpperBodyIK, UpperBodyTargets

#: Working range per arm joint (left arm; the right arm mirrors roll and yaw) [rad]:
#: shoulder pitch, roll, yaw, elbow, wrist roll, pitch, yaw. Hands in front of the body.
_LEFT_ARM_RANGE = np.array([
    [-1.3, 0.3], [0.15, 0.7], [-0.5, 0.6], [-0.4, 1.1], [-1.0, 1.0], [-0.8, 0.8], [-0.7, 0.7],
])
#: Torso roll, pitch, yaw [rad] and pelvis height [m] working ranges.
_TORSO_RANGE = np.array([[-0.12, 0.12], [-0.05, 0.3], [-0.35, 0.35]])
_HEIGHT_RANGE = (0.62, 0.76)


@dataclass(frozen=True)
class TrajectorySample:
    """One tick of a generated trajectory: the generating pose and its targets."""

    t: float  # [s]
    arm_q: np.ndarray  # (14,) [rad]
    torso_rpy: np.ndarray  # (3,) [rad]
    torso_height: float  # [m]
    targets: UpperBodyTargets


class UpperBodyTrajectory:
    """A smooth random upper-body trajectory and its reachable targets (deterministic per ``seed``)."""

    def __init__(self, ik: UpperBodyIK, seed: int = 0, torso: bool = True, speed: float = 1.0):
        rng = np.random.default_rng(seed)
        right = _LEFT_ARM_RANGE.copy()
        right[[1, 2, 4, 6]] = -_LEFT_ARM_RANGE[[1, 2, 4, 6]][:, ::-1]
        ranges = np.vstack([_LEFT_ARM_RANGE, right, _TORSO_RANGE if torso else np.zeros((3, 2)),
                            [_HEIGHT_RANGE] if torso else [[ik.q_posture[0]] * 2]])
        self._center = ranges.mean(axis=1)
        half = 0.5 * (ranges[:, 1] - ranges[:, 0])
        n = ranges.shape[0]
        w = rng.dirichlet(np.ones(3), size=n)  # amplitude split: sum_k a_k = half
        self._amp = w * half[:, None]
        self._freq = rng.uniform(0.05, 0.4, size=(n, 3)) * speed
        self._phase = rng.uniform(0.0, 2.0 * np.pi, size=(n, 3))
        self._ik = ik

    def pose(self, t: float) -> tuple[np.ndarray, np.ndarray, float]:
        """``(arm_q (14,), torso_rpy (3,), torso_height)`` at time ``t`` [s]."""
        x = self._center + np.sum(self._amp * np.sin(2.0 * np.pi * self._freq * t + self._phase), axis=1)
        return x[:14], x[14:17], float(x[17])

    def sample(self, t: float, elbows: bool = True) -> TrajectorySample:
        """The pose at ``t`` [s] and every target it implies (all active)."""
        arm_q, rpy, h = self.pose(t)
        fk = self._ik.forward(arm_q, rpy, h)
        targets = UpperBodyTargets(
            T_base_left_wrist=fk["left_wrist"], T_base_right_wrist=fk["right_wrist"], T_base_head=fk["head"],
            R_base_waist=fk["torso"][:3, :3].copy(),
            p_base_left_elbow=fk["left_elbow"][:3, 3].copy() if elbows else None,
            p_base_right_elbow=fk["right_elbow"][:3, 3].copy() if elbows else None,
        )
        return TrajectorySample(t, arm_q, rpy, h, targets)

    def samples(self, duration: float, dt: float, elbows: bool = True) -> list[TrajectorySample]:
        """Samples every ``dt`` [s] for ``duration`` [s]."""
        return [self.sample(k * dt, elbows) for k in range(round(duration / dt))]
