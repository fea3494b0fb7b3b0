"""`psi-teleop demo` records episodes in the DESIGN.md schema through the whole pipeline."""

import numpy as np

from recorder import Dataset
from teleop.cli import main


def test_demo_records_an_episode_in_the_schema(tmp_path, capsys):
    path = tmp_path / "demo"
    assert main(["demo", "--episodes", "1", "--dataset", str(path), "--cameras", "head", "--camera-hz", "2"]) == 0
    out = capsys.readouterr().out
    # the summary table keeps its units (rich would read "[ms]" as a style tag and drop it)
    assert "tick p99 [ms]" in out and "joint max [rad/s]" in out and "1/1 successful" in out
    ds = Dataset.open(path)
    (info,) = ds.episodes()
    ep = ds.episode(info.episode_id)
    assert info.attrs["task"] == "pick_place" and info.attrs["status"] == "complete"
    assert info.attrs["success"] in (True, False)
    n = ep.n_rows
    assert n > 200  # ~30 Hz for several seconds
    t = ep.time
    assert np.all(np.diff(t) > 0) and np.median(np.diff(t)) == np.float64(np.median(np.diff(t)))
    assert abs(np.median(np.diff(t)) - 1 / 30) < 0.005
    assert ep.read("state").shape == (n, 32) and ep.read("action").shape == (n, 36)
    assert ep.read("state").dtype == np.float32
    act = ep.read("action")
    assert np.all(np.isfinite(act))
    # the arm moved: the operator drove the robot
    assert np.ptp(act[:, 21:28], axis=0).max() > 0.3
    assert ep.frame("head", n - 1).shape == (120, 160, 3)
