"""Errors of the policies package.

Each message names the bad value and says what to do next; the CLI shows it as is.
"""

from __future__ import annotations

from teleop.exceptions import PsiTeleopError


class PolicyError(PsiTeleopError):
    """Base class of the errors raised by :mod:`policies`."""


class DatasetWindowError(PolicyError):
    """The dataset holds no usable training windows (empty, filtered out, wrong layout)."""


class CheckpointError(PolicyError):
    """A checkpoint directory is missing, incomplete or from an incompatible version."""


class RuntimeFault(PolicyError):
    """The RTC runtime cannot run (bad chunk shape, backend failure at start)."""
