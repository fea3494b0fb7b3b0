"""Configuration of the dataset windows, the action expert, the trainer and the RTC runtime.

Every config is a frozen dataclass validated in ``__post_init__``; a bad value raises
:class:`teleop.exceptions.ConfigError` naming the field, the value and the valid range.
They round-trip through plain dicts (:func:`to_dict` / ``from_dict``) so that a checkpoint
stores exactly the configuration it was trained with.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass
from typing import Any

from teleop.exceptions import ConfigError
from teleop.robot import g1


class NormMode(enum.Enum):
    """How states and actions are normalised before they reach the network."""

    MEAN_STD = "mean_std"  # (x - mean) / std
    QUANTILE = "quantile"  # [q01, q99] -> [-1, 1]


class ImageEncoderKind(enum.Enum):
    """Built-in image encoders (a custom ``nn.Module`` can also be passed to the model)."""

    SMALL_CNN = "small_cnn"


class RTCMode(enum.Enum):
    """How a new action chunk is made consistent with the actions already committed.

    NAIVE: no conditioning; the new chunk replaces the old one as it is (the baseline).
    PREFIX: training-time RTC; the committed prefix enters the network as clean action
        tokens with flow time 1 (needs a checkpoint trained with ``max_delay > 0``).
    INPAINT: inference-time RTC; guided inpainting of the previous chunk with a soft mask
        and a clamped guidance weight (works with any checkpoint).
    """

    NAIVE = "naive"
    PREFIX = "prefix"
    INPAINT = "inpaint"


def _check(cls: str, name: str, value: float, lo: float, hi: float, integer: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and lo <= value <= hi
    if integer and ok:
        ok = float(value).is_integer()
    if not ok:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{cls}.{name}={value!r} is invalid; it must be {kind} in [{lo}, {hi}]")


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-able dict of a config dataclass (enums by value, tuples as lists)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if isinstance(v, enum.Enum):
            v = v.value
        elif isinstance(v, tuple):
            v = [list(x) if isinstance(x, tuple) else x for x in v]
        out[f.name] = v
    return out


def _from_dict(cls, data: dict[str, Any]):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown field(s) {unknown}; valid fields: {sorted(fields)}")
    kwargs: dict[str, Any] = {}
    for k, v in data.items():
        default = fields[k].default
        if isinstance(default, enum.Enum):
            v = type(default)(v)
        elif isinstance(v, list):
            v = tuple(tuple(x) if isinstance(x, list) else x for x in v)
        kwargs[k] = v
    return cls(**kwargs)


@dataclass(frozen=True)
class WindowConfig:
    """Which samples the trainer sees: (images, state, instruction) -> action chunk.

    Attributes:
        horizon: actions per chunk H [rows at the record rate]; chunks running past the end
            of an episode are padded by holding its last action.
        cameras: camera streams fed to the model; empty = state-only input.
        image_size: (height, width) [px] the camera frames are resized to.
        image_crop: (top, left, height, width) [px of the recorded frame] cut out before the
            resize (e.g. the part of the head camera's view with the table); empty: whole frame.
        successful_only: keep only episodes annotated ``success == True``.
        tasks: keep only episodes of these task names (empty: every task).
        segment_labels: keep only rows inside annotated segments with these labels (empty: all rows).
        val_fraction: share of the episodes held out for the validation loss [0, 0.5].
        split_seed: seed of the episode split.
        norm_mode: state/action normalisation.
    """

    horizon: int = 30  # [rows]
    cameras: tuple[str, ...] = ()
    image_size: tuple[int, int] = (96, 128)  # [px] (H, W)
    image_crop: tuple[int, ...] = ()  # [px] (top, left, height, width) or () for the whole frame
    successful_only: bool = False
    tasks: tuple[str, ...] = ()
    segment_labels: tuple[str, ...] = ()
    val_fraction: float = 0.1
    split_seed: int = 0
    norm_mode: NormMode = NormMode.MEAN_STD

    def __post_init__(self) -> None:
        _check("WindowConfig", "horizon", self.horizon, 1, 256, integer=True)
        h, w = self.image_size
        _check("WindowConfig", "image_size[0]", h, 16, 1024, integer=True)
        _check("WindowConfig", "image_size[1]", w, 16, 1024, integer=True)
        _check("WindowConfig", "val_fraction", self.val_fraction, 0.0, 0.5)
        if self.image_crop:
            if len(self.image_crop) != 4:
                raise ConfigError(f"WindowConfig.image_crop={self.image_crop!r} must be (top, left, height, width) [px] or ()")
            for name, v, lo in zip(("top", "left", "height", "width"), self.image_crop, (0, 0, 1, 1)):
                _check("WindowConfig", f"image_crop.{name}", v, lo, 4096, integer=True)
        if len(set(self.cameras)) != len(self.cameras):
            raise ConfigError(f"WindowConfig.cameras={self.cameras!r} lists a camera twice")
        if not isinstance(self.norm_mode, NormMode):
            raise ConfigError(f"WindowConfig.norm_mode={self.norm_mode!r}; valid: {[m.value for m in NormMode]}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "WindowConfig":
        return _from_dict(cls, data)


@dataclass(frozen=True)
class ModelConfig:
    """Size and inputs of the flow-matching action expert (:class:`policies.model.ActionExpert`).

    Attributes:
        width: token width D; depth: MM-DiT blocks; heads: attention heads (D % heads == 0).
        mlp_ratio: hidden width of the feed-forward layers, in multiples of D.
        horizon: action tokens H (one per action of the chunk).
        action_dim, state_dim: vector sizes (36 and 32, DESIGN.md).
        cameras: camera names, one vision token group each (empty: no vision tokens).
        image_size: (height, width) [px] of the images the encoder takes.
        image_encoder: built-in encoder kind; vision_grid: (rows, cols) tokens per camera.
        instruction_buckets: size of the hashed word vocabulary of the instruction bag.
        dropout: attention/MLP dropout during training.
    """

    width: int = 256
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    horizon: int = 30
    action_dim: int = g1.ACTION_DIM
    state_dim: int = g1.STATE_DIM
    cameras: tuple[str, ...] = ()
    image_size: tuple[int, int] = (96, 128)  # [px]
    image_encoder: ImageEncoderKind = ImageEncoderKind.SMALL_CNN
    vision_grid: tuple[int, int] = (3, 4)  # [tokens] rows x cols per camera
    instruction_buckets: int = 1024
    dropout: float = 0.0

    def __post_init__(self) -> None:
        _check("ModelConfig", "width", self.width, 16, 8192, integer=True)
        _check("ModelConfig", "depth", self.depth, 1, 128, integer=True)
        _check("ModelConfig", "heads", self.heads, 1, 128, integer=True)
        if self.width % self.heads:
            raise ConfigError(f"ModelConfig.width={self.width} must be a multiple of heads={self.heads}")
        if (self.width // self.heads) % 2:
            raise ConfigError(f"ModelConfig: head width {self.width // self.heads} must be even; change width or heads")
        _check("ModelConfig", "mlp_ratio", self.mlp_ratio, 0.5, 16.0)
        _check("ModelConfig", "horizon", self.horizon, 1, 256, integer=True)
        _check("ModelConfig", "action_dim", self.action_dim, 1, 4096, integer=True)
        _check("ModelConfig", "state_dim", self.state_dim, 1, 4096, integer=True)
        _check("ModelConfig", "instruction_buckets", self.instruction_buckets, 8, 1 << 20, integer=True)
        _check("ModelConfig", "dropout", self.dropout, 0.0, 0.9)
        for i, g in enumerate(self.vision_grid):
            _check("ModelConfig", f"vision_grid[{i}]", g, 1, 32, integer=True)
        for i, s in enumerate(self.image_size):
            _check("ModelConfig", f"image_size[{i}]", s, 16, 1024, integer=True)
        if not isinstance(self.image_encoder, ImageEncoderKind):
            raise ConfigError(
                f"ModelConfig.image_encoder={self.image_encoder!r}; valid: {[k.value for k in ImageEncoderKind]}"
            )

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "ModelConfig":
        """A named size: ``cpu-tiny`` (0.31M parameters), ``cpu-small`` (4.5M), ``cpu-base`` (18M), ``gpu-500m`` (501M)."""
        presets = {
            "cpu-tiny": dict(width=64, depth=2, heads=4),
            "cpu-small": dict(width=192, depth=4, heads=4),
            "cpu-base": dict(width=320, depth=6, heads=8),
            "gpu-500m": dict(width=1024, depth=16, heads=16),
        }
        if name not in presets:
            raise ConfigError(f"unknown model preset '{name}'; valid presets: {', '.join(presets)}")
        return cls(**{**presets[name], **overrides})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        return _from_dict(cls, data)


#: Named model sizes accepted by ``psi-teleop train --model``.
MODEL_PRESETS = ("cpu-tiny", "cpu-small", "cpu-base", "gpu-500m")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of :class:`policies.trainer.Trainer`.

    The loss (flow matching with training-time RTC) is written in :mod:`policies.flow`.

    Attributes:
        steps: optimiser steps; batch_size: samples per step (per process under DDP).
        lr: peak learning rate; warmup_steps: linear warm-up, then cosine decay to ``lr * min_lr_ratio``.
        weight_decay: AdamW decoupled weight decay; grad_clip: max global gradient norm.
        ema_decay: decay of the exponential moving average of the weights (0: no EMA).
        max_delay: training-time RTC, per sample delay d ~ U{0, ..., max_delay-1} [actions];
            0 or 1 trains without a committed prefix.
        val_every, ckpt_every, log_every: intervals [steps].
        seed: seed of sampling, noise and initialisation.
        device: "auto" (cuda when available), "cpu" or "cuda[:i]"; bf16: autocast to bfloat16 on a GPU.
        num_threads: torch CPU threads (0: torch's default).
        image_shift: augmentation, random shift of each training image by up to this many
            pixels (:func:`policies.vision.random_shift`; 0: off) [px].
    """

    steps: int = 2000
    batch_size: int = 64
    lr: float = 3e-4
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    ema_decay: float = 0.0
    max_delay: int = 10  # [actions]
    val_every: int = 250  # [steps]
    ckpt_every: int = 500  # [steps]
    log_every: int = 25  # [steps]
    seed: int = 0
    device: str = "auto"
    bf16: bool = True
    num_threads: int = 0
    image_shift: int = 0  # [px]

    def __post_init__(self) -> None:
        _check("TrainConfig", "image_shift", self.image_shift, 0, 64, integer=True)
        _check("TrainConfig", "steps", self.steps, 1, 10_000_000, integer=True)
        _check("TrainConfig", "batch_size", self.batch_size, 1, 65536, integer=True)
        _check("TrainConfig", "lr", self.lr, 1e-7, 1.0)
        _check("TrainConfig", "warmup_steps", self.warmup_steps, 0, 1_000_000, integer=True)
        _check("TrainConfig", "min_lr_ratio", self.min_lr_ratio, 0.0, 1.0)
        _check("TrainConfig", "weight_decay", self.weight_decay, 0.0, 1.0)
        _check("TrainConfig", "grad_clip", self.grad_clip, 0.0, 1e6)
        _check("TrainConfig", "ema_decay", self.ema_decay, 0.0, 0.99999)
        _check("TrainConfig", "max_delay", self.max_delay, 0, 256, integer=True)
        for n in ("val_every", "ckpt_every", "log_every"):
            _check("TrainConfig", n, getattr(self, n), 1, 10_000_000, integer=True)
        _check("TrainConfig", "num_threads", self.num_threads, 0, 1024, integer=True)
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ConfigError(f"TrainConfig.device={self.device!r}; valid: 'auto', 'cpu', 'cuda' or 'cuda:<index>'")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        return _from_dict(cls, data)


@dataclass(frozen=True)
class RTCConfig:
    """Settings of the real-time-chunking runtime (:class:`policies.runtime.RTCRuntime`).

    Attributes:
        control_hz: rate of the control thread [Hz].
        mode: how a new chunk is joined to the committed actions (:class:`RTCMode`); None
            picks PREFIX for checkpoints trained with a prefix, INPAINT otherwise.
        min_execution_horizon: s_min, actions of each chunk executed before the next one
            may take over [actions].
        denoise_steps: Euler steps of the flow integration.
        max_guidance: clamp beta of the inpainting guidance weight.
        latency_window: recent inference latencies the delay estimate looks at [inferences].
        initial_delay: delay d assumed before any latency was measured [ticks].
        min_delay: shortest committed prefix [ticks], even when inference takes less than a tick
            longer than that. With d = 1 a new chunk is held to a single action of the plan it
            replaces, and a policy can switch between plans every few ticks (a can released on the
            way to the basket); 2 keeps consecutive chunks on one plan (pick_place, 20 seeded
            rollouts at 20 ms latency: 15/20 successful with 1, 20/20 with 2; docs/policies.md).
        max_slowdown: largest playback slow-down factor when inference cannot keep up.
        chunk_timeout_s: an inference running longer than this is reported as stalled [s].
        seed: seed of the sampling noise.
        synchronous: the baseline without RTC: execute ``execution_horizon`` actions, then
            hold the robot still while the next chunk is computed and start it at its first action.
        execution_horizon: actions executed per chunk in synchronous mode (0: half the chunk).
        switch_blend: ticks over which the previous chunk is cross-faded into a new one in the RTC
            modes (0: hard switch; NAIVE and synchronous always switch hard).
        realtime_priority: SCHED_FIFO priority of the control thread on a real-time clock
            (1..99; 0 keeps normal scheduling). Needs root or CAP_SYS_NICE; without them the
            runtime logs it and runs at normal priority.
    """

    control_hz: float = 30.0  # [Hz]
    mode: RTCMode | None = None
    min_execution_horizon: int = 5  # [actions]
    denoise_steps: int = 10
    max_guidance: float = 5.0
    latency_window: int = 10  # [inferences]
    initial_delay: int = 3  # [ticks]
    min_delay: int = 2  # [ticks]
    max_slowdown: int = 4
    chunk_timeout_s: float = 5.0  # [s]
    seed: int = 0
    synchronous: bool = False
    execution_horizon: int = 0  # [actions]
    switch_blend: int = 4  # [ticks]
    realtime_priority: int = 50

    def __post_init__(self) -> None:
        _check("RTCConfig", "control_hz", self.control_hz, 1.0, 1000.0)
        if self.mode is not None and not isinstance(self.mode, RTCMode):
            raise ConfigError(f"RTCConfig.mode={self.mode!r}; valid: {[m.value for m in RTCMode]} or None")
        _check("RTCConfig", "min_execution_horizon", self.min_execution_horizon, 1, 256, integer=True)
        _check("RTCConfig", "denoise_steps", self.denoise_steps, 1, 1000, integer=True)
        _check("RTCConfig", "max_guidance", self.max_guidance, 0.0, 100.0)
        _check("RTCConfig", "latency_window", self.latency_window, 1, 1000, integer=True)
        _check("RTCConfig", "initial_delay", self.initial_delay, 0, 256, integer=True)
        _check("RTCConfig", "min_delay", self.min_delay, 1, 256, integer=True)
        _check("RTCConfig", "max_slowdown", self.max_slowdown, 1, 16, integer=True)
        _check("RTCConfig", "chunk_timeout_s", self.chunk_timeout_s, 0.01, 3600.0)
        _check("RTCConfig", "execution_horizon", self.execution_horizon, 0, 256, integer=True)
        _check("RTCConfig", "realtime_priority", self.realtime_priority, 0, 99, integer=True)
        _check("RTCConfig", "switch_blend", self.switch_blend, 0, self.min_execution_horizon, integer=True)

    @property
    def period(self) -> float:
        """Control period [s]."""
        return 1.0 / self.control_hz


__all__ = [
    "MODEL_PRESETS",
    "ImageEncoderKind",
    "ModelConfig",
    "NormMode",
    "RTCConfig",
    "RTCMode",
    "TrainConfig",
    "WindowConfig",
    "to_dict",
]
