"""Checkpoint directories: everything needed to run or resume a policy.

    <dir>/config.json        model, window and train configs, dataset, episode split, instructions
    <dir>/norm_stats.json    state / action normalisation statistics (policies.normalization)
    <dir>/model.pt           weights (and EMA weights when trained with EMA)
    <dir>/train_state.pt     optimiser state and step, for ``psi-teleop train --resume``
    <dir>/metrics.jsonl      one JSON line per logged step (loss, lr, grad norm, validation loss)

Files are written to a temporary name and renamed, so an interrupted save leaves the
previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policies.config import ModelConfig, TrainConfig, WindowConfig, to_dict
from policies.exceptions import CheckpointError
from policies.normalization import NormStats

#: Version of the checkpoint layout; a loader refuses newer ones.
CHECKPOINT_VERSION = 1
CONFIG_FILE = "config.json"
STATS_FILE = "norm_stats.json"
MODEL_FILE = "model.pt"
TRAIN_STATE_FILE = "train_state.pt"
METRICS_FILE = "metrics.jsonl"


@dataclass(frozen=True)
class CheckpointMeta:
    """What ``config.json`` says about a checkpoint."""

    model: ModelConfig
    window: WindowConfig
    train: TrainConfig
    dataset: str = ""
    train_episodes: tuple[str, ...] = ()
    val_episodes: tuple[str, ...] = ()
    instructions: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    step: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def trained_with_prefix(self) -> bool:
        """Whether training-time RTC was on (the model understands a committed prefix)."""
        return self.train.max_delay > 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": CHECKPOINT_VERSION,
            "model": to_dict(self.model),
            "window": to_dict(self.window),
            "train": to_dict(self.train),
            "dataset": self.dataset,
            "train_episodes": list(self.train_episodes),
            "val_episodes": list(self.val_episodes),
            "instructions": list(self.instructions),
            "tasks": list(self.tasks),
            "step": self.step,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CheckpointMeta":
        version = int(d.get("version", 0))
        if version > CHECKPOINT_VERSION:
            raise CheckpointError(
                f"checkpoint layout version {version} is newer than this psi-teleop reads ({CHECKPOINT_VERSION}); upgrade"
            )
        return cls(
            model=ModelConfig.from_dict(d["model"]),
            window=WindowConfig.from_dict(d["window"]),
            train=TrainConfig.from_dict(d["train"]),
            dataset=str(d.get("dataset", "")),
            train_episodes=tuple(d.get("train_episodes", ())),
            val_episodes=tuple(d.get("val_episodes", ())),
            instructions=tuple(d.get("instructions", ())),
            tasks=tuple(d.get("tasks", ())),
            step=int(d.get("step", 0)),
            extra=dict(d.get("extra", {})),
        )


def _atomic_write_bytes(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def save_checkpoint(directory: Path, meta: CheckpointMeta, stats: NormStats, model_state: dict,
                    ema_state: dict | None = None, train_state: dict | None = None) -> None:
    """Write a checkpoint into ``directory`` (created if needed), each file atomically."""
    import torch

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _atomic_write_bytes(directory / CONFIG_FILE, lambda p: p.write_text(json.dumps(meta.to_dict(), indent=1)))
    _atomic_write_bytes(directory / STATS_FILE, lambda p: stats.save(p))
    _atomic_write_bytes(directory / MODEL_FILE, lambda p: torch.save({"model": model_state, "ema": ema_state}, p))
    if train_state is not None:
        _atomic_write_bytes(directory / TRAIN_STATE_FILE, lambda p: torch.save(train_state, p))


def read_meta(directory: Path) -> CheckpointMeta:
    """The ``config.json`` of a checkpoint directory."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(
            f"{directory} is not a policy checkpoint (no {CONFIG_FILE}); train one with "
            "`psi-teleop train --dataset PATH --out DIR` and pass that DIR"
        )
    try:
        return CheckpointMeta.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f"{path} is unreadable ({exc}); the checkpoint is damaged, retrain or restore it") from exc


def load_weights(directory: Path, map_location: str = "cpu") -> dict:
    """``{"model": state_dict, "ema": state_dict | None}`` of a checkpoint."""
    import torch

    path = Path(directory) / MODEL_FILE
    if not path.is_file():
        raise CheckpointError(f"{path} is missing; the checkpoint has no weights yet (training not finished?)")
    return torch.load(path, map_location=map_location, weights_only=True)
