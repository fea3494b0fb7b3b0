"""Camera benchmark: simulated head camera → headset view (latency, rate) and → recorder (drops).

What runs, all in this process, as in ``psi-teleop teleop --input openxr --headset-view``::

    physics thread   MujocoSim stepped in real time, state published to a SimStateTap every 10 ms
    camera threads   head, left_wrist, right_wrist rendered from the tap (MuJoCo + Mesa EGL, CPU)
    OpenXR session   one graphics session on the scripted runtime (tests/inputs/xr_runtime,
                     90 Hz display), shared by:
      headset view   head frames → EGL → swapchain → quad layer → xrEndFrame (frame thread)
      OpenXR input   OpenXRSource.poll at 100 Hz (head, controllers, trackers, hands) on its own
                     thread, as the teleop loop polls it
    record loop      30 Hz rows with rig.snapshot() → DatasetWriter → validate_episode

Figures:
* ``age_ms_p50/p99``: capture (the stamp of the state the picture shows) → xrEndFrame, over
  every submitted frame; ``new_frame_hz``: distinct head frames reaching the headset per
  second; ``submit_hz``: frames submitted per second (the display pace).
* ``baseline_age_ms_p50/p99``: the same view fed by a synthetic 30 Hz camera that costs
  nothing to capture (same process, before the main run): the view's own share.
* ``frame_cpu_ms``: frame-thread CPU time per display frame (xrBeginFrame → xrEndFrame,
  the view's upload, strip and blits included; time.thread_time); ``input_valid_rate``: polls
  of the OpenXR input with the head valid; ``load_1m_start/end``: the machine's load average.
* per camera ``<cam>_render_hz`` (frames captured per second), ``<cam>_invalid_rate``
  (rows the recorder marked invalid: no frame younger than ``stale_after_s``),
  ``<cam>_repeat_rate`` (rows that re-used the previous row's frame: the camera is slower
  than the record rate), ``<cam>_align_ms_p99``; ``writer_dropped_rows``.

    python -m tests.bench cameras                          # 600 s (the issue's 10 minutes)
    PSI_BENCH_CAMERAS_S=60 python -m tests.bench cameras   # another length [s]
    PSI_BENCH_CAMERAS=head python -m tests.bench cameras   # only the head camera
    python -m tests.bench cameras --quick                  # 8 s smoke run, head camera only
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("MUJOCO_GL", "egl")

from tests.bench.stats import print_table, summarize

#: Cameras rendered and recorded (``PSI_BENCH_CAMERAS=head,left_wrist`` picks others; --quick: head only).
CAMERAS = ("head", "left_wrist", "right_wrist")
RECORD_HZ = 30.0
CAMERA_FPS = 30.0  # [Hz] requested; the CPU renders slower
STALE_S = 0.5  # [s] a frame older than this is not recorded
PHYSICS_DT = 0.01  # [s] publish period of the simulation thread


def _runtime_env(tmp: Path) -> None:
    from tests.inputs.xr_runtime.build import build_runtime, runtime_env

    manifest = build_runtime(tmp / "xr_runtime")
    from tests.inputs.test_openxr_backend import RIG

    script = tmp / "script.txt"
    script.write_text(RIG + "display_hz 90\n")
    os.environ.update(runtime_env(manifest, script))
    os.environ.pop("PSI_XR_FRAME_DUMP", None)


def _baseline(duration_s: float) -> dict:
    """The view fed by a synthetic camera: a new pre-made frame every 1/30 s, stamped when published."""
    from teleop import clock
    from teleop.cameras import CameraFrame
    from teleop.inputs.openxr_view import HeadsetView

    frames = [np.random.default_rng(i).integers(0, 256, (120, 160, 3), dtype=np.uint8) for i in range(4)]
    slot: dict = {"f": None}
    stop = threading.Event()

    def camera():
        seq = 0
        nxt = clock.now()
        while not stop.is_set():
            seq += 1
            slot["f"] = CameraFrame(frames[seq % 4], clock.now(), seq, clock.now())
            nxt += 1 / CAMERA_FPS
            stop.wait(max(0.0, nxt - clock.now()))

    t = threading.Thread(target=camera, daemon=True)
    t.start()
    view = HeadsetView(lambda: slot["f"], stats_window=1_000_000)
    view.start()  # the view alone, in its own session
    try:
        time.sleep(duration_s)
    finally:
        view.stop()
        stop.set()
        t.join(2.0)
    st = view.stats()
    return {"ages": view.ages_s(), "stats": st}


def _main_run(tmp: Path, duration_s: float, progress: bool, cameras: tuple[str, ...]) -> dict:
    from recorder import Dataset, DatasetWriter, TickRecord
    from recorder.validate import validate_episode
    from teleop import clock
    from teleop.cameras import open_rig, parse_camera
    from teleop.cameras.sim import SimStateTap
    from teleop.inputs.openxr_backend import OpenXRSource
    from teleop.inputs.openxr_session import OpenXRSession
    from teleop.inputs.openxr_view import HeadsetView
    from teleop.operator_frame import OperatorFrame
    from teleop.robot.sim import MujocoSim, SimConfig

    sim = MujocoSim(SimConfig(cameras=cameras))
    tap = SimStateTap(sim.model)
    tap.publish_sim(sim)
    rig = open_rig([parse_camera(f"{c}=sim", fps=CAMERA_FPS, stale_after_s=STALE_S, open_timeout_s=60.0)
                    for c in cameras], sim=sim, tap=tap)
    stop = threading.Event()
    n_steps = max(1, round(PHYSICS_DT / sim.model.opt.timestep))

    def physics():
        nxt = clock.now()
        while not stop.is_set():
            sim.step(n_steps)
            tap.publish_sim(sim)
            nxt += PHYSICS_DT
            delay = nxt - clock.now()
            if delay < -0.5:
                nxt = clock.now()
            stop.wait(max(0.0, delay))

    xs = OpenXRSession()
    source = OpenXRSource(session=xs)
    view = HeadsetView(rig["head"].latest, stats_window=10_000_000, session=xs)
    polls = {"n": 0, "head_valid": 0}

    def input_loop():
        frame = OperatorFrame()
        nxt = clock.now()
        while not stop.is_set():
            source.poll(frame)
            polls["n"] += 1
            polls["head_valid"] += bool(frame.head_valid)
            nxt += 0.01
            stop.wait(max(0.0, nxt - clock.now()))

    phys = threading.Thread(target=physics, name="physics", daemon=True)
    phys.start()
    rig.start()
    inp = threading.Thread(target=input_loop, name="input", daemon=True)
    try:
        rig.start(wait=True)
        view.start()
        source.start()
        inp.start()
        view.reset_stats()
        f0, cpu0 = xs.frames_ended, xs.frame_cpu_s
        counts0 = {c: rig[c].health().frames for c in cameras}
        with DatasetWriter(tmp / "ds", record_hz=RECORD_HZ, camera_shapes=rig.shapes()) as ds:
            ep = ds.start_episode(task="bench_cameras")
            state, action = np.zeros(32), np.zeros(36)
            n_rows = int(duration_s * RECORD_HZ)
            t_start = clock.now()
            nxt = t_start
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=n_rows, desc="recording", unit="row", mininterval=2.0)
            for _ in range(n_rows):
                clock.sleep_until(nxt)
                now = clock.now()
                ep.append(TickRecord(t=now, state=state, action=action, cameras=rig.snapshot(now)))
                nxt += 1 / RECORD_HZ
                if bar is not None:
                    bar.update(1)
            elapsed = clock.now() - t_start
            if bar is not None:
                bar.close()
            info = ep.finish(success=True)
        frames = {c: rig[c].health().frames - counts0[c] for c in cameras}
        frame_cpu_ms = 1e3 * (xs.frame_cpu_s - cpu0) / max(1, xs.frames_ended - f0)
        one_session = source.xr_session is view.xr_session
    finally:
        stop.set()
        if inp.is_alive():
            inp.join(2.0)
        source.stop()
        view.stop()
        phys.join(2.0)
        rig.stop()
        sim.close()
    report = validate_episode(Dataset.open(tmp / "ds").episode(info.episode_id), check_frames=False)
    return {"ages": view.ages_s(), "stats": view.stats(), "report": report, "elapsed": elapsed, "frames": frames,
            "frame_cpu_ms": frame_cpu_ms, "input_polls": polls["n"], "input_head_valid": polls["head_valid"],
            "one_session": one_session}


def run(quick: bool = False) -> dict[str, float]:
    duration = 8.0 if quick else float(os.environ.get("PSI_BENCH_CAMERAS_S", "600"))
    default = "head" if quick else ",".join(CAMERAS)
    cameras = tuple(c for c in os.environ.get("PSI_BENCH_CAMERAS", default).split(",") if c)
    if "head" not in cameras:
        raise SystemExit(f"PSI_BENCH_CAMERAS={','.join(cameras)} must include head (the headset view shows it)")
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="psi_bench_cameras_") as d:
        tmp = Path(d)
        _runtime_env(tmp)
        base = _baseline(min(5.0, duration))
        main = _main_run(tmp, duration, progress=not quick, cameras=cameras)
    load_end = os.getloadavg()[0]
    if not main["one_session"]:
        raise SystemExit("the OpenXR input and the headset view did not share one session")
    b_age, m_age = summarize(base["ages"]), summarize(main["ages"])
    st, bst = main["stats"], base["stats"]
    out: dict[str, float] = {
        "duration_s": main["elapsed"],
        "age_ms_p50": m_age["median"], "age_ms_p99": m_age["p99"], "age_ms_max": m_age["max"],
        "new_frame_hz": st.new_frame_hz, "submit_hz": st.submit_hz,
        "baseline_age_ms_p50": b_age["median"], "baseline_age_ms_p99": b_age["p99"],
        "baseline_new_frame_hz": bst.new_frame_hz, "baseline_submit_hz": bst.submit_hz,
        "writer_dropped_rows": float(main["report"].dropped_rows),
        "frame_cpu_ms": main["frame_cpu_ms"],
        "input_polls": float(main["input_polls"]),
        "input_valid_rate": main["input_head_valid"] / max(1, main["input_polls"]),
        "load_1m_start": load_start, "load_1m_end": load_end,
    }
    rows = [("head → headset (MuJoCo camera)", f"{m_age['median']:.1f}", f"{m_age['p99']:.1f}",
             f"{st.new_frame_hz:.1f}", f"{st.submit_hz:.1f}", str(m_age["n"])),
            ("baseline: free 30 Hz camera", f"{b_age['median']:.1f}", f"{b_age['p99']:.1f}",
             f"{bst.new_frame_hz:.1f}", f"{bst.submit_hz:.1f}", str(b_age["n"]))]
    print_table(f"capture → headset submission ({main['elapsed']:.0f} s)", rows,
                ("path", "age p50 [ms]", "age p99 [ms]", "new frames [Hz]", "submitted [Hz]", "n"))
    print(f"one OpenXR session: view + input; frame thread CPU {main['frame_cpu_ms']:.2f} ms per display frame; "
          f"input: {main['input_polls']} polls, head valid in {100 * out['input_valid_rate']:.1f} %; "
          f"load average {load_start:.1f} → {load_end:.1f}")
    align = {a.stream.split("/")[-1]: a for a in main["report"].alignment if a.stream.startswith("cameras/")}
    cam_rows = []
    for c in main["report"].cameras:
        render_hz = main["frames"][c.name] / main["elapsed"]
        invalid, repeat = c.invalid_rows / max(1, c.rows), c.repeated_frames / max(1, c.rows)
        out[f"{c.name}_render_hz"] = render_hz
        out[f"{c.name}_invalid_rate"] = invalid
        out[f"{c.name}_repeat_rate"] = repeat
        out[f"{c.name}_align_ms_p99"] = align[c.name].p99_ms
        cam_rows.append((c.name, f"{render_hz:.1f}", str(c.rows), f"{100 * invalid:.1f}", f"{100 * repeat:.1f}",
                         f"{align[c.name].p99_ms:.0f}"))
    print_table(f"recorder, {RECORD_HZ:.0f} Hz rows (writer dropped {main['report'].dropped_rows} rows)", cam_rows,
                ("camera", "rendered [Hz]", "rows", "invalid [%]", "repeated [%]", "align p99 [ms]"))
    return out
