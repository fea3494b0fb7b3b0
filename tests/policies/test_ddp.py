"""The DDP code path of the trainer: two CPU processes (Gloo) train one model; rank 0 writes the checkpoint."""

from __future__ import annotations

import os
import socket

import torch
import torch.multiprocessing as mp

from policies.checkpoint import read_meta
from policies.config import TrainConfig, WindowConfig
from policies.trainer import Trainer, model_for_window
from tests.policies.conftest import write_synthetic_dataset


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, data: str, out: str) -> None:
    os.environ.update({"WORLD_SIZE": str(world), "RANK": str(rank), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    window = WindowConfig(horizon=10, val_fraction=0.0)
    cfg = TrainConfig(steps=4, batch_size=8, warmup_steps=1, log_every=2, ckpt_every=4, num_threads=1, device="cpu")
    Trainer(data, out, window, model_for_window(window, "cpu-tiny"), cfg).fit(progress=False)
    torch.distributed.destroy_process_group()


def test_two_process_ddp_training(tmp_path):
    data = write_synthetic_dataset(tmp_path / "data", episodes=2, T=30)
    out = tmp_path / "ckpt"
    mp.spawn(_worker, args=(2, _free_port(), str(data), str(out)), nprocs=2, join=True)
    meta = read_meta(out)
    assert meta.step == 4 and meta.extra["world_size"] == 2
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2  # only rank 0 logs
