"""The ``psi-teleop`` command line.

Each subcommand lives in the package that owns it, in a module that defines
``configure(parser)`` (add arguments; the parser's description and epilog carry the
help text and a runnable example) and ``run(args) -> int`` (the exit code). This file only
lists them and imports the one that is asked for, so ``psi-teleop --help`` starts fast and
a missing optional extra only affects the commands that need it.

    psi-teleop demo                      # simulated teleop session that records episodes
    psi-teleop <command> --help          # help and an example for one command
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from teleop.exceptions import PsiTeleopError

#: name -> (module that implements it, one-line summary). Only commands that work are listed.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("teleop.demo", "simulated teleop session with the scripted operator; records episodes"),
    "teleop": ("teleop.teleop_cli", "run a teleop session: input -> calibration -> IK -> safety -> robot (sim or DDS)"),
    "train": ("policies.train_cli", "train the flow-matching action expert on recorded episodes"),
    "rollout": ("policies.rollout_cli", "run a trained policy with real-time chunking; success rate in simulation"),
    "sim": ("teleop.robot.sim_cli", "the MuJoCo simulation as a G1 robot on DDS (psi-teleop sim --dds)"),
    "dataset": ("recorder.cli", "list, info, validate, recover, delete, merge and export recorded datasets"),
    "devices": ("teleop.inputs.devices_cli", "list what an input backend sees: devices, roles, tracking, rate"),
    "cameras": ("teleop.cameras.cli", "open cameras (sim, UVC, RealSense, G1 image server): state, rate, age; serve or view them"),
    "calibrate": ("calibration.cli", "guided operator calibration (neutral, T-pose, hands) into a named profile"),
    "serve": ("ui.serve_cli", "session server: REST + WebSocket for status, episode control, profiles, datasets"),
    "console": ("ui.console_cli", "operator console: live camera, tracking and timing plots, episode and safety controls"),
    "annotate": ("ui.annotate_cli", "episode annotation app: replay, segments with language, verdict, tags, trim"),
}

_EPILOG = """examples:
  psi-teleop demo                                  # 3 simulated episodes into ./data/demo
  psi-teleop demo --task lift_box --episodes 5
  psi-teleop <command> --help                      # every command has help with an example
"""


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="psi-teleop",
        description="VR teleoperation and data collection for the Unitree G1 + Dex3-1 humanoid.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, summary) in COMMANDS.items():
        sub.add_parser(name, help=summary, add_help=False)
    return parser


def build_parser(command: str) -> argparse.ArgumentParser:
    """The full parser for one subcommand (imports only that command's module)."""
    module_name, summary = COMMANDS[command]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(
        prog=f"psi-teleop {command}",
        description=summary,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    module.configure(parser)
    parser.set_defaults(_run=module.run)
    return parser


def table(title: str, headers: tuple[str, ...] | list[str], caption: str | None = None):
    """A rich table whose column headers are plain text: units in brackets ("age [ms]") stay.

    Rich reads "[ms]", "[s]" or "[cm]" in a header as a style tag and drops it; cells keep
    markup (callers colour them with "[green]yes[/]").
    """
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=title, caption=caption)
    for h in headers:
        t.add_column(escape(h))
    return t


def table_console(width: int = 140):
    """A rich console for a command's tables and summaries on stdout.

    In a terminal it uses the terminal's width; piped or logged, rich would squeeze every
    table into 80 columns and cut the headers, so it uses ``width`` columns instead.
    """
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=width)


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING - 10 * min(verbosity + 1, 2)
    try:
        from rich.console import Console
        from rich.logging import RichHandler

        # Logs go to stderr, so that a command's own output on stdout (tables, --json) stays clean.
        handler: logging.Handler = RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False,
                                               log_time_format="%H:%M:%S")
        fmt = "%(message)s"
    except ImportError:  # rich is a core dependency; stay usable without it anyway
        handler = logging.StreamHandler()
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level, format=fmt, handlers=[handler], force=True)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    command = next((a for a in argv if not a.startswith("-")), None)
    if command is None or command not in COMMANDS:
        if command is not None:
            top.error(f"unknown command '{command}'; choose from: {', '.join(COMMANDS)}")
        top.print_help()
        return 0 if any(a in ("-h", "--help") for a in argv) else 2
    rest = argv[:]
    rest.remove(command)
    parser = build_parser(command)
    args = parser.parse_args(rest)
    _setup_logging(args.verbose)
    try:
        return int(args._run(args) or 0)
    except PsiTeleopError as exc:
        logging.getLogger("psi-teleop").error("%s", exc)
        return 1
    except KeyboardInterrupt:
        logging.getLogger("psi-teleop").warning("interrupted by the operator")
        return 130


if __name__ == "__main__":
    sys.exit(main())
