"""Annotation app: frame stepping through a 5-minute episode, and opening a 1000-episode dataset.

    python -m tests.bench annotate            # 5-min episode (9000 rows, 480x640 camera), 1000 episodes
    python -m tests.bench annotate --quick    # 1-min episode at 240x320, 200 episodes (CI smoke)

Step: one frame step in the real window (offscreen Qt) — decode the row's JPEG, show it,
move the plot cursor, slider, time and value labels — then let Qt process the events and
paint. Measured for +1 row steps (the arrow key) and random seeks (scrubbing). Baseline: the
JPEG decode of the same rows alone, in the same process. Target: ≤ 50 ms per step.

Open: build the window on the dataset (open, read every episode's attrs, fill the filters
and the list) against the baseline ``Dataset.open(path).episodes()`` alone; then open one
episode (its time/state/action arrays and first frame).

The synthetic datasets are written once to ``tests/_artifacts/bench_annotate/`` and reused.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np

from tests.bench.stats import print_table, summarize

ROOT = Path(__file__).resolve().parents[1] / "_artifacts" / "bench_annotate"


def _long_dataset(rows: int, shape: tuple[int, int]) -> Path:
    from recorder import Dataset, DatasetWriter
    from recorder.exceptions import DatasetNotFoundError
    from tests.ui.synthetic import HZ, synthetic_frame, write_episode

    path = ROOT / f"long_{rows}_{shape[0]}x{shape[1]}"
    try:
        if Dataset.open(path).episodes()[0].n_rows == rows:
            return path
    except (DatasetNotFoundError, IndexError):
        pass
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    print(
        f"writing a {rows / HZ / 60:.0f}-minute episode ({rows} rows, {shape[1]}x{shape[0]} camera) once ...",
        flush=True,
    )
    frames = [synthetic_frame(k, 60, shape) for k in range(60)]  # 60 distinct images, cycled
    with DatasetWriter(path, record_hz=HZ, camera_shapes={"head": shape}, queue_size=1024, jpeg_quality=85) as ds:
        write_episode(ds, rows, {"head": shape}, frames=frames)
    return path


def _many_dataset(n: int) -> Path:
    from recorder import Dataset
    from recorder.exceptions import DatasetNotFoundError
    from tests.ui.synthetic import write_many_episodes

    path = ROOT / f"many_{n}"
    try:
        if len(Dataset.open(path).episode_ids()) == n:
            return path
    except DatasetNotFoundError:
        pass
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    print(f"writing {n} tiny episodes once ...", flush=True)
    return write_many_episodes(path, n)


def run(quick: bool = False) -> dict[str, float]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    warnings.filterwarnings("ignore", message=r"The data type \(VariableLengthBytes\(\)\)")
    from recorder import Dataset
    from ui.qt import application

    app = application()
    from ui.annotate import AnnotateWindow

    rows, shape, n_eps = (1800, (240, 320), 200) if quick else (9000, (480, 640), 1000)
    n_steps, n_seeks, n_opens = (150, 50, 3) if quick else (600, 200, 5)
    rng = np.random.default_rng(0)

    # ------------------------------------------------------------------ stepping
    long_path = _long_dataset(rows, shape)
    window = AnnotateWindow(long_path)
    window.resize(1500, 860)
    window.show()
    app.processEvents()
    window.table.selectRow(0)
    app.processEvents()
    reader = window.view.reader
    if window.view.n_rows != rows:
        raise RuntimeError(
            f"the synthetic episode has {window.view.n_rows} rows, expected {rows}; delete {long_path} and run again"
        )
    # baseline: decode the same rows, nothing else
    starts = rng.integers(0, rows - n_steps - 1, size=1)
    step_rows = np.arange(starts[0], starts[0] + n_steps)
    seek_rows = rng.integers(0, rows, size=n_seeks)
    base = []
    for i in step_rows:
        t0 = time.perf_counter()
        reader.frame("head", int(i))
        base.append(time.perf_counter() - t0)
    window.seek(int(step_rows[0]) - 1)
    app.processEvents()
    step = []
    for _ in step_rows:
        t0 = time.perf_counter()
        window.step(1)
        app.processEvents()
        step.append(time.perf_counter() - t0)
    seek = []
    for i in seek_rows:
        t0 = time.perf_counter()
        window.seek(int(i))
        app.processEvents()
        seek.append(time.perf_counter() - t0)
    shown_index = window.playback.index
    window.close()

    # ------------------------------------------------------------------ opening
    many_path = _many_dataset(n_eps)
    listing, opening, first_episode = [], [], []
    for _ in range(n_opens):
        t0 = time.perf_counter()
        infos = Dataset.open(many_path).episodes()
        listing.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        w = AnnotateWindow(many_path)
        w.show()
        app.processEvents()
        opening.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        w.table.selectRow(n_eps // 2)
        app.processEvents()
        first_episode.append(time.perf_counter() - t0)
        listed = len(w.table_model.infos)
        w.close()
    if listed != n_eps or len(infos) != n_eps or shown_index != int(seek_rows[-1]):
        raise RuntimeError(f"benchmark sanity check failed: listed {listed}/{n_eps}, cursor {shown_index}")

    s_step, s_seek, s_base = summarize(step), summarize(seek), summarize(base)
    s_list, s_open, s_first = summarize(listing), summarize(opening), summarize(first_episode)
    minutes = rows / 30.0 / 60.0
    print_table(
        f"annotate: {minutes:.0f}-min episode ({rows} rows, {shape[1]}x{shape[0]} JPEG), {n_eps}-episode dataset",
        [
            (
                "step +1 row (frame, cursor, labels, paint)",
                f"{s_step['median']:.2f}",
                f"{s_step['p99']:.2f}",
                f"{s_step['max']:.2f}",
                str(s_step["n"]),
            ),
            (
                "seek to a random row (scrub)",
                f"{s_seek['median']:.2f}",
                f"{s_seek['p99']:.2f}",
                f"{s_seek['max']:.2f}",
                str(s_seek["n"]),
            ),
            (
                "baseline: JPEG decode of the row only",
                f"{s_base['median']:.2f}",
                f"{s_base['p99']:.2f}",
                f"{s_base['max']:.2f}",
                str(s_base["n"]),
            ),
            (
                f"open window on {n_eps} episodes (list + filters)",
                f"{s_open['median']:.1f}",
                f"{s_open['p99']:.1f}",
                f"{s_open['max']:.1f}",
                str(s_open["n"]),
            ),
            (
                f"baseline: Dataset.episodes() of {n_eps}",
                f"{s_list['median']:.1f}",
                f"{s_list['p99']:.1f}",
                f"{s_list['max']:.1f}",
                str(s_list["n"]),
            ),
            (
                "open one episode (arrays + first frame)",
                f"{s_first['median']:.1f}",
                f"{s_first['p99']:.1f}",
                f"{s_first['max']:.1f}",
                str(s_first["n"]),
            ),
        ],
        header=("what", "median [ms]", "p99 [ms]", "max [ms]", "n"),
    )
    verdict = "meets" if s_step["p99"] <= 50.0 else "MISSES"
    print(
        f"frame stepping {verdict} the 50 ms per step target (p99 {s_step['p99']:.1f} ms); random seeks, which "
        f"read and decode a new 1-s chunk of JPEGs: median {s_seek['median']:.1f} ms, p99 {s_seek['p99']:.1f} ms"
    )
    return {
        "step_ms_median": s_step["median"],
        "step_ms_p99": s_step["p99"],
        "seek_ms_median": s_seek["median"],
        "seek_ms_p99": s_seek["p99"],
        "decode_ms_median": s_base["median"],
        "decode_ms_p99": s_base["p99"],
        "open_dataset_ms_median": s_open["median"],
        "list_episodes_ms_median": s_list["median"],
        "open_episode_ms_median": s_first["median"],
        "episodes": float(n_eps),
        "episode_rows": float(rows),
    }
