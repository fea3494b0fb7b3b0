"""Errors of the robot backends (simulation, DDS link, lower-body controllers).

All derive from :class:`teleop.exceptions.RobotBackendError`; each message quotes the bad
value and says what to do next.
"""

from __future__ import annotations

from teleop.exceptions import RobotBackendError


class UnsafeCommandError(RobotBackendError):
    """A motor command holds a value that must never reach a motor (NaN, infinite, absurd gain).

    Attributes:
        joints: names of the offending joints.
    """

    def __init__(self, joints: tuple[str, ...], message: str):
        self.joints = joints
        super().__init__(message)


class LinkError(RobotBackendError):
    """The DDS link cannot be set up or the robot does not answer on it."""


class PolicyWeightsError(RobotBackendError):
    """A lower-body controller's weight files are missing or do not fit its observation.

    Attributes:
        missing: the file names that were looked for and not found.
    """

    def __init__(self, missing: tuple[str, ...], message: str):
        self.missing = missing
        super().__init__(message)
