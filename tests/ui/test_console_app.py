"""The operator console driven like an operator would (pytest-qt, offscreen), talking to a real server.

The console reaches the session only through HTTP and the status WebSocket; the test checks
each key and button by what the session received. Saves a screenshot.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QTimer

from calibration import CalibrationProfile
from teleop.status import EngageState, EpisodeState
from tests.ui.synthetic import ScriptedSession
from ui.client import SessionClient
from ui.console import ConsoleWindow
from ui.console_model import Light
from ui.server import BackgroundServer, ServerConfig, create_app


@pytest.fixture
def console(qtbot, tmp_path):
    profiles = tmp_path / "profiles"
    CalibrationProfile(name="alice").save(profiles)
    CalibrationProfile(name="bob", eye_height=1.8).save(profiles)
    session = ScriptedSession(camera_shape=(240, 320))
    ticker = QTimer()
    ticks = iter(range(10**9))
    ticker.timeout.connect(lambda: session.tick(next(ticks)))  # the "loop" moving its measurements
    ticker.start(50)
    with (
        BackgroundServer(create_app(ServerConfig(port=0, profiles_dir=profiles), session)) as server,
        SessionClient(server.url) as client,
    ):
        window = ConsoleWindow(client, camera="head")
        qtbot.addWidget(window)
        with qtbot.waitExposed(window):
            window.show()
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow)
        qtbot.waitUntil(lambda: window.model.latest is not None, timeout=5000)
        yield window, session
        ticker.stop()
        window.close()


def _wait_status(qtbot, window, predicate) -> None:
    qtbot.waitUntil(lambda: window.model.latest is not None and predicate(window.model.latest), timeout=5000)


def test_one_key_records_and_safety_keys_reach_the_session(qtbot, console, artifacts):
    window, session = console
    assert window.connection_label.text() == window.client.url
    assert window.task_edit.text() == "pick_place" and window.instruction_edit.text() == "put the cup on the plate"
    # Space: start (a foot pedal); the status comes back over the WebSocket
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert session.status().episode is EpisodeState.RECORDING
    _wait_status(qtbot, window, lambda s: s.episode is EpisodeState.RECORDING)
    assert window.toggle_button.text().startswith("■ stop recording")
    qtbot.waitUntil(lambda: window.episode_label.text().startswith("● REC episode_000000"), timeout=3000)
    # E engages; Esc is the e-stop; E is then refused with the session's reason; R releases
    qtbot.keyClick(window, Qt.Key.Key_E)
    assert session.status().engage is EngageState.ENGAGED
    _wait_status(qtbot, window, lambda s: s.engage is EngageState.ENGAGED)
    assert window.engage_label.text() == "ENGAGED" and window.engage_button.text() == "disengage [E]"
    qtbot.waitUntil(
        lambda: window.camera_label.pixmap() is not None and not window.camera_label.pixmap().isNull(), timeout=3000
    )
    qtbot.wait(3000)  # fill the plots with a few seconds of measurements
    window.resize(1400, 880)
    qtbot.wait(100)
    window.grab().save(str(artifacts / "console_scripted.png"))
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert session.status().engage is EngageState.ESTOP
    _wait_status(qtbot, window, lambda s: s.engage is EngageState.ESTOP)
    qtbot.keyClick(window, Qt.Key.Key_E)
    assert "refused" in window.statusBar().currentMessage() and "release it" in window.statusBar().currentMessage()
    assert session.status().engage is EngageState.ESTOP
    qtbot.keyClick(window, Qt.Key.Key_R)
    assert session.status().engage is EngageState.IDLE
    # PageDown (the pedal's other usual key) stops; Y marks that episode a success, N a failure
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    assert session.status().episode is EpisodeState.IDLE and session.marks == {"episode_000000": None}
    qtbot.keyClick(window, Qt.Key.Key_Y)
    assert session.marks["episode_000000"] is True
    qtbot.mouseClick(window.failure_button, Qt.MouseButton.LeftButton)
    assert session.marks["episode_000000"] is False
    # a second episode, discarded with Delete
    qtbot.mouseClick(window.toggle_button, Qt.MouseButton.LeftButton)
    qtbot.keyClick(window, Qt.Key.Key_Delete)
    assert session.discarded == ["episode_000001"]
    # a toggle asks the session to stop first (authoritative), and starts only if nothing was recording
    assert session.calls == [
        "stop",
        "start",
        "engage",
        "estop",
        "engage",
        "release",
        "stop",
        "mark",
        "mark",
        "stop",
        "start",
        "discard",
    ]


def test_task_profile_lights_and_plots(qtbot, console):
    window, session = console
    window.task_edit.clear()
    qtbot.keyClicks(window.task_edit, "lift_box")
    window.instruction_edit.clear()
    qtbot.keyClicks(window.instruction_edit, "lift the box onto the shelf")
    qtbot.mouseClick(window.set_task_button, Qt.MouseButton.LeftButton)
    assert (session.status().task, session.status().instruction) == ("lift_box", "lift the box onto the shelf")
    assert session.calls == ["task"]  # spaces and letters typed into a field are text, not shortcuts
    assert [window.profile_combo.itemData(i) for i in range(window.profile_combo.count())] == ["alice", "bob"]
    window.profile_combo.setCurrentIndex(1)
    qtbot.mouseClick(window.profile_button, Qt.MouseButton.LeftButton)
    assert session.status().calibration_profile == "bob"
    _wait_status(qtbot, window, lambda s: s.calibration_profile == "bob")
    assert "calibration bob" in window.timing_label.text()
    # device lights: the right wrist tracker was valid, then lost tracking (red); the ankle
    # tracker was never there (grey, "not used"); the head is valid and fresh (green)
    qtbot.waitUntil(lambda: window.device_widgets["right_wrist"][1].text() == "right_wrist lost", timeout=5000)
    assert "rgb(231, 76, 60)" in window.device_widgets["right_wrist"][0].styleSheet()
    lamp, text = window.device_widgets["left_ankle"]
    assert text.text() == "left_ankle not used" and "rgb(120, 120, 120)" in lamp.styleSheet()
    assert "rgb(46, 204, 64)" in window.device_widgets["head"][0].styleSheet()
    assert ("TRACKING LOST: right_wrist", Light.LOST) in window.model.overlay().items
    # the plots follow the status history; the last arm joint sits within 5 % of its upper limit
    qtbot.waitUntil(lambda: len(window.model) >= 5, timeout=5000)
    x, y = window.error_curves[1].getData()
    assert len(x) >= 5 and x[-1] == 0.0 and (y > 0).all()
    heights = window.joint_bars.opts["height"]
    assert len(heights) == 14 and heights[-1] > 0.9 and heights[0] < 0.4
