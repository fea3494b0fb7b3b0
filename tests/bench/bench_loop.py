"""The teleop loop at 100 Hz in real time with recording on: deadline lateness and tick compute.

Two set-ups, each a real-time session built by ``teleop.app.build_session``:

* ``dds`` (the deployment path, the figure the issue asks for): the simulated G1 runs in its
  own process as a DDS robot (``psi-teleop sim --dds`` on the loopback interface, 500 Hz
  physics and ``rt/lowstate``), the loop talks to it through ``DdsBackend`` — exactly as it
  talks to a real G1, whose computer is another machine. The operator is a recorded scripted
  demonstration replayed forward and backward without end (``--input replay --loop``): the
  same OperatorFrames a person in a headset produces (head, wrists, waist tracker, 2 × 26
  hand joints, controllers), so IK, both hand retargeters, locomotion and the safety filter
  run every tick. The recorder writes every stream at 30 Hz.
* ``inproc`` (for comparison): the simulation lives in the teleop process and the loop steps
  its physics (5 × 2 ms) inside every tick, driven by the scripted operator.

Lateness is the tick's start past its absolute deadline; compute is the tick's own duration
(input → recorder hand-off). The issue asks for 10 minutes: ``run(quick=False)`` runs
``DURATION_S``; the environment variable ``PSI_BENCH_LOOP_S`` shortens it and
``PSI_BENCH_LOOP_SETUP`` picks ``dds`` (default), ``inproc`` or ``both``. There is no
baseline: the figures are absolute, so run it on a quiet machine.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tests.bench.stats import print_table, summarize

DURATION_S = 600.0
#: DDS domain of the benchmark's simulator (not the tests' 1, not a real G1's 0).
DOMAIN = 7


def _record_operator_demo(dataset: str) -> str:
    """One scripted pick-and-place recorded in lock-step (operator streams only); returns DATASET:EPISODE."""
    subprocess.run([sys.executable, "-m", "teleop.cli", "demo", "--episodes", "1", "--cameras", "",
                    "--dataset", dataset, "--seed", "0"], check=True, capture_output=True)
    return f"{dataset}:0"


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the benchmark process dies, even by a crash (Linux prctl)."""
    import ctypes
    import signal

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _start_dds_sim(log_path: Path, duration: float) -> subprocess.Popen:
    log = open(log_path, "wb")  # noqa: SIM115 - handed to the child
    return subprocess.Popen([sys.executable, "-m", "teleop.cli", "sim", "--dds", "--domain", str(DOMAIN),
                             "--interface", "lo", "--task", "pick_place", "--duration", f"{duration + 120:.0f}"],
                            stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=_die_with_parent)  # noqa: PLW1509 - prctl only, no locks taken


def _run_session(opts, duration: float, label: str) -> dict[str, float]:
    from teleop.app import build_session

    session = build_session(opts)
    loop = session.loop
    loop.trace = []
    loop.start()
    session.start_episode()
    bar = tqdm(total=int(duration), desc=f"loop ({label})", unit="s", leave=False)
    t0 = time.monotonic()
    loop.on_tick = lambda _l: bar.update(int(time.monotonic() - t0) - bar.n) if loop.ticks % 100 == 0 else None
    loop.run(duration=duration)
    bar.close()
    session.stop_episode()
    stats = {"rows": loop.records, "ticks": loop.ticks, "skipped": loop.skipped_ticks}
    session.close()
    trace = np.array(loop.trace[10:])  # the first ticks include imports and allocation
    late, compute = summarize(trace[:, 0]), summarize(trace[:, 1])
    return {
        "late_ms_median": late["median"], "late_ms_p99": late["p99"], "late_ms_max": late["max"],
        "compute_ms_median": compute["median"], "compute_ms_p99": compute["p99"], "compute_ms_max": compute["max"],
        "ticks_late_over_5ms": float(np.sum(trace[:, 0] > 0.005)), "ticks": float(stats["ticks"]),
        "rate_hz": stats["ticks"] / duration, "rows": float(stats["rows"]),
        "rows_expected": 30.0 * duration, "skipped_ticks": float(stats["skipped"]),
    }


def _dds(duration: float, tmp: str) -> dict[str, float]:
    from teleop.app import SessionOptions

    episode = _record_operator_demo(f"{tmp}/operator.zarr")
    sim = _start_dds_sim(Path(tmp) / "sim.log", duration)
    try:
        time.sleep(3.0)  # the simulator's start-up (MuJoCo model, DDS participant)
        if sim.poll() is not None:
            raise RuntimeError(f"the DDS simulator exited: {(Path(tmp) / 'sim.log').read_text()[-2000:]}")
        opts = SessionOptions(input="replay", episode=episode, replay_loop=True, robot="dds", domain=DOMAIN,
                              interface="lo", task="pick_place", dataset=f"{tmp}/loop.zarr")
        return _run_session(opts, duration, "dds")
    finally:
        sim.terminate()
        try:
            sim.wait(10)
        except subprocess.TimeoutExpired:
            sim.kill()


def _inproc(duration: float, tmp: str) -> dict[str, float]:
    from teleop.app import SessionOptions

    return _run_session(SessionOptions(input="scripted", robot="sim", task="pick_place",
                                       dataset=f"{tmp}/loop_inproc.zarr"), duration, "in-process sim")


def run(quick: bool = False) -> dict[str, float]:
    logging.getLogger("teleop").setLevel(logging.WARNING)
    duration = 8.0 if quick else float(os.environ.get("PSI_BENCH_LOOP_S", DURATION_S))
    setup = os.environ.get("PSI_BENCH_LOOP_SETUP", "dds")
    if setup not in ("dds", "inproc", "both"):
        raise SystemExit(f"PSI_BENCH_LOOP_SETUP must be dds, inproc or both, got {setup!r}")
    figures: dict[str, float] = {"duration_s": duration}
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in (("dds", _dds), ("inproc", _inproc)):
            if setup in (name, "both"):
                result = fn(duration, tmp)
                print_table(f"teleop loop ({name}), 100 Hz, {duration:.0f} s, recording on",
                            [(k, f"{v:.3f}") for k, v in result.items()], ("figure", "value"))
                figures.update({f"{name}_{k}": v for k, v in result.items()})
    return figures
