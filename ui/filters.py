"""Episode filters shared by the annotation app and the server's dataset browser.

An :class:`EpisodeQuery` is a conjunction of optional conditions on an episode's attrs
(task, status, verdict, tag, operator, segment label, free text). It reads only
:class:`recorder.EpisodeInfo` (the attrs), never arrays, so filtering a 1000-episode
dataset costs one listing.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ui.exceptions import UiError

if TYPE_CHECKING:
    from recorder import EpisodeInfo, EpisodeStatus


class SuccessFilter(str, enum.Enum):
    """Which verdicts pass the filter."""

    ANY = "any"
    SUCCESS = "success"  # success is True
    FAILURE = "failure"  # success is False
    UNJUDGED = "unjudged"  # success is None

    def matches(self, success: bool | None) -> bool:
        if self is SuccessFilter.ANY:
            return True
        return (
            success is {SuccessFilter.SUCCESS: True, SuccessFilter.FAILURE: False, SuccessFilter.UNJUDGED: None}[self]
        )


@dataclass(frozen=True)
class EpisodeQuery:
    """Conditions an episode must meet; None (or ANY, or "") means "don't care".

    Attributes:
        task: exact task name.
        status: life-cycle state (``EpisodeStatus``).
        success: verdict filter.
        tag: the episode carries this tag.
        operator: exact operator name.
        segment_label: the episode has a segment with this label.
        text: case-insensitive substring of the id, instruction or notes.
        include_deleted: also list soft-deleted episodes.
    """

    task: str | None = None
    status: "EpisodeStatus | None" = None
    success: SuccessFilter = SuccessFilter.ANY
    tag: str | None = None
    operator: str | None = None
    segment_label: str | None = None
    text: str = ""
    include_deleted: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.success, SuccessFilter):
            raise UiError(
                f"EpisodeQuery.success={self.success!r} is not a SuccessFilter; "
                f"valid: {', '.join(s.value for s in SuccessFilter)}"
            )

    def matches(self, info: "EpisodeInfo") -> bool:
        if info.deleted and not self.include_deleted:
            return False
        if self.task and info.task != self.task:
            return False
        if self.status is not None and info.status is not self.status:
            return False
        if not self.success.matches(info.success):
            return False
        if self.tag and self.tag not in info.tags:
            return False
        if self.operator and info.operator != self.operator:
            return False
        if self.segment_label and not any(s.get("label") == self.segment_label for s in info.segments):
            return False
        if self.text:
            needle = self.text.lower()
            hay = f"{info.episode_id}\n{info.instruction}\n{info.notes}".lower()
            if needle not in hay:
                return False
        return True

    def apply(self, infos: Iterable["EpisodeInfo"]) -> list["EpisodeInfo"]:
        """The episodes of ``infos`` that match, in their order."""
        return [i for i in infos if self.matches(i)]


@dataclass(frozen=True)
class Facets:
    """The distinct values present in a listing, for the filter drop-downs (sorted)."""

    tasks: tuple[str, ...]
    tags: tuple[str, ...]
    operators: tuple[str, ...]
    segment_labels: tuple[str, ...]

    @classmethod
    def of(cls, infos: Iterable["EpisodeInfo"]) -> "Facets":
        tasks: set[str] = set()
        tags: set[str] = set()
        operators: set[str] = set()
        labels: set[str] = set()
        for i in infos:
            if i.task:
                tasks.add(i.task)
            tags.update(i.tags)
            if i.operator:
                operators.add(i.operator)
            labels.update(str(s.get("label", "")) for s in i.segments if s.get("label"))
        return cls(tuple(sorted(tasks)), tuple(sorted(tags)), tuple(sorted(operators)), tuple(sorted(labels)))
