"""Task on the position of a frame along chosen axes of the base frame."""

from __future__ import annotations

import numpy as np
import pinocchio as pin
from pink import Configuration
from pink.tasks import Task

from ik.exceptions import IKConfigError


class FramePositionTask(Task):
    r"""Drive the position of a frame, axis by axis of the base (world) frame.

    Error and Jacobian (dimension 3, [m] and [m/rad] or [m/m]):

    .. math::

        e(q) = p_{0f}(q) - p_{target}, \qquad J(q) = J^{lin}_{0f}(q)

    with :math:`J^{lin}_{0f}` the translation part of the frame Jacobian in world-aligned
    axes, weighted by ``cost`` per *world* axis (``[0, 0, w]`` is a pure height task).
    Unlike the position part of a :class:`pink.tasks.FrameTask` (expressed in the moving
    frame, and coupled to its orientation through the SE(3) logarithm), the weights keep
    their meaning whatever the frame's orientation.

    Attributes:
        frame: Name of the frame.
        cost: (3,) weights per base axis [cost/m].
        target: (3,) target position in the base frame [m].
    """

    def __init__(self, frame: str, cost: np.ndarray | tuple[float, float, float], gain: float = 1.0,
                 lm_damping: float = 0.0):
        cost = np.asarray(cost, dtype=float)
        if cost.shape != (3,) or not np.all(np.isfinite(cost)) or np.any(cost < 0.0):
            raise IKConfigError(f"FramePositionTask cost must be 3 finite weights >= 0 [cost/m], got {cost!r}")
        super().__init__(cost=cost, gain=gain, lm_damping=lm_damping)
        self.frame = frame
        self.target = np.zeros(3)  # [m]

    def set_target(self, p_base_target: np.ndarray) -> None:
        """Set the target position (3,) in the base frame [m]."""
        self.target[:] = p_base_target

    def compute_error(self, configuration: Configuration) -> np.ndarray:
        fid = configuration.model.getFrameId(self.frame)
        return configuration.data.oMf[fid].translation - self.target

    def compute_jacobian(self, configuration: Configuration) -> np.ndarray:
        fid = configuration.model.getFrameId(self.frame)
        J = pin.getFrameJacobian(configuration.model, configuration.data, fid, pin.ReferenceFrame.LOCAL_WORLD_ALIGNED)
        return J[:3].copy()

    def __repr__(self) -> str:
        return f"FramePositionTask(frame={self.frame!r}, cost={self.cost}, target={self.target})"
