"""``psi-teleop devices`` against the scripted OpenXR runtime (selected by environment variables)."""

from __future__ import annotations

import json

import pytest

from teleop.cli import build_parser, main
from teleop.exceptions import PsiTeleopError
from teleop.inputs import RuntimeUnavailableError, TrackerRoleMissingError
from tests.inputs.test_openxr_backend import RIG


def test_devices_json_lists_roles_tracking_and_rate(xr_script, capsys):
    xr_script(RIG + "at 0.1\nuntracked /user/vive_tracker_htcx/role/right_foot/input/grip/pose\n")
    assert main(["devices", "--duration", "0.3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    by_role = {d["role"]: d for d in report["devices"]}
    assert report["input"] == "openxr" and report["lost"] == ""
    assert by_role["head"]["valid"] and by_role["head"]["rate_hz"] > 0 and by_role["head"]["age_s"] < 0.3
    assert by_role["waist"]["name"] == "/user/vive_tracker_htcx/role/waist" and by_role["waist"]["tracked"]
    assert not by_role["right_ankle"]["valid"] and by_role["right_ankle"]["age_s"] is not None  # lost after 0.1 s
    assert by_role["left_wrist"]["age_s"] is None and "assign its role" in by_role["left_wrist"]["detail"]
    assert by_role["left_controller"]["detail"] == "/interaction_profiles/oculus/touch_controller"


def test_devices_tracker_override_maps_a_role(xr_script, capsys):
    xr_script(RIG)
    assert main(["devices", "--duration", "0.1", "--json", "--tracker", "waist=left_elbow"]) == 0
    by_role = {d["role"]: d for d in json.loads(capsys.readouterr().out)["devices"]}
    assert by_role["left_elbow"]["name"] == "/user/vive_tracker_htcx/role/waist" and by_role["left_elbow"]["valid"]
    assert "waist" not in by_role  # the waist role path now stands for the left elbow


def test_devices_table_and_loss(xr_script, capsys):
    xr_script(RIG + "at 0.1\nevent session_loss\n")
    assert main(["devices", "--duration", "0.3"]) == 1
    out = capsys.readouterr().out
    assert "head" in out and "session lost" in out and "restart SteamVR or Monado" in out


def _run(argv):
    parser = build_parser("devices")
    args = parser.parse_args(argv)
    return args._run(args)


def test_devices_missing_role_fails_with_the_fix(xr_script):
    xr_script(RIG)
    with pytest.raises(TrackerRoleMissingError, match="left_wrist.*Manage Vive Trackers"):
        _run(["--duration", "0.1", "--require", "left_wrist"])
    assert main(["devices", "--duration", "0.1", "--require", "left_wrist"]) == 1


def test_devices_without_runtime(monkeypatch, tmp_path):
    pytest.importorskip("xr")
    monkeypatch.setenv("XR_RUNTIME_JSON", str(tmp_path / "none.json"))
    with pytest.raises(RuntimeUnavailableError, match="No OpenXR runtime.*--input scripted"):
        _run(["--duration", "0.1"])
    assert main(["devices", "--duration", "0.1"]) == 1


def test_devices_rejects_bad_role_and_duration():
    with pytest.raises(PsiTeleopError, match="unknown tracker role 'tail'"):
        _run(["--require", "tail"])
    with pytest.raises(PsiTeleopError, match="--duration"):
        _run(["--duration", "0"])


def test_devices_builds_the_pico_source_with_serial_mapping():
    from teleop.inputs.devices_cli import _build_source
    from teleop.inputs.pico import PicoSource, PicoTrackerMode
    from teleop.operator_frame import TrackerRole

    args = build_parser("devices").parse_args(
        ["--input", "pico", "--pico-trackers", "motion_trackers", "--tracker", "PC2310ABC=waist"])
    source = _build_source(args)
    assert isinstance(source, PicoSource)
    assert source.config.tracker_mode is PicoTrackerMode.MOTION_TRACKERS
    assert source.config.trackers[0].serial == "PC2310ABC" and source.config.trackers[0].role is TrackerRole.WAIST
    with pytest.raises(PsiTeleopError, match="SERIAL=ROLE"):
        _build_source(build_parser("devices").parse_args(["--input", "pico", "--tracker", "PC2310ABC"]))
