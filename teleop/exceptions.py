"""Exceptions of psi-teleop.

Every error the project raises on purpose derives from :class:`PsiTeleopError`, so a
caller (the CLI, the session server) can tell a problem it should explain to the operator
from a bug. Each package adds its own subclasses in its own ``exceptions.py``; messages
quote the bad value, the valid range or names, and say what to do next.
"""

from __future__ import annotations


class PsiTeleopError(Exception):
    """Base class of every error psi-teleop raises on purpose."""


class ConfigError(PsiTeleopError, ValueError):
    """A configuration value or file is invalid; the message names the field and the fix."""


class EmbodimentError(PsiTeleopError):
    """The robot model does not match what the embodiment description expects."""


class RobotBackendError(PsiTeleopError):
    """A robot backend (simulation or DDS link) cannot do what was asked."""


class InputDeviceError(PsiTeleopError):
    """An input device or its runtime is missing, lost, or delivered bad data."""


class MissingExtraError(PsiTeleopError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, module: str, extra: str, purpose: str):
        self.module = module
        self.extra = extra
        super().__init__(
            f"{purpose} needs the Python module '{module}', which is not installed. "
            f"Install it with: pip install 'psi-teleop[{extra}]'"
        )
