"""The annotation app driven through real user actions (pytest-qt, offscreen): open, filter, scrub,
add a segment, judge, tag, save, undo, reopen and find it. Saves a screenshot."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from recorder import Dataset
from ui.annotate import AnnotateWindow


def _open(qtbot, path) -> AnnotateWindow:
    window = AnnotateWindow(path)
    qtbot.addWidget(window)
    with qtbot.waitExposed(window):
        window.show()
    window.activateWindow()  # window shortcuts (keys) need the active window
    qtbot.waitUntil(window.isActiveWindow)
    return window


def _click_episode(qtbot, window: AnnotateWindow, episode_id: str) -> None:
    row = [i.episode_id for i in window.table_model.infos].index(episode_id)
    index = window.table_model.index(row, 0)
    rect = window.table.visualRect(index)
    qtbot.mouseClick(window.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.editor is not None and window.editor.episode_id == episode_id


def _orange_column(pixmap) -> float:
    """Mean column of the orange square in the displayed frame, as a fraction of its width."""
    image = pixmap.toImage().convertToFormat(pixmap.toImage().Format.Format_RGB888)
    w, h = image.width(), image.height()
    arr = np.frombuffer(image.constBits(), np.uint8).reshape(h, image.bytesPerLine())[:, : 3 * w].reshape(h, w, 3)
    cols = np.nonzero((arr[..., 0] > 200) & (arr[..., 2] < 120))[1]
    return float(cols.mean()) / w


def test_annotate_round_trip_through_the_ui(qtbot, dataset, artifacts):
    window = _open(qtbot, dataset)
    assert window.count_label.text() == "6 of 6 episodes"
    window.task_filter.setCurrentText("lift_box")
    assert [i.episode_id for i in window.table_model.infos] == ["episode_000001", "episode_000004"]
    window.task_filter.setCurrentText("(any)")
    window.success_filter.setCurrentText("unjudged")
    assert window.count_label.text() == "2 of 6 episodes"
    window.success_filter.setCurrentText("any")

    _click_episode(qtbot, window, "episode_000002")
    assert window.time_label.text().endswith("row 1/90")
    left = _orange_column(window.frame_label.pixmap())
    # scrub: 30 rows to the right with the arrow key (one timeline cursor: frame, plot line, slider)
    for _ in range(30):
        qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.playback.index == 30 and window.slider.value() == 30
    assert window.cursor.value() == pytest.approx(1.0)
    assert _orange_column(window.frame_label.pixmap()) > left + 0.2  # the frame moved with the cursor
    window.slider.setValue(15)  # drag the slider
    assert window.playback.index == 15 and window.cursor.value() == pytest.approx(0.5)

    # a segment from 0.5 s to 1.5 s: '[' at the cursor, Shift+Right one second, ']'
    qtbot.keyClick(window, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(window, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(window, Qt.Key.Key_BracketRight)
    assert window.pending_label.text() == "start 0.50 s, end 1.50 s"
    qtbot.keyClicks(window.label_edit, "grasp")
    qtbot.keyClicks(window.language_edit, "grasp the handle with the right hand")
    qtbot.mouseClick(window.add_segment_button, Qt.MouseButton.LeftButton)
    assert window.segment_table.rowCount() == 1 and window.segment_table.item(0, 2).text() == "grasp"
    assert window.undo_button.isEnabled() and window.undo_button.toolTip() == "undo add segment 'grasp'"
    qtbot.mouseClick(window.success_radio, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(window.tags_edit, "clean, two-hands")
    qtbot.keyClicks(window.notes_edit, "handle squeaks")
    qtbot.keySequence(window, "Ctrl+S")
    window.step(10)
    qtbot.mouseClick(window.trim_end_button, Qt.MouseButton.LeftButton)  # trim end at row 55: 1.83 s
    assert window.trim_label.text() == "keep 0.00 s – 1.83 s"
    # undo the trim, then a wrong verdict is undone too
    qtbot.mouseClick(window.undo_button, Qt.MouseButton.LeftButton)
    assert window.trim_label.text() == "whole episode"
    qtbot.mouseClick(window.failure_radio, Qt.MouseButton.LeftButton)
    assert Dataset.open(dataset).episode("episode_000002").info.success is False
    qtbot.keySequence(window, "Ctrl+Z")
    assert window.success_radio.isChecked()
    assert window.table_model.infos[2].success is True  # the list shows the saved verdict
    # a refused edit says why and saves nothing
    qtbot.mouseClick(window.add_segment_button, Qt.MouseButton.LeftButton)
    assert "mark the segment's start" in window.statusBar().currentMessage()
    window.step(-5)
    window.resize(1500, 860)
    qtbot.wait(50)
    window.grab().save(str(artifacts / "annotate_synthetic.png"))
    window.close()

    # reopen: a new window on the same dataset finds everything, filtered by the new tag
    info = next(i for i in Dataset.open(dataset).episodes() if i.episode_id == "episode_000002")
    assert info.success is True and info.tags == ("clean", "two-hands") and info.notes == "handle squeaks"
    assert info.segments == (
        {"start": 0.5, "end": 1.5, "label": "grasp", "language": "grasp the handle with the right hand"},
    )
    assert info.attrs.get("trim") is None
    again = _open(qtbot, dataset)
    again.tag_filter.setCurrentText("clean")
    assert [i.episode_id for i in again.table_model.infos] == ["episode_000002"]
    _click_episode(qtbot, again, "episode_000002")
    assert again.success_radio.isChecked() and again.notes_edit.toPlainText() == "handle squeaks"
    assert again.segment_table.item(0, 3).text() == "grasp the handle with the right hand"
    qtbot.mouseClick(
        again.segment_table.viewport(),
        Qt.MouseButton.LeftButton,
        pos=again.segment_table.visualItemRect(again.segment_table.item(0, 0)).center(),
    )
    qtbot.mouseDClick(
        again.segment_table.viewport(),
        Qt.MouseButton.LeftButton,
        pos=again.segment_table.visualItemRect(again.segment_table.item(0, 0)).center(),
    )
    assert again.playback.index == 15  # double-click jumps to the segment's start
    qtbot.mouseClick(again.remove_segment_button, Qt.MouseButton.LeftButton)
    assert Dataset.open(dataset).episode("episode_000002").attrs["segments"] == []


def test_playback_speed_and_plot_groups(qtbot, dataset):
    window = _open(qtbot, dataset)
    _click_episode(qtbot, window, "episode_000000")
    window.speed_combo.setCurrentText("4x")
    assert window.playback.speed == 4.0
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.playback.playing and window.play_button.text() == "⏸ pause"
    qtbot.waitUntil(lambda: not window.playback.playing, timeout=5000)  # 3 s of episode at 4x: < 1 s
    assert window.playback.index == 89 and window.play_button.text() == "▶ play"
    window.group_combo.setCurrentText("locomotion")
    assert window.values_label.text().startswith("vx: ")
    assert len(window._plot_items) == 4  # action only: the state carries no locomotion command
    window.group_combo.setCurrentText("right hand")
    assert len(window._plot_items) == 14  # 7 action + 7 state curves
    qtbot.keyClick(window, Qt.Key.Key_Home)
    assert window.playback.index == 0
