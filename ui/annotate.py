"""The episode annotation app (Qt + pyqtgraph): browse, replay and annotate a dataset.

    ┌ filters ─────────┐ ┌ camera frame ─────────────────┐ ┌ verdict, segments, ──┐
    │ task status ...  │ │                               │ │ tags, notes, trim,   │
    ├ episode list ────┤ ├ action (solid) / state (dash) ┤ │ undo / redo          │
    │ (lazy table)     │ │ segments shaded, cursor line  │ │                      │
    │                  │ ├ timeline slider, transport    ┤ │                      │
    └──────────────────┘ └───────────────────────────────┘ └──────────────────────┘

Everything the window decides is in plain modules: listing and filtering
(:mod:`ui.filters`), the cursor and playback (:mod:`ui.playback`), the arrays and frames
(:mod:`ui.episode_view`) and the edits with undo (:mod:`ui.annotation`, saved to the
episode attrs the moment they are made). The window wires widgets to those calls.

Keys: Space play/pause · ←/→ one row · Shift+←/→ one second · Home/End · [ / ] mark segment
start/end · Ctrl+Enter add segment · Ctrl+Z / Ctrl+Shift+Z undo/redo · Ctrl+S save notes and tags.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from ui.qt import require_qt

require_qt("the annotation app")

import pyqtgraph as pg  # noqa: E402
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QKeySequence, QPixmapCache, QShortcut  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QGraphicsItem,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSlider,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from recorder import Dataset, EpisodeInfo, EpisodeStatus  # noqa: E402
from teleop.exceptions import PsiTeleopError  # noqa: E402
from ui.annotation import Annotation, AnnotationEditor  # noqa: E402
from ui.episode_view import PLOT_GROUPS, EpisodeView, plot_group  # noqa: E402
from ui.filters import EpisodeQuery, Facets, SuccessFilter  # noqa: E402
from ui.playback import SPEEDS, Playback  # noqa: E402
from ui.qt import pixmap_from_rgb, style_plots  # noqa: E402

log = logging.getLogger(__name__)

#: Qt's pixmap cache [KiB]: the 14 cached curves of a full-width plot take ~1 MB each; Qt's default
#: 10 MB would evict them every step and re-stroke every path (150 ms instead of 10 ms per step).
PIXMAP_CACHE_KB = 96 * 1024
#: Playback timer period [ms] (~60 Hz: smooth at 4x without busy-looping).
PLAY_TICK_MS = 16
#: Line colours of the plotted components (colour-blind friendly palette).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
#: Segment shading colours (RGBA), cycled by label.
SEGMENT_RGBA = ((0, 114, 178, 40), (213, 94, 0, 40), (0, 158, 115, 40), (204, 121, 167, 40))
#: Long episodes are drawn at screen resolution (min/max per pixel column), without antialiasing.
_CURVE_OPTIONS = {"autoDownsample": True, "downsampleMethod": "peak", "antialias": False, "skipFiniteCheck": True}
_ANY = "(any)"
_VERDICT = {True: "✔", False: "✘", None: "–"}


class EpisodeTableModel(QAbstractTableModel):
    """The filtered episode list. Holds only :class:`EpisodeInfo` (attrs); Qt asks for visible rows only."""

    COLUMNS = ("episode", "task", "status", "verdict", "len [s]", "operator", "tags")

    def __init__(self) -> None:
        super().__init__()
        self.infos: list[EpisodeInfo] = []

    def set_infos(self, infos: list[EpisodeInfo]) -> None:
        self.beginResetModel()
        self.infos = list(infos)
        self.endResetModel()

    def replace(self, info: EpisodeInfo) -> None:
        for row, old in enumerate(self.infos):
            if old.episode_id == info.episode_id:
                self.infos[row] = info
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.COLUMNS) - 1))
                return

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self.infos)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role != Qt.ItemDataRole.DisplayRole:
            return None
        info = self.infos[index.row()]
        return (
            info.episode_id.removeprefix("episode_"),
            info.task,
            info.status.value,
            _VERDICT[info.success],
            f"{info.duration_s:.1f}",
            info.operator,
            ", ".join(info.tags),
        )[index.column()]


class AnnotateWindow(QMainWindow):
    """The annotation app's main window on the dataset at ``path``."""

    def __init__(self, path: str | Path, parent: QWidget | None = None):
        super().__init__(parent)
        style_plots()
        if QPixmapCache.cacheLimit() < PIXMAP_CACHE_KB:
            QPixmapCache.setCacheLimit(PIXMAP_CACHE_KB)
        self.path = Path(path)
        self.dataset = Dataset.open(path)
        self.view: EpisodeView | None = None
        self.editor: AnnotationEditor | None = None
        self.playback = Playback(np.zeros(0))
        self.group = PLOT_GROUPS[0]
        self.camera: str | None = None
        self.pending_start_s: float | None = None  # [s] segment start marked with '['
        self.pending_end_s: float | None = None  # [s]
        self._all_infos: list[EpisodeInfo] = []
        self._last_tick = time.perf_counter()
        self._segment_items: list[Any] = []
        self._shown_tags = ""  # tags and notes text as last shown from the saved annotation
        self._shown_notes = ""
        self._force_text = False
        self._plot_items: list[Any] = []
        self.setWindowTitle(f"psi-teleop annotate — {self.path}")
        self.resize(1500, 860)
        self._build()
        self._shortcuts()
        self._timer = QTimer(self)
        self._timer.setInterval(PLAY_TICK_MS)
        self._timer.timeout.connect(self._on_play_tick)
        self.reload_listing()

    # ================================================================== layout
    def _build(self) -> None:
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_browser())
        splitter.addWidget(self._build_player())
        splitter.addWidget(self._build_editor())
        splitter.setSizes([470, 720, 330])
        for i, stretch in enumerate((0, 1, 0)):  # extra width goes to the player
            splitter.setStretchFactor(i, stretch)
        self.setCentralWidget(splitter)
        self.statusBar().showMessage(f"opened {self.path}")

    def _build_browser(self) -> QWidget:
        box = QWidget()
        box.setMinimumWidth(450)
        layout = QVBoxLayout(box)
        form = QFormLayout()
        self.task_filter = QComboBox()
        self.status_filter = QComboBox()
        self.status_filter.addItems([_ANY] + [s.value for s in EpisodeStatus])
        self.success_filter = QComboBox()
        self.success_filter.addItems([s.value for s in SuccessFilter])
        self.tag_filter = QComboBox()
        self.operator_filter = QComboBox()
        self.text_filter = QLineEdit()
        self.text_filter.setPlaceholderText("id, instruction or notes contain…")
        for label, widget in (
            ("task", self.task_filter),
            ("status", self.status_filter),
            ("verdict", self.success_filter),
            ("tag", self.tag_filter),
            ("operator", self.operator_filter),
            ("text", self.text_filter),
        ):
            form.addRow(label, widget)
            if isinstance(widget, QComboBox):
                widget.currentIndexChanged.connect(self.apply_filters)
        self.text_filter.textChanged.connect(self.apply_filters)
        layout.addLayout(form)
        self.count_label = QLabel()
        layout.addWidget(self.count_label)
        self.table_model = EpisodeTableModel()
        self.table = QTableView()
        self.table.setModel(self.table_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # Size the columns from the visible rows only: Qt's default measures 1000 rows on every change.
        self.table.horizontalHeader().setResizeContentsPrecision(0)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.selectionModel().currentRowChanged.connect(self._on_row_changed)
        layout.addWidget(self.table, 1)
        return box

    def _build_player(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        top = QHBoxLayout()
        self.episode_label = QLabel("select an episode")
        self.episode_label.setWordWrap(True)
        top.addWidget(self.episode_label, 1)
        top.addWidget(QLabel("camera"))
        self.camera_combo = QComboBox()
        self.camera_combo.currentTextChanged.connect(self._on_camera_changed)
        top.addWidget(self.camera_combo)
        layout.addLayout(top)
        self.frame_label = QLabel()
        self.frame_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.frame_label.setMinimumSize(320, 240)
        self.frame_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.frame_label.setStyleSheet("background: #202020; color: #bbbbbb;")
        layout.addWidget(self.frame_label, 3)
        row = QHBoxLayout()
        row.addWidget(QLabel("plot"))
        self.group_combo = QComboBox()
        self.group_combo.addItems([g.name for g in PLOT_GROUPS])
        self.group_combo.currentTextChanged.connect(self._on_group_changed)
        row.addWidget(self.group_combo)
        row.addWidget(QLabel("solid: action, dashed: measured state"))
        row.addStretch(1)
        layout.addLayout(row)
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "time", units="s")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.addLegend(offset=(-4, 4), labelTextSize="7pt", colCount=4)
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        for name in ("left", "bottom"):
            self.plot.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.cursor = pg.InfiniteLine(pos=0, angle=90, movable=True, pen=pg.mkPen("#d00000", width=2))
        self.cursor.sigDragged.connect(self._on_cursor_dragged)
        self.plot.addItem(self.cursor, ignoreBounds=True)
        layout.addWidget(self.plot, 3)
        self.values_label = QLabel()
        self.values_label.setStyleSheet("font-family: monospace; font-size: 9pt;")
        self.values_label.setWordWrap(True)
        self.values_label.setFixedHeight(3 * self.values_label.fontMetrics().lineSpacing() + 6)  # no relayout per step
        self.values_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        layout.addWidget(self.values_label)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.valueChanged.connect(self._on_slider)
        layout.addWidget(self.slider)
        transport = QHBoxLayout()
        self.back_button = QPushButton("◀ 1 s")
        self.back_button.clicked.connect(lambda: self.step(-self._rows_per_second()))
        self.prev_button = QPushButton("◀ row")
        self.prev_button.clicked.connect(lambda: self.step(-1))
        self.play_button = QPushButton("▶ play")
        self.play_button.clicked.connect(self.toggle_play)
        self.next_button = QPushButton("row ▶")
        self.next_button.clicked.connect(lambda: self.step(1))
        self.fwd_button = QPushButton("1 s ▶")
        self.fwd_button.clicked.connect(lambda: self.step(self._rows_per_second()))
        self.speed_combo = QComboBox()
        self.speed_combo.addItems([f"{s:g}x" for s in SPEEDS])
        self.speed_combo.setCurrentText("1x")
        self.speed_combo.currentIndexChanged.connect(lambda i: self.playback.set_speed(SPEEDS[i]))
        self.time_label = QLabel()
        self.time_label.setStyleSheet("font-family: monospace;")
        self.time_label.setMinimumWidth(
            self.time_label.fontMetrics().horizontalAdvance("t = 0000.000 / 0000.000 s   row 000000/000000")
        )
        for w in (self.back_button, self.prev_button, self.play_button, self.next_button, self.fwd_button):
            transport.addWidget(w)
        transport.addWidget(QLabel("speed"))
        transport.addWidget(self.speed_combo)
        transport.addWidget(self.time_label, 1)
        layout.addLayout(transport)
        return box

    def _build_editor(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        verdict = QGroupBox("verdict")
        vrow = QHBoxLayout(verdict)
        self.success_radio = QRadioButton("success")
        self.failure_radio = QRadioButton("failure")
        self.unjudged_radio = QRadioButton("not judged")
        self.verdict_group = QButtonGroup(self)
        for i, r in enumerate((self.success_radio, self.failure_radio, self.unjudged_radio)):
            self.verdict_group.addButton(r, i)
            vrow.addWidget(r)
        self.verdict_group.idClicked.connect(self._on_verdict)
        layout.addWidget(verdict)

        seg = QGroupBox("sub-task segments")
        sl = QVBoxLayout(seg)
        marks = QHBoxLayout()
        self.mark_start_button = QPushButton("[ start here")
        self.mark_start_button.clicked.connect(self.mark_segment_start)
        self.mark_end_button = QPushButton("end here ]")
        self.mark_end_button.clicked.connect(self.mark_segment_end)
        marks.addWidget(self.mark_start_button)
        marks.addWidget(self.mark_end_button)
        sl.addLayout(marks)
        self.pending_label = QLabel("start –, end –")
        sl.addWidget(self.pending_label)
        self.label_edit = QLineEdit()
        self.label_edit.setPlaceholderText("label, e.g. grasp")
        self.language_edit = QLineEdit()
        self.language_edit.setPlaceholderText("language, e.g. grasp the cup with the right hand")
        sl.addWidget(self.label_edit)
        sl.addWidget(self.language_edit)
        self.add_segment_button = QPushButton("add segment")
        self.add_segment_button.clicked.connect(self.add_segment)
        sl.addWidget(self.add_segment_button)
        self.segment_table = QTableWidget(0, 4)
        self.segment_table.setHorizontalHeaderLabels(["start [s]", "end [s]", "label", "language"])
        self.segment_table.verticalHeader().setVisible(False)
        self.segment_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.segment_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.segment_table.horizontalHeader()
        for col in range(3):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)  # language: elided, full text in the tooltip
        self.segment_table.cellDoubleClicked.connect(lambda r, _c: self._seek_segment(r))
        sl.addWidget(self.segment_table)
        self.remove_segment_button = QPushButton("remove selected segment")
        self.remove_segment_button.clicked.connect(self.remove_selected_segment)
        sl.addWidget(self.remove_segment_button)
        layout.addWidget(seg, 2)

        meta = QGroupBox("tags and notes")
        ml = QVBoxLayout(meta)
        self.tags_edit = QLineEdit()
        self.tags_edit.setPlaceholderText("comma-separated tags")
        self.tags_edit.editingFinished.connect(self.save_tags)
        ml.addWidget(self.tags_edit)
        self.notes_edit = QPlainTextEdit()
        self.notes_edit.setPlaceholderText("notes (saved with Ctrl+S, when you open another episode or close)")
        self.notes_edit.setMaximumHeight(90)
        ml.addWidget(self.notes_edit)
        self.save_button = QPushButton("save tags and notes (Ctrl+S)")
        self.save_button.clicked.connect(self.save_text_fields)
        ml.addWidget(self.save_button)
        layout.addWidget(meta)

        trim = QGroupBox("trim (the part kept for training)")
        tl = QVBoxLayout(trim)
        trow = QHBoxLayout()
        self.trim_start_button = QPushButton("start here")
        self.trim_start_button.clicked.connect(lambda: self._edit(lambda e: e.set_trim_start(self.playback.t)))
        self.trim_end_button = QPushButton("end here")
        self.trim_end_button.clicked.connect(lambda: self._edit(lambda e: e.set_trim_end(self.playback.t)))
        self.clear_trim_button = QPushButton("clear")
        self.clear_trim_button.clicked.connect(lambda: self._edit(lambda e: e.clear_trim()))
        for b in (self.trim_start_button, self.trim_end_button, self.clear_trim_button):
            trow.addWidget(b)
        tl.addLayout(trow)
        self.trim_label = QLabel("whole episode")
        tl.addWidget(self.trim_label)
        layout.addWidget(trim)

        urow = QHBoxLayout()
        self.undo_button = QPushButton("undo")
        self.undo_button.clicked.connect(self.undo)
        self.redo_button = QPushButton("redo")
        self.redo_button.clicked.connect(self.redo)
        urow.addWidget(self.undo_button)
        urow.addWidget(self.redo_button)
        layout.addLayout(urow)
        self._set_editing_enabled(False)
        return box

    def _shortcuts(self) -> None:
        def key(seq, fn) -> None:
            sc = QShortcut(QKeySequence(seq), self)
            sc.setContext(Qt.ShortcutContext.WindowShortcut)
            sc.activated.connect(fn)

        key(Qt.Key.Key_Space, self.toggle_play)
        key(Qt.Key.Key_Right, lambda: self.step(1))
        key(Qt.Key.Key_Left, lambda: self.step(-1))
        key("Shift+Right", lambda: self.step(self._rows_per_second()))
        key("Shift+Left", lambda: self.step(-self._rows_per_second()))
        key(Qt.Key.Key_Home, lambda: self.seek(0))
        key(Qt.Key.Key_End, lambda: self.seek(self.playback.n_rows - 1))
        key("[", self.mark_segment_start)
        key("]", self.mark_segment_end)
        key("Ctrl+Return", self.add_segment)
        key(QKeySequence.StandardKey.Undo, self.undo)
        key(QKeySequence.StandardKey.Redo, self.redo)
        key("Ctrl+Shift+Z", self.redo)
        key(QKeySequence.StandardKey.Save, self.save_text_fields)

    # ================================================================== listing
    def reload_listing(self) -> None:
        """Re-read every episode's attrs (no arrays) and refresh the filters and the list."""
        t0 = time.perf_counter()
        self._all_infos = self.dataset.episodes(include_deleted=False)
        facets = Facets.of(self._all_infos)
        for combo, values in (
            (self.task_filter, facets.tasks),
            (self.tag_filter, facets.tags),
            (self.operator_filter, facets.operators),
        ):
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems([_ANY, *values])
            combo.setCurrentText(current if current in values else _ANY)
            combo.blockSignals(False)
        self.apply_filters()
        log.info("listed %d episodes in %.0f ms", len(self._all_infos), 1e3 * (time.perf_counter() - t0))

    def query(self) -> EpisodeQuery:
        """The filter the widgets describe."""

        def pick(combo: QComboBox) -> str | None:
            text = combo.currentText()
            return None if text in ("", _ANY) else text

        status = pick(self.status_filter)
        return EpisodeQuery(
            task=pick(self.task_filter),
            status=None if status is None else EpisodeStatus(status),
            success=SuccessFilter(self.success_filter.currentText()),
            tag=pick(self.tag_filter),
            operator=pick(self.operator_filter),
            text=self.text_filter.text().strip(),
        )

    def apply_filters(self) -> None:
        current = self.editor.episode_id if self.editor else None
        shown = self.query().apply(self._all_infos)
        self.table_model.set_infos(shown)
        self.count_label.setText(f"{len(shown)} of {len(self._all_infos)} episodes")
        if current is not None:
            for row, info in enumerate(shown):
                if info.episode_id == current:
                    self.table.selectionModel().blockSignals(True)
                    self.table.selectRow(row)
                    self.table.selectionModel().blockSignals(False)
                    break

    def select_episode(self, episode_id: str) -> None:
        """Select ``episode_id`` in the list (it must pass the filters) and open it."""
        for row, info in enumerate(self.table_model.infos):
            if info.episode_id == episode_id:
                self.table.selectRow(row)
                return
        self.statusBar().showMessage(f"{episode_id} is not in the filtered list; clear the filters")

    def _on_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.open_episode(self.table_model.infos[current.row()].episode_id)

    # ================================================================== episode
    def open_episode(self, episode_id: str) -> None:
        """Load one episode's arrays and annotations and show its first row."""
        self.save_text_fields()
        self.pause()
        reader = self.dataset.episode(episode_id)
        self.view = EpisodeView(reader)
        self.editor = AnnotationEditor(reader)
        self.editor.subscribe(self._on_annotation_changed)
        self.playback = Playback(self.view.time_s, speed=SPEEDS[self.speed_combo.currentIndex()])
        self.pending_start_s = self.pending_end_s = None
        info = reader.info
        self.episode_label.setText(
            f"<b>{episode_id}</b> · {info.task} · {info.status.value} · {info.n_rows} rows · "
            f"{info.duration_s:.1f} s<br><i>{info.instruction}</i>"
        )
        self.camera_combo.blockSignals(True)
        self.camera_combo.clear()
        self.camera_combo.addItems(self.view.cameras)
        self.camera_combo.blockSignals(False)
        self.camera = self.view.cameras[0] if self.view.cameras else None
        if self.camera is None:
            self.frame_label.setText("this episode has no camera")
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(self.view.n_rows - 1, 0))
        self.slider.blockSignals(False)
        self._draw_plot()
        self._force_text = True
        self._on_annotation_changed(self.editor.annotation)
        self._set_editing_enabled(True)
        self.show_row(0)

    def _draw_plot(self) -> None:
        for item in self._plot_items:
            self.plot.removeItem(item)
        self._plot_items.clear()
        self.plot.getPlotItem().legend.clear()
        if self.view is None:
            return
        action, state = self.view.series(self.group)
        t = self.view.time_s
        for j, label in enumerate(self.group.labels):
            color = PALETTE[j % len(PALETTE)]
            self._plot_items.append(
                self.plot.plot(t, action[:, j], pen=pg.mkPen(color, width=1.5), name=label, **_CURVE_OPTIONS)
            )
            if state is not None:
                self._plot_items.append(
                    self.plot.plot(
                        t, state[:, j], pen=pg.mkPen(color, width=1, style=Qt.PenStyle.DashLine), **_CURVE_OPTIONS
                    )
                )
        for item in self._plot_items:
            # Curves are drawn once into a pixmap and blitted when the cursor moves over them:
            # a step repaints a thin strip instead of re-stroking 14 paths of thousands of points.
            item.curve.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.plot.setLabel("left", f"{self.group.name} [{self.group.unit}]")
        self.plot.setXRange(0.0, max(float(t[-1]) if len(t) else 1.0, 1e-3), padding=0.01)
        shown = action if state is None else np.concatenate([action, state], axis=1)
        finite = shown[np.isfinite(shown)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 1.0)
        span = max(hi - lo, 1e-3)
        self.plot.setYRange(lo - 0.05 * span, hi + 0.45 * span, padding=0)  # headroom: legend, segment labels

    def _draw_annotation_overlays(self, a: Annotation) -> None:
        for item in self._segment_items:
            self.plot.removeItem(item)
        self._segment_items.clear()
        labels = sorted({s.label for s in a.segments})
        for seg in a.segments:
            rgba = SEGMENT_RGBA[labels.index(seg.label) % len(SEGMENT_RGBA)]
            region = pg.LinearRegionItem(
                (seg.start_s, seg.end_s), movable=False, brush=pg.mkBrush(*rgba), pen=pg.mkPen((*rgba[:3], 160))
            )
            region.setZValue(-10)
            text = pg.TextItem(seg.label, color=rgba[:3], anchor=(0, 0))
            text.setPos(seg.start_s, self.plot.getViewBox().viewRange()[1][1])
            for item in (region, text):
                self.plot.addItem(item, ignoreBounds=True)
                self._segment_items.append(item)
        if a.trim is not None and self.view is not None:
            end = self.view.time_s[-1] if self.view.n_rows else 0.0
            for lo, hi in ((0.0, a.trim[0]), (a.trim[1], end)):
                if hi > lo:
                    cut = pg.LinearRegionItem(
                        (lo, hi), movable=False, brush=pg.mkBrush(90, 90, 90, 70), pen=pg.mkPen(None)
                    )
                    cut.setZValue(-5)
                    self.plot.addItem(cut, ignoreBounds=True)
                    self._segment_items.append(cut)

    def show_row(self, index: int) -> None:
        """Move the one timeline cursor: frame, plot cursor, slider, time and values follow."""
        if self.view is None:
            return
        i = self.playback.seek(index)
        if self.camera is not None:
            pixmap = pixmap_from_rgb(self.view.frame(self.camera, i))
            size = self.frame_label.size()
            if pixmap.width() > size.width() or pixmap.height() > size.height() or pixmap.width() * 2 <= size.width():
                pixmap = pixmap.scaled(
                    size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation
                )
            self.frame_label.setPixmap(pixmap)
        t = self.playback.t
        self.cursor.setValue(t)
        self.slider.blockSignals(True)
        self.slider.setValue(i)
        self.slider.blockSignals(False)
        self.time_label.setText(f"t = {t:7.3f} / {self.playback.duration_s:.3f} s   row {i + 1}/{self.playback.n_rows}")
        vals = self.view.values_at(self.group, i)
        self.values_label.setText(
            "  ".join(f"{label}: {a:+.3f}" + ("" if s is None else f" ({s:+.3f})") for label, a, s in vals)
        )

    def seek(self, index: int) -> None:
        self.pause()
        self.show_row(index)

    def step(self, rows: int) -> None:
        """Step ``rows`` rows (negative: back) and pause."""
        if self.view is None:
            return
        self.pause()
        self.show_row(self.playback.index + rows)

    def _rows_per_second(self) -> int:
        return max(1, int(round(self.dataset.record_hz)))

    def toggle_play(self) -> None:
        if self.view is None:
            return
        if self.playback.toggle():
            self._last_tick = time.perf_counter()
            self._timer.start()
            self.play_button.setText("⏸ pause")
        else:
            self.pause()

    def pause(self) -> None:
        self.playback.pause()
        self._timer.stop()
        self.play_button.setText("▶ play")

    def _on_play_tick(self) -> None:
        now = time.perf_counter()
        dt, self._last_tick = now - self._last_tick, now
        if self.playback.advance(dt):
            self.show_row(self.playback.index)
        if not self.playback.playing:
            self.pause()

    def _on_slider(self, value: int) -> None:
        self.seek(value)

    def _on_cursor_dragged(self) -> None:
        self.pause()
        self.show_row(self.playback.seek_time(float(self.cursor.value())))

    def _on_camera_changed(self, name: str) -> None:
        if name:
            self.camera = name
            self.show_row(self.playback.index)

    def _on_group_changed(self, name: str) -> None:
        self.group = plot_group(name)
        self._draw_plot()
        if self.editor is not None:
            self._draw_annotation_overlays(self.editor.annotation)
            self.show_row(self.playback.index)

    # ================================================================== editing
    def _set_editing_enabled(self, on: bool) -> None:
        for w in (
            self.success_radio,
            self.failure_radio,
            self.unjudged_radio,
            self.mark_start_button,
            self.mark_end_button,
            self.add_segment_button,
            self.remove_segment_button,
            self.tags_edit,
            self.notes_edit,
            self.save_button,
            self.trim_start_button,
            self.trim_end_button,
            self.clear_trim_button,
            self.label_edit,
            self.language_edit,
        ):
            w.setEnabled(on)
        self.undo_button.setEnabled(on and self.editor is not None and self.editor.history.can_undo)
        self.redo_button.setEnabled(on and self.editor is not None and self.editor.history.can_redo)

    def _edit(self, fn) -> bool:
        """Run one edit on the editor; show a refused edit's reason in the status bar."""
        if self.editor is None:
            return False
        try:
            fn(self.editor)
        except PsiTeleopError as exc:
            self.statusBar().showMessage(f"not saved: {exc}", 10000)
            return False
        return True

    def _on_annotation_changed(self, a: Annotation) -> None:
        """Refresh every annotation widget from the saved annotation (after edits, undo, redo)."""
        radio = {True: self.success_radio, False: self.failure_radio, None: self.unjudged_radio}[a.success]
        radio.setChecked(True)
        self.segment_table.setRowCount(len(a.segments))
        for r, seg in enumerate(a.segments):
            for c, text in enumerate((f"{seg.start_s:.2f}", f"{seg.end_s:.2f}", seg.label, seg.language)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.segment_table.setItem(r, c, item)
        # Text the operator is typing (differs from what was last shown) is kept until saved.
        tags = ", ".join(a.tags)
        if self._force_text or self.tags_edit.text() == self._shown_tags:
            self.tags_edit.setText(tags)
        self._shown_tags = tags
        if self._force_text or self.notes_edit.toPlainText() == self._shown_notes:
            self.notes_edit.setPlainText(a.notes)
        self._shown_notes = a.notes
        self._force_text = False
        self.trim_label.setText("whole episode" if a.trim is None else f"keep {a.trim[0]:.2f} s – {a.trim[1]:.2f} s")
        self._draw_annotation_overlays(a)
        if self.editor is not None:
            self.table_model.replace(self.editor.info)
            self._all_infos = [
                self.editor.info if i.episode_id == self.editor.episode_id else i for i in self._all_infos
            ]
            self.undo_button.setEnabled(self.editor.history.can_undo)
            self.redo_button.setEnabled(self.editor.history.can_redo)
            self.undo_button.setToolTip(f"undo {self.editor.history.undo_description() or ''}")
            self.redo_button.setToolTip(f"redo {self.editor.history.redo_description() or ''}")

    def _on_verdict(self, button_id: int) -> None:
        self._edit(lambda e: e.set_success((True, False, None)[button_id]))

    def _show_pending(self) -> None:
        fmt = lambda t: "–" if t is None else f"{t:.2f} s"  # noqa: E731
        self.pending_label.setText(f"start {fmt(self.pending_start_s)}, end {fmt(self.pending_end_s)}")

    def mark_segment_start(self) -> None:
        """Take the cursor time as the next segment's start."""
        if self.view is not None:
            self.pending_start_s = self.playback.t
            self._show_pending()

    def mark_segment_end(self) -> None:
        if self.view is not None:
            self.pending_end_s = self.playback.t
            self._show_pending()

    def add_segment(self) -> None:
        """Add the marked [start, end] with the typed label and language (saved at once)."""
        if self.editor is None:
            return
        if self.pending_start_s is None or self.pending_end_s is None:
            self.statusBar().showMessage("mark the segment's start ([) and end (]) at the cursor first", 10000)
            return
        label, language = self.label_edit.text(), self.language_edit.text()
        start, end = self.pending_start_s, self.pending_end_s
        if self._edit(lambda e: e.add_segment(start, end, label, language)):
            self.pending_start_s = self.pending_end_s = None
            self._show_pending()
            self.label_edit.clear()
            self.language_edit.clear()
            self.statusBar().showMessage(f"segment '{label.strip()}' saved", 5000)

    def remove_selected_segment(self) -> None:
        rows = self.segment_table.selectionModel().selectedRows()
        if rows:
            self._edit(lambda e: e.remove_segment(rows[0].row()))

    def _seek_segment(self, row: int) -> None:
        if self.editor is not None and row < len(self.editor.annotation.segments):
            self.pause()
            self.show_row(self.playback.seek_time(self.editor.annotation.segments[row].start_s))

    def save_tags(self) -> None:
        if self.editor is not None:
            tags = [t for t in self.tags_edit.text().split(",")]
            if tuple(t.strip() for t in tags if t.strip()) != self.editor.annotation.tags:
                self._edit(lambda e: e.set_tags(tags))

    def save_text_fields(self) -> None:
        """Save the tags and notes being typed (other edits are saved as they are made)."""
        if self.editor is None:
            return
        notes = self.notes_edit.toPlainText()
        self.save_tags()
        if notes != self.editor.annotation.notes:
            self._edit(lambda e: e.set_notes(notes))
        self.statusBar().showMessage(f"{self.editor.episode_id}: annotations saved", 5000)

    def undo(self) -> None:
        if self.editor is not None and self.editor.history.can_undo:
            self.statusBar().showMessage(f"undid: {self.editor.undo()}", 5000)

    def redo(self) -> None:
        if self.editor is not None and self.editor.history.can_redo:
            self.statusBar().showMessage(f"redid: {self.editor.redo()}", 5000)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.save_text_fields()
        self.pause()
        super().closeEvent(event)
