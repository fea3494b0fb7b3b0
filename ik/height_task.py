"""Task on the height of a frame above the base floor (one world axis of its position)."""

from __future__ import annotations

import numpy as np
import pinocchio as pin
from pink import Configuration
from pink.tasks import Task

from ik.exceptions import IKConfigError


class HeightTask(Task):
    r"""Drive the height of a frame to a target.

    Error and Jacobian (dimension 1, [m] and [m/rad] or [m/m]):

    .. math::

        e(q) = z^T p_{0f}(q) - z_{target}, \qquad J(q) = z^T J^{lin}_{0f}(q)

    with :math:`z = (0, 0, 1)` the up axis of the base frame and :math:`J^{lin}_{0f}` the
    translation part of the frame Jacobian expressed in world-aligned axes. Unlike a
    :class:`pink.tasks.FrameTask` position cost (expressed in the moving frame), this is
    the world height whatever the frame's orientation.

    Attributes:
        frame: Name of the frame.
        cost: Weight [cost/m].
        target: Target height in the base frame [m].
    """

    def __init__(self, frame: str, cost: float, gain: float = 1.0, lm_damping: float = 0.0):
        if not (np.isfinite(cost) and cost >= 0.0):
            raise IKConfigError(f"HeightTask cost must be finite and >= 0, got {cost!r}")
        super().__init__(cost=np.array([cost]), gain=gain, lm_damping=lm_damping)
        self.frame = frame
        self.target = 0.0  # [m]

    def set_target(self, z_target: float) -> None:
        """Set the target height [m]."""
        self.target = float(z_target)

    def compute_error(self, configuration: Configuration) -> np.ndarray:
        fid = configuration.model.getFrameId(self.frame)
        return np.array([configuration.data.oMf[fid].translation[2] - self.target])

    def compute_jacobian(self, configuration: Configuration) -> np.ndarray:
        fid = configuration.model.getFrameId(self.frame)
        J = pin.getFrameJacobian(configuration.model, configuration.data, fid, pin.ReferenceFrame.LOCAL_WORLD_ALIGNED)
        return J[2:3].copy()

    def __repr__(self) -> str:
        return f"HeightTask(frame={self.frame!r}, cost={self.cost}, target={self.target})"
