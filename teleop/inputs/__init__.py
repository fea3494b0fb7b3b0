"""Operator input devices: each turns a device into OperatorFrames (teleop.operator_frame).

Pick a backend with :func:`make_source`; every backend implements :class:`InputSource`.
Backends are imported only when asked for, so ``import teleop.inputs`` stays light.
"""

from teleop.inputs.base import (
    DeviceInfo,
    InputKind,
    InputSource,
    RateMeter,
    SourceStatus,
    make_source,
    mark_all_invalid,
)
from teleop.inputs.exceptions import (
    MissingExtensionError,
    RuntimeUnavailableError,
    SessionLostError,
    TrackerRoleMissingError,
)

__all__ = [
    "DeviceInfo",
    "InputKind",
    "InputSource",
    "MissingExtensionError",
    "RateMeter",
    "RuntimeUnavailableError",
    "SessionLostError",
    "SourceStatus",
    "TrackerRoleMissingError",
    "make_source",
    "mark_all_invalid",
]
