"""Training windows from recorded episodes: (images, state, instruction) -> action chunk.

A window starts at row t of an episode and holds

    state      s_t                              (32,)   normalised
    actions    a_t, a_{t+1}, ..., a_{t+H-1}     (H, 36) normalised; rows past the end of the
                                                         episode (or of the selected segment)
                                                         repeat its last action
    images     the latest frame at or before row t of each configured camera
               (n_cam, 3, h, w) uint8, cropped (``image_crop``) and resized
    instruction the episode's instruction as hashed word ids (policies.instruction)

Episodes are selected from their annotations (:func:`select_episodes`: finished and not
deleted, optionally successful only, of given tasks, rows inside segments with given
labels, inside the ``trim`` range) and split into training and validation sets by episode
(:func:`split_episodes`), never by row, so validation windows come from unseen episodes.
States and actions of every selected episode are held in memory (36 floats per row:
a 50-episode dataset is a few MB). Camera frames are decoded, cropped and resized once and
kept in memory when they fit in :data:`IMAGE_CACHE_BYTES` (50 episodes of one 30 Hz camera
at 80x128 px: ~0.6 GB), else decoded on demand for every batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from policies.config import WindowConfig
from policies.exceptions import DatasetWindowError
from policies.instruction import encode_instruction
from policies.normalization import NormStats
from teleop.robot import g1

if TYPE_CHECKING:
    import torch

    from recorder import Dataset, EpisodeInfo

log = logging.getLogger(__name__)

#: Largest size of the in-memory cache of prepared camera frames [bytes]; above it frames are
#: decoded for every batch (slow: a JPEG decode and a resize per image).
IMAGE_CACHE_BYTES = 4 << 30


@dataclass(frozen=True)
class Span:
    """A contiguous range of rows ``[start, stop)`` of one episode that windows start in."""

    episode_id: str
    start: int
    stop: int
    instruction: str
    task: str


def open_dataset(location: Any) -> "Dataset":
    """The recorder dataset at ``location`` (path or URL), read only."""
    from recorder import Dataset

    return Dataset.open(location, read_only=True)


def select_episodes(dataset: "Dataset", config: WindowConfig) -> list["EpisodeInfo"]:
    """Finished, non-deleted episodes that pass the annotation filters of ``config``."""
    out = []
    for info in dataset.episodes():
        if not info.usable or info.n_rows < 2:
            continue
        if config.successful_only and info.success is not True:
            continue
        if config.tasks and info.task not in config.tasks:
            continue
        if config.segment_labels and not any(s.get("label") in config.segment_labels for s in info.segments):
            continue
        out.append(info)
    return out


def split_episodes(episode_ids: list[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Shuffle ``episode_ids`` with ``seed`` and hold out ``round(val_fraction * n)`` of them.

    At least one episode stays in training; with two or more episodes and a non-zero
    fraction at least one goes to validation.
    """
    ids = sorted(episode_ids)
    rng = np.random.default_rng(seed)
    rng.shuffle(ids)
    n_val = int(round(val_fraction * len(ids)))
    if val_fraction > 0 and len(ids) >= 2:
        n_val = max(1, n_val)
    n_val = min(n_val, len(ids) - 1)
    return sorted(ids[n_val:]), sorted(ids[:n_val])


def _spans(info: "EpisodeInfo", time_s: np.ndarray, config: WindowConfig) -> list[Span]:
    """Row ranges of one episode kept by the trim and segment filters."""
    keep = np.ones(len(time_s), dtype=bool)
    trim = info.attrs.get("trim")
    if trim:
        keep &= (time_s >= float(trim[0])) & (time_s <= float(trim[1]))
    if config.segment_labels:
        in_seg = np.zeros(len(time_s), dtype=bool)
        for seg in info.segments:
            if seg.get("label") in config.segment_labels:
                in_seg |= (time_s >= float(seg["start"])) & (time_s <= float(seg["end"]))
        keep &= in_seg
    spans = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], keep.astype(np.int8), [0]])))
    for lo, hi in zip(edges[0::2], edges[1::2]):
        spans.append(Span(info.episode_id, int(lo), int(hi), info.instruction, info.task))
    return spans


class WindowDataset:
    """Windows of a set of episodes, ready to batch for the trainer.

    Args:
        dataset: an open :class:`recorder.Dataset` (or a path to one).
        episode_ids: the episodes to use (all that pass :func:`select_episodes` when None).
        config: window settings.
        stats: normalisation statistics; None computes them from these episodes (do that
            for the training split and pass the result to the validation split).
        instruction_buckets: hashed vocabulary size (the model's ``instruction_buckets``).
        cache_images: keep the prepared frames in memory (None: when they fit in :data:`IMAGE_CACHE_BYTES`).
    Raises:
        DatasetWindowError: no window survives the filters, or a stream has the wrong width.
    """

    def __init__(
        self,
        dataset: "Dataset | str | Path",
        episode_ids: list[str] | None,
        config: WindowConfig,
        stats: NormStats | None = None,
        instruction_buckets: int = 1024,
        cache_images: bool | None = None,
    ):
        self.dataset = dataset if hasattr(dataset, "episodes") else open_dataset(dataset)
        self.config = config
        infos = {i.episode_id: i for i in select_episodes(self.dataset, config)}
        if episode_ids is None:
            episode_ids = sorted(infos)
        missing = [e for e in episode_ids if e not in infos]
        if missing:
            raise DatasetWindowError(
                f"episodes {missing[:5]} are not usable under the filters {config}; "
                "check their status and annotations in the annotation app"
            )
        self.episode_ids = list(episode_ids)
        self._readers: dict[str, Any] = {}
        self._frame_rows: dict[str, dict[str, np.ndarray]] = {}
        self.spans: list[Span] = []
        states, actions_padded, offsets, lengths, rows_per_span = [], [], [], [], []
        shapes: dict[str, set[tuple[int, int]]] = {}
        total = 0
        H = config.horizon
        for eid in self.episode_ids:
            reader = self.dataset.episode(eid)
            self._readers[eid] = reader
            state = reader.read("state").astype(np.float32)
            action = reader.read("action").astype(np.float32)
            if state.shape[1:] != (g1.STATE_DIM,) or action.shape[1:] != (g1.ACTION_DIM,):
                raise DatasetWindowError(
                    f"episode {eid}: state {state.shape} / action {action.shape} do not have the "
                    f"{g1.STATE_DIM} / {g1.ACTION_DIM} values of DESIGN.md; re-record or export it"
                )
            n = min(len(state), len(action))
            missing_cams = [c for c in config.cameras if c not in reader.cameras]
            if missing_cams:
                raise DatasetWindowError(
                    f"episode {eid} has no camera {missing_cams}; it records {reader.cameras or 'no camera'}. "
                    "Train state-only (no --camera) or record with that camera"
                )
            if config.cameras:
                self._frame_rows[eid] = {c: _latest_valid_rows(reader, c, n) for c in config.cameras}
                for c in config.cameras:
                    shape = reader.attrs.get("cameras", {}).get(c, {})
                    shapes.setdefault(c, set()).add((int(shape.get("height", 0)), int(shape.get("width", 0))))
            for span in _spans(infos[eid], reader.time[:n], config):
                s = state[span.start:span.stop]
                a = action[span.start:span.stop]
                pad = np.repeat(a[-1:], H - 1, axis=0)
                states.append(s)
                actions_padded.append(np.concatenate([a, pad]))
                offsets.append(total)
                lengths.append(len(a))
                rows_per_span.append(len(a))
                total += len(a) + H - 1
                self.spans.append(span)
        if not self.spans:
            raise DatasetWindowError(
                f"no training window in {len(self.episode_ids)} episode(s) under the filters "
                f"(successful_only={config.successful_only}, tasks={list(config.tasks)}, "
                f"segments={list(config.segment_labels)}); relax the filters or annotate episodes"
            )
        mixed = {c: sorted(v) for c, v in shapes.items() if len(v) > 1}
        if mixed and config.image_crop:
            raise DatasetWindowError(
                f"the episodes record camera frames of different sizes {mixed}; an image crop is given in pixels "
                "of one frame size: train on episodes of one size, or without --image-crop"
            )
        #: camera name -> (height, width) [px] of the recorded frames (the first episode's)
        self.camera_shapes: dict[str, tuple[int, int]] = {c: sorted(v)[0] for c, v in shapes.items()}
        self._states = np.concatenate(states)  # (N, 32) raw
        self._actions = np.concatenate(actions_padded)  # (sum(T + H - 1), 36) raw
        self._raw_actions = np.concatenate([a[:n] for a, n in zip(actions_padded, lengths)])
        self._offsets = np.asarray(offsets, dtype=np.int64)
        self._lengths = np.asarray(lengths, dtype=np.int64)
        # window w -> (span index, row inside the span)
        self._span_of = np.repeat(np.arange(len(self.spans)), rows_per_span)
        self._row_of = np.concatenate([np.arange(n) for n in rows_per_span])
        self._state_start = np.concatenate([[0], np.cumsum(self._lengths)[:-1]])
        self.stats = stats or NormStats.compute(self._states, self._raw_actions, config.norm_mode)
        self._states_n = self.stats.normalize_state(self._states.astype(np.float64)).astype(np.float32)
        self._actions_n = self.stats.normalize_action(self._actions.astype(np.float64)).astype(np.float32)
        self.instruction_buckets = instruction_buckets
        self._instr = {s.instruction: encode_instruction(s.instruction, instruction_buckets) for s in self.spans}
        self._image_cache: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        if config.cameras:
            self._cache_images(cache_images)

    def __len__(self) -> int:
        return len(self._span_of)

    @property
    def instructions(self) -> list[str]:
        """Distinct instructions of the selected episodes."""
        return sorted(self._instr)

    @property
    def tasks(self) -> list[str]:
        return sorted({s.task for s in self.spans})

    def windows(self, index: np.ndarray) -> dict[str, np.ndarray]:
        """Windows ``index`` as numpy arrays (normalised state and actions, pad mask, word ids)."""
        index = np.asarray(index, dtype=np.int64)
        span = self._span_of[index]
        row = self._row_of[index]
        H = self.config.horizon
        first = self._offsets[span] + row
        chunk = self._actions_n[first[:, None] + np.arange(H)[None, :]]
        is_real = (row[:, None] + np.arange(H)[None, :]) < self._lengths[span][:, None]
        state = self._states_n[self._state_start[span] + row]
        instr = np.stack([self._instr[self.spans[s].instruction] for s in span])
        return {"state": state, "actions": chunk, "action_is_real": is_real, "instruction_ids": instr}

    def _cache_images(self, enabled: bool | None) -> None:
        """Decode and prepare every frame the windows use, once (see :data:`IMAGE_CACHE_BYTES`)."""
        h, w = self.config.image_size
        needed = {(eid, cam): np.unique(rows) for eid, by_cam in self._frame_rows.items() for cam, rows in by_cam.items()}
        n_bytes = sum(len(r) for r in needed.values()) * 3 * h * w
        if enabled is None:
            enabled = n_bytes <= IMAGE_CACHE_BYTES
            if not enabled:
                log.warning("the camera frames need %.1f GB at %dx%d px, more than the %.1f GB cache: decoding them "
                            "for every batch (slow); lower --image-size or crop", n_bytes / 1e9, w, h,
                            IMAGE_CACHE_BYTES / 1e9)
        if not enabled:
            return
        for (eid, cam), rows in needed.items():
            reader = self._readers[eid]
            lo, hi = int(rows[0]), int(rows[-1]) + 1
            frames = reader.frames(cam, lo, hi, fast=True)[rows - lo]
            self._image_cache[(eid, cam)] = (rows, prepare_images(frames, (h, w), self.config.image_crop))
        log.info("%d camera frames prepared in memory (%.0f MB)", sum(len(r) for r in needed.values()), n_bytes / 1e6)

    def images(self, index: np.ndarray) -> np.ndarray:
        """(B, n_cam, 3, h, w) uint8 frames of windows ``index``, cropped and resized to ``config.image_size``."""
        index = np.asarray(index, dtype=np.int64)
        h, w = self.config.image_size
        out = np.zeros((len(index), len(self.config.cameras), 3, h, w), dtype=np.uint8)
        for b, i in enumerate(index):
            span = self.spans[self._span_of[i]]
            row = span.start + int(self._row_of[i])
            for c, cam in enumerate(self.config.cameras):
                frame_row = int(self._frame_rows[span.episode_id][cam][row])
                cached = self._image_cache.get((span.episode_id, cam))
                if cached is not None:
                    rows, prepared = cached
                    out[b, c] = prepared[np.searchsorted(rows, frame_row)]
                else:
                    frame = self._readers[span.episode_id].frame(cam, frame_row, fast=True)
                    out[b, c] = prepare_images(frame[None], (h, w), self.config.image_crop)[0]
        return out

    def batch(self, index: np.ndarray, device: "torch.device | str" = "cpu") -> dict[str, "torch.Tensor"]:
        """Windows ``index`` as torch tensors on ``device`` (images only when cameras are configured)."""
        import torch

        arrays: dict[str, np.ndarray] = self.windows(index)
        if self.config.cameras:
            arrays["images"] = self.images(index)
        return {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in arrays.items()}

    def __getitem__(self, i: int) -> dict[str, "torch.Tensor"]:
        return {k: v[0] for k, v in self.batch(np.array([i])).items()}


def _latest_valid_rows(reader, camera: str, n: int) -> np.ndarray:
    """For each row, the latest row at or before it that has a frame of ``camera`` (cameras
    often run slower than the record rate); rows before the first frame use the first frame."""
    valid = np.asarray(reader.read(f"cameras/{camera}/valid", 0, n), dtype=bool)
    if not valid.any():
        raise DatasetWindowError(
            f"episode {reader.episode_id} has no valid frame of camera '{camera}'; train state-only or drop the episode"
        )
    rows = np.where(valid, np.arange(len(valid)), -1)
    rows = np.maximum.accumulate(rows)
    rows[rows < 0] = int(np.argmax(valid))
    return rows


def prepare_images(rgb: np.ndarray, size: tuple[int, int], crop: tuple[int, ...] = ()) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB frames -> (N, 3, h, w) uint8: cut out ``crop`` (top, left, height,
    width) [px] when given, then area-average (antialiased bilinear) to ``size`` (h, w) [px].

    The same function prepares the training frames and the robot's frames at inference.

    Raises:
        DatasetWindowError: the crop does not fit inside the frames.
    """
    import torch
    import torch.nn.functional as F

    rgb = np.asarray(rgb)
    if crop:
        top, left, ch, cw = (int(v) for v in crop)
        if top + ch > rgb.shape[1] or left + cw > rgb.shape[2]:
            raise DatasetWindowError(
                f"image crop (top={top}, left={left}, height={ch}, width={cw}) does not fit in "
                f"{rgb.shape[2]}x{rgb.shape[1]} px frames; choose a crop inside the frame"
            )
        rgb = rgb[:, top:top + ch, left:left + cw]
    h, w = size
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(0, 3, 1, 2)
    if x.shape[-2:] != (h, w):
        x = F.interpolate(x.float(), size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        x = x.round().clamp(0, 255).to(torch.uint8)
    return x.numpy()


def resize_image(rgb: np.ndarray, size: tuple[int, int], crop: tuple[int, ...] = ()) -> np.ndarray:
    """One (H, W, 3) uint8 RGB frame -> (3, h, w) uint8 (:func:`prepare_images`)."""
    return prepare_images(np.asarray(rgb)[None], size, crop)[0]
