"""Simulation speed: real-time factor with all 43 actuators at 500 Hz, and camera render time.

Baseline in the same process: bare ``mujoco.mj_step`` on the same compiled scene (no PD
bookkeeping, no kinematic base, no gravity feed-forward), so the ratio shows our overhead.
"""

from __future__ import annotations

import time

import numpy as np

from tests.bench.stats import print_table, summarize


def run(quick: bool = False) -> dict[str, float]:
    from teleop.robot import g1  # first: it picks MuJoCo's headless GL backend before mujoco loads
    from teleop.robot.sim import MujocoSim, SimConfig

    import mujoco

    sim = MujocoSim(SimConfig(task="pick_place", cameras=("head",)))
    reps, steps = (3, 500) if quick else (10, 2500)
    rng = np.random.default_rng(0)
    emb = g1.load_embodiment()
    ours, bare = [], []
    for _ in range(reps):
        sim.set_joint_targets(g1.ARM_JOINTS, emb.default(g1.ARM_JOINTS) + rng.uniform(-0.2, 0.2, 14))
        t = time.perf_counter()
        sim.step(steps)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range(steps):
            mujoco.mj_step(sim.model, sim.data)
        bare.append(time.perf_counter() - t)
    sim_s = steps * 0.002
    rtf = np.array([sim_s / x for x in ours])
    rtf_bare = np.array([sim_s / x for x in bare])
    renders = []
    for _ in range(5 if quick else 50):
        t = time.perf_counter()
        sim.render("head")
        renders.append(time.perf_counter() - t)
    r = summarize(renders)
    sim.close()
    figures = {
        "rtf_median": float(np.median(rtf)),
        "rtf_min": float(rtf.min()),
        "rtf_bare_mj_step_median": float(np.median(rtf_bare)),
        "render_head_160x120_ms_median": r["median"],
        "render_head_160x120_ms_p99": r["p99"],
    }
    print_table("simulation", [(k, f"{v:.2f}") for k, v in figures.items()], ("figure", "value"))
    return figures
