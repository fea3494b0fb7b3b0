"""``psi-teleop sim --dds``: the MuJoCo simulation as a G1 + Dex3-1 on DDS.

Runs until Ctrl-C (or ``--duration``), publishing ``rt/lowstate`` and the Dex3 hand states
at 500 Hz and applying every ``rt/lowcmd`` / ``rt/dex3/*/cmd`` it receives, so a teleop or
rollout process (``DdsBackend``) or Unitree's own examples drive it exactly as they would
drive the robot::

    terminal 1:  psi-teleop sim --dds --domain 1 --interface lo
    terminal 2:  python -c "from teleop.robot.dds import DdsBackend, DdsConfig; ..."
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from teleop.exceptions import ConfigError

log = logging.getLogger("psi-teleop.sim")

_EPILOG = """examples:
  psi-teleop sim --dds                                   # domain 1 on the loopback interface
  psi-teleop sim --dds --domain 1 --interface lo --task pick_place --seed 3
  psi-teleop sim --dds --duration 30                     # stop by itself after 30 s
  psi-teleop sim --dds --motion-mode ai                  # rehearse releasing Unitree's sport mode

then connect the link code to it (same domain and interface):
  DdsBackend(DdsConfig(domain=1, interface="lo"))

The simulator uses DDS domain 1 by default so it never talks to a real G1 (domain 0).
Legs and waist follow the 8-value lower-body command on rt/psi/lower_body (simulator-only
topic) until an rt/lowcmd gives every leg motor a stiffness; then they follow rt/lowcmd.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run the MuJoCo G1 + Dex3-1 simulation as a robot on DDS: it publishes rt/lowstate and "
        "rt/dex3/{left,right}/state at 500 Hz and applies rt/lowcmd and rt/dex3/{left,right}/cmd."
    )
    parser.epilog = _EPILOG
    parser.add_argument("--dds", action="store_true", help="serve the simulation on the robot's DDS topics (required)")
    parser.add_argument("--domain", type=int, default=1, help="DDS domain id (default 1; a real G1 uses 0)")
    parser.add_argument("--interface", default="lo", help="network interface (default lo: this machine only)")
    parser.add_argument("--task", default=None, help="simulated task to load (default: empty floor)")
    parser.add_argument("--seed", type=int, default=0, help="episode seed (default 0)")
    parser.add_argument("--rate", type=float, default=500.0, help="physics and rt/lowstate rate [Hz] (default 500)")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: run until Ctrl-C)")
    parser.add_argument(
        "--motion-mode", default="", metavar="NAME",
        help="start in a Unitree motion mode such as 'ai' (rt/lowcmd ignored until the link releases it; default: debug mode)",
    )


def run(args: argparse.Namespace) -> int:
    if not args.dds:
        raise ConfigError(
            "`psi-teleop sim` serves the simulation over DDS and needs --dds "
            "(the in-process simulation runs inside `psi-teleop demo`)"
        )
    from teleop import realtime
    from teleop.robot.sim_dds import DdsSimConfig, DdsSimServer

    realtime.raise_niceness()  # the simulator stands in for the robot's own computer: keep it on time
    config = DdsSimConfig(domain=args.domain, interface=args.interface, rate_hz=args.rate, task=args.task, seed=args.seed,
                          motion_mode=args.motion_mode)
    log.info("loading the G1 + Dex3-1 simulation%s ...", f" with task {args.task}" if args.task else "")
    server = DdsSimServer(config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def report(stats, sim_time: float, wall: float) -> None:
        if int(wall) % 5 == 0:
            log.info(
                "sim %.1f s (real-time factor %.2f) | states sent %d | lowcmd applied %d, bad CRC %d | hand cmds %d | late ticks %d",
                sim_time, sim_time / max(wall, 1e-9), stats.states_published, stats.lowcmds_received,
                stats.lowcmds_bad_crc, stats.hand_cmds_received, stats.late_ticks,
            )

    try:
        server.start()
        print(
            f"DDS simulator running: domain {config.domain}, interface {config.interface!r}, {config.rate_hz:.0f} Hz "
            "- Ctrl-C to stop",
            flush=True,
        )
        stats = server.run(stop, duration_s=args.duration, on_second=report)
    finally:
        server.close()
    log.info("DDS simulator stopped after %d steps (%d late)", stats.steps, stats.late_ticks)
    return 0
