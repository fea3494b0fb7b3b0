"""Errors of the ``ik`` package (all derive from :class:`teleop.exceptions.PsiTeleopError`)."""

from __future__ import annotations

from teleop.exceptions import ConfigError, PsiTeleopError


class IKError(PsiTeleopError):
    """Base class of the errors raised on purpose by the IK and retargeting solvers."""


class IKConfigError(IKError, ConfigError):
    """An IK or retargeting configuration value is invalid; the message names the field and its valid range."""


class IKInputError(IKError, ValueError):
    """An argument has the wrong shape or kind (a programming error, not a bad tracker sample).

    Bad *values* (NaN, teleports, unreachable poses) never raise: the solvers hold the last
    good target instead. Only a wrong shape or an unknown name does.
    """
