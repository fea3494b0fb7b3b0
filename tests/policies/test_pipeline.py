"""The whole pipeline, short: record scripted episodes in the simulation -> train -> RTC rollout, via the CLI."""

from __future__ import annotations

import numpy as np

from recorder import Dataset, DatasetWriter, TickRecord
from teleop.cli import main
from teleop.robot import g1
from teleop.robot.sim import SimBackend, SimConfig

HZ = 30.0


def record_scripted_episodes(path, episodes: int = 2, seconds: float = 3.0, cameras: tuple[str, ...] = (),
                             camera_every: int = 3) -> None:
    """A joint-space scripted controller: reach the right arm forward and close the right hand."""
    emb = g1.load_embodiment()
    start = emb.default_action()
    goal = start.copy()
    goal[g1.ACTION_RIGHT_ARM] += np.array([-0.5, -0.1, 0.0, -0.4, 0.0, 0.0, 0.0])
    goal[g1.ACTION_RIGHT_HAND] += 0.3
    lo, hi = emb.action_limits()
    goal = np.clip(goal, lo, hi)
    size = (48, 64)
    with DatasetWriter(path, record_hz=HZ, queue_size=4096, camera_shapes={c: size for c in cameras}) as ds:
        for e in range(episodes):
            backend = SimBackend(SimConfig(task="pick_place", seed=e, cameras=cameras, camera_size=size))
            backend.start()
            ep = ds.start_episode(task="pick_place", instruction=backend.sim.task.instruction, operator="scripted")
            n = int(seconds * HZ)
            for k in range(n):
                s = min(1.0, k / (0.7 * n))
                a = start + (goal - start) * (3 * s**2 - 2 * s**3)
                backend.apply_action(a)
                backend.step(1 / HZ)
                st = backend.read_state()
                cams = None
                if cameras:
                    fresh = k % camera_every == 0
                    cams = {c: ((backend.sim.render(c), backend.sim.time) if fresh else None) for c in cameras}
                ep.append(TickRecord(t=backend.sim.time, state=st.state_vector(), action=a, robot=st.as_arrays(),
                                     cameras=cams))
            ep.finish(success=True)
            backend.stop()


def test_record_train_rollout(tmp_path, capsys):
    data, ckpt, rollouts = tmp_path / "demos", tmp_path / "ckpt", tmp_path / "rollouts"
    record_scripted_episodes(data)
    assert main(["train", "--dataset", str(data), "--out", str(ckpt), "--steps", "40", "--model", "cpu-tiny",
                 "--batch-size", "32", "--lr", "2e-3", "--warmup", "5", "--val-fraction", "0.5",
                 "--threads", "1"]) == 0
    assert (ckpt / "model.pt").is_file() and (ckpt / "metrics.jsonl").is_file()
    assert main(["rollout", "--checkpoint", str(ckpt), "--robot", "sim", "--episodes", "1", "--seed", "5",
                 "--max-duration", "2", "--latency-ms", "60", "--record", str(rollouts),
                 "--tick-log", str(tmp_path / "ticks")]) == 0
    out = capsys.readouterr().out
    assert "success rate: 0/1 = 0%" in out and "can: touched by a hand in" in out
    assert "infer [ms]" in out and "highest rise [cm]" in out  # units survive rich's markup
    ds = Dataset.open(rollouts)
    (info,) = ds.episodes()
    assert info.task == "pick_place" and info.success is False and info.operator == "policy:ckpt"
    assert abs(info.n_rows - 60) <= 1
    actions = ds.episode(0).read("action")
    lo, hi = g1.load_embodiment().action_limits()
    assert np.all(actions >= lo - 1e-6) and np.all(actions <= hi + 1e-6)
    # the policy moved the right arm towards the demonstrated goal
    start = g1.load_embodiment().default_action()
    moved = np.abs(actions[-1, g1.ACTION_RIGHT_ARM] - start[g1.ACTION_RIGHT_ARM]).max()
    assert moved > 0.1
    ticks = np.load(tmp_path / "ticks" / "rollout_0005.npz")["log"]
    assert len(ticks) == info.n_rows and np.all(np.diff(ticks["tick"]) == 1)


def test_image_path_short_run(tmp_path):
    """Camera input end to end: recorded frames -> crop, resize, random shifts -> CNN vision tokens ->
    rollout rendering at request time, at the recorded frame size so that the crop means the same pixels."""
    data, ckpt, rollouts = tmp_path / "demos", tmp_path / "ckpt", tmp_path / "rollouts"
    record_scripted_episodes(data, episodes=2, seconds=1.0, cameras=("head",))
    assert main(["train", "--dataset", str(data), "--out", str(ckpt), "--steps", "8", "--model", "cpu-tiny",
                 "--batch-size", "8", "--camera", "head", "--image-crop", "16", "0", "32", "64", "--image-size", "16",
                 "32", "--image-shift", "2", "--horizon", "16", "--val-fraction", "0.5", "--threads", "1"]) == 0
    from policies.checkpoint import read_meta

    meta = read_meta(ckpt)
    assert meta.window.cameras == ("head",) and meta.model.cameras == ("head",)
    assert meta.window.image_crop == (16, 0, 32, 64) and meta.train.image_shift == 2
    assert meta.extra["camera_shapes"] == {"head": [48, 64]}
    assert main(["rollout", "--checkpoint", str(ckpt), "--robot", "sim", "--episodes", "1", "--max-duration", "0.5",
                 "--latency-ms", "100", "--record", str(rollouts), "--record-camera", "head"]) == 0
    reader = Dataset.open(rollouts).episode(0)
    assert reader.cameras == ["head"] and abs(reader.n_rows - 15) <= 1
    assert reader.frame("head", 0).shape == (48, 64, 3)  # rendered at the size the policy was trained on
    assert reader.frame("head", 0).mean() > 10  # a rendered scene, not an empty frame
