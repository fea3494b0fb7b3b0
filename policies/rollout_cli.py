"""``psi-teleop rollout``: run a trained policy with real-time chunking on the simulation or the robot.

    checkpoint DIR ─► policy ─► RTC runtime: 30 Hz control thread + inference thread ─► robot backend
                                                                                        sim: lock-stepped MuJoCo,
                                                                                             success rate over seeds
                                                                                        dds: the G1 (or the DDS sim)

With ``--robot sim`` it evaluates: N seeded episodes of the task, the success rate, and
every rollout recorded as an episode (``--record``, default ``<checkpoint>/rollouts``)
for the annotation app. With ``--robot dds`` it drives the robot in real time until
``--duration`` elapses or Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from teleop.exceptions import ConfigError, MissingExtraError

EPILOG = """examples:
  psi-teleop rollout --checkpoint runs/pick_place --robot sim --task pick_place --episodes 20 --seed 1000
  psi-teleop rollout --checkpoint runs/pick_place --robot sim --episodes 5 --latency-ms 150 --mode inpaint
  psi-teleop rollout --checkpoint runs/pick_place --robot sim --episodes 3 --record-camera head
  psi-teleop sim --dds &   # the simulator as a DDS robot, then:
  psi-teleop rollout --checkpoint runs/pick_place --robot dds --domain 1 --interface lo --duration 30
"""

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    from teleop.robot.tasks import TASK_NAMES

    parser.description = __doc__
    parser.epilog = EPILOG
    parser.add_argument("--checkpoint", required=True, type=Path, help="checkpoint directory from psi-teleop train")
    parser.add_argument("--robot", choices=["sim", "dds"], default="sim", help="robot backend (default: sim)")
    parser.add_argument("--device", default="cpu", help="torch device for inference (default: cpu)")
    parser.add_argument("--no-ema", action="store_true", help="use the raw weights even if EMA weights exist")
    parser.add_argument("--inference", choices=["auto", "process", "thread"], default="auto",
                        help="where the network runs: a child process (keeps the 30 Hz control thread on time "
                             "on a busy computer) or the inference thread itself; auto: process on the robot, "
                             "thread in the lock-stepped simulation")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads for inference (default 1: predictable latency next to the control thread)")
    r = parser.add_argument_group("real-time chunking")
    r.add_argument("--mode", choices=["auto", "prefix", "inpaint", "naive"], default="auto",
                   help="auto: prefix for checkpoints trained with training-time RTC, else inpaint")
    r.add_argument("--control-hz", type=float, default=30.0, help="control rate [Hz] (default: 30)")
    r.add_argument("--min-execution-horizon", type=int, default=5, help="actions each chunk runs at least")
    r.add_argument("--min-delay", type=int, default=2,
                   help="shortest committed prefix [ticks] (default 2; 1 lets each chunk leave the plan after one action)")
    r.add_argument("--denoise-steps", type=int, default=10, help="flow integration steps (default: 10)")
    r.add_argument("--max-guidance", type=float, default=5.0, help="inpainting guidance clamp beta")
    r.add_argument("--tick-log", type=Path, default=None, help="directory for the per-tick timing logs (.npz)")
    s = parser.add_argument_group("simulation (--robot sim)")
    s.add_argument("--task", choices=TASK_NAMES, default=None, help="task (default: the checkpoint's task)")
    s.add_argument("--episodes", type=int, default=20, help="evaluation episodes (default: 20)")
    s.add_argument("--seed", type=int, default=1000, help="seed of the first episode; episode i uses seed+i")
    s.add_argument("--max-duration", type=float, default=None, help="longest episode [s of sim time]")
    s.add_argument("--latency-ms", type=float, default=None,
                   help="inference latency in simulated time [ms] (default: the measured compute time)")
    s.add_argument("--record", type=Path, default=None, help="dataset for the rollouts (default: CHECKPOINT/rollouts)")
    s.add_argument("--no-record", action="store_true", help="do not record the rollouts")
    s.add_argument("--record-camera", action="append", default=[], metavar="NAME",
                   help="also record this camera at 10 Hz (~20 ms a frame on a CPU)")
    d = parser.add_argument_group("robot (--robot dds)")
    d.add_argument("--domain", type=int, default=0, help="DDS domain (0: G1, 1: psi-teleop sim --dds)")
    d.add_argument("--interface", default=None, help="network interface to the robot (lo for the simulator)")
    d.add_argument("--duration", type=float, default=60.0, help="how long to run the policy [s]")
    d.add_argument("--instruction", default=None, help="instruction (default: the checkpoint's first one)")


def _rtc_config(args) -> "object":
    from policies.config import RTCConfig, RTCMode

    return RTCConfig(control_hz=args.control_hz, mode=None if args.mode == "auto" else RTCMode(args.mode),
                     min_execution_horizon=args.min_execution_horizon, min_delay=args.min_delay,
                     denoise_steps=args.denoise_steps,
                     max_guidance=args.max_guidance)


def run(args: argparse.Namespace) -> int:
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError("torch", "policies", "running a policy") from exc
    import torch

    from policies.policy import FlowPolicy

    if args.threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    policy = FlowPolicy.load(args.checkpoint, device=args.device, use_ema=not args.no_ema)
    rtc = _rtc_config(args)
    meta = policy.meta
    in_process = args.inference == "process" or (args.inference == "auto" and args.robot == "dds")
    if in_process:
        import functools

        from policies.subprocess_policy import SubprocessPolicy, load_flow_policy

        served = SubprocessPolicy(functools.partial(load_flow_policy, str(args.checkpoint), args.device,
                                                    not args.no_ema), threads=args.threads)
    try:
        runner = served if in_process else policy
        if args.robot == "sim":
            return _run_sim(args, runner, rtc, meta)
        return _run_dds(args, runner, rtc, meta)
    finally:
        if in_process:
            served.close()


def _run_sim(args, policy, rtc, meta) -> int:
    from policies.rollout import evaluate
    from teleop.cli import table, table_console

    task = args.task or (meta.tasks[0] if meta.tasks else None)
    if task is None:
        raise ConfigError("the checkpoint names no task; pass --task")
    if args.episodes < 1:
        raise ConfigError(f"--episodes must be at least 1, got {args.episodes}")
    dataset = None if args.no_record else (args.record or Path(args.checkpoint) / "rollouts")
    report = evaluate(policy, task, args.episodes, args.seed, rtc, dataset=dataset, max_duration_s=args.max_duration,
                      latency_s=None if args.latency_ms is None else args.latency_ms / 1e3,
                      record_cameras=tuple(args.record_camera), operator=f"policy:{Path(args.checkpoint).name}",
                      log_dir=args.tick_log)
    console = table_console()
    objects = sorted({k.rsplit("_touched", 1)[0] for r in report.results for k in r.progress if k.endswith("_touched")})
    results = table(f"rollout {task}: {Path(args.checkpoint)}",
                    ("seed", "ok", "sim [s]", "wall [s]", "chunks", "infer [ms]", "starved", "slow", *objects, "episode"),
                    caption="infer: median inference latency; starved: ticks held for want of a chunk; slow: largest "
                            "playback slow-down; OBJECT: highest rise \\[cm] ('-': no hand touched it)")
    for r in report.results:
        rt = r.runtime
        prog = [f"{100 * r.progress.get(f'{o}_max_rise_m', 0):.1f}" if r.progress.get(f"{o}_touched") else "-"
                for o in objects]
        results.add_row(str(r.seed), "[green]yes[/]" if r.success else "[red]no[/]", f"{r.duration_s:.1f}",
                      f"{r.wall_s:.1f}", str(rt["chunks"]), f"{rt['latency_median_ms']:.0f}", str(rt["starved_ticks"]),
                      str(rt["max_slowdown"]), *prog, r.episode_id or "-")
    console.print(results)
    for o in objects:
        touched = sum(r.progress.get(f"{o}_touched", 0) for r in report.results)
        rises = [100 * r.progress.get(f"{o}_max_rise_m", 0.0) for r in report.results]
        console.print(f"{o}: touched by a hand in {touched:.0f}/{len(report.results)} episodes; max rise median "
                      f"{sorted(rises)[len(rises) // 2]:.1f} cm, best {max(rises):.1f} cm")
    console.print(f"success rate: [bold]{report.n_success}/{len(report.results)} = {100 * report.success_rate:.0f}%[/] "
                  f"(task {task}, seeds {args.seed}..{args.seed + args.episodes - 1}, RTC mode "
                  f"{(rtc.mode.value if rtc.mode else ('prefix' if policy.trained_with_prefix else 'inpaint'))})")
    if dataset is not None:
        console.print(f"rollouts recorded in [cyan]{dataset}[/]")
    return 0


def _run_dds(args, policy, rtc, meta) -> int:
    from policies.clocks import RealTimeClock
    from policies.runtime import RTCRuntime
    from teleop.robot.dds import DdsBackend, DdsConfig

    if policy.cameras:
        raise ConfigError(f"this checkpoint needs camera images {policy.cameras}; the DDS rollout runs state-only "
                          "policies (train without --camera)")
    instruction = args.instruction or (meta.instructions[0] if meta.instructions else "")
    backend = DdsBackend(DdsConfig(domain=args.domain, interface=args.interface))
    backend.start()
    runtime = RTCRuntime(policy, backend, rtc, clock=RealTimeClock(), instruction=instruction,
                         log_path=(args.tick_log / "rollout_dds.npz") if args.tick_log else None)
    ticks = int(round(args.duration * rtc.control_hz))
    log.info("running the policy on the robot for %.0f s (Ctrl-C stops it); instruction: %s", args.duration, instruction)
    try:
        report = runtime.run(max_ticks=ticks)
    finally:
        backend.stop()
    s = report.summary()
    print(f"{s['ticks']} ticks, {s['missed_ticks']} missed, {s['chunks']} chunks, inference median "
          f"{s['latency_median_ms']:.0f} ms, starved ticks {s['starved_ticks']}, max slow-down {s['max_slowdown']}")
    return 0
