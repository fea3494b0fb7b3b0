"""Upper-body multi-target IK and Dex3-1 hand retargeting: pure functions of targets to joint positions.

Nothing here touches devices, threads or files. Build the solvers once, call them every tick::

    from ik import UpperBodyIK, UpperBodyTargets, HandRetargeter
    ik = UpperBodyIK()
    sol = ik.solve(UpperBodyTargets(T_base_left_wrist=T), dt=0.01)   # sol.arm_q, sol.torso_rpy, sol.torso_height
    q7 = HandRetargeter("left").solve(hand_joints_26x7)

Importing this package is light (numpy only); pinocchio and pink load when a solver is built.
"""

from __future__ import annotations

from ik.exceptions import IKConfigError, IKError, IKInputError
from ik.hand_retargeter import HandRetargeter, HandRetargeterConfig
from ik.one_euro import OneEuroConfig, OneEuroFilter
from ik.upper_body import (
    IKBackend,
    IKInfo,
    UpperBodyIK,
    UpperBodyIKConfig,
    UpperBodySolution,
    UpperBodyTargets,
)

__all__ = [
    "HandRetargeter",
    "HandRetargeterConfig",
    "IKBackend",
    "IKConfigError",
    "IKError",
    "IKInfo",
    "IKInputError",
    "OneEuroConfig",
    "OneEuroFilter",
    "UpperBodyIK",
    "UpperBodyIKConfig",
    "UpperBodySolution",
    "UpperBodyTargets",
]
