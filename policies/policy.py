"""A trained policy ready to produce action chunks: weights, normalisation, sampling.

:class:`ChunkPolicy` is what the RTC runtime needs from a policy; :class:`FlowPolicy`
implements it with a checkpoint of the flow-matching action expert.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from policies.checkpoint import STATS_FILE, CheckpointMeta, load_weights, read_meta
from policies.config import RTCMode
from policies.exceptions import CheckpointError
from policies.instruction import encode_instruction
from policies.normalization import NormStats


@dataclass
class Observation:
    """What the policy sees at one tick.

    Attributes:
        state: (32,) the DESIGN.md state vector.
        instruction: the language instruction.
        images: camera name -> (H, W, 3) uint8 RGB (only the cameras the policy takes).
        stamp: acquisition time of the state [s] (:func:`teleop.clock.now`, or simulated time).
    """

    state: np.ndarray
    instruction: str = ""
    images: dict[str, np.ndarray] = field(default_factory=dict)
    stamp: float = 0.0


@dataclass(frozen=True)
class ChunkRequest:
    """How to make the next chunk consistent with what is already committed.

    Attributes:
        mode: NAIVE, PREFIX or INPAINT (:class:`RTCMode`).
        prefix: (d, 36) actions [action units] the robot executes while this chunk is computed.
        guide: (H, 36) previous chunk aligned to the new one (INPAINT), held past its end.
        guide_weights: (H,) inpainting soft mask (:func:`policies.flow.soft_mask`).
        steps: Euler steps; max_guidance: clamp of the guidance weight; seed: noise seed.
    """

    mode: RTCMode = RTCMode.NAIVE
    prefix: np.ndarray | None = None
    guide: np.ndarray | None = None
    guide_weights: np.ndarray | None = None
    steps: int = 10
    max_guidance: float = 5.0
    seed: int = 0


class ChunkPolicy(Protocol):
    """What the runtime calls: a chunk of H actions for an observation."""

    horizon: int
    trained_with_prefix: bool
    cameras: tuple[str, ...]

    def infer(self, obs: Observation, request: ChunkRequest) -> np.ndarray:
        """(H, 36) actions [action units]; called from the inference thread only."""
        ...


class FlowPolicy:
    """A checkpoint of :class:`policies.model.ActionExpert` as a :class:`ChunkPolicy`.

    Args:
        model: the network (eval mode); stats: its normalisation; meta: its config.json.
        device: torch device to run on.
    """

    def __init__(self, model, stats: NormStats, meta: CheckpointMeta, device: str = "cpu"):
        self.model = model.eval().requires_grad_(False)  # guidance differentiates w.r.t. actions only
        self.stats = stats
        self.meta = meta
        self.device = device
        self.horizon = meta.model.horizon
        self.cameras = meta.window.cameras
        self.image_size = meta.window.image_size
        self.image_crop = meta.window.image_crop
        #: camera name -> (height, width) [px] of the frames it was trained on (empty for old checkpoints)
        self.camera_shapes = {c: tuple(hw) for c, hw in meta.extra.get("camera_shapes", {}).items()}
        self.trained_with_prefix = meta.trained_with_prefix
        self._lock = threading.Lock()

    @classmethod
    def load(cls, directory: str | Path, device: str = "cpu", use_ema: bool = True) -> "FlowPolicy":
        """Load a checkpoint directory written by the trainer (EMA weights when present)."""
        from policies.model import ActionExpert

        directory = Path(directory)
        meta = read_meta(directory)
        stats = NormStats.load(directory / STATS_FILE)
        weights = load_weights(directory, map_location=device)
        model = ActionExpert(meta.model)
        state = weights["ema"] if use_ema and weights.get("ema") is not None else weights["model"]
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise CheckpointError(f"{directory}: weights do not match config.json ({exc}); the checkpoint is damaged") from exc
        return cls(model.to(device), stats, meta, device)

    def infer(self, obs: Observation, request: ChunkRequest) -> np.ndarray:
        import torch

        from policies.flow import sample_chunk
        from policies.windows import resize_image

        with self._lock:
            dev = self.device
            state = torch.as_tensor(self.stats.normalize_state(np.asarray(obs.state, dtype=np.float64)),
                                    dtype=torch.float32, device=dev)[None]
            ids = torch.as_tensor(encode_instruction(obs.instruction, self.meta.model.instruction_buckets), device=dev)[None]
            images = None
            if self.cameras:
                missing = [c for c in self.cameras if c not in obs.images]
                if missing:
                    raise CheckpointError(f"the policy needs camera image(s) {missing}; enable them on the robot")
                for c in self.cameras:
                    trained = self.camera_shapes.get(c)
                    if self.image_crop and trained and obs.images[c].shape[:2] != trained:
                        raise CheckpointError(
                            f"camera '{c}' sends {obs.images[c].shape[1]}x{obs.images[c].shape[0]} px frames but the "
                            f"policy was trained with a crop of {trained[1]}x{trained[0]} px frames; set the camera "
                            "to that size"
                        )
                images = torch.as_tensor(np.stack([resize_image(obs.images[c], self.image_size, self.image_crop)
                                                   for c in self.cameras]),
                                         device=dev)[None]
            gen = torch.Generator(device=dev).manual_seed(int(request.seed))
            prefix = guide = weights = None
            if request.prefix is not None and len(request.prefix):
                prefix = torch.as_tensor(self.stats.normalize_action(np.asarray(request.prefix, np.float64)),
                                         dtype=torch.float32, device=dev)[None]
            if request.guide is not None:
                guide = torch.as_tensor(self.stats.normalize_action(np.asarray(request.guide, np.float64)),
                                        dtype=torch.float32, device=dev)[None]
                weights = torch.as_tensor(request.guide_weights, dtype=torch.float32, device=dev)
            with torch.no_grad():
                ctx = self.model.encode_context(state, ids, images)
            z = sample_chunk(self.model, ctx, request.steps, request.mode, prefix, guide, weights,
                             request.max_guidance, gen)
            return self.stats.denormalize_action(z[0].double().cpu().numpy())
