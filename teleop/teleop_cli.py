"""``psi-teleop teleop``: run a teleop session from the terminal (input → calibration → IK → safety → robot)."""

from __future__ import annotations

import argparse
import logging
import time

from teleop.app import INPUT_KINDS, LOCOMOTION_SOURCES, ROBOT_KINDS, SessionOptions
from teleop.robot.tasks import TASK_NAMES

log = logging.getLogger(__name__)

EPILOG = """examples:
  psi-teleop teleop --input scripted --robot sim --duration 20            # watch the scripted operator
  psi-teleop teleop --duration 15 --camera head --dataset /tmp/rt --record  # real time, head camera recorded
  psi-teleop teleop --input openxr --robot sim --profile alice --dataset data/alice --record
  psi-teleop teleop --input replay --episode data/demo:episode_000000 --robot sim --speed 0.5
  psi-teleop teleop --input replay --episode data/demo:0 --loop --robot dds --domain 1 --interface lo  # soak
  psi-teleop teleop --input openxr --headset-view --camera head --duration 60   # input + robot view, one OpenXR session
  psi-teleop teleop --input openxr --robot dds --interface enp3s0 --domain 0 --amo-dir ~/amo --profile alice

Engage with A on the right controller (the robot blends into your pose over 2 s); the menu
button on the left controller is the e-stop. Episode control from a pedal, phone or the
console: run `psi-teleop serve` instead, which serves the same session over HTTP.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = "Run a teleop session: operator input drives the robot through calibration, IK, retargeting and the safety filter."
    parser.epilog = EPILOG
    parser.add_argument("--input", default="scripted", choices=INPUT_KINDS, help="operator input (default: scripted)")
    parser.add_argument("--robot", default="sim", choices=ROBOT_KINDS, help="robot backend (default: sim)")
    parser.add_argument("--task", default="pick_place", choices=TASK_NAMES, help="simulated task / recorded task name")
    parser.add_argument("--seed", type=int, default=0, help="simulation seed")
    parser.add_argument("--profile", default=None, help="calibration profile name or JSON file")
    parser.add_argument("--profiles", default=None, help="calibration profile directory")
    parser.add_argument("--episode", default=None, help="for --input replay: DATASET:EPISODE")
    parser.add_argument("--speed", type=float, default=1.0, help="replay speed factor")
    parser.add_argument("--loop", action="store_true", help="for --input replay: play forward and backward without end")
    parser.add_argument("--dataset", default=None, help="record into this dataset")
    parser.add_argument("--record", action="store_true", help="record the whole session as one episode (needs --dataset)")
    parser.add_argument("--camera", action="append", default=[], metavar="NAME=SPEC",
                        help="record a camera (repeatable): head (simulated), head=uvc:0, head=realsense, "
                             "head=teleimager:192.168.123.164")
    parser.add_argument("--headset-view", action="store_true",
                        help="show the head camera (--camera head...) in the OpenXR headset; with --input openxr "
                             "both share one OpenXR session")
    parser.add_argument("--rate", type=float, default=100.0, help="loop rate [Hz] (50..500, default 100)")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: until Ctrl-C)")
    parser.add_argument("--locomotion", default="controllers", choices=LOCOMOTION_SOURCES, help="walking command source")
    parser.add_argument("--domain", type=int, default=0, help="DDS domain (0 for a real G1, 1 for `psi-teleop sim --dds`)")
    parser.add_argument("--interface", default=None, help="network interface of the robot link (e.g. enp3s0, lo)")
    parser.add_argument("--amo-dir", default=None, help="folder with AMO's amo_jit.pt, adapter_jit.pt, adapter_norm_stats.pt")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from teleop.app import build_session
    from teleop.exceptions import ConfigError

    if args.record and not args.dataset:
        raise ConfigError("--record needs --dataset PATH")
    opts = SessionOptions(input=args.input, robot=args.robot, task=args.task, seed=args.seed, dataset=args.dataset,
                          profile=args.profile, profiles_dir=args.profiles, episode=args.episode, speed=args.speed,
                          replay_loop=args.loop, rate_hz=args.rate, domain=args.domain, interface=args.interface, amo_dir=args.amo_dir,
                          locomotion=args.locomotion, cameras=tuple(args.camera), headset_view=args.headset_view)
    console = Console()
    session = build_session(opts)
    loop = session.loop
    try:
        loop.start()
        if args.record:
            session.start_episode()
        session.run_in_thread()
        console.print("[bold]teleop running[/] — Ctrl-C to stop")
        t_end = None if args.duration is None else time.monotonic() + args.duration
        while t_end is None or time.monotonic() < t_end:
            time.sleep(1.0)
            st = session.status()
            t = st.timing
            console.print(f"{st.engage.value:11s} link {st.link:8s} {t.rate_hz:6.1f} Hz  input age {t.input_age_ms:5.1f} ms  "
                          f"IK {t.ik_ms:4.2f} ms  tick p99 {t.tick_ms_p99:5.2f} ms  late p99 {t.jitter_ms_p99:5.2f} ms  "
                          f"overruns {t.overruns}  rows {st.episode_rows}")
            if getattr(loop.source, "finished", False):
                console.print("the input finished")
                break
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        if args.record:
            episode = session.stop_episode()
            if episode:
                console.print(f"episode {episode} saved in {args.dataset}")
        session.close()  # stops the headset view too
        view = session.headset_view
        if view is not None:
            vs = view.stats()
            console.print(f"headset view: frame age p50 {vs.age_ms_p50:.0f} ms, p99 {vs.age_ms_p99:.0f} ms; "
                          f"{vs.new_frame_hz:.1f} new frames/s, {vs.submit_hz:.1f} submitted/s")
    return 0
