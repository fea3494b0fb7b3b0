"""Synthetic datasets for the policy tests, written through the real recorder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recorder import DatasetWriter, TickRecord
from teleop.robot import g1

HZ = 30.0


def synthetic_actions(T: int, phase: float, amplitude: float = 0.3) -> np.ndarray:
    """(T, 36) smooth action trajectory around the default pose: arm joints on sines of ``phase``."""
    base = g1.load_embodiment().default_action()
    t = np.arange(T) / HZ
    a = np.repeat(base[None], T, axis=0)
    for j in range(14, 28):
        a[:, j] += amplitude * np.sin(2 * np.pi * 0.4 * t + phase + 0.3 * j)
    a[:, 0:14] += 0.2 * np.clip(t - 1.0, 0.0, 1.0)[:, None]  # hands close after 1 s
    return a


def frame_for(k: int, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = (k * 5) % 256
    img[: h // 2, :, 1] = 200
    return img


def write_synthetic_dataset(path: Path, episodes: int = 4, T: int = 60, cameras: tuple[str, ...] = (),
                            camera_shape: tuple[int, int] = (48, 64), tasks=("pick_place",),
                            successes=None, seed: int = 0, camera_every: int = 1) -> Path:
    """Record ``episodes`` synthetic episodes (state = action delayed by one row)."""
    rng = np.random.default_rng(seed)
    with DatasetWriter(path, record_hz=HZ, queue_size=4096, camera_shapes={c: camera_shape for c in cameras}) as ds:
        for e in range(episodes):
            task = tasks[e % len(tasks)]
            ep = ds.start_episode(task=task, instruction=f"do the {task.replace('_', ' ')}")
            actions = synthetic_actions(T, phase=float(rng.uniform(0, 2 * np.pi)))
            for k in range(T):
                state = actions[max(k - 1, 0), :32].copy()
                fresh = k % camera_every == 0
                cams = {c: ((frame_for(k, camera_shape), 10.0 + k / HZ) if fresh else None) for c in cameras} or None
                ep.append(TickRecord(t=10.0 + k / HZ, state=state, action=actions[k].copy(), cameras=cams))
            ep.finish(success=True if successes is None else successes[e])
    return path


@pytest.fixture
def synthetic_dataset(tmp_path) -> Path:
    return write_synthetic_dataset(tmp_path / "synthetic")
