"""Policy rollouts and evaluation in simulation, recorded as episodes.

    checkpoint ─► FlowPolicy ─► RTCRuntime (lock-stepped SimBackend, one physics period per tick)
                                    │ every tick: state, action, robot ─► recorder.DatasetWriter
                                    └ success predicate of the task ─► success rate

Episode i of an evaluation uses the task's randomisation seed ``seed + i``, so the same
``--seed`` evaluates every checkpoint on the same object placements. An episode ends when
the task's success predicate has held for ``success_hold_s`` or after ``max_duration_s``.
Rollouts are written as ordinary episodes (operator ``policy``, success judged by the
task), so the annotation app can replay them next to the demonstrations.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from policies.clocks import InjectedLatency, MeasuredLatency, SteppedClock
from policies.config import RTCConfig
from policies.policy import ChunkPolicy, Observation
from policies.runtime import RTCRuntime, RuntimeReport, TickInfo

log = logging.getLogger(__name__)

#: Longest rollout per task [s of simulated time] (the scripted demonstrations take 10-15 s).
DEFAULT_MAX_DURATION_S = {"pick_place": 25.0, "lift_box": 20.0, "loco_pick_place": 40.0}
#: Rate at which recorded rollouts get camera frames [Hz] (rendering costs ~20 ms a frame on a CPU).
RECORD_CAMERA_HZ = 10.0


@dataclass(frozen=True)
class EpisodeResult:
    """One evaluated episode."""

    seed: int
    success: bool
    duration_s: float  # [s] simulated
    wall_s: float  # [s]
    episode_id: str | None
    runtime: dict[str, float]
    progress: dict[str, float] = field(default_factory=dict)  # per task object: touched (0/1), max rise [m]


@dataclass
class EvalReport:
    """All episodes of an evaluation."""

    task: str
    results: list[EpisodeResult] = field(default_factory=list)

    @property
    def success_rate(self) -> float:
        return float(np.mean([r.success for r in self.results])) if self.results else 0.0

    @property
    def n_success(self) -> int:
        return sum(r.success for r in self.results)


def evaluate(policy: ChunkPolicy, task: str, episodes: int, seed: int = 0, rtc: RTCConfig | None = None,
             dataset: str | Path | None = None, max_duration_s: float | None = None,
             latency_s: float | None = None, success_hold_s: float = 1.0, record_cameras: tuple[str, ...] = (),
             operator: str = "policy", progress: bool = True, log_dir: Path | None = None) -> EvalReport:
    """Roll ``policy`` out on ``episodes`` seeded episodes of ``task`` in the lock-stepped simulation.

    Args:
        latency_s: inference latency in simulated time [s]; None uses the measured compute time.
        dataset: record every rollout into this dataset (created if needed).
        record_cameras: cameras to record at :data:`RECORD_CAMERA_HZ` (the policy's own cameras are always rendered
            at request time).
        log_dir: write each episode's per-tick runtime log there (``<episode>.npz``).
    """
    from teleop.robot.sim import SimBackend, SimConfig

    rtc = rtc or RTCConfig()
    max_s = max_duration_s or DEFAULT_MAX_DURATION_S.get(task, 30.0)
    max_ticks = int(round(max_s * rtc.control_hz))
    hold_ticks = max(1, int(round(success_hold_s * rtc.control_hz)))
    cameras = tuple(dict.fromkeys((*policy.cameras, *record_cameras)))
    # render at the size the policy was trained on (its crop is in those pixels), else the sim's default
    trained_shapes = [tuple(getattr(policy, "camera_shapes", {}).get(c, ())) for c in policy.cameras]
    camera_size = next((hw for hw in trained_shapes if len(hw) == 2), None)
    report = EvalReport(task)
    writer = None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=episodes, desc=f"rollouts {task}", unit="episode", dynamic_ncols=True)
    try:
        for i in range(episodes):
            ep_seed = seed + i
            sim_cfg = SimConfig(task=task, seed=ep_seed, cameras=cameras,
                                **({"camera_size": camera_size} if camera_size else {}))
            backend = SimBackend(sim_cfg)
            backend.start()
            sim = backend.sim
            instruction = sim.task.instruction
            if dataset is not None and writer is None:
                from recorder import DatasetWriter

                writer = DatasetWriter(dataset, record_hz=rtc.control_hz,
                                       camera_shapes={c: sim_cfg.camera_size for c in record_cameras})
            episode = None
            if writer is not None:
                episode = writer.start_episode(task=task, instruction=instruction, operator=operator,
                                               config={"rtc": _jsonable_rtc(rtc), "seed": ep_seed,
                                                       "latency_s": latency_s})
            camera_every = max(1, int(round(rtc.control_hz / RECORD_CAMERA_HZ)))

            def observe(state, _sim=sim, _instr=instruction):
                images = {c: _sim.render(c) for c in policy.cameras}
                return Observation(state=state.state_vector(), instruction=_instr, images=images, stamp=_sim.time)

            def on_tick(info: TickInfo, _sim=sim, _episode=episode, _every=camera_every):
                if _episode is None:
                    return
                from recorder import TickRecord

                cams = None
                if record_cameras:
                    fresh = info.tick % _every == 0
                    cams = {c: ((_sim.render(c), _sim.time) if fresh else None) for c in record_cameras}
                _episode.append(TickRecord(t=_sim.time, state=info.state_vector, action=info.action,
                                           robot=info.state.as_arrays(), cameras=cams))

            streak = [0]
            objects = tuple(sim.task.object_names)
            z0 = {o: float(sim.body_position(o)[2]) for o in objects}
            progress = {**{f"{o}_touched": 0.0 for o in objects}, **{f"{o}_max_rise_m": 0.0 for o in objects}}

            def stop_when(k: int, _sim=sim, _progress=progress) -> bool:
                for o in objects:  # how far the policy got, for tasks it does not finish
                    if _sim.touching_hand(o):
                        _progress[f"{o}_touched"] = 1.0
                    rise = float(_sim.body_position(o)[2]) - z0[o]
                    _progress[f"{o}_max_rise_m"] = max(_progress[f"{o}_max_rise_m"], rise)
                streak[0] = streak[0] + 1 if _sim.success() else 0
                return streak[0] >= hold_ticks

            latency = MeasuredLatency() if latency_s is None else InjectedLatency([latency_s])
            runtime = RTCRuntime(policy, backend, rtc, clock=SteppedClock(), latency=latency,
                                 instruction=instruction, observe=observe, on_tick=on_tick, on_exit=sim.close,
                                 log_path=(Path(log_dir) / f"rollout_{ep_seed:04d}.npz") if log_dir else None)
            wall0 = time.perf_counter()
            try:
                rt_report: RuntimeReport = runtime.run(max_ticks=max_ticks, stop_when=stop_when)
                success = bool(sim.success())
            finally:
                backend.stop()
            episode_id = None
            if episode is not None:
                episode_id = episode.finish(success=success).episode_id
            result = EpisodeResult(ep_seed, success, sim.time, time.perf_counter() - wall0, episode_id,
                                   rt_report.summary(), dict(progress))
            report.results.append(result)
            log.info("rollout seed %d: %s after %.1f s (%d chunks, inference median %.0f ms)", ep_seed,
                     "success" if success else "failure", sim.time, rt_report.chunks,
                     result.runtime["latency_median_ms"])
            if bar is not None:
                bar.update(1)
                bar.set_postfix(success=f"{report.n_success}/{len(report.results)}")
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
    return report


def _jsonable_rtc(rtc: RTCConfig) -> dict:
    from policies.config import to_dict

    return to_dict(rtc)
