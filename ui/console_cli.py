"""``psi-teleop console``: the operator console, connected to a session server.

psi-teleop console ──HTTP (commands) + WebSocket (status) + HTTP (camera JPEG)──► session server ─► SessionControl
(with --sim the server and a simulated session run inside this process, on 127.0.0.1)
"""

from __future__ import annotations

import argparse
import logging
import os

from ui.serve_cli import TOKEN_ENV
from ui.server import DEFAULT_PORT

log = logging.getLogger("psi-teleop")

EPILOG = f"""examples:
  psi-teleop console --sim                              # simulated session in this process (no robot, no headset)
  psi-teleop console                                    # connect to `psi-teleop serve` on http://127.0.0.1:{DEFAULT_PORT}
  psi-teleop console --url http://robot-pc:{DEFAULT_PORT} --token $TOKEN --camera head

keys: Space or PageDown start/stop recording (a foot pedal), Y / N mark the last episode
success / failure, Delete discard, E engage/disengage, Esc e-stop, R release the e-stop.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Watch and drive a teleop session: live camera with engagement/recording/e-stop/tracking overlay, "
        "wrist tracking error, loop timing, joints against limits, device lights, episode and safety controls."
    )
    parser.epilog = EPILOG
    parser.add_argument("--url", default=f"http://127.0.0.1:{DEFAULT_PORT}", help="session server to connect to")
    parser.add_argument("--token", default=None, help=f"the server's token (default: ${TOKEN_ENV})")
    parser.add_argument(
        "--sim",
        action="store_true",
        help="run a simulated session and its server in this process instead of connecting",
    )
    parser.add_argument("--dataset", default=None, help="with --sim: where episodes are recorded")
    parser.add_argument("--task", default="pick_place", help="with --sim: the simulated task")
    parser.add_argument("--camera", default="head", help="live camera to show (default: head)")


def run(args: argparse.Namespace) -> int:
    import contextlib
    from pathlib import Path

    from ui.qt import application, require_qt

    require_qt("psi-teleop console")
    from ui.client import SessionClient

    with contextlib.ExitStack() as stack:
        url, token = args.url, args.token or os.environ.get(TOKEN_ENV) or None
        if args.sim:
            from ui.server import BackgroundServer, ServerConfig, create_app
            from ui.sim_session import SessionKind, open_session

            session = stack.enter_context(
                open_session(
                    SessionKind.SIM,
                    dataset=Path(args.dataset) if args.dataset else None,
                    task=args.task,
                    cameras=(args.camera,),
                )
            )
            server = stack.enter_context(BackgroundServer(create_app(ServerConfig(port=0), session)))
            url, token = server.url, None
            log.info("simulated session served on %s", url)
        client = stack.enter_context(SessionClient(url, token=token))
        app = application()
        from ui.console import ConsoleWindow

        window = ConsoleWindow(client, camera=args.camera)
        window.show()
        return int(app.exec())
