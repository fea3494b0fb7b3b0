"""Errors of the episode store.

Every error says which dataset or episode it concerns and what to do next; callers (the
teleop loop, the CLI, the UI) show the message to the operator as is.
"""

from __future__ import annotations

from teleop.exceptions import PsiTeleopError


class RecorderError(PsiTeleopError):
    """Base class of the recorder's errors."""


class DatasetNotFoundError(RecorderError):
    """The path or URL holds no psi-teleop dataset."""


class EpisodeNotFoundError(RecorderError, KeyError):
    """No episode of that id in the dataset; the message lists the ids that exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class EpisodeStateError(RecorderError):
    """The episode is not in a state that allows the call (e.g. append after finish)."""


class RecordLayoutError(RecorderError, ValueError):
    """A TickRecord does not match the stream layout fixed by the episode's first row."""


class StorageError(RecorderError, OSError):
    """Writing to the store failed (disk full, permission, network); the episode has ended.

    Attributes:
        episode_id: the episode that was being written.
        rows_safe: rows on disk as of the last successful flush (recoverable).
    """

    def __init__(self, message: str, episode_id: str = "", rows_safe: int = 0):
        super().__init__(message)
        self.episode_id = episode_id
        self.rows_safe = rows_safe

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class StorageFullError(StorageError):
    """The disk (or bucket quota) is full."""


class WriterDiedError(StorageError):
    """The recorder's writer process died (killed, crashed); the episode has ended."""


class CorruptDataError(RecorderError):
    """A chunk or frame of an episode cannot be decoded; the message names it."""
