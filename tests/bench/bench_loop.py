"""The teleop loop at 100 Hz in real time with recording on: deadline lateness and tick compute.

Scripted operator → calibration → IK + retargeting + locomotion → safety → simulated G1
(stepped by the loop, 5 physics steps per tick) → recorder (30 Hz, writer thread). The
issue asks for 10 minutes: ``run(quick=False)`` runs ``DURATION_S``; set the environment
variable ``PSI_BENCH_LOOP_S`` to shorten it. There is no baseline here: the figures are
absolute (deadline lateness against the schedule, compute per tick), so run it on a quiet
machine.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from tests.bench.stats import print_table, summarize

DURATION_S = 600.0


def _run(duration: float, dataset: str) -> dict[str, float]:
    from teleop.app import SessionOptions, build_session

    session = build_session(SessionOptions(input="scripted", robot="sim", task="pick_place", dataset=dataset))
    loop = session.loop
    loop.trace = []
    loop.start()
    session.start_episode()
    loop.run(duration=duration)
    session.stop_episode()
    stats = {"rows": loop.records, "overruns": loop.overruns, "ticks": loop.ticks, "skipped": loop.skipped_ticks}
    session.close()
    trace = np.array(loop.trace[10:])  # the first ticks include imports and JIT warm-up
    late, compute = summarize(trace[:, 0]), summarize(trace[:, 1])
    return {
        "late_ms_median": late["median"], "late_ms_p99": late["p99"], "late_ms_max": late["max"],
        "compute_ms_median": compute["median"], "compute_ms_p99": compute["p99"], "compute_ms_max": compute["max"],
        "ticks_late_over_5ms": float(np.sum(trace[:, 0] > 0.005)), "ticks": float(stats["ticks"]),
        "rate_hz": stats["ticks"] / duration, "rows": float(stats["rows"]), "skipped_ticks": float(stats["skipped"]),
    }


def run(quick: bool = False) -> dict[str, float]:
    duration = 8.0 if quick else float(os.environ.get("PSI_BENCH_LOOP_S", DURATION_S))
    with tempfile.TemporaryDirectory() as tmp:
        figures = _run(duration, f"{tmp}/loop.zarr")
    figures["duration_s"] = duration
    print_table(f"teleop loop, 100 Hz, {duration:.0f} s, recording on",
                [(k, f"{v:.3f}") for k, v in figures.items()], ("figure", "value"))
    return figures
