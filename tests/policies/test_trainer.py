import json
import math

import numpy as np
import pytest

from policies.checkpoint import read_meta
from policies.config import RTCMode, TrainConfig, WindowConfig
from policies.exceptions import CheckpointError
from policies.policy import ChunkRequest, FlowPolicy, Observation
from policies.trainer import Trainer, lr_at, model_for_window


def test_learning_rate_schedule():
    cfg = TrainConfig(steps=1000, lr=1e-3, warmup_steps=100, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(1e-5)
    assert lr_at(99, cfg) == pytest.approx(1e-3)
    assert lr_at(100, cfg) == pytest.approx(1e-3)
    assert lr_at(550, cfg) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    assert lr_at(1000, cfg) == pytest.approx(1e-4)


def test_training_lowers_the_loss_and_resumes(tmp_path, synthetic_dataset):
    window = WindowConfig(horizon=16, val_fraction=0.25)
    model = model_for_window(window, "cpu-tiny")
    cfg = TrainConfig(steps=60, batch_size=32, lr=2e-3, warmup_steps=5, log_every=10, val_every=30,
                      ckpt_every=30, ema_decay=0.9, max_delay=5, num_threads=1)
    out = tmp_path / "ckpt"
    result = Trainer(synthetic_dataset, out, window, model, cfg).fit(progress=False)
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [10, 20, 30, 40, 50, 60]
    assert lines[-1]["loss_smooth"] < 0.7 * lines[0]["loss"]
    assert "val_loss" in lines[2] and math.isfinite(result.val_loss)
    meta = read_meta(out)
    assert meta.step == 60 and meta.trained_with_prefix
    assert len(meta.val_episodes) == 1 and not set(meta.val_episodes) & set(meta.train_episodes)
    assert meta.instructions == ("do the pick place",)
    # resume: continues from step 60 to 80 with the same split
    more = Trainer(synthetic_dataset, out, window, model, TrainConfig(**{**cfg.__dict__, "steps": 80}), resume=True)
    assert more.fit(progress=False).step == 80
    assert read_meta(out).val_episodes == meta.val_episodes
    # the checkpoint runs as a policy and reproduces a committed prefix exactly
    policy = FlowPolicy.load(out)
    prefix = np.tile(np.linspace(0.0, 0.1, 36), (4, 1))
    chunk = policy.infer(Observation(state=np.zeros(32), instruction="do the pick place"),
                         ChunkRequest(mode=RTCMode.PREFIX, prefix=prefix, steps=4))
    assert chunk.shape == (16, 36)
    np.testing.assert_allclose(chunk[:4], prefix, atol=1e-6)
    with pytest.raises(CheckpointError, match="another model config"):
        Trainer(synthetic_dataset, out, window, model_for_window(window, "cpu-small"),
                TrainConfig(**{**cfg.__dict__, "steps": 90}), resume=True).fit(progress=False)


def test_missing_checkpoint_says_how_to_make_one(tmp_path):
    with pytest.raises(CheckpointError, match="psi-teleop train"):
        FlowPolicy.load(tmp_path)


def _train_tiny(tmp_path):
    """A checkpoint trained for a few steps on synthetic episodes (for tests that need one)."""
    from tests.policies.conftest import write_synthetic_dataset

    data = write_synthetic_dataset(tmp_path / "tiny_data", episodes=2, T=40)
    window = WindowConfig(horizon=30, val_fraction=0.0)
    Trainer(data, tmp_path / "tiny_ckpt", window, model_for_window(window, "cpu-tiny"),
            TrainConfig(steps=5, batch_size=8, warmup_steps=1, num_threads=1)).fit(progress=False)
    return tmp_path / "tiny_ckpt"


def test_a_cropping_policy_refuses_frames_of_another_size(tmp_path):
    from tests.policies.conftest import write_synthetic_dataset

    data = write_synthetic_dataset(tmp_path / "cam_data", episodes=2, T=20, cameras=("head",), camera_shape=(48, 64))
    window = WindowConfig(horizon=8, val_fraction=0.0, cameras=("head",), image_size=(16, 32), image_crop=(16, 0, 32, 64))
    Trainer(data, tmp_path / "cam_ckpt", window, model_for_window(window, "cpu-tiny"),
            TrainConfig(steps=3, batch_size=4, warmup_steps=1, num_threads=1, image_shift=2)).fit(progress=False)
    policy = FlowPolicy.load(tmp_path / "cam_ckpt")
    assert policy.camera_shapes == {"head": (48, 64)} and policy.image_crop == (16, 0, 32, 64)
    ok = policy.infer(Observation(state=np.zeros(32), images={"head": np.zeros((48, 64, 3), np.uint8)}),
                      ChunkRequest(steps=2))
    assert ok.shape == (8, 36) and np.isfinite(ok).all()
    with pytest.raises(CheckpointError, match=r"sends 160x120 px frames but the policy was trained with a crop of 64x48"):
        policy.infer(Observation(state=np.zeros(32), images={"head": np.zeros((120, 160, 3), np.uint8)}),
                     ChunkRequest(steps=2))
