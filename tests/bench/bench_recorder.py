"""Recorder benchmark: 3 cameras at 640x480 and 30 Hz plus every robot and operator stream.

    python -m tests.bench recorder            # 10 minutes of recording at real-time pace + 20 kill -9 trials
    python -m tests.bench recorder --quick    # 6 s of recording, no kill trials (CI smoke test, < 30 s)
    PSI_BENCH_RECORDER_S=120 python -m tests.bench recorder   # another recording length [s]
    PSI_BENCH_RECORDER_PACE=fast ...          # append as fast as the writer takes rows (no real-time pacing)

Figures (targets from issue 7):

* append: the teleop-side cost of ``EpisodeWriter.append`` [ms] (p99 <= 0.2), with the baseline
  of copying the same tick's non-image arrays into preallocated buffers in this process; the
  writer runs in its own process (default) and its CPU use is reported;
* max unflushed: the longest any row waited from ``append`` to the commit that made it
  recoverable [s] (<= 1, so a kill -9 loses at most that);
* dropped rows (== 0) and the deepest the queue got;
* finalize: ``finish()`` = stop -> episode committed on disk [ms] (<= 200), also for a 15 s
  episode, compared with LeRobot's documented 30-40 s of ``save_episode`` processing per
  15 s episode (the library cannot be imported here; see docs/recorder.md);
* MB/s per camera at the default JPEG quality 90 (<= 2.5) on synthetic textured frames;
* windowed reads for training: samples/s of (state, 30-step action chunk, one 240x320 frame
  decoded) at random indices (>= 2000) through ``recorder.loader.WindowLoader`` with 2 worker
  processes, and in one process, with the bare JPEG decode rate as baseline;
* the paced loop's wake-up lateness [ms] while recording vs the same loop with no recorder
  (the GIL is shared with the writer thread);
* kill -9 trials (full run only; the teleop process, the writer process or both, in turn):
  earlier episodes valid [%], worst data loss [s] (<= 1) per kill mode.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from tests.bench.stats import print_table, summarize

HZ = 30.0
CAMS = ("head", "left_wrist", "right_wrist")
SHAPE = (480, 640)
LEROBOT_DOC_SAVE_S = (30.0, 40.0)  # LeRobot's documented processing time per 15 s episode [s]


def synthetic_frames(n: int, shape: tuple[int, int], seed: int) -> list[np.ndarray]:
    """Textured, moving scenes: gradients, a few patterned boxes, sensor noise (sigma 2)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([90 + 60 * xx / w, 80 + 70 * yy / h, 120 + 40 * np.sin(xx / 37.0) * np.cos(yy / 23.0)], -1)
    texture = rng.normal(0, 12, (h // 8, w // 8, 3)).repeat(8, 0).repeat(8, 1)[:h, :w]
    frames = []
    boxes = rng.uniform(0.1, 0.9, (4, 2))
    colours = rng.uniform(30, 220, (4, 3))
    for i in range(n):
        img = base.copy()
        for b, (cy, cx) in enumerate(boxes):
            y0 = int((cy + 0.05 * np.sin(i / 9.0 + b)) * h) - h // 10
            x0 = int((cx + 0.05 * np.cos(i / 7.0 + b)) * w) - w // 10
            ys, xs = slice(max(0, y0), max(0, y0 + h // 5)), slice(max(0, x0), max(0, x0 + w // 5))
            img[ys, xs] = colours[b] + texture[ys, xs]
        img += rng.normal(0, 2.0, img.shape)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return frames


def _record(path: Path, duration_s: float, realtime: bool, cams=CAMS, shape=SHAPE, label: str = "") -> dict:
    from recorder import DatasetWriter, TickRecord
    from teleop import clock
    from teleop.operator_frame import OperatorFrame
    from teleop.robot.backend import RobotState

    from teleop import realtime as rt

    rt.raise_niceness()  # as a teleop session does before it opens devices (threads started below inherit it)
    frames = {c: synthetic_frames(30, shape, seed=i) for i, c in enumerate(cams)}
    robot, operator = RobotState(), OperatorFrame()
    state, action = np.zeros(32), np.zeros(36)
    rng = np.random.default_rng(0)
    ds = DatasetWriter(path, record_hz=HZ, camera_shapes={c: shape for c in cams})
    ep = ds.start_episode(task="bench", instruction="benchmark episode", operator="bench")
    n = int(duration_s * HZ)
    append_s = np.empty(n)
    append_cpu_s = np.empty(n)  # CPU time of the loop thread in append: excludes time preempted by the OS
    base_s = np.empty(n)
    base_buf = {k: np.empty_like(np.asarray(v)) for k, v in {**robot.as_arrays(), **operator.as_arrays()}.items()}
    first = TickRecord(t=clock.now(), state=state, action=action, robot=robot.as_arrays(), operator=operator.as_arrays(),
                       cameras={c: (frames[c][0], 0.0) for c in cams})
    t_prep = time.perf_counter()
    ep.prepare(first)  # layout + thread start, off the loop (what the teleop loop does before recording)
    prepare_s = time.perf_counter() - t_prep
    writer_cpu0 = _cpu_s(ds.writer_pid) if ds.writer_pid else 0.0
    teleop_cpu0 = time.process_time()
    # the recording loop runs with the teleop loop's real-time settings (SCHED_FIFO, GIL switch
    # interval, frozen GC), as appends do in a session; the fast mode is not a real-time loop
    with rt.realtime_thread() if realtime else contextlib.nullcontext():
        start = clock.now()
        late = 0
        lateness = np.zeros(n)
        for k in range(n):
            if realtime:
                lateness[k] = clock.sleep_until(start + k / HZ)
                late += lateness[k] > 1.0 / HZ
            t = clock.now()
            robot.q[:] = rng.normal(size=robot.q.shape)
            robot.stamp = t - 0.002
            operator.hand_joints[:] = rng.normal(size=operator.hand_joints.shape)
            operator.stamp = t - 0.008
            state[:] = robot.q[:32]
            action[:] = rng.normal(size=36)
            robot_arrays, operator_arrays = robot.as_arrays(), operator.as_arrays()
            rec = TickRecord(t=t, state=state, action=action, robot=robot_arrays, robot_stamp=robot.stamp,
                             operator=operator_arrays, operator_stamp=operator.stamp,
                             cameras={c: (frames[c][k % 30], t - 0.015) for c in cams})
            t0 = time.perf_counter()
            for key, v in robot_arrays.items():  # baseline: the bare copies of the non-image arrays
                np.copyto(base_buf[key], v)
            for key, v in operator_arrays.items():
                np.copyto(base_buf[key], v)
            t1 = time.perf_counter()
            c1 = time.thread_time()
            ep.append(rec)
            c2 = time.thread_time()
            t2 = time.perf_counter()
            base_s[k], append_s[k], append_cpu_s[k] = t1 - t0, t2 - t1, c2 - c1
            if not realtime and k % 8 == 7:  # fast mode: let the writer keep up, never drop
                while ep.stats["rows_appended"] - ep.stats["rows_written"] > ds.config.queue_size // 2:
                    time.sleep(0.005)
    wall = clock.now() - start
    writer_cpu_s = _cpu_s(ds.writer_pid) - writer_cpu0 if ds.writer_pid else float("nan")
    teleop_cpu_s = time.process_time() - teleop_cpu0
    t_stop = time.perf_counter()
    info = ep.finish(success=True)
    finalize_s = time.perf_counter() - t_stop
    stats = ep.stats
    ds.close()
    return {"info": info, "stats": stats, "append_s": append_s, "append_cpu_s": append_cpu_s, "base_s": base_s, "finalize_s": finalize_s,
            "wall_s": wall, "late_ticks": late, "label": label, "prepare_s": prepare_s,
            "lateness_s": lateness, "writer_cpu_s": writer_cpu_s, "teleop_cpu_s": teleop_cpu_s}


def _cpu_s(pid: int) -> float:
    """User + system CPU time of process ``pid`` [s] (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _idle_loop(duration_s: float) -> np.ndarray:
    """Baseline: the same paced loop and row generation with no recorder; returns wake-up lateness [s]."""
    from teleop import clock
    from teleop.operator_frame import OperatorFrame
    from teleop.robot.backend import RobotState

    robot, operator = RobotState(), OperatorFrame()
    rng = np.random.default_rng(0)
    n = int(duration_s * HZ)
    lateness = np.zeros(n)
    start = clock.now()
    for k in range(n):
        lateness[k] = clock.sleep_until(start + k / HZ)
        robot.q[:] = rng.normal(size=robot.q.shape)
        operator.hand_joints[:] = rng.normal(size=operator.hand_joints.shape)
    return lateness


def _reads(path: Path, n_rows: int, n_samples: int) -> dict[str, float]:
    import simplejpeg

    from recorder import Dataset
    from recorder.loader import WindowLoader

    _record(path, n_rows / HZ, realtime=False, cams=("head",), shape=(240, 320))
    ep = Dataset.open(path).episode(0)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, ep.n_rows - 30, n_samples)
    samples = [(ep.episode_id, int(i)) for i in idx]
    out = {}
    # the training path: 2 worker processes, batches of 32, fast decode (what the trainer asks for)
    # (steady state: timed from the first batch, after the workers started and imported zarr)
    for workers in (2, 1):
        loader = WindowLoader(path, samples, camera="head", action_steps=30, batch_size=32, workers=workers)
        t_start = time.perf_counter()
        it = iter(loader)
        next(it)
        t0 = time.perf_counter()
        n = sum(len(b["row"]) for b in it)
        out[f"loader{workers}_samples_per_s"] = n / (time.perf_counter() - t0)
        out[f"loader{workers}_startup_s"] = t0 - t_start
    # one process, no workers (exact and fast decode)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in idx:
        ep.read("state", i, i + 1)
        ep.read("action", i, i + 30)
        ep.frame("head", int(i))
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    for i in idx:
        ep.read("state", i, i + 1)
        ep.read("action", i, i + 30)
        ep.frame("head", int(i), fast=True)
    dt_fast, cpu_fast = time.perf_counter() - t0, time.process_time() - c0
    data = ep.jpeg("head", 0)
    t1 = time.perf_counter()
    for _ in range(500):
        simplejpeg.decode_jpeg(data)
    decode_s = (time.perf_counter() - t1) / 500
    return {**out, "samples_per_s": n_samples / dt, "fast_samples_per_s": n_samples / dt_fast,
            "samples_per_cpu_s": n_samples / cpu, "fast_samples_per_cpu_s": n_samples / cpu_fast,
            "decode_only_per_s": 1.0 / decode_s}


def run(quick: bool = False) -> dict[str, float]:
    duration = 6.0 if quick else float(os.environ.get("PSI_BENCH_RECORDER_S", 600.0))
    realtime = os.environ.get("PSI_BENCH_RECORDER_PACE", "realtime") != "fast"
    tmp = Path(tempfile.mkdtemp(prefix="psi_bench_recorder_"))
    try:
        idle_lateness = _idle_loop(2.0 if quick else 20.0)
        main = _record(tmp / "main", duration, realtime, label="main")
        short = _record(tmp / "short", 5.0 if quick else 15.0, realtime, label="15 s")
        reads = _reads(tmp / "reads", 450 if quick else 3000, 600 if quick else 6000)
        kills = None
        if not quick:
            from tests.recorder.crash_child import run_kill_trials

            kills = run_kill_trials(tmp / "kills", n_kills=20, seed=11)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    app, base, app_cpu = summarize(main["append_s"]), summarize(main["base_s"]), summarize(main["append_cpu_s"])
    wake, wake_idle = summarize(main["lateness_s"]), summarize(idle_lateness)
    st = main["stats"]
    mbps = st["mb_per_s_per_camera"]
    figures = {
        "recorded_s": duration,
        "realtime": float(realtime),
        "rows": float(main["info"].n_rows),
        "append_median_ms": app["median"],
        "append_p99_ms": app["p99"],
        "append_max_ms": app["max"],
        "prepare_ms": main["prepare_s"] * 1e3,
        "append_cpu_median_ms": app_cpu["median"],
        "append_cpu_p99_ms": app_cpu["p99"],
        "baseline_copy_p99_ms": base["p99"],
        "dropped_rows": float(st["dropped_rows"]),
        "queue_depth_max": float(st["queue_depth_max"]),
        "max_flush_ms": st["max_flush_duration_s"] * 1e3,
        "max_unflushed_s": st["max_unflushed_s"],
        "writer_mode": st["mode"],
        "writer_process_cpu_pct": 100.0 * main["writer_cpu_s"] / main["wall_s"],
        "teleop_process_cpu_pct": 100.0 * main["teleop_cpu_s"] / main["wall_s"],
        "finalize_ms": main["finalize_s"] * 1e3,
        "finalize_15s_episode_ms": short["finalize_s"] * 1e3,
        "speedup_vs_lerobot_doc": LEROBOT_DOC_SAVE_S[0] / short["finalize_s"],
        "mb_per_s_per_camera_max": max(mbps.values()),
        "late_ticks": float(main["late_ticks"]),
        "loop_wake_late_p99_ms": wake["p99"],
        "loop_wake_late_p99_no_recorder_ms": wake_idle["p99"],
        "read_loader_2_workers_samples_per_s": reads["loader2_samples_per_s"],
        "read_loader_1_worker_samples_per_s": reads["loader1_samples_per_s"],
        "read_samples_per_s": reads["samples_per_s"],
        "read_fast_decode_samples_per_s": reads["fast_samples_per_s"],
        "read_samples_per_cpu_s": reads["samples_per_cpu_s"],
        "read_fast_decode_samples_per_cpu_s": reads["fast_samples_per_cpu_s"],
        "jpeg_decode_240x320_per_s": reads["decode_only_per_s"],
    }
    if kills is not None:
        figures.update({
            "kill_trials": float(kills.kills),
            "kill_interrupted_episodes": float(kills.interrupted),
            "kill_earlier_valid_pct": 100.0 * kills.earlier_valid / max(1, kills.earlier_total),
            "kill_worst_loss_s": max(kills.loss_s) if kills.loss_s else 0.0,
            **{f"kill_{m}_worst_loss_s": max(v) for m, v in kills.loss_by_mode.items()},
            **{f"kill_{m}_interrupted": float(len(v)) for m, v in kills.loss_by_mode.items()},
            "kill_failures": float(len(kills.failures)),
        })
        for f in kills.failures:
            print("kill trial failure:", f)
    rows = [
        ("append [ms]", f"{app['median']:.4f}", f"{app['p99']:.4f}", f"{app['max']:.3f}", "p99 <= 0.2"),
        ("append, loop-thread CPU time [ms]", f"{app_cpu['median']:.4f}", f"{app_cpu['p99']:.4f}",
         f"{app_cpu['max']:.3f}", "(excludes OS preemption)"),
        ("baseline: copy non-image arrays [ms]", f"{base['median']:.4f}", f"{base['p99']:.4f}", f"{base['max']:.3f}", ""),
        ("loop wake-up lateness [ms]", f"{wake['median']:.3f}", f"{wake['p99']:.3f}", f"{wake['max']:.1f}",
         f"no recorder: p99 {wake_idle['p99']:.3f}, max {wake_idle['max']:.1f}"),
        ("dropped rows", f"{st['dropped_rows']}", "", f"queue max {st['queue_depth_max']}/{st['queue_size']}", "== 0"),
        ("flush [ms]", "", "", f"{st['max_flush_duration_s'] * 1e3:.1f}", ""),
        ("max unflushed (append -> commit) [s]", "", "", f"{st['max_unflushed_s']:.3f}", "<= 1"),
        ("CPU [% of one core]", f"writer {figures['writer_process_cpu_pct']:.0f}",
         f"teleop {figures['teleop_process_cpu_pct']:.0f}", f"mode {st['mode']}", ""),
        ("finalize, main episode [ms]", f"{main['finalize_s'] * 1e3:.1f}", "", "", "<= 200"),
        ("finalize, 15 s episode [ms]", f"{short['finalize_s'] * 1e3:.1f}", "", "",
         f"LeRobot doc: {LEROBOT_DOC_SAVE_S[0]:.0f}-{LEROBOT_DOC_SAVE_S[1]:.0f} s -> {figures['speedup_vs_lerobot_doc']:.0f}x"),
        ("MB/s per camera (q90)", ", ".join(f"{c} {v:.2f}" for c, v in mbps.items()), "", "", "<= 2.5"),
        ("windowed reads, WindowLoader [samples/s]", f"2 workers {reads['loader2_samples_per_s']:.0f}",
         f"1 worker {reads['loader1_samples_per_s']:.0f}", f"startup {reads['loader2_startup_s']:.1f} s", ">= 2000"),
        ("windowed reads, one process [samples/s]", f"{reads['samples_per_s']:.0f}",
         f"fast decode {reads['fast_samples_per_s']:.0f}", f"decode only {reads['decode_only_per_s']:.0f}", ""),
        ("windowed reads, one process [samples per CPU-s]", f"{reads['samples_per_cpu_s']:.0f}",
         f"fast decode {reads['fast_samples_per_cpu_s']:.0f}", "", "(one dedicated core)"),
    ]
    if kills is not None:
        rows.append(("kill -9 trials", f"{kills.kills} kills, {kills.interrupted} interrupted",
                     f"earlier valid {figures['kill_earlier_valid_pct']:.0f}%",
                     f"worst loss {figures['kill_worst_loss_s']:.2f} s", "100%, <= 1 s"))
        for m, v in kills.loss_by_mode.items():
            rows.append((f"  kill -9 of {m}", f"{len(v)} interrupted", "", f"worst loss {max(v):.2f} s", "<= 1 s"))
    load = os.getloadavg()[0]
    figures["load_average_1min"] = load
    print_table(f"recorder (load average {load:.1f} on {os.cpu_count()} CPUs): {duration:.0f} s, {len(CAMS)} cameras {SHAPE[1]}x{SHAPE[0]} @ {HZ:.0f} Hz, "
                f"{'real-time' if realtime else 'fast'} pacing, {main['info'].n_rows} rows",
                rows, ("figure", "median", "p99", "max / other", "target"))
    return figures
