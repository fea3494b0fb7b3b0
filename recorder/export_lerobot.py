"""Export a psi-teleop dataset as a LeRobotDataset v3 through LeRobot's own dataset library.

Mapping (one LeRobot frame per recorded row)::

    state (T, 32)              -> observation.state   float32, names = DESIGN.md state layout
    action (T, 36)             -> action              float32, names = DESIGN.md action layout
    cameras/<name>/jpeg        -> observation.images.<name>   video (or image with use_videos=False)
    time (T,)                  -> timestamp
    attrs instruction or task  -> task (LeRobot's language instruction per frame)

Only usable episodes are exported (complete or recovered, not deleted, not discarded;
``success=False`` ones only with ``include_failed``), trimmed to their ``trim`` annotation.
Rows whose camera had no frame get the nearest earlier valid frame (LeRobot has no
per-frame validity); the count is logged.

Needs the optional ``lerobot`` extra (``lerobot`` >= 0.4, whose ``LeRobotDataset.create /
add_frame / save_episode / finalize`` write the v3 layout). LeRobot pins its own torch and
torchvision; install it in its own environment (see docs/recorder.md).
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recorder import schema
from recorder.exceptions import RecorderError
from recorder.reader import Dataset, EpisodeReader
from teleop.exceptions import MissingExtraError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: LeRobot dataset root, episodes and frames [rows], time taken [s]."""

    root: Path
    episodes: int
    frames: int
    seconds: float
    codebase_version: str


def _lerobot_dataset_class():
    try:
        from lerobot.datasets.lerobot_dataset import CODEBASE_VERSION, LeRobotDataset
    except ImportError as exc:
        raise MissingExtraError("lerobot", "lerobot", "Exporting to LeRobotDataset v3") from exc
    except RuntimeError as exc:  # torchvision built for another torch fails this way at import
        raise RecorderError(
            f"LeRobot is installed but cannot be imported ({exc}); it needs a torchvision built for the "
            f"installed torch. Run the export in LeRobot's own environment (see docs/recorder.md)"
        ) from exc
    return LeRobotDataset, CODEBASE_VERSION


def lerobot_features(reader: EpisodeReader, state_names: list[str], action_names: list[str],
                     use_videos: bool) -> dict[str, dict[str, Any]]:
    """The LeRobot ``features`` dict for the streams of ``reader``'s episode."""
    features: dict[str, dict[str, Any]] = {
        "observation.state": {"dtype": "float32", "shape": (len(state_names),), "names": list(state_names)},
        "action": {"dtype": "float32", "shape": (len(action_names),), "names": list(action_names)},
    }
    for cam in reader.cameras:
        shape = reader.attrs["cameras"][cam]
        features[f"observation.images.{cam}"] = {
            "dtype": "video" if use_videos else "image",
            "shape": (shape["height"], shape["width"], 3),
            "names": ["height", "width", "channels"],
        }
    return features


def _rows_to_export(reader: EpisodeReader) -> tuple[int, int]:
    trim = reader.attrs.get("trim")
    if not trim:
        return 0, reader.n_rows
    t = reader.time
    lo = int(np.searchsorted(t, float(trim[0]), side="left"))
    hi = int(np.searchsorted(t, float(trim[1]), side="right"))
    return lo, max(lo, hi)


def export_lerobot(
    location: Any,
    out: Path | str,
    repo_id: str = "local/psi_teleop",
    episode_ids: list[str] | None = None,
    include_failed: bool = False,
    use_videos: bool = True,
    progress: bool = True,
) -> ExportResult:
    """Write the usable episodes of the dataset at ``location`` as a LeRobotDataset v3 in ``out``.

    Raises:
        MissingExtraError: LeRobot is not installed.
        RecorderError: ``out`` exists, no episode qualifies, or episodes disagree on their streams.
    """
    LeRobotDataset, codebase_version = _lerobot_dataset_class()
    out = Path(out)
    if out.exists():
        raise RecorderError(f"{out} already exists; LeRobot writes a new dataset: choose a new --out directory")
    ds = Dataset.open(location, read_only=True)
    infos = [e for e in ds.episodes() if e.usable and (include_failed or e.success is not False)]
    if episode_ids:
        wanted = set(episode_ids)
        infos = [e for e in infos if e.episode_id in wanted]
        missing = wanted - {e.episode_id for e in infos}
        if missing:
            raise RecorderError(f"episodes {sorted(missing)} are not usable for export (missing, deleted, "
                                f"discarded, interrupted or failed); see `psi-teleop dataset list`")
    if not infos:
        raise RecorderError("no usable episode to export (complete or recovered, not deleted, not failed)")
    state_names = list(ds.attrs.get("state_names") or [f"state_{i}" for i in range(32)])
    action_names = list(ds.attrs.get("action_names") or [f"action_{i}" for i in range(36)])
    first = ds.episode(infos[0].episode_id)
    features = lerobot_features(first, state_names, action_names, use_videos)
    fps = int(round(ds.record_hz))
    t_start = time.perf_counter()
    # LeRobot adds its default features (timestamp, frame_index, ...) and video info to the dict it
    # is given: hand it a copy, so ``features`` stays the reference every episode is checked against.
    lr = LeRobotDataset.create(
        repo_id=repo_id, fps=fps, features=copy.deepcopy(features), root=out, robot_type=schema.ROBOT, use_videos=use_videos,
        image_writer_threads=4,
    )
    iterator = infos
    if progress:
        from tqdm import tqdm

        iterator = tqdm(infos, desc="exporting episodes", unit="episode")
    frames = 0
    try:
        for info in iterator:
            reader = ds.episode(info.episode_id)
            if lerobot_features(reader, state_names, action_names, use_videos) != features:
                raise RecorderError(
                    f"episode {info.episode_id} has other cameras or sizes than {infos[0].episode_id}; "
                    f"export them separately with --episode"
                )
            lo, hi = _rows_to_export(reader)
            state = reader.read(schema.STATE, lo, hi).astype(np.float32)
            action = reader.read(schema.ACTION, lo, hi).astype(np.float32)
            task = info.instruction or info.task or "teleoperation"
            last: dict[str, np.ndarray] = {}
            filled = 0
            for i in range(hi - lo):
                frame: dict[str, Any] = {"observation.state": state[i], "action": action[i], "task": task}
                for cam in reader.cameras:
                    row = lo + i
                    if reader.read(f"{schema.CAMERAS_GROUP}/{cam}/{schema.VALID}", row, row + 1)[0]:
                        last[cam] = reader.frame(cam, row)
                    elif cam in last:
                        filled += 1
                    else:
                        last[cam] = reader.frame(cam, row)  # zeros until the first frame
                        filled += 1
                    frame[f"observation.images.{cam}"] = last[cam]
                lr.add_frame(frame)
            if filled:
                log.info("%s: %d camera rows without a frame repeated the previous frame", info.episode_id, filled)
            lr.save_episode()
            frames += hi - lo
    finally:
        lr.finalize()
    return ExportResult(out, len(infos), frames, time.perf_counter() - t_start, str(codebase_version))
