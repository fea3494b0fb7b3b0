"""``kill -9`` (of the teleop process, the writer process, or both) while recording: earlier
episodes intact, the interrupted one recoverable to within 1 s of its last row."""

from __future__ import annotations

import pytest

from tests.recorder.crash_child import run_kill_trials


@pytest.mark.slow
def test_kill_9_during_recording(tmp_path):
    trials = run_kill_trials(tmp_path / "ds", n_kills=3, seed=7)
    assert trials.failures == []
    assert trials.kills == 3
    assert trials.earlier_total >= 1 and trials.earlier_valid == trials.earlier_total
    assert trials.interrupted >= 1
    assert max(trials.loss_s) <= 1.0
    # one trial of each: the teleop process, the writer process, both
    assert sorted(trials.loss_by_mode) == ["both", "teleop", "writer"]
    # with only the teleop process killed, its writer process wrote every row it had been handed
    teleop = [d for d in trials.interrupted_detail if d[1] == "teleop"]
    assert len(teleop) >= 1 and trials.fully_written == len(teleop), trials.interrupted_detail
