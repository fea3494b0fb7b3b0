"""The annotation model of one episode: segments, verdict, tags, notes, trim — with undo.

Annotations live in the episode's attrs (DESIGN.md "Episode store") and are written through
:meth:`recorder.EpisodeReader.update_attrs`, which never rewrites an array. The schema the
recorder validates and the trainer filters on:

    success   true | false | null                  the operator's verdict
    segments  [{"start": s, "end": s, "label": str, "language": str}, ...]   [s], sorted by start
    tags      [str, ...]                            unique, in the order added
    notes     str
    trim      [start_s, end_s] | null               [s] the part of the episode worth training on
    task, instruction  str

:class:`AnnotationEditor` applies every edit immediately (an edit is saved when it is made)
and keeps an undo/redo history of whole :class:`Annotation` snapshots, so an undo writes the
previous values back to the attrs. Nothing here imports Qt: the annotation app only wires
widgets to these calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ui.exceptions import AnnotationError, NothingToUndoError

if TYPE_CHECKING:
    from recorder import EpisodeInfo, EpisodeReader

#: The attrs this model owns (the keys an edit may write).
ANNOTATION_ATTRS = ("success", "segments", "tags", "notes", "trim", "task", "instruction")
#: Edits kept for undo; older ones are forgotten (each entry is two small snapshots).
DEFAULT_UNDO_LIMIT = 500

T = TypeVar("T")


@dataclass(frozen=True)
class Segment:
    """A sub-task of an episode (Ψ₀-style sub-task marker).

    Attributes:
        start_s, end_s: bounds, seconds since the episode's first row [s]; start < end.
        label: short sub-task name (``grasp``, ``lift``), what filters match.
        language: the sub-task instruction in words (``grasp the red cup with the right hand``).
    """

    start_s: float  # [s]
    end_s: float  # [s]
    label: str
    language: str = ""

    def to_attr(self) -> dict[str, Any]:
        return {"start": float(self.start_s), "end": float(self.end_s), "label": self.label, "language": self.language}

    @classmethod
    def from_attr(cls, data: dict[str, Any]) -> "Segment":
        return cls(float(data["start"]), float(data["end"]), str(data.get("label", "")), str(data.get("language", "")))

    def contains(self, t: float) -> bool:
        """Whether time ``t`` [s] lies in ``[start_s, end_s]``."""
        return self.start_s <= t <= self.end_s


@dataclass(frozen=True)
class Annotation:
    """Every annotation of one episode, as an immutable snapshot (what undo stores)."""

    success: bool | None = None
    segments: tuple[Segment, ...] = ()
    tags: tuple[str, ...] = ()
    notes: str = ""
    trim: tuple[float, float] | None = None  # [s] (start, end)
    task: str = ""
    instruction: str = ""

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> "Annotation":
        trim = attrs.get("trim")
        return cls(
            success=attrs.get("success"),
            segments=tuple(sorted((Segment.from_attr(s) for s in attrs.get("segments") or ()), key=_segment_key)),
            tags=tuple(attrs.get("tags") or ()),
            notes=str(attrs.get("notes") or ""),
            trim=None if trim is None else (float(trim[0]), float(trim[1])),
            task=str(attrs.get("task") or ""),
            instruction=str(attrs.get("instruction") or ""),
        )

    def to_attrs(self, keys: Iterable[str] = ANNOTATION_ATTRS) -> dict[str, Any]:
        """The attrs values of ``keys`` (JSON-ready)."""
        full = {
            "success": self.success,
            "segments": [s.to_attr() for s in self.segments],
            "tags": list(self.tags),
            "notes": self.notes,
            "trim": None if self.trim is None else [float(self.trim[0]), float(self.trim[1])],
            "task": self.task,
            "instruction": self.instruction,
        }
        return {k: full[k] for k in keys}

    def changed_keys(self, other: "Annotation") -> list[str]:
        """The attrs keys whose value differs between ``self`` and ``other``."""
        return [k for k in ANNOTATION_ATTRS if getattr(self, k) != getattr(other, k)]

    def segment_at(self, t: float) -> int | None:
        """Index of the first segment containing time ``t`` [s], or None."""
        return next((i for i, s in enumerate(self.segments) if s.contains(t)), None)


def _segment_key(s: Segment) -> tuple[float, float]:
    return (s.start_s, s.end_s)


@dataclass(frozen=True)
class UndoEntry(Generic[T]):
    """One step of history: the state before and after an edit, and the edit in words."""

    description: str
    before: T
    after: T


class UndoStack(Generic[T]):
    """Linear undo/redo history of snapshots, bounded to ``limit`` entries (oldest dropped)."""

    def __init__(self, limit: int = DEFAULT_UNDO_LIMIT):
        if limit < 1:
            raise AnnotationError(f"undo limit must be at least 1, got {limit}")
        self.limit = limit
        self._undo: list[UndoEntry[T]] = []
        self._redo: list[UndoEntry[T]] = []

    def push(self, entry: UndoEntry[T]) -> None:
        """Record a new edit; it clears the redo history."""
        self._undo.append(entry)
        if len(self._undo) > self.limit:
            del self._undo[0]
        self._redo.clear()

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo_description(self) -> str | None:
        return self._undo[-1].description if self._undo else None

    def redo_description(self) -> str | None:
        return self._redo[-1].description if self._redo else None

    def take_undo(self) -> UndoEntry[T]:
        """Pop the newest edit (moved to the redo history)."""
        if not self._undo:
            raise NothingToUndoError("nothing to undo")
        entry = self._undo.pop()
        self._redo.append(entry)
        return entry

    def take_redo(self) -> UndoEntry[T]:
        """Pop the newest undone edit (moved back to the undo history)."""
        if not self._redo:
            raise NothingToUndoError("nothing to redo")
        entry = self._redo.pop()
        self._undo.append(entry)
        return entry

    def put_back_undo(self) -> None:
        """Reverse the last :meth:`take_undo` (used when writing the undo failed)."""
        self._undo.append(self._redo.pop())

    def put_back_redo(self) -> None:
        """Reverse the last :meth:`take_redo`."""
        self._redo.append(self._undo.pop())

    def __len__(self) -> int:
        return len(self._undo)


class AnnotationEditor:
    """Edits one episode's annotations; every edit is written to its attrs at once, with undo.

    Args:
        reader: the episode (``Dataset.open(path).episode(id)``).
        undo_limit: edits kept for undo.

    Each edit method validates its input (raising :class:`AnnotationError` with the valid
    range) before anything is written, writes only the attrs that changed, and returns the
    new :class:`Annotation`. Listeners registered with :meth:`subscribe` are called with it.
    """

    def __init__(self, reader: "EpisodeReader", undo_limit: int = DEFAULT_UNDO_LIMIT):
        self.reader = reader
        self.episode_id = reader.episode_id
        self.duration_s = float(reader.attrs.get("duration_s", 0.0) or 0.0)  # [s]
        self._annotation = Annotation.from_attrs(reader.attrs)
        self.history: UndoStack[Annotation] = UndoStack(undo_limit)
        self._listeners: list[Callable[[Annotation], None]] = []

    # ------------------------------------------------------------------ state
    @property
    def annotation(self) -> Annotation:
        return self._annotation

    @property
    def info(self) -> "EpisodeInfo":
        return self.reader.info

    def subscribe(self, listener: Callable[[Annotation], None]) -> None:
        """Call ``listener(annotation)`` after every edit, undo and redo."""
        self._listeners.append(listener)

    # ------------------------------------------------------------------ core
    def apply(self, new: Annotation, description: str) -> Annotation:
        """Validate ``new``, write the attrs that differ from the current annotation, record undo."""
        self._validate(new)
        old = self._annotation
        if not new.changed_keys(old):
            return old
        self._write(old, new, notify=False)
        self.history.push(UndoEntry(description, old, new))
        self._notify()  # after the push: listeners see the edit as undoable
        return self._annotation

    def undo(self) -> str:
        """Undo the newest edit (writing the previous values back); returns its description."""
        entry = self.history.take_undo()
        try:
            self._write(self._annotation, entry.before)
        except BaseException:
            self.history.put_back_undo()
            raise
        return entry.description

    def redo(self) -> str:
        """Redo the newest undone edit; returns its description."""
        entry = self.history.take_redo()
        try:
            self._write(self._annotation, entry.after)
        except BaseException:
            self.history.put_back_redo()
            raise
        return entry.description

    def _write(self, old: Annotation, new: Annotation, notify: bool = True) -> None:
        keys = new.changed_keys(old)
        if keys:
            self.reader.update_attrs(**new.to_attrs(keys))
        # Read back what the recorder stored (it normalises order and types).
        self._annotation = Annotation.from_attrs(self.reader.attrs)
        if notify:
            self._notify()

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener(self._annotation)

    def _check_time(self, name: str, t: float) -> float:
        if not isinstance(t, (int, float)) or not math.isfinite(t):
            raise AnnotationError(f"{name}={t!r} must be a finite time in seconds")
        tol = 1e-6
        if not -tol <= t <= self.duration_s + tol:
            raise AnnotationError(
                f"{name}={t:.3f} s is outside episode {self.episode_id} (0 .. {self.duration_s:.3f} s)"
            )
        return min(max(float(t), 0.0), self.duration_s)

    def _validate(self, a: Annotation) -> None:
        if a.success not in (True, False, None):
            raise AnnotationError(f"success must be true, false or unset, got {a.success!r}")
        for seg in a.segments:
            self._check_time("segment start", seg.start_s)
            self._check_time("segment end", seg.end_s)
            if not seg.end_s > seg.start_s:
                raise AnnotationError(
                    f"segment '{seg.label}' ends at {seg.end_s:.3f} s, not after its start {seg.start_s:.3f} s; "
                    "mark the start before the end"
                )
            if not seg.label.strip():
                raise AnnotationError("a segment needs a label (e.g. 'grasp'); type one before adding it")
        for tag in a.tags:
            if not isinstance(tag, str) or not tag.strip() or "," in tag:
                raise AnnotationError(f"tag {tag!r} must be non-empty text without commas")
        if a.trim is not None:
            lo = self._check_time("trim start", a.trim[0])
            hi = self._check_time("trim end", a.trim[1])
            if not hi > lo:
                raise AnnotationError(f"trim start {lo:.3f} s must be before trim end {hi:.3f} s")

    # ------------------------------------------------------------------ edits
    def set_success(self, success: bool | None) -> Annotation:
        """The operator's verdict: True (success), False (failure), None (not judged)."""
        words = {True: "mark success", False: "mark failure", None: "clear verdict"}
        if success not in words:
            raise AnnotationError(f"success must be True, False or None, got {success!r}")
        return self.apply(replace(self._annotation, success=success), words[success])

    def add_segment(self, start_s: float, end_s: float, label: str, language: str = "") -> Annotation:
        """Add a sub-task segment ``[start_s, end_s]`` [s] (clipped to the episode by at most 1 µs)."""
        seg = Segment(
            self._check_time("segment start", start_s),
            self._check_time("segment end", end_s),
            label.strip(),
            language.strip(),
        )
        segments = tuple(sorted((*self._annotation.segments, seg), key=_segment_key))
        return self.apply(replace(self._annotation, segments=segments), f"add segment '{seg.label}'")

    def update_segment(self, index: int, **fields: Any) -> Annotation:
        """Change fields (``start_s``, ``end_s``, ``label``, ``language``) of segment ``index``."""
        segs = list(self._annotation.segments)
        if not 0 <= index < len(segs):
            raise AnnotationError(f"segment index {index} out of range; the episode has {len(segs)} segment(s)")
        unknown = sorted(set(fields) - {"start_s", "end_s", "label", "language"})
        if unknown:
            raise AnnotationError(f"unknown segment field(s) {unknown}; valid: start_s, end_s, label, language")
        segs[index] = replace(segs[index], **fields)
        new = replace(self._annotation, segments=tuple(sorted(segs, key=_segment_key)))
        return self.apply(new, f"edit segment '{segs[index].label}'")

    def remove_segment(self, index: int) -> Annotation:
        segs = list(self._annotation.segments)
        if not 0 <= index < len(segs):
            raise AnnotationError(f"segment index {index} out of range; the episode has {len(segs)} segment(s)")
        removed = segs.pop(index)
        return self.apply(replace(self._annotation, segments=tuple(segs)), f"remove segment '{removed.label}'")

    def set_tags(self, tags: Iterable[str]) -> Annotation:
        """Replace the tags (stripped, empty ones dropped, duplicates removed, order kept)."""
        clean = tuple(dict.fromkeys(t.strip() for t in tags if t.strip()))
        return self.apply(replace(self._annotation, tags=clean), "set tags")

    def add_tag(self, tag: str) -> Annotation:
        return self.set_tags((*self._annotation.tags, tag))

    def remove_tag(self, tag: str) -> Annotation:
        if tag not in self._annotation.tags:
            raise AnnotationError(f"episode {self.episode_id} has no tag '{tag}'; tags: {list(self._annotation.tags)}")
        return self.set_tags(t for t in self._annotation.tags if t != tag)

    def set_notes(self, notes: str) -> Annotation:
        return self.apply(replace(self._annotation, notes=str(notes)), "edit notes")

    def set_task(self, task: str, instruction: str | None = None) -> Annotation:
        new = replace(
            self._annotation,
            task=task.strip(),
            instruction=self._annotation.instruction if instruction is None else instruction.strip(),
        )
        return self.apply(new, "edit task")

    def set_trim(self, start_s: float, end_s: float) -> Annotation:
        """Keep only ``[start_s, end_s]`` [s] for training (the arrays are not touched)."""
        trim = (self._check_time("trim start", start_s), self._check_time("trim end", end_s))
        return self.apply(replace(self._annotation, trim=trim), "set trim")

    def set_trim_start(self, start_s: float) -> Annotation:
        end = self.duration_s if self._annotation.trim is None else self._annotation.trim[1]
        return self.set_trim(start_s, end)

    def set_trim_end(self, end_s: float) -> Annotation:
        start = 0.0 if self._annotation.trim is None else self._annotation.trim[0]
        return self.set_trim(start, end_s)

    def clear_trim(self) -> Annotation:
        return self.apply(replace(self._annotation, trim=None), "clear trim")
