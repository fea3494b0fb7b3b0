"""``psi-teleop serve``: the session server (REST + WebSocket) for consoles, pedals and phones.

pedal / headset button / phone ──HTTP──┐
psi-teleop console ──HTTP + WebSocket──┤──► uvicorn ─► FastAPI (ui.server) ─► SessionControl ─► teleop loop
scripts (curl, SessionClient) ─────────┘                                  └─► recorder Dataset (browse, annotate)
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from ui.server import DEFAULT_PORT

log = logging.getLogger("psi-teleop")

#: Environment variable holding the token (keeps it out of the shell history and `ps`).
TOKEN_ENV = "PSI_TELEOP_TOKEN"

EPILOG = f"""examples:
  psi-teleop serve --dataset data/demo                 # browse a dataset on http://127.0.0.1:{DEFAULT_PORT}/docs
  psi-teleop serve --session sim --dataset data/demo   # simulated session that records into data/demo
  {TOKEN_ENV}=$(python -c 'import secrets; print(secrets.token_urlsafe(24))') \\
      psi-teleop serve --host 0.0.0.0 --session sim    # reachable from a phone; every request needs the token
  curl -X POST http://127.0.0.1:{DEFAULT_PORT}/episode/toggle            # start / stop recording (foot pedal)
  curl -X POST -H "Authorization: Bearer $TOKEN" http://robot-pc:{DEFAULT_PORT}/estop
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Serve a teleop session and a dataset over HTTP and WebSocket: status, episode control, "
        "calibration profiles, episode browsing. Binds 127.0.0.1 unless told otherwise; any other "
        f"address needs a token (--token or ${TOKEN_ENV})."
    )
    parser.epilog = EPILOG
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default: {DEFAULT_PORT})")
    parser.add_argument("--token", default=None, help=f"shared secret every request must carry (default: ${TOKEN_ENV})")
    parser.add_argument("--dataset", type=Path, default=None, help="dataset to browse (default: the session's)")
    parser.add_argument(
        "--profiles",
        type=Path,
        default=None,
        help="directory of calibration profiles (default: $PSI_TELEOP_CALIBRATION_DIR or "
        "~/.config/psi-teleop/calibration, as `psi-teleop calibrate` uses)",
    )
    from ui.sim_session import SessionKind

    parser.add_argument(
        "--session",
        choices=[k.value for k in SessionKind],
        default=SessionKind.NONE.value,
        help="none: dataset browsing only; sim: a simulated session with the scripted operator",
    )
    parser.add_argument("--task", default="pick_place", help="task of the simulated session (with --session sim)")


def build_config(args: argparse.Namespace):
    """The :class:`ServerConfig` of the parsed arguments (raises ServerConfigError when unsafe)."""
    from ui.server import ServerConfig

    token = args.token or os.environ.get(TOKEN_ENV) or None
    from calibration import profiles_dir

    return ServerConfig(
        host=args.host, port=args.port, token=token, dataset=args.dataset, profiles_dir=profiles_dir(args.profiles)
    )


def run(args: argparse.Namespace) -> int:
    config = build_config(args)  # before anything starts: an unsafe bind never opens a socket
    try:
        import uvicorn
    except ImportError as exc:
        from teleop.exceptions import MissingExtraError

        raise MissingExtraError("uvicorn", "ui", "psi-teleop serve") from exc
    from ui.server import create_app
    from ui.sim_session import open_session

    with open_session(
        args.session, dataset=config.dataset, task=args.task, profiles_dir=config.profiles_dir
    ) as session:
        app = create_app(config, session)
        shown = f"[{config.host}]" if ":" in config.host else config.host
        log.info(
            "session server on http://%s:%d (API docs at /docs)%s",
            shown,
            config.port,
            "; requests need the token" if config.token else "",
        )
        uvicorn.run(app, host=config.host, port=config.port, log_level="warning")
    return 0
