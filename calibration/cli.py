"""``psi-teleop calibrate``: measure an operator and save a calibration profile.

Data flow::

    input device (openxr | pico | synthetic) ─► record_routine (prompts, held poses)
        ─► CalibrationRecording ─► [--save-stream FILE.npz]
    [--from-stream FILE.npz] ─────────┘
        ─► calibrate() ─► CalibrationProfile ─► <profiles dir>/<name>.json
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from calibration.exceptions import CalibrationError
from calibration.recording import DEFAULT_PHASES, CalibrationRecording, Phase
from calibration.store import (
    ENV_DIR,
    list_profiles,
    load_profile,
    profiles_dir,
    save_profile,
)

log = logging.getLogger("psi-teleop.calibrate")

_EPILOG = f"""examples:
  psi-teleop calibrate --name alice                         # headset + trackers through OpenXR
  psi-teleop calibrate --name alice --input pico            # PICO headset + motion trackers
  psi-teleop calibrate --name demo --synthetic --hold 1.5 --prepare 0.5   # no hardware: a synthetic operator
  psi-teleop calibrate --name alice --save-stream alice.npz # keep the raw stream
  psi-teleop calibrate --name alice --from-stream alice.npz # re-derive the profile from it
  psi-teleop calibrate --list                               # profiles on this machine
  psi-teleop calibrate --show alice

Profiles are saved in --profiles DIR, else ${ENV_DIR}, else ~/.config/psi-teleop/calibration.
The routine asks for: a neutral stance, a T-pose, arms forward, an open hand and a pinch,
each held still for --hold seconds after a --prepare count-down.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Guided operator calibration: hold a neutral stance, a T-pose, arms forward, an open hand and a pinch; "
        "the routine derives eye height, shoulder width, arm length, tracker mounting offsets, the headset-to-"
        "robot heading and hand ranges, and saves a named profile."
    )
    parser.epilog = _EPILOG
    parser.add_argument("--name", help="profile name (letters, digits, - and _)")
    parser.add_argument("--input", default="openxr", help="input device: openxr or pico (default: openxr)")
    parser.add_argument("--synthetic", action="store_true", help="use a synthetic operator instead of a device")
    parser.add_argument("--from-stream", type=Path, metavar="FILE", help="calibrate from a saved recording (.npz)")
    parser.add_argument("--save-stream", type=Path, metavar="FILE", help="also save the recorded stream (.npz)")
    parser.add_argument("--profiles", type=Path, metavar="DIR", help=f"profile directory (default: ${ENV_DIR} or ~/.config/...)")
    parser.add_argument("--hold", type=float, default=3.0, help="seconds each pose is held (default: 3)")
    parser.add_argument("--prepare", type=float, default=3.0, help="count-down before each hold [s] (default: 3)")
    parser.add_argument("--no-arms-forward", action="store_true", help="skip the arms-forward pose")
    parser.add_argument("--no-hands", action="store_true", help="skip the open-hand and pinch holds")
    parser.add_argument("--dry-run", action="store_true", help="show the profile, do not save it")
    parser.add_argument("--list", action="store_true", help="list the saved profiles and exit")
    parser.add_argument("--show", metavar="NAME", help="print one saved profile and exit")


def _phases(args: argparse.Namespace) -> tuple[Phase, ...]:
    skip = set()
    if args.no_arms_forward:
        skip.add(Phase.ARMS_FORWARD)
    if args.no_hands:
        skip |= {Phase.HAND_OPEN, Phase.HAND_PINCH}
    return tuple(p for p in DEFAULT_PHASES if p not in skip)


def _record(args: argparse.Namespace, console: object) -> CalibrationRecording:
    from calibration.routine import record_routine

    phases = _phases(args)
    if args.synthetic:
        from calibration.synthetic import SyntheticSource

        source = SyntheticSource()
        on_phase = source.set_phase
    else:
        from teleop.inputs import InputKind, make_source

        kind = InputKind.parse(args.input)
        if kind in (InputKind.SCRIPTED, InputKind.REPLAY):
            raise CalibrationError(
                f"--input {kind.value} does not follow the calibration prompts; use --synthetic for a run without "
                "hardware, or --from-stream FILE to re-use a recorded calibration"
            )
        source = make_source(kind)
        on_phase = None
    source.start()
    try:
        return record_routine(
            source, phases, hold_s=args.hold, prepare_s=args.prepare, console=console, on_phase=on_phase
        )
    finally:
        source.stop()


def _print_profile(console: object, profile: object, result: object | None = None) -> None:
    import math

    from rich.table import Table

    p = profile
    t = Table(title=f"calibration profile '{p.name}'", show_header=True)  # type: ignore[attr-defined]
    t.add_column("quantity")
    t.add_column("value", justify="right")
    rows = [
        ("eye height", f"{p.eye_height:.3f} m"),
        ("shoulder width", f"{p.shoulder_width:.3f} m"),
        ("arm length (shoulder → wrist)", f"{p.arm_length:.3f} m"),
        ("shoulder drop (eyes → shoulders)", f"{p.shoulder_drop:.3f} m"),
        ("shoulders behind the eyes", f"{p.head_to_shoulder_back:.3f} m"),
        ("robot forward (stage yaw)", f"{math.degrees(p.yaw_offset):+.1f}°"),
        ("standing spot (stage x, y)", f"{p.origin_xy[0]:+.3f}, {p.origin_xy[1]:+.3f} m"),
        ("hand open / pinch, left", f"{100 * p.hand_open[0]:.1f} / {100 * p.hand_closed[0]:.1f} cm"),
        ("hand open / pinch, right", f"{100 * p.hand_open[1]:.1f} / {100 * p.hand_closed[1]:.1f} cm"),
    ]
    for role, pose in sorted(p.tracker_offsets.items()):
        rows.append((f"{role} tracker → body", f"{100 * math.dist(pose[:3], (0, 0, 0)):.1f} cm"))
    if result is not None:
        for role, mm in result.fit_residual_mm.items():  # type: ignore[attr-defined]
            rows.append((f"{role} fit residual", f"{mm:.1f} mm"))
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)  # type: ignore[attr-defined]


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from calibration.routine import RoutineConfig, calibrate

    console = Console()
    directory = profiles_dir(args.profiles)
    if args.list:
        entries = list_profiles(directory)
        if not entries:
            console.print(f"no calibration profiles in {directory}; run `psi-teleop calibrate --name NAME`")
        for e in entries:
            if e.profile is None:
                console.print(f"  [red]{e.name}[/red]  invalid: {e.error}")
            else:
                console.print(
                    f"  {e.name:20s} eye height {e.profile.eye_height:.2f} m, arm {e.profile.arm_length:.2f} m, "
                    f"created {e.profile.created or '?'}"
                )
        return 0
    if args.show:
        _print_profile(console, load_profile(args.show, directory))
        return 0
    if args.hold < 1.0 or args.prepare < 0.0:
        raise CalibrationError(f"--hold {args.hold} s is too short (at least 1 s) or --prepare {args.prepare} is negative")
    if not args.name:
        raise CalibrationError("give the profile a name: `psi-teleop calibrate --name NAME` (or --list)")
    if args.from_stream is not None:
        recording = CalibrationRecording.load(args.from_stream)
        log.info("calibrating from the recorded stream %s (%s)", args.from_stream, ", ".join(p.value for p in recording.phases))
    else:
        recording = _record(args, console)
        if args.save_stream is not None:
            path = recording.save(args.save_stream)
            log.info("recorded stream saved to %s (re-run with --from-stream %s)", path, path)
    result = calibrate(recording, args.name, RoutineConfig())  # fixed settings: same stream, same profile
    for w in result.warnings:
        log.warning("%s", w)
    _print_profile(console, result.profile, result)
    if args.dry_run:
        console.print("dry run: profile not saved")
        return 0
    path = save_profile(result.profile, directory)
    console.print(f"[green]saved[/green] {path}")
    return 0
