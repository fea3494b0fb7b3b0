"""``psi-teleop annotate PATH``: the episode annotation app on a dataset.

dataset attrs ─► episode list (filters) ─► select ─► EpisodeView (time, state, action; frames on demand)
                                                     │
verdict, segments, tags, notes, trim ─► AnnotationEditor ─► EpisodeReader.update_attrs (attrs only, with undo)
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger("psi-teleop")

EPILOG = """examples:
  psi-teleop annotate data/demo                       # browse, replay and annotate every episode
  psi-teleop annotate data/demo --episode episode_000002
  psi-teleop annotate data/demo --task pick_place     # start with the list filtered to one task

keys: Space play/pause, Left/Right step a row, Shift+Left/Right a second, [ and ] mark a
segment's start and end, Ctrl+Enter add it, Ctrl+Z / Ctrl+Shift+Z undo/redo, Ctrl+S save notes.
Every edit is written to the episode's attrs at once (no array is rewritten).
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Replay recorded episodes (camera frame and joint plots under one timeline cursor, 0.25-4x, "
        "frame stepping) and annotate them: verdict, sub-task segments with language, tags, notes, trim."
    )
    parser.epilog = EPILOG
    parser.add_argument("path", type=Path, help="dataset directory (or URL) to annotate")
    parser.add_argument("--episode", default=None, help="episode to open first (e.g. episode_000002)")
    parser.add_argument("--task", default=None, help="show only this task's episodes at start")


def run(args: argparse.Namespace) -> int:
    from ui.qt import application, require_qt

    require_qt("psi-teleop annotate")
    app = application()
    from ui.annotate import AnnotateWindow

    window = AnnotateWindow(args.path)
    if args.task:
        window.task_filter.setCurrentText(args.task)
    if args.episode:
        window.select_episode(args.episode)
    elif window.table_model.infos:
        window.table.selectRow(0)
    window.show()
    log.info("annotating %s: %d episodes", args.path, len(window.table_model.infos))
    return int(app.exec())
