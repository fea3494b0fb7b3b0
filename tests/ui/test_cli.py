"""`psi-teleop annotate` and `psi-teleop console` as commands: they open their window on what was asked."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from teleop import cli
from tests.ui.synthetic import ScriptedSession
from ui.server import BackgroundServer, ServerConfig, create_app


def _run_and_inspect(argv: list[str], window_type, inspect, after_ms: int = 800) -> dict:
    """Run the command's event loop; ``inspect(window)`` runs inside it, then its window closes (loop ends)."""
    seen: dict = {}

    def check() -> None:
        try:
            windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, window_type) and w.isVisible()]
            seen["count"] = len(windows)
            seen.update(inspect(windows[0]))
        finally:
            for w in QApplication.topLevelWidgets():  # closing the last window ends the command's event loop
                if isinstance(w, window_type):
                    w.close()

    QTimer.singleShot(after_ms, check)
    guard = QTimer()  # never hang the test run; stopped afterwards so it cannot touch later tests
    guard.setSingleShot(True)
    guard.timeout.connect(lambda: QApplication.exit(1))
    guard.start(20_000)
    try:
        seen["rc"] = cli.main(argv)
    finally:
        guard.stop()
    return seen


def test_annotate_command(qapp, dataset):
    from ui.annotate import AnnotateWindow

    seen = _run_and_inspect(
        ["annotate", str(dataset), "--task", "lift_box", "--episode", "episode_000004"],
        AnnotateWindow,
        lambda w: {"listed": [i.episode_id for i in w.table_model.infos], "open": w.editor.episode_id},
    )
    assert seen == {"rc": 0, "count": 1, "listed": ["episode_000001", "episode_000004"], "open": "episode_000004"}


def test_annotate_command_on_a_missing_dataset(tmp_path, capsys):
    assert cli.main(["annotate", str(tmp_path / "nothing")]) == 1
    out = capsys.readouterr()
    assert "no dataset at" in out.out + out.err


def test_console_command_connects_to_a_server(qapp):
    from ui.console import ConsoleWindow

    session = ScriptedSession()
    with BackgroundServer(create_app(ServerConfig(port=0), session)) as server:
        seen = _run_and_inspect(
            ["console", "--url", server.url],
            ConsoleWindow,
            lambda w: {"status": w.model.latest is not None, "url": w.client.url},
            after_ms=2000,
        )
    assert seen == {"rc": 0, "count": 1, "status": True, "url": server.url}


@pytest.mark.parametrize("command", ["serve", "console", "annotate"])
def test_help_has_a_runnable_example(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0
    assert f"psi-teleop {command}" in capsys.readouterr().out.split("examples:")[1]
