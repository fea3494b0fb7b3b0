"""The annotation model: edits land in the episode attrs at once, undo writes them back, nothing else changes."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from recorder import Dataset, EpisodeStatus
from ui.annotation import Annotation, AnnotationEditor, Segment, UndoEntry, UndoStack
from ui.exceptions import AnnotationError, NothingToUndoError
from ui.filters import EpisodeQuery, Facets, SuccessFilter

DURATION = 89 / 30.0  # [s] 90 rows at 30 Hz


def _arrays_digest(path) -> str:
    """Hash of every chunk file (arrays) of the dataset: annotations must leave it unchanged."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file() and p.name != "zarr.json"):
        h.update(f.relative_to(path).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def test_undo_stack_is_bounded_and_linear():
    stack: UndoStack[int] = UndoStack(limit=3)
    for i in range(5):
        stack.push(UndoEntry(f"edit {i}", i, i + 1))
    assert len(stack) == 3 and stack.undo_description() == "edit 4"
    assert stack.take_undo().before == 4 and stack.take_undo().before == 3
    assert stack.redo_description() == "edit 3"
    assert stack.take_redo().after == 4
    stack.push(UndoEntry("new", 9, 10))
    assert not stack.can_redo
    stack.take_undo(), stack.take_undo(), stack.take_undo()
    with pytest.raises(NothingToUndoError, match="nothing to undo"):
        stack.take_undo()
    with pytest.raises(AnnotationError, match="at least 1"):
        UndoStack(limit=0)


def test_every_edit_is_saved_and_round_trips(dataset):
    before = _arrays_digest(dataset)
    editor = AnnotationEditor(Dataset.open(dataset).episode("episode_000001"))
    assert editor.duration_s == pytest.approx(DURATION)
    editor.add_segment(1.0, 2.5, "lift", "lift the box to the chest")
    editor.add_segment(0.2, 1.0, " grasp ", "grasp both handles")
    editor.set_success(True)
    editor.set_tags(["two-hands", " slow", "two-hands", ""])
    editor.set_notes("box slid at 2 s")
    editor.set_trim_start(0.1)
    editor.set_trim_end(2.9)
    # reopen from disk: a new process would see exactly this
    reader = Dataset.open(dataset).episode("episode_000001")
    a = Annotation.from_attrs(reader.attrs)
    assert a.segments == (
        Segment(0.2, 1.0, "grasp", "grasp both handles"),
        Segment(1.0, 2.5, "lift", "lift the box to the chest"),
    )
    assert a.success is True and a.tags == ("two-hands", "slow") and a.notes == "box slid at 2 s"
    assert a.trim == (0.1, 2.9)
    assert reader.attrs["segments"][1] == {
        "start": 1.0,
        "end": 2.5,
        "label": "lift",
        "language": "lift the box to the chest",
    }
    assert reader.info.status is EpisodeStatus.COMPLETE and reader.n_rows == 90
    assert "annotated_at" in reader.attrs
    assert _arrays_digest(dataset) == before  # attrs only: no array chunk was rewritten
    assert a.segment_at(1.5) == 1 and a.segment_at(2.8) is None


def test_undo_and_redo_write_back(dataset):
    editor = AnnotationEditor(Dataset.open(dataset).episode("episode_000002"))
    seen = []
    undoable = []
    editor.subscribe(seen.append)
    editor.subscribe(lambda _a: undoable.append(editor.history.can_undo))
    editor.set_success(False)
    editor.add_segment(0.5, 1.5, "reach")
    editor.update_segment(0, end_s=2.0, language="reach for the handle")
    assert editor.undo() == "edit segment 'reach'"
    assert Annotation.from_attrs(Dataset.open(dataset).episode("episode_000002").attrs).segments == (
        Segment(0.5, 1.5, "reach", ""),
    )
    assert editor.undo() == "add segment 'reach'"
    assert editor.undo() == "mark failure"
    on_disk = Dataset.open(dataset).episode("episode_000002").attrs
    assert on_disk["success"] is None and on_disk["segments"] == []
    assert editor.redo() == "mark failure"
    assert Dataset.open(dataset).episode("episode_000002").info.success is False
    assert len(seen) == 7 and seen[-1].success is False  # 3 edits, 3 undos, 1 redo
    assert undoable == [True, True, True, True, True, False, True]  # listeners see the state after the edit
    with pytest.raises(NothingToUndoError):
        editor.redo() and editor.redo() and editor.redo()
    # an edit that changes nothing is not an undo step
    n = len(editor.history)
    editor.set_success(False)
    assert len(editor.history) == n


def test_invalid_edits_are_refused_before_writing(dataset):
    editor = AnnotationEditor(Dataset.open(dataset).episode("episode_000000"))
    with pytest.raises(
        AnnotationError, match=r"segment end=3.500 s is outside episode episode_000000 \(0 .. 2.967 s\)"
    ):
        editor.add_segment(1.0, 3.5, "lift")
    with pytest.raises(AnnotationError, match="not after its start"):
        editor.add_segment(2.0, 1.0, "lift")
    with pytest.raises(AnnotationError, match="needs a label"):
        editor.add_segment(0.0, 1.0, "  ")
    with pytest.raises(AnnotationError, match="must be before trim end"):
        editor.set_trim(2.0, 1.0)
    with pytest.raises(AnnotationError, match="without commas"):
        editor.add_tag("a,b")
    with pytest.raises(AnnotationError, match="out of range; the episode has 0"):
        editor.remove_segment(0)
    with pytest.raises(AnnotationError, match="finite time"):
        editor.set_trim_start(float("nan"))
    assert Dataset.open(dataset).episode("episode_000000").attrs["segments"] == []
    assert not editor.history.can_undo


def test_annotations_are_visible_to_the_trainer_filters(dataset):
    windows = pytest.importorskip("policies.windows")
    from policies.config import WindowConfig

    for eid, success, label in (
        ("episode_000000", True, "grasp"),
        ("episode_000001", True, "lift"),
        ("episode_000002", False, "grasp"),
    ):
        editor = AnnotationEditor(Dataset.open(dataset).episode(eid))
        editor.set_success(success)
        editor.add_segment(0.5, 1.5, label)
    editor.set_trim(0.4, 2.0)
    ds = Dataset.open(dataset, read_only=True)
    picked = windows.select_episodes(ds, WindowConfig(successful_only=True, segment_labels=("grasp",)))
    assert [i.episode_id for i in picked] == ["episode_000000"]
    picked = windows.select_episodes(ds, WindowConfig(segment_labels=("grasp",)))
    assert [i.episode_id for i in picked] == ["episode_000000", "episode_000002"]
    # rows kept for training: inside the 'grasp' segment [0.5, 1.5] s and the trim [0.4, 2.0] s
    info = picked[1]
    time_s = ds.episode(info.episode_id).time
    spans = windows._spans(info, time_s, WindowConfig(segment_labels=("grasp",)))
    assert [(s.start, s.stop) for s in spans] == [(15, 46)]
    assert time_s[15] == pytest.approx(0.5) and time_s[45] == pytest.approx(1.5)


def test_query_filters_and_facets(dataset):
    infos = Dataset.open(dataset).episodes()
    ids = lambda q: [i.episode_id[-1] for i in q.apply(infos)]  # noqa: E731
    assert ids(EpisodeQuery()) == list("012345")
    assert ids(EpisodeQuery(task="lift_box")) == list("14")
    assert ids(EpisodeQuery(success=SuccessFilter.FAILURE)) == list("14")
    assert ids(EpisodeQuery(status=EpisodeStatus.DISCARDED)) == ["5"]
    assert ids(EpisodeQuery(operator="alice", success=SuccessFilter.SUCCESS)) == ["0"]
    assert ids(EpisodeQuery(text="OPEN DRAWER")) == list("25")
    editor = AnnotationEditor(Dataset.open(dataset).episode("episode_000003"))
    editor.add_tag("occluded")
    editor.add_segment(0.0, 1.0, "grasp")
    infos = Dataset.open(dataset).episodes()
    assert ids(EpisodeQuery(tag="occluded")) == ["3"]
    assert ids(EpisodeQuery(segment_label="grasp")) == ["3"]
    facets = Facets.of(infos)
    assert facets.tasks == ("lift_box", "open_drawer", "pick_place") and facets.operators == ("alice", "bob")
    assert facets.tags == ("occluded",) and facets.segment_labels == ("grasp",)
    with pytest.raises(Exception, match="not a SuccessFilter; valid: any, success, failure, unjudged"):
        EpisodeQuery(success="yes")
    assert np.isfinite(infos[0].duration_s)
