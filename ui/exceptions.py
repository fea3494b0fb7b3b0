"""Errors of the desktop apps and the session server.

Each message says what was wrong and what to do next; the server turns them into 4xx
answers with the message as ``detail``, the apps show them in their status bar.
"""

from __future__ import annotations

from teleop.exceptions import ConfigError, PsiTeleopError


class UiError(PsiTeleopError):
    """Base class of the ``ui`` package's errors."""


class ServerConfigError(UiError, ConfigError):
    """The session server's configuration is unsafe or invalid (e.g. a remote bind without a token)."""


class ProfileNotFoundError(UiError, KeyError):
    """No calibration profile of that name; the message lists the profiles that exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class AnnotationError(UiError, ValueError):
    """An annotation edit is invalid (a segment outside the episode, an empty label, ...)."""


class NothingToUndoError(UiError):
    """Undo or redo was asked for with an empty history."""


class ServerRequestError(UiError):
    """The session server answered a client request with an error.

    Attributes:
        status_code: the HTTP status (0 when the server could not be reached).
        detail: the server's explanation.
    """

    def __init__(self, status_code: int, detail: str):
        self.status_code = status_code
        self.detail = detail
        where = (
            "the session server is unreachable" if status_code == 0 else f"the session server answered {status_code}"
        )
        super().__init__(f"{where}: {detail}")
