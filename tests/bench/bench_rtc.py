"""RTC benchmark: missed ticks under injected inference latency, and smoothness at chunk switches.

    python -m tests.bench rtc            # full: 3000 training steps, 10 s per latency in real time
    python -m tests.bench rtc --quick    # CI smoke: fewer latencies and ticks; reuses the full run's
                                         # policy when cached, else trains only 120 steps

The trained benchmark policy is cached in ``tests/_artifacts`` (first full run: minutes).

A small action expert (cpu-tiny) is trained in process on synthetic, deliberately bimodal
trajectories (all arm joints on one sine: from a position alone the motion may go either
way), with training-time RTC (max_delay 10). The robot is a perfect position tracker whose
state is the last commanded action, so every discontinuity in the executed actions comes
from chunk switching.

Part A, real time: the runtime runs on the real clock (control thread at SCHED_FIFO
priority when allowed) with the trained policy served from a child process
(:class:`policies.subprocess_policy.SubprocessPolicy`) and injected latencies of 0-250 ms; we count missed 30 Hz ticks (a tick
starting more than one period late) and the tick lateness.

Part B, smoothness: lock-stepped with the same latencies (deterministic), four ways of
switching chunks: ``sync`` (naive synchronous: run 15 actions, hold still while the next
chunk is computed, start it at its first action), ``naive`` (asynchronous, no
conditioning, hard switch), ``inpaint`` (inference-time RTC, guided inpainting) and
``prefix`` (training-time RTC); both RTC modes cross-fade over ``switch_blend`` = 4 ticks. At every chunk switch k we take max_j |a_k - a_{k-1}| and the
largest third difference |a_{k+1} - 3 a_k + 3 a_{k-1} - a_{k-2}| / T^3 around it (jerk);
figures are means over switches and latencies.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np

from tests.bench.stats import print_table, summarize

HZ = 30.0
T = 1.0 / HZ
H = 30
LATENCIES_MS = (0, 50, 100, 150, 200, 250)


def _trajectories(n_episodes: int, seconds: float, rng: np.random.Generator) -> list[np.ndarray]:
    from teleop.robot import g1

    base = g1.load_embodiment().default_action()
    amp = 0.25 * np.where(np.arange(14) % 2 == 0, 1.0, -1.0)
    t = np.arange(int(seconds * HZ)) * T
    out = []
    for _ in range(n_episodes):
        f = rng.uniform(0.3, 0.5)
        phase = rng.uniform(0, 2 * np.pi)
        a = np.repeat(base[None], len(t), axis=0)
        a[:, 14:28] += amp[None] * np.sin(2 * np.pi * f * t + phase)[:, None]
        out.append(a)
    return out


#: Trained benchmark policies are cached here (git-ignored), keyed by training steps.
CACHE_DIR = Path(__file__).resolve().parent.parent / "_artifacts"


def _policy(steps: int, seed: int = 0):
    """The benchmark policy trained for ``steps`` steps and its checkpoint directory (cached)."""
    from policies.checkpoint import save_checkpoint
    from policies.policy import FlowPolicy

    directory = CACHE_DIR / f"bench_rtc_policy_{steps}_{seed}"
    if (directory / "model.pt").is_file():
        return FlowPolicy.load(directory), directory, 0.0
    policy, loss, train_s = _train_policy(steps, seed)
    save_checkpoint(directory, policy.meta, policy.stats, policy.model.state_dict())
    return policy, directory, train_s


def _train_policy(steps: int, seed: int = 0):
    import torch

    from policies.checkpoint import CheckpointMeta
    from policies.config import ModelConfig, TrainConfig, WindowConfig
    from policies.flow import flow_loss
    from policies.instruction import encode_instruction
    from policies.model import ActionExpert
    from policies.normalization import NormStats
    from policies.policy import FlowPolicy
    from policies.trainer import lr_at

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    episodes = _trajectories(64, 8.0, rng)
    states = np.concatenate([np.concatenate([e[:1], e[:-1]])[:, :32] for e in episodes])
    actions = np.concatenate(episodes)
    stats = NormStats.compute(states, actions)
    chunks, obs = [], []
    for e in episodes:
        padded = np.concatenate([e, np.repeat(e[-1:], H - 1, axis=0)])
        st = np.concatenate([e[:1], e[:-1]])[:, :32]
        for k in range(len(e)):
            chunks.append(padded[k:k + H])
            obs.append(st[k])
    chunks_n = torch.as_tensor(stats.normalize_action(np.stack(chunks)), dtype=torch.float32)
    obs_n = torch.as_tensor(stats.normalize_state(np.stack(obs)), dtype=torch.float32)
    model_cfg = ModelConfig.preset("cpu-tiny", horizon=H)
    train_cfg = TrainConfig(steps=steps, batch_size=64, lr=2e-3, warmup_steps=50, max_delay=10)
    model = ActionExpert(model_cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=train_cfg.lr, weight_decay=1e-4)
    ids = torch.as_tensor(encode_instruction("", model_cfg.instruction_buckets))[None].repeat(64, 1)
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for step in range(steps):
        for grp in opt.param_groups:
            grp["lr"] = lr_at(step, train_cfg)
        idx = torch.randint(0, len(chunks_n), (64,), generator=g)
        loss = flow_loss(model, {"actions": chunks_n[idx], "state": obs_n[idx], "instruction_ids": ids}, 10, g)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    train_s = time.perf_counter() - t0
    meta = CheckpointMeta(model=model_cfg, window=WindowConfig(horizon=H), train=train_cfg)
    return FlowPolicy(model, stats, meta), float(loss.detach()), train_s


def _switch_metrics(actions: np.ndarray, switches: list[int]) -> tuple[list[float], list[float]]:
    jumps, jerks = [], []
    for k in switches:
        if k < 3 or k + 2 > len(actions):
            continue
        jumps.append(float(np.abs(actions[k] - actions[k - 1]).max()))
        j = [np.abs(actions[i + 1] - 3 * actions[i] + 3 * actions[i - 1] - actions[i - 2]).max() / T**3
             for i in range(k - 1, min(k + 2, len(actions) - 1))]
        jerks.append(float(max(j)))
    return jumps, jerks


def run(quick: bool = False) -> dict[str, float]:
    import torch

    from policies.clocks import InjectedLatency, RealTimeClock, SteppedClock
    from policies.config import RTCConfig, RTCMode
    from policies.runtime import RTCRuntime
    from policies.subprocess_policy import SubprocessPolicy, load_flow_policy
    from tests.policies.fakes import RecordingBackend

    torch.set_num_threads(1)
    steps = 3000
    if quick and not (CACHE_DIR / f"bench_rtc_policy_{steps}_0" / "model.pt").is_file():
        steps = 120  # CI smoke: a barely trained policy, the figures only show that everything runs
    policy, directory, train_s = _policy(steps)
    print(f"benchmark policy: {steps} training steps ({'cached' if train_s == 0 else f'{train_s:.0f} s'}) in {directory}")
    latencies = (0, 250) if quick else LATENCIES_MS
    figures: dict[str, float] = {}

    # ---------------- part A: real time, missed ticks
    rows = []
    rt_ticks = 45 if quick else 300
    missed_total = 0
    lateness_all = []
    served = SubprocessPolicy(functools.partial(load_flow_policy, str(directory)))
    try:
        for lat in LATENCIES_MS if not quick else (0, 250):
            backend = RecordingBackend()
            runtime = RTCRuntime(served, backend, RTCConfig(mode=RTCMode.PREFIX), clock=RealTimeClock(),
                                 latency=InjectedLatency([lat / 1e3]))
            rep = runtime.run(max_ticks=rt_ticks)
            late = rep.log["lateness"]
            lateness_all.extend(late.tolist())
            missed_total += rep.missed_ticks
            s = summarize(late)
            loop = summarize(rep.log["loop_s"])
            inf = rep.summary()
            rows.append((f"{lat}", str(rep.ticks), str(rep.missed_ticks), f"{s['median']:.2f}", f"{s['p99']:.2f}",
                         f"{loop['p99']:.2f}", f"{inf['latency_median_ms']:.0f}", str(rep.starved_ticks), str(rep.chunks)))
            figures[f"rt_missed_ticks_{lat}ms"] = float(rep.missed_ticks)
            figures[f"rt_lateness_p99_ms_{lat}ms"] = s["p99"]
    finally:
        served.close()
    print_table("RTC runtime on the real clock (30 Hz, cpu-tiny policy served from a child process, PREFIX mode)", rows,
                ("injected latency [ms]", "ticks", "missed", "lateness median [ms]", "lateness p99 [ms]",
                 "loop p99 [ms]", "inference median [ms]", "starved ticks", "chunks"))
    figures["rt_missed_ticks_total"] = float(missed_total)
    figures["rt_lateness_p99_ms"] = summarize(lateness_all)["p99"]

    # ---------------- part B: smoothness at chunk switches (lock-stepped, deterministic)
    ticks = 120 if quick else 450
    variants = {
        "sync": RTCConfig(mode=RTCMode.NAIVE, synchronous=True, execution_horizon=15),
        "naive": RTCConfig(mode=RTCMode.NAIVE),
        "inpaint": RTCConfig(mode=RTCMode.INPAINT),
        "prefix": RTCConfig(mode=RTCMode.PREFIX),
    }
    per_variant: dict[str, dict[str, list[float]]] = {v: {"jump": [], "jerk": []} for v in variants}
    within: list[float] = []
    within_jerk: list[float] = []
    rows = []
    for lat in latencies:
        for name, cfg in variants.items():
            backend = RecordingBackend()
            runtime = RTCRuntime(policy, backend, cfg, clock=SteppedClock(), latency=InjectedLatency([lat / 1e3]))
            rep = runtime.run(max_ticks=ticks)
            a = np.array(backend.actions)
            jumps, jerks = _switch_metrics(a, rep.switch_ticks[1:])
            per_variant[name]["jump"] += jumps
            per_variant[name]["jerk"] += jerks
            if name == "prefix":
                sw = set(rep.switch_ticks)
                within += [float(np.abs(a[k] - a[k - 1]).max()) for k in range(rep.switch_ticks[0] + 1, len(a))
                           if not sw & set(range(k - 4, k + 2))]
                within_jerk += [float(np.abs(a[k + 1] - 3 * a[k] + 3 * a[k - 1] - a[k - 2]).max() / T**3)
                                for k in range(rep.switch_ticks[0] + 3, len(a) - 1)
                                if not sw & set(range(k - 4, k + 3))]
            rows.append((f"{lat}", name, str(len(jumps)), f"{np.mean(jumps):.4f}", f"{np.mean(jerks):.1f}",
                         str(rep.starved_ticks)))
    print_table("executed actions at chunk switches (lock-stepped, perfect tracking robot)", rows,
                ("latency [ms]", "switching", "switches", "mean max|Δa| [rad]", "mean jerk [rad/s³]", "starved"))
    summary_rows = []
    for name, m in per_variant.items():
        jump, jerk = float(np.mean(m["jump"])), float(np.mean(m["jerk"]))
        figures[f"switch_jump_{name}"] = jump
        figures[f"switch_jerk_{name}"] = jerk
        summary_rows.append((name, f"{jump:.4f}", f"{jerk:.1f}"))
    figures["within_chunk_jump_median"] = float(np.median(within))
    figures["within_chunk_jerk_median"] = float(np.median(within_jerk))
    for base in ("sync", "naive"):
        figures[f"jump_ratio_{base}_over_prefix"] = figures[f"switch_jump_{base}"] / figures["switch_jump_prefix"]
        figures[f"jerk_ratio_{base}_over_prefix"] = figures[f"switch_jerk_{base}"] / figures["switch_jerk_prefix"]
    figures["jump_ratio_inpaint_over_prefix"] = figures["switch_jump_inpaint"] / figures["switch_jump_prefix"]
    figures["jerk_ratio_inpaint_over_prefix"] = figures["switch_jerk_inpaint"] / figures["switch_jerk_prefix"]
    summary_rows.append(("(prefix, between switches: median)", f"{figures['within_chunk_jump_median']:.4f}",
                         f"{figures['within_chunk_jerk_median']:.1f}"))
    print_table(f"all latencies {list(latencies)} ms", summary_rows, ("switching", "mean max|Δa| [rad]", "mean jerk [rad/s³]"))
    print(f"training-time RTC vs naive synchronous: |Δa| {figures['jump_ratio_sync_over_prefix']:.1f}x lower, "
          f"jerk {figures['jerk_ratio_sync_over_prefix']:.1f}x lower; vs naive async: |Δa| "
          f"{figures['jump_ratio_naive_over_prefix']:.1f}x, jerk {figures['jerk_ratio_naive_over_prefix']:.1f}x; "
          f"vs inpainting: |Δa| {figures['jump_ratio_inpaint_over_prefix']:.2f}x, jerk "
          f"{figures['jerk_ratio_inpaint_over_prefix']:.2f}x; missed ticks on the real clock: {missed_total}")
    figures["train_steps"] = float(steps)
    return figures
