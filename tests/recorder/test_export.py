"""LeRobot export: the mapping onto LeRobot's dataset API, the missing-extra message, and a round trip
through the real LeRobot 0.4.4 in its own environment (when PSI_LEROBOT_PYTHON points at it).

LeRobot 0.4 (the last line for Python 3.11) cannot be imported in this environment: it needs
a torchvision built for the installed torch 2.13 CPU wheel, and PyPI only carries CUDA builds
of it (docs/recorder.md). The mapping is therefore checked against a stand-in that enforces
the same contract as ``lerobot.datasets.lerobot_dataset.LeRobotDataset`` 0.4.4: ``create``
refuses an existing root, ``add_frame`` requires every feature with its dtype and shape plus
a ``task`` string, ``save_episode`` closes an episode, ``finalize`` closes the dataset.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from recorder import Dataset, DatasetWriter, RecorderError
from recorder.export_lerobot import export_lerobot
from teleop.exceptions import MissingExtraError
from tests.recorder.conftest import CAM_SHAPE, record


class _StandInLeRobotDataset:
    instances: list["_StandInLeRobotDataset"] = []
    DEFAULT_FEATURES = {k: {"dtype": d, "shape": (1,), "names": None} for k, d in (
        ("timestamp", "float32"), ("frame_index", "int64"), ("episode_index", "int64"), ("index", "int64"),
        ("task_index", "int64"))}

    @classmethod
    def create(cls, repo_id, fps, features, robot_type=None, root=None, use_videos=True, image_writer_threads=0):
        root.mkdir(parents=True, exist_ok=False)
        obj = cls()
        obj.recorded_features = {k: dict(v) for k, v in features.items()}
        features.update(cls.DEFAULT_FEATURES)  # as LeRobot does: it adds its own to the dict it is given
        obj.repo_id, obj.fps, obj.features, obj.robot_type, obj.root = repo_id, fps, features, robot_type, root
        obj.use_videos, obj.episodes, obj.buffer, obj.finalized = use_videos, [], [], False
        cls.instances.append(obj)
        return obj

    def add_frame(self, frame: dict) -> None:
        if not isinstance(frame.get("task"), str):
            raise ValueError("frame needs a 'task' string")
        if set(frame) - {"task"} != set(self.recorded_features):
            raise ValueError(f"frame keys {sorted(frame)} != features {sorted(self.recorded_features)}")
        for key, ft in self.recorded_features.items():
            value = frame[key]
            dtype = np.uint8 if ft["dtype"] in ("video", "image") else np.dtype(ft["dtype"])
            if value.shape != tuple(ft["shape"]) or value.dtype != dtype:
                raise ValueError(f"{key}: {value.shape} {value.dtype} != {ft['shape']} {dtype}")
        self.buffer.append({k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in frame.items()})

    def save_episode(self) -> None:
        if not self.buffer:
            raise ValueError("empty episode")
        self.episodes.append(self.buffer)
        self.buffer = []

    def finalize(self) -> None:
        self.finalized = True


@pytest.fixture
def fake_lerobot(monkeypatch):
    module = types.ModuleType("lerobot.datasets.lerobot_dataset")
    module.LeRobotDataset = _StandInLeRobotDataset
    module.CODEBASE_VERSION = "v3.0"
    for name in ("lerobot", "lerobot.datasets"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "lerobot.datasets.lerobot_dataset", module)
    _StandInLeRobotDataset.instances.clear()
    return _StandInLeRobotDataset


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "ds"
    with DatasetWriter(path, camera_shapes={"head": CAM_SHAPE}) as ds:
        record(ds, 40, instruction="put the cup on the plate")
        record(ds, 20, success=False)
        record(ds, 30, invalid_every=10)
        ds.start_episode(task="x").discard("bad")
    Dataset.open(path).episode(2).update_attrs(trim=[0.1, 0.5])
    return path


def test_export_maps_usable_episodes(fake_lerobot, dataset, tmp_path):
    result = export_lerobot(dataset, tmp_path / "out", repo_id="lab/g1", progress=False)
    (lr,) = fake_lerobot.instances
    assert lr.finalized and lr.fps == 30 and lr.robot_type == "unitree_g1_dex3" and lr.repo_id == "lab/g1"
    assert lr.features["observation.state"]["shape"] == (32,)
    assert lr.features["action"]["names"][0] == Dataset.open(dataset).attrs["action_names"][0]
    assert lr.features["observation.images.head"] == {"dtype": "video", "shape": (*CAM_SHAPE, 3),
                                                      "names": ["height", "width", "channels"]}
    # the failed episode and the discarded one are left out; the trimmed one keeps 0.1..0.5 s
    assert [len(e) for e in lr.episodes] == [40, 13]
    assert (result.episodes, result.frames, result.codebase_version) == (2, 53, "v3.0")
    ep0 = lr.episodes[0]
    assert ep0[0]["task"] == "put the cup on the plate"
    np.testing.assert_allclose([f["action"][0] for f in ep0], -np.arange(40), atol=1e-5)
    trimmed = lr.episodes[1]
    np.testing.assert_allclose([f["observation.state"][0] for f in trimmed], np.arange(3, 16), atol=1e-4)
    # row 9 had no frame: the export repeats row 8's frame
    assert np.array_equal(trimmed[9 - 3]["observation.images.head"], trimmed[8 - 3]["observation.images.head"])


def test_export_include_failed_and_existing_out(fake_lerobot, dataset, tmp_path):
    result = export_lerobot(dataset, tmp_path / "out", include_failed=True, use_videos=False, progress=False)
    assert result.episodes == 3
    assert fake_lerobot.instances[0].features["observation.images.head"]["dtype"] == "image"
    with pytest.raises(RecorderError, match="already exists"):
        export_lerobot(dataset, tmp_path / "out", progress=False)
    with pytest.raises(RecorderError, match=r"episodes \['episode_000001'\] are not usable"):
        export_lerobot(dataset, tmp_path / "out2", episode_ids=["episode_000001"], progress=False)


def test_missing_lerobot_names_the_extra(dataset, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "lerobot", None)  # import lerobot -> ImportError
    with pytest.raises(MissingExtraError, match=r"pip install 'psi-teleop\[lerobot\]'"):
        export_lerobot(dataset, tmp_path / "out", progress=False)


@pytest.mark.slow
def test_round_trip_through_the_real_lerobot(tmp_path):
    """Export, then read back with LeRobot 0.4.4's own LeRobotDataset (in LeRobot's environment).

    Set PSI_LEROBOT_PYTHON to that environment's python (docs/recorder.md, "LeRobot export").
    """
    import json
    import os
    import subprocess
    from pathlib import Path

    python = os.environ.get("PSI_LEROBOT_PYTHON")
    if not python:
        pytest.skip("PSI_LEROBOT_PYTHON is not set (LeRobot lives in its own environment; docs/recorder.md)")
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([python, "-m", "tests.recorder.lerobot_roundtrip", str(tmp_path)], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result (exit {proc.returncode}): {proc.stderr[-3000:]}"
    result = json.loads(lines[-1])
    failed = [c for c in result["checks"] if not c["ok"]]
    assert result["ok"] and not failed and len(result["checks"]) >= 10, failed
    assert result["lerobot"].startswith("0.4") and result["codebase_version"] == "v3.0"
