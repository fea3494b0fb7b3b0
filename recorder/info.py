"""EpisodeInfo: what a listing says about one episode (its attrs, typed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recorder.schema import EpisodeStatus


@dataclass(frozen=True)
class EpisodeInfo:
    """One episode as listed by :meth:`Dataset.episodes` or returned by ``finish()``.

    Attributes:
        episode_id: the id (``episode_000012``), also the group name under ``episodes/``.
        status: life cycle state.
        task, instruction, operator: what was recorded, how it was described, by whom.
        success: operator's verdict (None: not judged).
        n_rows: rows of the episode (for a RECORDING one: rows flushed so far).
        duration_s: time of the last row [s] (rows start at 0).
        segments, tags, notes: annotations.
        deleted: soft-deleted (hidden from listings, undoable).
        attrs: every attribute of the episode group, as stored.
    """

    episode_id: str
    status: EpisodeStatus
    task: str = ""
    instruction: str = ""
    operator: str = ""
    success: bool | None = None
    n_rows: int = 0
    duration_s: float = 0.0  # [s]
    segments: tuple[dict, ...] = ()
    tags: tuple[str, ...] = ()
    notes: str = ""
    deleted: bool = False
    attrs: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_attrs(cls, episode_id: str, attrs: dict[str, Any]) -> "EpisodeInfo":
        try:
            status = EpisodeStatus(attrs.get("status", EpisodeStatus.RECORDING.value))
        except ValueError:
            status = EpisodeStatus.RECORDING
        finished = status in (EpisodeStatus.COMPLETE, EpisodeStatus.RECOVERED)
        n_rows = int(attrs.get("n_rows", 0) if finished else attrs.get("n_rows_flushed", 0) or attrs.get("n_rows", 0))
        return cls(
            episode_id=episode_id,
            status=status,
            task=str(attrs.get("task", "")),
            instruction=str(attrs.get("instruction", "")),
            operator=str(attrs.get("operator", "")),
            success=attrs.get("success"),
            n_rows=n_rows,
            duration_s=float(attrs.get("duration_s", attrs.get("last_flush_time", 0.0)) or 0.0),
            segments=tuple(attrs.get("segments", ()) or ()),
            tags=tuple(attrs.get("tags", ()) or ()),
            notes=str(attrs.get("notes", "") or ""),
            deleted=bool(attrs.get("deleted", False)),
            attrs=dict(attrs),
        )

    @property
    def id(self) -> str:
        """Alias of :attr:`episode_id`."""
        return self.episode_id

    @property
    def usable(self) -> bool:
        """Finished (complete or recovered), not discarded, not deleted: what training reads."""
        return self.status in (EpisodeStatus.COMPLETE, EpisodeStatus.RECOVERED) and not self.deleted
