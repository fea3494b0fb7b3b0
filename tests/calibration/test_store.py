"""Profile directory, listing, history on overwrite, recording files, and the calibrate command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from calibration.exceptions import CalibrationError
from calibration.profile import CalibrationProfile
from calibration.recording import CalibrationRecording, Phase
from calibration.routine import calibrate, record_routine
from calibration.store import (
    DEFAULT_DIR,
    ENV_DIR,
    list_profiles,
    load_profile,
    profiles_dir,
    save_profile,
)
from calibration.synthetic import SyntheticOperator, SyntheticSource
from teleop.cli import build_parser, main


def test_profiles_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_DIR, raising=False)
    assert profiles_dir() == DEFAULT_DIR.expanduser()
    monkeypatch.setenv(ENV_DIR, str(tmp_path / "env"))
    assert profiles_dir() == tmp_path / "env"
    assert profiles_dir(tmp_path / "arg") == tmp_path / "arg"


def test_save_keeps_history_and_list_reports_invalid_files(tmp_path):
    first = CalibrationProfile(name="dana", arm_length=0.55, created="2026-01-01T10:00:00")
    second = CalibrationProfile(name="dana", arm_length=0.57, created="2026-01-02T10:00:00")
    save_profile(first, tmp_path)
    path = save_profile(second, tmp_path)
    assert json.loads(path.read_text())["arm_length"] == 0.57
    hist = sorted((tmp_path / "history").glob("*.json"))
    assert [h.name for h in hist] == ["dana-2026-01-01T10-00-00.json"]
    assert CalibrationProfile.load(hist[0]).arm_length == 0.55
    (tmp_path / "broken.json").write_text(json.dumps({"name": "broken", "arm_length": 3.0}))
    entries = {e.name: e for e in list_profiles(tmp_path)}
    assert entries["dana"].profile == second
    assert entries["broken"].profile is None and "arm_length=3.0 is outside" in entries["broken"].error


def test_load_profile_by_name_or_path(tmp_path):
    save_profile(CalibrationProfile(name="erin"), tmp_path)
    assert load_profile("erin", tmp_path).name == "erin"
    assert load_profile(str(tmp_path / "erin.json")).name == "erin"
    with pytest.raises(CalibrationError, match=r"no calibration profile 'frank' in .* \(profiles there: erin\)"):
        load_profile("frank", tmp_path)


def test_recording_round_trip_is_exact(tmp_path):
    rec = SyntheticOperator().record(phases=(Phase.NEUTRAL, Phase.T_POSE), hold_s=1.0, seed=4)
    back = CalibrationRecording.load(rec.save(tmp_path / "r"))
    assert back.created == rec.created and back.phases == rec.phases
    for phase in rec.phases:
        a, b = rec.frames[phase], back.frames[phase]
        assert len(a) == len(b)
        for fa, fb in zip(a, b):
            for key, value in fa.as_arrays().items():
                assert np.array_equal(value, fb.as_arrays()[key]), key


def test_recording_errors(tmp_path):
    with pytest.raises(CalibrationError, match="no calibration recording at"):
        CalibrationRecording.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(CalibrationError, match="has no 'meta' entry"):
        CalibrationRecording.load(tmp_path / "other.npz")


def test_interactive_driver_with_a_synthetic_operator():
    source = SyntheticSource(SyntheticOperator(yaw=-0.4))
    source.start()
    rec = record_routine(
        source, (Phase.NEUTRAL, Phase.T_POSE), hold_s=1.0, prepare_s=0.0, rate_hz=50.0, on_phase=source.set_phase
    )
    source.stop()
    assert rec.phases == (Phase.NEUTRAL, Phase.T_POSE)
    assert all(len(rec.frames[p]) >= 40 for p in rec.phases)  # ~50 frames per 1 s hold at 50 Hz
    p = calibrate(rec, "live").profile
    assert abs(p.arm_length - 0.60) < 0.02
    assert abs(p.yaw_offset - (-0.4)) < np.radians(1.0)


def test_calibrate_command_from_stream_is_reproducible(tmp_path):
    stream = SyntheticOperator().record(seed=9).save(tmp_path / "stream.npz")
    d = tmp_path / "profiles"
    assert main(["calibrate", "--name", "gwen", "--from-stream", str(stream), "--profiles", str(d)]) == 0
    first = (d / "gwen.json").read_bytes()
    assert main(["calibrate", "--name", "gwen", "--from-stream", str(stream), "--profiles", str(d)]) == 0
    assert (d / "gwen.json").read_bytes() == first
    assert main(["calibrate", "--list", "--profiles", str(d)]) == 0
    assert main(["calibrate", "--show", "gwen", "--profiles", str(d)]) == 0


def test_calibrate_command_reports_bad_streams(tmp_path):
    stream = SyntheticOperator(roles=()).record(phases=(Phase.NEUTRAL, Phase.T_POSE), seed=0).save(tmp_path / "s.npz")
    argv = ["--name", "h", "--from-stream", str(stream), "--profiles", str(tmp_path)]
    assert main(["calibrate", *argv]) == 1  # the CLI logs the error and exits 1
    args = build_parser("calibrate").parse_args(argv)
    with pytest.raises(CalibrationError, match="left_wrist tracker was tracked in only 0% of the neutral hold"):
        args._run(args)
    assert not Path(tmp_path / "h.json").exists()
