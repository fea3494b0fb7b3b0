"""The operator console (Qt + pyqtgraph): what the operator watches and clicks while teleoperating.

    ┌ connection · engagement · episode · task ─────────────────────────────────────────┐
    │ live camera + overlay (engaged, REC, e-stop, tracking loss) │ device lights, loop │
    │                                                             │ timing, safety log, │
    │                                                             │ episode controls    │
    ├ wrist tracking error [mm] ─┬ loop rate / tick / jitter ─────┬ arm joints vs limits ┤
    └────────────────────────────┴────────────────────────────────┴──────────────────────┘

It talks to the session only through :class:`ui.client.SessionClient` — the same HTTP API a
foot pedal or a phone uses — and follows the status over ``/ws/status``
(:class:`ui.client.StatusStream`) and the camera over ``/camera/{name}``
(:class:`ui.client.FramePoller`). What it shows is computed by :mod:`ui.console_model`.

Keys: Space or PageDown start/stop recording (one key: a foot pedal) · Y / N mark the last
episode success / failure · Delete discard the recording episode · E engage/disengage ·
Esc e-stop · R release the e-stop.
"""

from __future__ import annotations

import logging

import numpy as np

from ui.qt import require_qt

require_qt("the operator console")

import pyqtgraph as pg  # noqa: E402
from PySide6.QtCore import QRectF, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QColor, QFont, QKeySequence, QPainter, QShortcut  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMainWindow,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from teleop.status import EngageState, EpisodeState, TeleopStatus  # noqa: E402
from ui.client import FramePoller, SessionClient, StatusStream  # noqa: E402
from ui.console_model import LIGHT_RGB, ConsoleModel, Light, engage_light  # noqa: E402
from ui.exceptions import ServerRequestError  # noqa: E402
from ui.qt import pixmap_from_rgb, rgb_css, style_plots  # noqa: E402

log = logging.getLogger(__name__)

#: GUI refresh period [ms]: 20 Hz is smooth for plots and cheap on a laptop.
REFRESH_MS = 50
#: Span of the time plots [s]: long enough to see a reach, short enough to read the last second.
HISTORY_S = 10.0
#: Keys that start/stop recording; USB foot pedals usually send PageDown (or are set to Space).
TOGGLE_KEYS = (Qt.Key.Key_Space, Qt.Key.Key_PageDown)


def _light_css(light: Light) -> str:
    return (
        f"background: {rgb_css(LIGHT_RGB[light])}; border-radius: 8px; min-width: 16px; max-width: 16px; "
        "min-height: 16px; max-height: 16px;"
    )


class ConsoleWindow(QMainWindow):
    """The console, connected to the session server behind ``client``.

    Args:
        client: the session's client (its URL and token).
        camera: live camera to show.
        status_hz: status rate asked of the server [Hz].
        camera_hz: camera frames fetched per second [Hz].
    """

    def __init__(self, client: SessionClient, camera: str = "head", status_hz: float = 20.0, camera_hz: float = 15.0):
        super().__init__()
        style_plots()
        self.client = client
        self.model = ConsoleModel(history_s=HISTORY_S, rate_hz=status_hz)
        self.stream = StatusStream(client, hz=status_hz).start()
        self.frames = FramePoller(client, camera, hz=camera_hz).start()
        self.camera = camera
        self._frame: np.ndarray | None = None
        self._last_episode: str | None = None
        self._shown_text: dict[str, str] = {}  # task/instruction as last shown from the status
        self.setWindowTitle(f"psi-teleop console — {client.url}")
        self.resize(1400, 880)
        self._build()
        self._shortcuts()
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self.refresh_profiles()

    # ================================================================== layout
    def _build(self) -> None:
        central = QWidget()
        root = QVBoxLayout(central)
        bar = QHBoxLayout()
        self.connection_light = QLabel()
        self.connection_light.setStyleSheet(_light_css(Light.OFF))
        self.connection_label = QLabel(f"connecting to {self.client.url}…")
        self.engage_label = QLabel("—")
        self.engage_label.setStyleSheet("font-size: 18pt; font-weight: bold; padding: 2px 10px;")
        self.episode_label = QLabel("—")
        self.episode_label.setStyleSheet("font-size: 14pt; padding: 2px 10px;")
        bar.addWidget(self.connection_light)
        bar.addWidget(self.connection_label)
        bar.addStretch(1)
        bar.addWidget(self.engage_label)
        bar.addWidget(self.episode_label)
        root.addLayout(bar)

        middle = QHBoxLayout()
        self.camera_label = QLabel("no camera frame yet")
        self.camera_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.camera_label.setMinimumSize(480, 360)
        self.camera_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.camera_label.setStyleSheet("background: #151515; color: #bbbbbb;")
        middle.addWidget(self.camera_label, 3)
        middle.addLayout(self._build_side(), 2)
        root.addLayout(middle, 3)

        plots = QHBoxLayout()
        self.error_plot = pg.PlotWidget(title="wrist tracking error [mm]")
        self.error_plot.addLegend(offset=(-4, 4))
        self.error_curves = [
            self.error_plot.plot(pen=pg.mkPen(c, width=2), name=n)
            for c, n in (("#0072B2", "left"), ("#D55E00", "right"))
        ]
        self.rate_plot = pg.PlotWidget(title="loop rate [Hz]")
        self.rate_curve = self.rate_plot.plot(pen=pg.mkPen("#009E73", width=2))
        self.timing_plot = pg.PlotWidget(title="tick, jitter p99 [ms]")
        self.timing_plot.addLegend(offset=(-4, 4))
        self.tick_curve = self.timing_plot.plot(pen=pg.mkPen("#CC79A7", width=2), name="tick")
        self.jitter_curve = self.timing_plot.plot(pen=pg.mkPen("#E69F00", width=2), name="jitter")
        for p in (self.error_plot, self.rate_plot, self.timing_plot):
            p.setLabel("bottom", "time [s]")
            p.setXRange(-self.model.history_s, 0.0, padding=0.02)
            p.showGrid(x=True, y=True, alpha=0.2)
            p.getAxis("left").enableAutoSIPrefix(False)
        self.joint_plot = pg.PlotWidget(title="arm joints in range [0..1]")
        self.joint_plot.setYRange(-0.05, 1.05, padding=0)
        self.joint_plot.getAxis("left").enableAutoSIPrefix(False)
        for y in (0.0, 1.0):
            self.joint_plot.addItem(pg.InfiniteLine(pos=y, angle=0, pen=pg.mkPen("#d00000", width=1)))
        self.joint_bars = pg.BarGraphItem(x=np.arange(14), height=np.zeros(14), width=0.7, brush="#0072B2")
        self.joint_plot.addItem(self.joint_bars)
        ticks = [(i, ("L" if i < 7 else "R") + str(i % 7 + 1)) for i in range(14)]
        self.joint_plot.getAxis("bottom").setTicks([ticks])
        self.joint_plot.setMouseEnabled(x=False, y=False)
        for p in (self.error_plot, self.rate_plot, self.timing_plot, self.joint_plot):
            p.setMinimumWidth(220)
            p.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
            plots.addWidget(p)
        root.addLayout(plots, 2)
        self.setCentralWidget(central)

    def _build_side(self) -> QVBoxLayout:
        side = QVBoxLayout()
        devices = QGroupBox("devices")
        self.device_grid = QGridLayout(devices)
        self.device_widgets: dict[str, tuple[QLabel, QLabel]] = {}
        side.addWidget(devices)

        timing = QGroupBox("loop timing")
        tl = QVBoxLayout(timing)
        self.timing_label = QLabel("—")
        self.timing_label.setStyleSheet("font-family: monospace;")
        tl.addWidget(self.timing_label)
        side.addWidget(timing)

        episode = QGroupBox("episode")
        el = QGridLayout(episode)
        self.task_edit = QLineEdit()
        self.task_edit.setPlaceholderText("task")
        self.instruction_edit = QLineEdit()
        self.instruction_edit.setPlaceholderText("instruction")
        self.set_task_button = QPushButton("set task")
        self.set_task_button.clicked.connect(self.set_task)
        self.toggle_button = QPushButton("● start recording  [Space]")
        self.toggle_button.setStyleSheet("font-weight: bold; padding: 6px;")
        self.toggle_button.clicked.connect(self.toggle_episode)
        self.success_button = QPushButton("✔ success [Y]")
        self.success_button.clicked.connect(lambda: self.mark_last(True))
        self.failure_button = QPushButton("✘ failure [N]")
        self.failure_button.clicked.connect(lambda: self.mark_last(False))
        self.discard_button = QPushButton("discard [Del]")
        self.discard_button.clicked.connect(self.discard_episode)
        el.addWidget(self.task_edit, 0, 0, 1, 2)
        el.addWidget(self.set_task_button, 0, 2)
        el.addWidget(self.instruction_edit, 1, 0, 1, 3)
        el.addWidget(self.toggle_button, 2, 0, 1, 3)
        el.addWidget(self.success_button, 3, 0)
        el.addWidget(self.failure_button, 3, 1)
        el.addWidget(self.discard_button, 3, 2)
        side.addWidget(episode)

        safety = QGroupBox("engagement and safety")
        sl = QGridLayout(safety)
        self.engage_button = QPushButton("engage [E]")
        self.engage_button.clicked.connect(self.toggle_engage)
        self.estop_button = QPushButton("E-STOP [Esc]")
        self.estop_button.setStyleSheet("background: #c0392b; color: white; font-weight: bold; padding: 6px;")
        self.estop_button.clicked.connect(lambda: self._command(self.client.estop, "e-stop"))
        self.release_button = QPushButton("release e-stop [R]")
        self.release_button.clicked.connect(lambda: self._command(self.client.release_estop, "e-stop released"))
        self.profile_combo = QComboBox()
        self.profile_button = QPushButton("use profile")
        self.profile_button.clicked.connect(self.select_profile)
        self.events_list = QListWidget()
        self.events_list.setMaximumHeight(90)
        sl.addWidget(self.engage_button, 0, 0)
        sl.addWidget(self.estop_button, 0, 1)
        sl.addWidget(self.release_button, 0, 2)
        sl.addWidget(QLabel("calibration"), 1, 0)
        sl.addWidget(self.profile_combo, 1, 1)
        sl.addWidget(self.profile_button, 1, 2)
        sl.addWidget(self.events_list, 2, 0, 1, 3)
        side.addWidget(safety)
        side.addStretch(1)
        return side

    def _shortcuts(self) -> None:
        def key(seq, fn) -> None:
            sc = QShortcut(QKeySequence(seq), self)
            sc.setContext(Qt.ShortcutContext.WindowShortcut)
            sc.activated.connect(fn)

        for k in TOGGLE_KEYS:
            key(k, self.toggle_episode)
        key(Qt.Key.Key_Y, lambda: self.mark_last(True))
        key(Qt.Key.Key_N, lambda: self.mark_last(False))
        key(Qt.Key.Key_Delete, self.discard_episode)
        key(Qt.Key.Key_E, self.toggle_engage)
        key(Qt.Key.Key_Escape, lambda: self._command(self.client.estop, "e-stop"))
        key(Qt.Key.Key_R, lambda: self._command(self.client.release_estop, "e-stop released"))

    # ================================================================== commands
    def _command(self, fn, done: str):
        """Send one command; a refusal (409 and the reason) goes to the status bar."""
        try:
            result = fn()
        except ServerRequestError as exc:
            self.statusBar().showMessage(f"refused: {exc.detail}" if exc.status_code else str(exc), 10000)
            return None
        self.statusBar().showMessage(done, 5000)
        return result

    def toggle_episode(self) -> None:
        result = self._command(self.client.toggle_episode, "episode toggled")
        if result is not None:
            if result["action"] == "stopped":
                self._last_episode = result["episode_id"]
            self.statusBar().showMessage(f"{result['action']} {result['episode_id'] or ''}".strip(), 5000)

    def mark_last(self, success: bool) -> None:
        eid = self._command(lambda: self.client.mark_success(self._last_episode, success), "")
        if eid is not None:
            self.statusBar().showMessage(f"{eid} marked {'success' if success else 'failure'}", 5000)

    def discard_episode(self) -> None:
        eid = self._command(lambda: self.client.discard_episode("discarded from the console"), "")
        if eid is not None:
            self.statusBar().showMessage(f"{eid} discarded" if eid else "nothing was recording", 5000)

    def toggle_engage(self) -> None:
        latest = self.model.latest
        engaged = latest is not None and latest.engage in (EngageState.ENGAGED, EngageState.ENGAGING, EngageState.HOLD)
        if engaged:
            self._command(self.client.disengage, "disengaging")
        else:
            self._command(self.client.engage, "engaging")

    def set_task(self) -> None:
        task, instruction = self.task_edit.text().strip(), self.instruction_edit.text().strip()
        if not task:
            self.statusBar().showMessage("type a task name first", 5000)
            return
        self._command(lambda: self.client.set_task(task, instruction), f"task set to '{task}'")

    def refresh_profiles(self) -> None:
        profiles = self._command(self.client.calibration_profiles, "") or []
        self.profile_combo.clear()
        for p in profiles:
            self.profile_combo.addItem(p["name"] + ("" if p["valid"] else " (invalid)"), p["name"])
            if p.get("selected"):
                self.profile_combo.setCurrentIndex(self.profile_combo.count() - 1)
        self.statusBar().clearMessage()

    def select_profile(self) -> None:
        name = self.profile_combo.currentData()
        if name:
            self._command(lambda: self.client.select_calibration(name), f"calibration '{name}' selected")

    # ================================================================== refresh
    def refresh(self) -> None:
        """Pull the newest status and frame (never blocks: both arrive on background threads)."""
        connected = self.stream.connected
        self.connection_light.setStyleSheet(_light_css(Light.OK if connected else Light.LOST))
        self.connection_label.setText(
            f"{self.client.url}" if connected else f"{self.client.url}: {self.stream.error or 'connecting…'}"
        )
        status = self.stream.latest()
        if status is not None and self.model.update(status):
            self._show_status(status)
        got = self.frames.latest()
        if got is not None:
            self._frame = got[0]
        if got is not None or status is not None:
            self._draw_camera()

    def _show_status(self, s: TeleopStatus) -> None:
        light = engage_light(s.engage)
        self.engage_label.setText(s.engage.value.upper())
        self.engage_label.setStyleSheet(
            f"font-size: 18pt; font-weight: bold; padding: 2px 10px; border-radius: 4px;"
            f"background: {rgb_css(LIGHT_RGB[light])}; color: white;"
        )
        recording = s.episode is EpisodeState.RECORDING
        self.episode_label.setText(f"● REC {s.episode_id} · {s.episode_rows} rows" if recording else "not recording")
        self.episode_label.setStyleSheet(
            "font-size: 14pt; padding: 2px 10px; color: " + ("#c0392b; font-weight: bold;" if recording else "#555;")
        )
        self.toggle_button.setText("■ stop recording  [Space]" if recording else "● start recording  [Space]")
        self.engage_button.setText(
            "disengage [E]" if s.engage in (EngageState.ENGAGED, EngageState.ENGAGING) else "engage [E]"
        )
        # Follow the session's task unless the operator is typing a new one (text differs from the last shown).
        for edit, value, key in (
            (self.task_edit, s.task, "task"),
            (self.instruction_edit, s.instruction, "instruction"),
        ):
            if edit.text() == self._shown_text.get(key, ""):
                edit.setText(value)
            self._shown_text[key] = value
        for row, d in enumerate(s.devices):
            if d.name not in self.device_widgets:
                lamp, text = QLabel(), QLabel()
                self.device_grid.addWidget(lamp, row // 2, 2 * (row % 2))
                self.device_grid.addWidget(text, row // 2, 2 * (row % 2) + 1)
                self.device_widgets[d.name] = (lamp, text)
            lamp, text = self.device_widgets[d.name]
            light = self.model.light(d)
            lamp.setStyleSheet(_light_css(light))
            text.setText(
                f"{d.name} " + ("%.0f ms" % d.age_ms if d.valid else "lost" if light is Light.LOST else "not used")
            )
        t = s.timing
        self.timing_label.setText(
            f"rate     {t.rate_hz:6.1f} / {t.target_hz:.0f} Hz\n"
            f"input age {t.input_age_ms:5.1f} ms   IK {t.ik_ms:5.2f} ms\n"
            f"tick p99 {t.tick_ms_p99:6.2f} ms  jitter p99 {t.jitter_ms_p99:5.2f} ms\n"
            f"overruns {t.overruns}   robot {s.robot_kind} ({s.link})   input {s.input_kind}\n"
            f"calibration {s.calibration_profile or '—'}"
        )
        events = list(s.safety_events)
        if [self.events_list.item(i).text() for i in range(self.events_list.count())] != events:
            self.events_list.clear()
            self.events_list.addItems(events)
        for curve, name in zip(self.error_curves, ("wrist_error_left_mm", "wrist_error_right_mm")):
            curve.setData(*self.model.history(name))
        self.rate_curve.setData(*self.model.history("rate_hz"))
        self.rate_plot.setYRange(0.0, max(1.2 * t.target_hz, 1.0), padding=0)  # 0 .. target + 20 %: drops stand out
        self.tick_curve.setData(*self.model.history("tick_ms_p99"))
        self.jitter_curve.setData(*self.model.history("jitter_ms_p99"))
        fractions = np.nan_to_num(ConsoleModel.joint_fractions(s), nan=0.0)
        near = ConsoleModel.near_limit(s)
        brushes = [pg.mkBrush("#c0392b" if n else "#0072B2") for n in near]
        self.joint_bars.setOpts(x=np.arange(len(fractions)), height=fractions, brushes=brushes)

    def _draw_camera(self) -> None:
        if self._frame is None:
            return
        pixmap = pixmap_from_rgb(self._frame).scaled(
            self.camera_label.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        badges = self.model.overlay().items
        if badges:
            painter = QPainter(pixmap)
            font = QFont()
            font.setPointSize(11)
            font.setBold(True)
            painter.setFont(font)
            y = 8.0
            for text, light in badges:
                width = painter.fontMetrics().horizontalAdvance(text) + 16
                rect = QRectF(8.0, y, float(width), 24.0)
                r, g, b = LIGHT_RGB[light]
                painter.fillRect(rect, QColor(r, g, b, 210))
                painter.setPen(QColor("white"))
                painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
                y += 30.0
            painter.end()
        self.camera_label.setPixmap(pixmap)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self._timer.stop()
        self.stream.stop()
        self.frames.stop()
        super().closeEvent(event)
