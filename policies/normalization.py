"""Normalisation statistics of states and actions, saved with every checkpoint.

For a component x with mean m, standard deviation s and 1 % / 99 % quantiles q01, q99:

    MEAN_STD:  z = (x - m) / max(s, eps)
    QUANTILE:  z = 2 (x - q01) / max(q99 - q01, eps) - 1        ([q01, q99] -> [-1, 1])

``eps`` keeps constant components (the lower-body velocities of a table-top task) at
z = 0 instead of dividing by zero; denormalising such a component returns its constant.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from policies.config import NormMode
from policies.exceptions import CheckpointError

#: Smallest scale a component is divided by [its own unit]: below it the component is treated as constant.
EPS = 1e-3


@dataclass(frozen=True)
class Stats:
    """Per-component statistics of one vector stream (float64 arrays of the stream's width)."""

    mean: np.ndarray
    std: np.ndarray
    q01: np.ndarray
    q99: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray) -> "Stats":
        x = np.asarray(x, dtype=np.float64)
        return cls(x.mean(0), x.std(0), np.quantile(x, 0.01, axis=0), np.quantile(x, 0.99, axis=0))

    def offset_scale(self, mode: NormMode) -> tuple[np.ndarray, np.ndarray]:
        """(offset, scale) with z = (x - offset) / scale."""
        if mode is NormMode.MEAN_STD:
            return self.mean, np.maximum(self.std, EPS)
        return (self.q01 + self.q99) / 2.0, np.maximum(self.q99 - self.q01, EPS) / 2.0

    def to_dict(self) -> dict[str, list[float]]:
        return {k: getattr(self, k).tolist() for k in ("mean", "std", "q01", "q99")}

    @classmethod
    def from_dict(cls, d: dict[str, list[float]]) -> "Stats":
        return cls(*(np.asarray(d[k], dtype=np.float64) for k in ("mean", "std", "q01", "q99")))


@dataclass(frozen=True)
class NormStats:
    """State and action statistics and the mode that uses them."""

    state: Stats
    action: Stats
    mode: NormMode = NormMode.MEAN_STD

    @classmethod
    def compute(cls, states: np.ndarray, actions: np.ndarray, mode: NormMode = NormMode.MEAN_STD) -> "NormStats":
        """Statistics of (N, 32) states and (N, 36) actions."""
        return cls(Stats.of(states), Stats.of(actions), mode)

    def normalize_state(self, x):
        o, s = self.state.offset_scale(self.mode)
        return (x - _like(o, x)) / _like(s, x)

    def normalize_action(self, x):
        o, s = self.action.offset_scale(self.mode)
        return (x - _like(o, x)) / _like(s, x)

    def denormalize_action(self, z):
        o, s = self.action.offset_scale(self.mode)
        return z * _like(s, z) + _like(o, z)

    def to_dict(self) -> dict:
        return {"mode": self.mode.value, "state": self.state.to_dict(), "action": self.action.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "NormStats":
        return cls(Stats.from_dict(d["state"]), Stats.from_dict(d["action"]), NormMode(d["mode"]))

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: Path) -> "NormStats":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, KeyError, ValueError) as exc:
            raise CheckpointError(
                f"cannot read the normalisation statistics {path} ({exc}); the checkpoint is incomplete, "
                "retrain or copy the whole checkpoint directory"
            ) from exc


def _like(v: np.ndarray, x):
    """``v`` as the array type, dtype and device of ``x`` (numpy or torch)."""
    if isinstance(x, np.ndarray):
        return v.astype(x.dtype, copy=False)
    import torch

    return torch.as_tensor(v, dtype=x.dtype, device=x.device)
