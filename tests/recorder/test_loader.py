"""WindowLoader: worker processes return exactly what the reader returns, in order."""

from __future__ import annotations

import os

import numpy as np
import pytest

from recorder import Dataset, DatasetWriter, RecorderError
from recorder.loader import WindowLoader
from recorder.ring import SHM_DIR, SHM_PREFIX
from tests.recorder.conftest import CAM_SHAPE, record


@pytest.fixture(scope="module")
def two_episodes(tmp_path_factory):
    import warnings

    path = tmp_path_factory.mktemp("loader") / "ds"
    with warnings.catch_warnings():  # the module-scoped fixture runs outside conftest's per-test filter
        warnings.filterwarnings("ignore", message=r"The data type \(VariableLengthBytes\(\)\) does not have")
        with DatasetWriter(path, camera_shapes={"head": CAM_SHAPE}, writer="thread") as ds:
            a = record(ds, 40, invalid_every=9)
            b = record(ds, 25)
    return path, a.episode_id, b.episode_id


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_match_the_reader(two_episodes, workers):
    path, a, b = two_episodes
    samples = [(a, 0), (b, 24), (a, 17), (b, 3), (a, 39), (a, 8)]
    loader = WindowLoader(path, samples, camera="head", state_steps=3, action_steps=5, batch_size=4,
                          workers=workers)
    batches = list(loader)
    assert [len(x["row"]) for x in batches] == [4, 2]
    ds = Dataset.open(path)
    flat = {k: np.concatenate([x[k] for x in batches]) for k in ("state", "action", "action_valid", "frames", "row")}
    assert [e for x in batches for e in x["episode"]] == [e for e, _ in samples]
    np.testing.assert_array_equal(flat["row"], [r for _, r in samples])
    for i, (eid, row) in enumerate(samples):
        r = ds.episode(eid)
        state = r.read("state")
        want = state[[max(0, j) for j in range(row - 2, row + 1)]]  # before the first row: row 0 repeated
        np.testing.assert_array_equal(flat["state"][i], want)
        action = r.read("action", row, row + 5)
        np.testing.assert_array_equal(flat["action"][i, :len(action)], action)
        np.testing.assert_array_equal(flat["action"][i, len(action):], np.repeat(action[-1:], 5 - len(action), 0))
        np.testing.assert_array_equal(flat["action_valid"][i], np.arange(5) < len(action))
        np.testing.assert_array_equal(flat["frames"][i], r.frame("head", row, fast=True))
    assert (flat["frames"][5] == 0).all()  # row 8 of episode a has no frame (invalid_every=9)
    assert not list(SHM_DIR.glob(f"{SHM_PREFIX}{os.getpid()}-0-loader*"))  # batch memory freed


def test_worker_errors_name_the_problem(two_episodes):
    path, a, _ = two_episodes
    loader = WindowLoader(path, [(a, 1), (a, 400)], camera="head", batch_size=1, workers=2)
    with pytest.raises(RecorderError, match=r"sample row 400 is outside episode episode_000000 \(0..39\)"):
        list(loader)
    assert not list(SHM_DIR.glob(f"{SHM_PREFIX}{os.getpid()}-0-loader*"))
    with pytest.raises(RecorderError, match="has no camera 'wrist'"):
        WindowLoader(path, [(a, 1)], camera="wrist")
