"""``psi-teleop demo``: a simulated teleop session with the scripted operator that records episodes.

Data flow (the same path as a person's session, with the simulation in lock-step)::

    ScriptedOperator ─► calibration ─► IK + hand retargeting + locomotion ─► safety ─► MuJoCo G1
                                                                                  └─► recorder (Zarr)
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import asdict
from pathlib import Path

from teleop.robot.tasks import TASK_NAMES

log = logging.getLogger(__name__)

#: Longest an episode may run before the operator gives up on it [s of simulated time].
MAX_EPISODE_S = {"pick_place": 30.0, "lift_box": 25.0, "loco_pick_place": 45.0}
#: Time the operator waits after its last motion before the episode is judged [s].
SETTLE_S = 1.0

EPILOG = """examples:
  psi-teleop demo                                   # 3 pick-and-place episodes into ./data/demo
  psi-teleop demo --task lift_box --episodes 5 --seed 7
  psi-teleop demo --task loco_pick_place --dataset /tmp/loco.zarr --cameras head
  psi-teleop demo --viewer                          # watch in MuJoCo's viewer (needs a display)
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run a simulated teleop session: a scripted operator performs a task through calibration, IK, "
        "hand retargeting, the safety filter and the MuJoCo G1, and every episode is recorded."
    )
    parser.epilog = EPILOG
    parser.add_argument("--task", default="pick_place", choices=TASK_NAMES, help="task to perform (default: pick_place)")
    parser.add_argument("--episodes", type=int, default=3, help="number of episodes (default: 3)")
    parser.add_argument("--dataset", type=Path, default=Path("data/demo"), help="dataset directory (default: data/demo)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode; episode i uses seed+i")
    parser.add_argument("--cameras", default="head", help="comma-separated cameras to record ('' for none; default: head)")
    parser.add_argument("--camera-hz", type=float, default=5.0,
                        help="simulated camera rate [Hz] (default: 5; 30 for policy training data: each 160x120 frame costs ~20 ms of CPU rendering)")
    parser.add_argument("--viewer", action="store_true", help="open MuJoCo's passive viewer (needs a display)")


def run(args: argparse.Namespace) -> int:

    from calibration import CalibrationProfile, OperatorToRobot
    from ik import HandRetargeter, HandRetargeterConfig, UpperBodyIK, UpperBodyIKConfig
    from recorder import DatasetWriter
    from teleop.cli import table, table_console
    from teleop.exceptions import ConfigError
    from teleop.inputs.scripted import ScriptedConfig, ScriptedOperator
    from teleop.locomotion import LocomotionChannel, LocomotionConfig
    from teleop.loop import LoopConfig, TeleopLoop
    from teleop.robot.sim import SimBackend, SimConfig
    from teleop.safety import SafetyConfig, SafetyFilter
    from teleop.session import TeleopSession

    if args.episodes < 1:
        raise ConfigError(f"--episodes must be at least 1, got {args.episodes}")
    cameras = tuple(c for c in args.cameras.split(",") if c)
    console = table_console()
    profile = CalibrationProfile(name="scripted")
    mapping = OperatorToRobot(profile)
    loop_cfg = LoopConfig(lockstep=True, cameras=cameras, camera_hz=args.camera_hz)
    console.print(f"[bold]psi-teleop demo[/]: task [cyan]{args.task}[/], {args.episodes} episode(s), "
                  f"dataset [cyan]{args.dataset}[/]")
    t_setup = time.perf_counter()
    ik = UpperBodyIK(UpperBodyIKConfig())
    hands = {side: HandRetargeter(side, HandRetargeterConfig()) for side in ("left", "right")}
    camera_shapes = {}
    writer = None
    rows = []
    wall_total = 0.0
    for i in range(args.episodes):
        seed = args.seed + i
        sim_cfg = SimConfig(task=args.task, seed=seed, cameras=cameras)
        backend = SimBackend(sim_cfg)
        backend.start()
        sim = backend.sim
        if writer is None:
            camera_shapes = {c: sim_cfg.camera_size for c in cameras}
            writer = DatasetWriter(args.dataset, record_hz=loop_cfg.record_hz, camera_shapes=camera_shapes)
        operator = ScriptedOperator(sim, mapping, clock=lambda: sim.time, config=ScriptedConfig(task=args.task, seed=seed))
        loop = TeleopLoop(operator, backend, mapping, ik, hands, SafetyFilter(SafetyConfig()),
                          locomotion=LocomotionChannel(LocomotionConfig()), config=loop_cfg, clock=lambda: sim.time)
        session = TeleopSession(loop, writer, task=args.task, instruction=sim.task.instruction, operator="scripted",
                                calibration=profile.to_dict(),
                                config={"sim": asdict(sim_cfg), "loop": asdict(loop_cfg), "seed": seed})
        viewer = _open_viewer(sim) if args.viewer else None
        loop.start()
        episode_id = session.start_episode()
        wall0 = time.perf_counter()
        settle_until = [None]

        def done() -> bool:
            if viewer is not None:
                viewer.sync()
            if sim.time > MAX_EPISODE_S[args.task]:
                return True
            if operator.finished and settle_until[0] is None:
                settle_until[0] = sim.time + SETTLE_S
            return settle_until[0] is not None and sim.time >= settle_until[0]

        loop.run(until=done)
        wall = time.perf_counter() - wall0
        wall_total += wall
        success = sim.success()
        session.stop_episode(success=success)
        timing = loop.timing()
        rows.append((episode_id, seed, sim.time, success, loop.records, wall, timing, loop.safety.max_joint_speed))
        log.info("episode %s: %s after %.1f s (%d rows)", episode_id, "success" if success else "failure",
                 sim.time, loop.records)
        if viewer is not None:
            viewer.close()
        loop.source.stop()
        backend.stop()
    writer.close()
    summary = table(f"demo: {args.task}",
                    ("episode", "seed", "sim [s]", "ok", "rows", "speed", "IK [ms]", "tick p99 [ms]", "joint max [rad/s]"),
                    caption="speed: simulated time / wall time; IK: median solve; tick p99: lock-step tick, cameras "
                            "included; joint max: fastest joint after the safety filter")
    for ep, seed, t_sim, ok, n, wall, timing, vmax in rows:
        summary.add_row(ep, str(seed), f"{t_sim:.1f}", "[green]yes[/]" if ok else "[red]no[/]", str(n),
                      f"{t_sim / wall:.2f}x", f"{timing.ik_ms:.2f}", f"{timing.tick_ms_p99:.2f}", f"{vmax:.2f}")
    console.print(summary)
    n_ok = sum(1 for r in rows if r[3])
    console.print(f"{n_ok}/{len(rows)} successful; loop at {loop_cfg.rate_hz:.0f} Hz in lock-step, recording at "
                  f"{loop_cfg.record_hz:.0f} Hz{' with cameras ' + ', '.join(cameras) if cameras else ''}; "
                  f"{time.perf_counter() - t_setup:.0f} s in all")
    console.print(f"data: [cyan]{Path(args.dataset).resolve()}[/]  (inspect: psi-teleop dataset info {args.dataset})")
    return 0


def _open_viewer(sim):
    import mujoco.viewer

    from teleop.exceptions import RobotBackendError

    try:
        return mujoco.viewer.launch_passive(sim.model, sim.data)
    except Exception as exc:  # no display, no GL
        raise RobotBackendError(f"cannot open MuJoCo's viewer ({exc}); run without --viewer on a headless machine") from exc
