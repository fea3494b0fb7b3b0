"""``psi-teleop devices``: what the chosen input backend sees, the first command on a new rig.

Opens the backend, polls it at 100 Hz for ``--duration`` seconds (so rates and ages are
measured, not guessed), then prints one row per device: its runtime name, the body part it
stands for, whether it is tracked and valid, the age of its last valid sample and its rate.

    runtime / service ──► InputSource.poll (100 Hz, --duration s) ──► devices() ──► table
"""

from __future__ import annotations

import argparse
import json
import logging
import math

from teleop import clock
from teleop.exceptions import PsiTeleopError
from teleop.inputs.base import DeviceInfo, InputKind, InputSource, make_source
from teleop.operator_frame import OperatorFrame, TrackerRole

POLL_HZ = 100.0  # the teleop loop's rate, so the measured rates are what the loop will see

EPILOG = """examples:
  psi-teleop devices                                   # OpenXR runtime (SteamVR / Monado), 2 s sample
  psi-teleop devices --input openxr --duration 5 --require waist --require left_ankle
  psi-teleop devices --input openxr --tracker left_foot=left_ankle --tracker /user/xr_tracker_htc/vive_self_tracker_0=left_wrist
  psi-teleop devices --input pico --pico-trackers motion_trackers   # lists PICO tracker serials
  psi-teleop devices --input pico --pico-trackers motion_trackers --tracker PC2310ABC=waist
  psi-teleop devices --json                            # machine-readable
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "List the devices an input backend sees: name, body-part role, tracking state, sample age and rate. "
        "Run it first on a new rig to check every tracker holds the right role."
    )
    parser.epilog = EPILOG
    parser.add_argument("--input", dest="input_kind", default=InputKind.OPENXR.value,
                        choices=[InputKind.OPENXR.value, InputKind.PICO.value],
                        help="which device backend to open (default: openxr)")
    parser.add_argument("--duration", type=float, default=2.0, metavar="S",
                        help="seconds to sample before listing, for rates and ages (default: 2)")
    parser.add_argument("--tracker", action="append", default=[], metavar="DEVICE=ROLE",
                        help="map a tracker to a body part (repeatable). OpenXR: a Vive role (left_foot) or user "
                             "path; PICO: a motion tracker serial. Roles: "
                             + ", ".join(r.name.lower() for r in TrackerRole))
    parser.add_argument("--require", action="append", default=[], metavar="ROLE",
                        help="fail unless this body part is tracked (repeatable)")
    parser.add_argument("--pico-trackers", default="body", choices=["body", "motion_trackers", "none"],
                        help="PICO: full-body joints or raw motion trackers by serial (default: body)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _build_source(args: argparse.Namespace) -> InputSource:
    kind = InputKind.parse(args.input_kind)
    try:
        required = tuple(TrackerRole.parse(r) for r in args.require)
    except ValueError as exc:
        raise PsiTeleopError(str(exc)) from None
    if kind is InputKind.OPENXR:
        from teleop.inputs.openxr_config import DEFAULT_TRACKERS, OpenXRConfig, TrackerBinding

        trackers = tuple(TrackerBinding.parse(t) for t in args.tracker) if args.tracker else DEFAULT_TRACKERS
        if args.tracker:  # keep the default roles that the overrides do not take over
            taken = {b.role for b in trackers} | {b.user_path for b in trackers}
            trackers += tuple(b for b in DEFAULT_TRACKERS if b.role not in taken and b.user_path not in taken)
        return make_source(kind, config=OpenXRConfig(trackers=trackers, required_roles=required))
    from teleop.inputs.pico import PicoConfig, PicoTrackerBinding, PicoTrackerMode

    bindings = []
    for text in args.tracker:
        serial, sep, role = text.partition("=")
        if not sep:
            raise PsiTeleopError(f"--tracker '{text}' must look like SERIAL=ROLE, e.g. PC2310ABC=waist")
        try:
            bindings.append(PicoTrackerBinding(serial.strip(), TrackerRole.parse(role)))
        except ValueError as exc:
            raise PsiTeleopError(str(exc)) from None
    return make_source(kind, config=PicoConfig(tracker_mode=PicoTrackerMode(args.pico_trackers),
                                               trackers=tuple(bindings), required_roles=required))


def sample_devices(source: InputSource, duration_s: float, progress: bool = True) -> list[DeviceInfo]:
    """Poll a started ``source`` at :data:`POLL_HZ` for ``duration_s`` [s]; return its devices."""
    frame = OperatorFrame()
    period = 1.0 / POLL_HZ
    t0 = clock.now()
    n = max(1, int(math.ceil(duration_s * POLL_HZ)))
    if progress:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("sampling devices", total=n)
            for k in range(n):
                source.poll(frame)
                bar.advance(task)
                clock.sleep_until(t0 + (k + 1) * period)
    else:
        for k in range(n):
            source.poll(frame)
            clock.sleep_until(t0 + (k + 1) * period)
    return source.devices()


def _table(devices: list[DeviceInfo], title: str) -> None:
    from teleop.cli import table, table_console

    seen = table(title, ("device", "role", "tracked", "valid", "age [ms]", "rate [Hz]", "detail"))
    for d in devices:
        age = f"{d.age_s * 1e3:.0f}" if math.isfinite(d.age_s) else "-"
        seen.add_row(d.name, d.role or "(unmapped)", "yes" if d.tracked else "no",
                      "[green]yes[/]" if d.valid else "[red]no[/]", age, f"{d.rate_hz:.0f}", d.detail)
    table_console(width=160).print(seen)  # piped or captured: device paths are not wrapped at 80 columns


def run(args: argparse.Namespace) -> int:
    if not 0.0 < args.duration <= 600.0:
        raise PsiTeleopError(f"--duration {args.duration} s is outside (0, 600]")
    previous = logging.root.manager.disable
    if args.json:  # keep stdout pure JSON: the CLI's log handler prints there
        logging.disable(logging.INFO)
    try:
        source = _build_source(args)
        source.start()
        try:
            devices = sample_devices(source, args.duration, progress=not args.json)
            lost = source.lost_reason
        finally:
            source.stop()
    finally:
        logging.disable(previous)
    if args.json:
        print(json.dumps({"input": args.input_kind, "lost": lost, "devices": [
            {"name": d.name, "role": d.role, "tracked": d.tracked, "valid": d.valid,
             "age_s": d.age_s if math.isfinite(d.age_s) else None, "rate_hz": d.rate_hz, "detail": d.detail}
            for d in devices]}, indent=2))
    else:
        _table(devices, f"devices seen by --input {args.input_kind} over {args.duration:g} s")
        if lost:
            print(lost)
    return 1 if lost else 0
