"""Export round trip against the real LeRobot library, run in LeRobot's own environment.

    LEROBOT_PY -m tests.recorder.lerobot_roundtrip WORKDIR      # prints one JSON line of results

``LEROBOT_PY`` is the Python of a virtual environment with ``lerobot==0.4.4`` (the last
release for Python 3.11, LeRobotDataset v3) and this repository on ``PYTHONPATH`` (plus
zarr, simplejpeg, av). docs/recorder.md says how that environment is built here without a
CUDA torch. It records a small psi-teleop dataset (two episodes, one camera, rows without
a frame, a trim annotation, a failed episode), exports it with ``export_lerobot`` (video
and image modes), and reads the result back with LeRobot's ``LeRobotDataset``: episode and
frame counts, features, per-frame state/action/timestamps/task, and the images (decoded
from the MP4 with PyAV, as LeRobot writes it, and from LeRobot's image frames).

The only environment-specific step: when ``import torchvision`` fails because its compiled
operators were built for a CUDA torch (the only torchvision wheels on PyPI), the schemas of
the two operators its Python import registers fakes for (``torchvision::nms`` / ``qnms``)
are declared first, so torchvision's pure-Python modules import. No torchvision operator
is run by LeRobot's dataset writing or by this check.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np


def _import_torchvision() -> str:
    try:
        import torchvision  # noqa: F401

        return "plain"
    except RuntimeError as exc:
        if "torchvision::nms" not in str(exc):
            raise
    import torch

    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _import_torchvision.lib = lib  # keep the definitions alive
    import torchvision  # noqa: F401

    return "op schemas declared (compiled ops unavailable)"


def _record(path: Path) -> dict:
    from recorder import Dataset, DatasetWriter, TickRecord

    h, w = 48, 64
    yy, xx = np.mgrid[0:h, 0:w]
    with DatasetWriter(path, camera_shapes={"head": (h, w)}, writer="thread") as ds:
        for n, success, invalid in ((40, True, 7), (25, True, 0), (10, False, 0)):
            ep = ds.start_episode(task="pick_place", instruction=f"put the cup down ({n})")
            for k in range(n):
                t = 100.0 + k / 30.0
                img = np.stack([np.full((h, w), (k * 7) % 200 + 20), (xx * 4 + k) % 256, (yy * 5) % 256], -1)
                cam = None if invalid and k % invalid == invalid - 1 else (img.astype(np.uint8), t - 0.02)
                ep.append(TickRecord(t=t, state=k + np.arange(32) * 1e-3, action=-k - np.arange(36) * 1e-3,
                                     cameras={"head": cam}))
            ep.finish(success=success)
    ds = Dataset.open(path)
    ds.episode("episode_000001").update_attrs(trim=[4.5 / 30, 20.5 / 30])  # rows 5..20
    return {e.episode_id: e for e in ds.episodes()}


def _video_frames(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def main(workdir: str) -> int:
    warnings.filterwarnings("ignore")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = Path(workdir)
    tv = _import_torchvision()
    import lerobot
    from lerobot.datasets.lerobot_dataset import CODEBASE_VERSION, LeRobotDataset

    from recorder import Dataset
    from recorder.export_lerobot import export_lerobot

    src = work / "psi"
    _record(src)
    ds = Dataset.open(src)
    out: dict = {"lerobot": getattr(lerobot, "__version__", "?"), "codebase_version": CODEBASE_VERSION,
                 "torchvision_import": tv, "checks": []}
    checks = out["checks"]

    def check(name: str, ok: bool, detail: str = "") -> None:
        checks.append({"check": name, "ok": bool(ok), "detail": detail})

    expect = {"episode_000000": (0, 40), "episode_000001": (5, 21)}  # usable episodes, rows exported
    for mode, use_videos in (("video", True), ("image", False)):
        root = work / f"lerobot_{mode}"
        t0 = time.perf_counter()
        result = export_lerobot(src, root, repo_id=f"psi/roundtrip_{mode}", use_videos=use_videos, progress=False)
        out[f"{mode}_export_s"] = time.perf_counter() - t0
        lr = LeRobotDataset(f"psi/roundtrip_{mode}", root=root)
        n_frames = sum(hi - lo for lo, hi in expect.values())
        check(f"{mode}: episodes and frames", lr.meta.total_episodes == 2 and lr.meta.total_frames == n_frames
              and result.frames == n_frames, f"{lr.meta.total_episodes} episodes, {lr.meta.total_frames} frames")
        check(f"{mode}: fps and robot", lr.fps == 30 and lr.meta.robot_type == "unitree_g1_dex3",
              f"fps {lr.fps}, robot {lr.meta.robot_type}")
        feats = lr.meta.features
        check(f"{mode}: features", feats["observation.state"]["shape"] in ((32,), [32])
              and feats["action"]["names"] == ds.attrs["action_names"]
              and feats["observation.images.head"]["dtype"] == mode, json.dumps(
                  {k: feats[k]["dtype"] for k in ("observation.state", "action", "observation.images.head")}))
        table = lr.hf_dataset.with_format(None)
        col = lambda name: np.asarray(table[name])  # noqa: E731
        ep_index, frame_index, timestamps = col("episode_index"), col("frame_index"), col("timestamp")
        state, action = np.stack(table["observation.state"]), np.stack(table["action"])
        ok = True
        detail = []
        for e, (eid, (lo, hi)) in enumerate(expect.items()):
            r = ds.episode(eid)
            sel = ep_index == e
            ok &= bool(np.array_equal(frame_index[sel], np.arange(hi - lo)))
            ok &= bool(np.allclose(state[sel], r.read("state", lo, hi), atol=1e-6))
            ok &= bool(np.allclose(action[sel], r.read("action", lo, hi), atol=1e-6))
            ok &= bool(np.allclose(timestamps[sel], np.arange(hi - lo) / 30.0, atol=1e-4))
            tasks = {lr.meta.tasks.index[i] if hasattr(lr.meta.tasks, "index") else i
                     for i in np.unique(col("task_index")[sel])}
            detail.append(f"{eid}: rows {lo}..{hi - 1} tasks {sorted(map(str, tasks))}")
            ok &= tasks == {r.attrs["instruction"]}
        check(f"{mode}: state, action, timestamps, tasks per frame", ok, "; ".join(detail))
        # images: what LeRobot stored vs the recorder's decoded frames (the row without a frame repeats the last one)
        r0 = ds.episode("episode_000000")
        want = r0.frames("head", 0, 40)
        valid = r0.read("cameras/head/valid", 0, 40)
        for i in range(40):
            if not valid[i]:
                want[i] = want[i - 1]
        if use_videos:
            videos = sorted(root.glob("videos/observation.images.head/**/*.mp4"))
            got = _video_frames(videos[0])[:40]
            err = np.abs(got.astype(int) - want.astype(int)).mean()
            check("video: MP4 frames of episode 0 (PyAV decode) match the recording", got.shape == want.shape and
                  err < 8.0, f"{len(videos)} file(s), {got.shape}, mean abs error {err:.2f} grey levels")
        else:
            item = lr[5]  # LeRobot's own __getitem__: image as a CHW float tensor in [0, 1]
            img = (item["observation.images.head"].numpy().transpose(1, 2, 0) * 255).round().astype(int)
            err = np.abs(img - want[5].astype(int)).mean()
            check("image: LeRobotDataset[5] image matches the recording", err < 1.0, f"mean abs error {err:.3f}")
            check("image: LeRobotDataset[5] state", np.allclose(item["observation.state"].numpy(),
                                                                r0.read("state", 5, 6)[0], atol=1e-6))
    out["ok"] = all(c["ok"] for c in checks)
    print(json.dumps(out))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
