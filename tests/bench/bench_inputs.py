"""Input latency and rate of the OpenXR backend against the scripted OpenXR runtime.

    python -m tests.bench inputs          # 2000 polls at 100 Hz + 2 x 1000 for comparison (~40 s)
    python -m tests.bench inputs --quick  # 300 + 2 x 150 polls (~6 s)

What is measured, per :meth:`OpenXRSource.poll` at the teleop loop's 100 Hz, with a full rig
(head, two controllers, three Vive trackers, both hands = 52 joints):

* latency: ``clock.now()`` when the OperatorFrame is filled minus ``frame.stamp`` (the time the
  runtime says the poses describe): sample time → frame available [ms];
* poll time: wall time of one ``poll`` call [ms];
* rate: new frames per second delivered to a 100 Hz caller [Hz].

Baseline (same process, same runtime, same spaces and actions): the raw per-tick OpenXR
work done through pyopenxr's generic wrappers (``xr.sync_actions``, ``xr.locate_space``,
``xr.get_action_state_*``), with no conversion and no frame fill; it cannot locate hand
joints (pyopenxr's wrapper passes an empty joint array). Compare it with the backend's
poll with hand tracking off, which does that work plus the conversion and the frame fill. The runtime is a scripted stand-in, so these figures are the
backend's own overhead, not a headset's motion-to-photon latency.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from teleop import clock
from teleop.operator_frame import OperatorFrame
from tests.bench.stats import print_table, summarize

SCRIPT = """
device /user/hand/left /interaction_profiles/oculus/touch_controller
device /user/hand/right /interaction_profiles/oculus/touch_controller
device /user/vive_tracker_htcx/role/waist /interaction_profiles/htc/vive_tracker_htcx LHR-0001
device /user/vive_tracker_htcx/role/left_foot /interaction_profiles/htc/vive_tracker_htcx LHR-0002
device /user/vive_tracker_htcx/role/right_foot /interaction_profiles/htc/vive_tracker_htcx LHR-0003
at 0
pose /user/head 0.0 1.6 0.0 0 0 0 1
pose /user/hand/left/input/grip/pose -0.2 1.1 -0.3 0 0 0 1
pose /user/hand/right/input/grip/pose 0.2 1.1 -0.3 0 0 0 1
pose /user/hand/left/input/aim/pose -0.2 1.1 -0.3 0 0 0 1
pose /user/hand/right/input/aim/pose 0.2 1.1 -0.3 0 0 0 1
pose /user/vive_tracker_htcx/role/waist/input/grip/pose 0 0.95 0 0 0 0 1
pose /user/vive_tracker_htcx/role/left_foot/input/grip/pose -0.1 0.08 0 0 0 0 1
pose /user/vive_tracker_htcx/role/right_foot/input/grip/pose 0.1 0.08 0 0 0 0 1
value /user/hand/right/input/trigger/value 0.5
vec2 /user/hand/left/input/thumbstick 0.1 0.2
hand left -0.2 1.1 -0.3 0 0 0 1
hand right 0.2 1.1 -0.3 0 0 0 1
"""
LOOP_HZ = 100.0


def _baseline_tick(xr, source) -> None:
    """The same sync/locate/state work through pyopenxr's generic wrappers (no hands)."""
    xr.sync_actions(source._session, source._sync_info)
    t_xr = source._time.to_xr(clock.now())
    for d in source._devices:
        if d.space is not None:
            xr.locate_space(d.space, source._base, t_xr)
    for (name, _side), query in source._queries.items():
        if name == "thumbstick":
            xr.get_action_state_vector2f(source._session, query)
        elif name in ("trigger", "squeeze"):
            xr.get_action_state_float(source._session, query)
        else:
            xr.get_action_state_boolean(source._session, query)


def run(quick: bool = False) -> dict[str, float]:
    import xr

    from teleop.inputs.openxr_backend import OpenXRSource
    from teleop.inputs.openxr_config import OpenXRConfig
    from tests.inputs.xr_runtime.build import build_runtime, runtime_env

    n = 300 if quick else 2000
    n_cmp = n // 2  # polls of each comparison run, also paced at LOOP_HZ (a tight loop would run cache-warm)
    with tempfile.TemporaryDirectory(prefix="psi_bench_inputs_") as tmp:
        manifest = build_runtime(Path(tmp))
        script = Path(tmp) / "script.txt"
        script.write_text(SCRIPT)
        saved = {k: os.environ.get(k) for k in ("XR_RUNTIME_JSON", "PSI_XR_SCRIPT")}
        os.environ.update(runtime_env(manifest, script))
        source = OpenXRSource()
        try:
            source.start()
            frame = OperatorFrame()
            latency, poll_time, baseline = [], [], []
            new_frames = 0
            valid_ok = 0
            t0 = clock.now()
            for k in range(n):
                start = time.perf_counter()
                new = source.poll(frame)
                available = clock.now()
                poll_time.append(time.perf_counter() - start)
                latency.append(available - frame.stamp)
                new_frames += int(new)
                valid_ok += int(frame.head_valid and frame.hand_valid.all() and frame.tracker_valid.sum() == 3)
                clock.sleep_until(t0 + (k + 1) / LOOP_HZ)
            elapsed = clock.now() - t0
            t0 = clock.now()
            for k in range(n_cmp):
                start = time.perf_counter()
                _baseline_tick(xr, source)
                baseline.append(time.perf_counter() - start)
                clock.sleep_until(t0 + (k + 1) / LOOP_HZ)
            head_rate = next(d.rate_hz for d in source.devices() if d.role == "head")
            source.stop()
            # the same rig without hand tracking: the work the baseline does, plus conversion and frame fill
            source = OpenXRSource(OpenXRConfig(use_hand_tracking=False))
            source.start()
            no_hands = []
            t0 = clock.now()
            for k in range(n_cmp):
                start = time.perf_counter()
                source.poll(frame)
                no_hands.append(time.perf_counter() - start)
                clock.sleep_until(t0 + (k + 1) / LOOP_HZ)
        finally:
            source.stop()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    lat, pt, base, nh = summarize(latency), summarize(poll_time), summarize(baseline), summarize(no_hands)
    rate = new_frames / elapsed
    print_table(
        f"OpenXR input, scripted runtime, {n} polls at {LOOP_HZ:.0f} Hz (ms)",
        [
            ("latency: sample → frame", f"{lat['median']:.3f}", f"{lat['p99']:.3f}", f"{lat['max']:.3f}"),
            ("poll() time (backend)", f"{pt['median']:.3f}", f"{pt['p99']:.3f}", f"{pt['max']:.3f}"),
            ("poll() time, hand tracking off", f"{nh['median']:.3f}", f"{nh['p99']:.3f}", f"{nh['max']:.3f}"),
            ("baseline: pyopenxr wrappers, no hands", f"{base['median']:.3f}", f"{base['p99']:.3f}", f"{base['max']:.3f}"),
        ],
        ("", "median", "p99", "max"),
    )
    print(f"rate: {rate:.1f} new frames/s delivered to a {LOOP_HZ:.0f} Hz caller (head device rate {head_rate:.1f} Hz); "
          f"{valid_ok}/{n} frames with head, both hands and 3 trackers valid")
    return {
        "latency_ms_p50": lat["median"], "latency_ms_p99": lat["p99"],
        "poll_ms_p50": pt["median"], "poll_ms_p99": pt["p99"],
        "poll_no_hands_ms_p50": nh["median"], "poll_no_hands_ms_p99": nh["p99"],
        "baseline_ms_p50": base["median"], "baseline_ms_p99": base["p99"],
        "rate_hz": rate, "head_rate_hz": head_rate, "valid_fraction": valid_ok / n,
    }
