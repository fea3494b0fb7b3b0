"""``psi-teleop cameras``: open cameras, measure them, and optionally serve or view them.

The first command on a new rig: every configured camera is opened on its own capture thread
for ``--duration`` seconds, then one row per camera says its state, picture size, measured
rate, frame age and what is wrong::

    NAME=KIND[:DEVICE] ... ──► CameraRig (one capture thread each) ──► table / JSON
                                   ├─ --save DIR   newest frame of each camera as DIR/NAME.jpg
                                   ├─ --serve HOST teleimager-format ZMQ server (for other processes)
                                   └─ --view       head camera in the headset (OpenXR, EGL binding)

Simulated cameras (``head=sim``) get a MuJoCo simulation stepped in real time on its own
thread, so they behave as in a real-time session.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import threading
from pathlib import Path

from teleop import clock
from teleop.cameras.config import CameraKind, parse_camera
from teleop.cameras.exceptions import CameraError
from teleop.cameras.rig import open_rig
from teleop.cameras.source import CameraState

log = logging.getLogger(__name__)

EPILOG = """examples:
  psi-teleop cameras head=sim left_wrist=sim                  # simulated cameras, 3 s sample
  psi-teleop cameras head=uvc:0 --duration 5 --save /tmp/cams  # a USB camera; writes /tmp/cams/head.jpg
  psi-teleop cameras head=realsense:123456789012+depth
  psi-teleop cameras head=teleimager:192.168.123.164 left_wrist=teleimager:192.168.123.164
  psi-teleop cameras head=sim --serve 127.0.0.1 --duration 600  # serve the sim cameras as the robot does
  psi-teleop cameras head=uvc:0 --view --duration 60            # the head camera in the headset (Monado)
  psi-teleop cameras head=uvc:0 --json
"""
#: Physics publish period of the simulation thread for simulated cameras [s].
SIM_PERIOD_S = 0.01


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Open cameras by name, sample them and report state, size, rate and frame age; optionally save a "
        "frame, serve them in the G1 image-server format, or show the head camera in the headset."
    )
    parser.epilog = EPILOG
    parser.add_argument("cameras", nargs="+", metavar="NAME=KIND[:DEVICE]",
                        help="cameras: NAME=sim | NAME=uvc:INDEX_OR_PATH | NAME=realsense[:SERIAL][+depth] | "
                             "NAME=teleimager:HOST[:PORT]")
    parser.add_argument("--duration", type=float, default=3.0, metavar="S",
                        help="seconds to sample (or to serve/view) before reporting (default: 3)")
    parser.add_argument("--fps", type=float, default=30.0, help="requested capture rate [Hz] (default: 30)")
    parser.add_argument("--size", default="480x640", metavar="HxW",
                        help="requested picture size for UVC/RealSense [px] (default: 480x640)")
    parser.add_argument("--save", type=Path, metavar="DIR", help="write each camera's newest frame to DIR/NAME.jpg")
    parser.add_argument("--serve", metavar="HOST", help="publish the cameras in teleimager format on HOST "
                                                        "(ports 55555.. by role, config on 60000)")
    parser.add_argument("--view", action="store_true", help="show the head camera in the OpenXR headset")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise CameraError(f"--size {text!r} must look like 480x640 (height x width in pixels)") from None
    return h, w


def run(args: argparse.Namespace) -> int:
    configs = [parse_camera(s, fps=args.fps, size=_size(args.size)) for s in args.cameras]
    sim = tap = None
    stop = threading.Event()
    physics = None
    sim_names = tuple(c.name for c in configs if c.kind is CameraKind.SIM)
    if sim_names:
        from teleop.cameras.sim import SimStateTap
        from teleop.robot.sim import MujocoSim, SimConfig

        sim = MujocoSim(SimConfig(cameras=sim_names))
        tap = SimStateTap(sim.model)
        tap.publish_sim(sim)
        n_steps = max(1, round(SIM_PERIOD_S / sim.model.opt.timestep))

        def step() -> None:
            nxt = clock.now()
            while not stop.is_set():
                sim.step(n_steps)
                tap.publish_sim(sim)
                nxt = max(nxt + SIM_PERIOD_S, clock.now() - 0.5)
                stop.wait(max(0.0, nxt - clock.now()))

        physics = threading.Thread(target=step, name="sim-physics", daemon=True)
        physics.start()
    rig = open_rig(configs, sim=sim, tap=tap)
    publisher = view = None
    try:
        rig.start()
        if args.serve:
            from teleop.cameras.teleimager import TeleimagerPublisher

            publisher = TeleimagerPublisher({n: rig[n].latest for n in rig.names}, host=args.serve, fps=args.fps)
            publisher.start()
            log.info("serving %s on %s", ", ".join(rig.names), args.serve)
        if args.view:
            from teleop.inputs.openxr_view import HeadsetView

            view = HeadsetView(rig["head"].latest)
            view.start()
        _sample(args.duration)
        health = rig.health()
        if args.save:
            _save(rig, args.save)
        view_stats = view.stats() if view is not None else None
    finally:
        if view is not None:
            view.stop()
        if publisher is not None:
            publisher.stop()
        rig.stop()
        stop.set()
        if physics is not None:
            physics.join(2.0)
        if sim is not None:
            sim.close()
    shapes = {n: list(rig[n].latest().image.shape[:2]) if rig[n].latest() is not None else None for n in rig.names}
    rows = [{"name": h.name, "kind": h.kind, "state": h.state.value, "size": shapes[h.name],
             "rate_hz": round(h.rate_hz, 2), "age_ms": None if math.isinf(h.age_s) else round(h.age_s * 1e3, 1),
             "frames": h.frames, "detail": h.message} for h in health]
    bad = [h.name for h in health if h.state is not CameraState.STREAMING]
    if bad:
        log.error("camera(s) not streaming: %s", ", ".join(bad))
    if args.json:
        out = {"cameras": rows}
        if view_stats is not None:
            out["view"] = {"age_ms_p50": view_stats.age_ms_p50, "age_ms_p99": view_stats.age_ms_p99,
                           "new_frame_hz": view_stats.new_frame_hz, "submit_hz": view_stats.submit_hz}
        print(json.dumps(out, indent=2))
    else:
        _print_table(rows)
        if view_stats is not None:
            print(f"headset view: frame age p50 {view_stats.age_ms_p50:.0f} ms, p99 {view_stats.age_ms_p99:.0f} ms; "
                  f"{view_stats.new_frame_hz:.1f} new frames/s, {view_stats.submit_hz:.1f} submitted/s")
    return 1 if bad else 0


def _sample(duration: float) -> None:
    from tqdm import tqdm

    end = clock.now() + duration
    with tqdm(total=round(duration, 1), desc="sampling cameras", unit="s", leave=False,
              bar_format="{desc}: {n:.1f}/{total} s") as bar:
        while (remaining := end - clock.now()) > 0:
            threading.Event().wait(min(0.2, remaining))
            bar.n = round(duration - max(0.0, end - clock.now()), 1)
            bar.refresh()


def _save(rig, folder: Path) -> None:
    import simplejpeg

    folder.mkdir(parents=True, exist_ok=True)
    for name in rig.names:
        f = rig[name].latest()
        if f is None:
            continue
        (folder / f"{name}.jpg").write_bytes(simplejpeg.encode_jpeg(f.image.copy(), quality=90, colorspace="RGB"))


def _print_table(rows: list[dict]) -> None:
    from teleop.cli import table, table_console

    cams = table("cameras", ("camera", "kind", "state", "size", "rate [Hz]", "age [ms]", "frames", "detail"))
    colour = {"streaming": "green", "stalled": "yellow", "failed": "red"}
    for r in rows:
        size = f"{r['size'][1]}x{r['size'][0]}" if r["size"] else "-"
        state = f"[{colour.get(r['state'], 'white')}]{r['state']}[/]"
        cams.add_row(r["name"], r["kind"], state, size, f"{r['rate_hz']:.1f}",
                      "-" if r["age_ms"] is None else f"{r['age_ms']:.0f}", str(r["frames"]), r["detail"])
    table_console().print(cams)
