"""The apps in front of the real teleop session (MuJoCo + scripted operator + TeleopLoop).

What `psi-teleop console --sim` runs: the console drives the session through the server,
the commands reach the loop thread, the episode lands in the dataset with the task and the
verdict that were given, and the annotation app opens it. Both screenshots of docs/ui.md
come from here (the simulated G1's head camera).
"""

from __future__ import annotations


import pytest
from PySide6.QtCore import Qt

from recorder import Dataset, EpisodeStatus
from teleop.status import EngageState, EpisodeState
from ui.client import SessionClient
from ui.server import BackgroundServer, ServerConfig, create_app
from ui.sim_session import open_session

#: Rows to record before the screenshot (2 s at 30 Hz: the plots and the camera have moved).
ROWS = 60


def _show(qtbot, window) -> None:
    with qtbot.waitExposed(window):
        window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)


@pytest.mark.slow
def test_console_and_annotate_on_the_simulated_robot(qtbot, tmp_path, artifacts):
    from calibration import CalibrationProfile
    from ui.annotate import AnnotateWindow
    from ui.console import ConsoleWindow

    profiles = tmp_path / "profiles"
    CalibrationProfile(name="bob", eye_height=1.80, arm_length=0.62).save(profiles)
    with (
        open_session("sim", dataset=tmp_path / "ds", task="pick_place", profiles_dir=profiles) as session,
        BackgroundServer(create_app(ServerConfig(port=0, profiles_dir=profiles), session)) as server,
        SessionClient(server.url, timeout_s=10.0) as client,
    ):
        console = ConsoleWindow(client, camera="head")
        qtbot.addWidget(console)
        console.resize(1400, 880)
        _show(qtbot, console)
        qtbot.waitUntil(lambda: console.model.latest is not None and console.model.latest.link == "ok", timeout=60_000)
        status = console.model.latest
        assert status.robot_kind and status.dataset == str(tmp_path / "ds") and len(status.arm_q_min) == 14
        qtbot.mouseClick(console.profile_button, Qt.MouseButton.LeftButton)  # "bob", the only profile
        assert session.loop.mapping.profile.name == "bob"  # the loop maps the operator with bob's profile now
        console.instruction_edit.setText("put the red can in the blue basket")
        qtbot.mouseClick(console.set_task_button, Qt.MouseButton.LeftButton)
        qtbot.keyClick(console, Qt.Key.Key_Space)  # start recording
        assert "started episode_000000" in console.statusBar().currentMessage()
        qtbot.waitUntil(lambda: client.status().episode is EpisodeState.RECORDING, timeout=10_000)  # next snapshot
        qtbot.waitUntil(lambda: console.model.latest.episode_rows >= ROWS, timeout=90_000)
        qtbot.waitUntil(lambda: console.model.latest.engage is EngageState.ENGAGED, timeout=30_000)
        pixmap = console.camera_label.pixmap()
        assert not pixmap.isNull() and pixmap.width() > 300
        qtbot.wait(300)
        console.grab().save(str(artifacts / "console.png"))
        qtbot.keyClick(console, Qt.Key.Key_Space)  # stop
        assert "stopped episode_000000" in console.statusBar().currentMessage()
        qtbot.keyClick(console, Qt.Key.Key_Y)  # success
        assert "episode_000000 marked success" in console.statusBar().currentMessage()
        console.close()
    info = Dataset.open(tmp_path / "ds").episodes()[0]
    assert info.status is EpisodeStatus.COMPLETE and info.success is True and info.n_rows >= ROWS
    assert info.instruction == "put the red can in the blue basket"

    window = AnnotateWindow(tmp_path / "ds")
    qtbot.addWidget(window)
    window.resize(1500, 860)
    _show(qtbot, window)
    window.table.selectRow(0)
    assert window.editor.episode_id == info.episode_id
    window.group_combo.setCurrentText("right arm")
    window.seek(10)
    qtbot.keyClick(window, Qt.Key.Key_BracketLeft)
    window.seek(info.n_rows - 10)
    qtbot.keyClick(window, Qt.Key.Key_BracketRight)
    qtbot.keyClicks(window.label_edit, "reach")
    qtbot.keyClicks(window.language_edit, "reach for the red can with the right hand")
    qtbot.keySequence(window, "Ctrl+Return")
    window.seek(info.n_rows // 2)
    qtbot.wait(100)
    window.grab().save(str(artifacts / "annotate.png"))
    window.close()
    seg = Dataset.open(tmp_path / "ds").episodes()[0].segments[0]
    time_s = (
        Dataset.open(tmp_path / "ds").episode(info.episode_id).time
    )  # rows at the loop's first tick past each 1/30 s
    assert (
        seg["label"] == "reach"
        and seg["start"] == pytest.approx(time_s[10])
        and seg["end"] == pytest.approx(time_s[-10])
    )


def test_unknown_session_kind_is_refused():
    from teleop.exceptions import ConfigError

    with pytest.raises(ConfigError, match="session kind 'robot' is unknown; valid: none, sim"), open_session("robot"):
        pass
