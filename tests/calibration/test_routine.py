"""The calibration routine on generated streams of operators with known dimensions and tracker offsets."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from calibration.exceptions import CalibrationError
from calibration.recording import CalibrationRecording, Phase
from calibration.routine import RoutineConfig, calibrate, chordal_mean
from calibration.synthetic import DEFAULT_OFFSETS, SyntheticOperator
from teleop.operator_frame import TrackerRole
from teleop.spatial import pose_to_mat, rotation_angle, rpy_to_mat, wrap_angle

ALL_ROLES = tuple(TrackerRole)


def offset_errors(profile, op: SyntheticOperator) -> dict[str, tuple[float, float]]:
    """Per role: (translation error [m], rotation error [deg]) of the calibrated ``T_tracker_body``."""
    out = {}
    for role in op.roles:
        est = pose_to_mat(profile.tracker_offset(role))
        true = pose_to_mat(np.asarray(op.offsets[role]))
        out[role.name.lower()] = (
            float(np.linalg.norm(est[:3, 3] - true[:3, 3])),
            math.degrees(rotation_angle(est[:3, :3], true[:3, :3])),
        )
    return out


@pytest.mark.parametrize(
    "op",
    [
        SyntheticOperator(roles=ALL_ROLES),
        SyntheticOperator(
            eye_height=1.55, shoulder_width=0.34, arm_length=0.52, upper_arm_length=0.27, shoulder_drop=0.2,
            head_to_shoulder_back=0.05, waist_height=0.92, yaw=-2.8, origin_xy=(-1.2, 0.7), roles=ALL_ROLES,
        ),
        SyntheticOperator(
            eye_height=1.85, shoulder_width=0.46, arm_length=0.68, upper_arm_length=0.33, shoulder_drop=0.27,
            yaw=3.1, origin_xy=(0.0, 0.0),
        ),
    ],
    ids=["average", "small-facing-back", "tall"],
)
def test_recovers_body_dimensions_and_offsets(op: SyntheticOperator):
    result = calibrate(op.record(seed=3), "alice")
    p = result.profile
    assert abs(p.arm_length - op.arm_length) < 0.02  # the bound; actually within a few mm:
    assert abs(p.arm_length - op.arm_length) < 0.003
    assert abs(p.shoulder_width - op.shoulder_width) < 0.003
    assert abs(p.eye_height - op.eye_height) < 0.002
    assert abs(p.shoulder_drop - op.shoulder_drop) < 0.003
    assert abs(p.head_to_shoulder_back - op.head_to_shoulder_back) < 0.003
    assert abs(math.degrees(wrap_angle(p.yaw_offset - op.yaw))) < 0.5
    assert np.linalg.norm(np.subtract(p.origin_xy, op.origin_xy)) < 0.002
    for role, (dp, dr) in offset_errors(p, op).items():
        assert dp < 0.01, f"{role}: {1000 * dp:.1f} mm"
        assert dr < 2.0, f"{role}: {dr:.2f} deg"
    for side in (0, 1):
        assert p.hand_open[side] == pytest.approx(op.hand_open, abs=0.003)
        assert p.hand_closed[side] == pytest.approx(op.hand_closed, abs=0.003)
    assert result.warnings == ()
    assert all(mm < 3.0 for mm in result.fit_residual_mm.values())


def test_same_stream_gives_identical_profile(tmp_path):
    rec = SyntheticOperator(roles=ALL_ROLES).record(seed=7)
    a = calibrate(rec, "bob").profile
    b = calibrate(rec, "bob").profile
    assert a == b
    path = rec.save(tmp_path / "stream.npz")
    c = calibrate(CalibrationRecording.load(path), "bob").profile
    assert c == a
    assert a.save(tmp_path / "1").read_bytes() == c.save(tmp_path / "2").read_bytes()
    assert a.created == rec.created  # not the time of the re-run


def test_minimal_routine_neutral_and_t_pose_only():
    """Without the arms-forward and hand holds the fit leans on stated assumptions; still within the bounds."""
    op = SyntheticOperator(roles=ALL_ROLES, head_to_shoulder_back=0.06)
    result = calibrate(op.record(phases=(Phase.NEUTRAL, Phase.T_POSE), seed=1), "min")
    p = result.profile
    assert abs(p.arm_length - op.arm_length) < 0.02
    assert abs(p.shoulder_width - op.shoulder_width) < 0.01
    assert p.head_to_shoulder_back == RoutineConfig().head_to_shoulder_back  # assumed, not fitted
    for role, (dp, dr) in offset_errors(p, op).items():
        assert dr < 2.0, role
        # wrists: the tracker's distance along the forearm is not observable without hand tracking
        assert dp < (0.02 if "wrist" in role else 0.01), f"{role}: {1000 * dp:.1f} mm"
    assert any("hand tracking" in w for w in result.warnings)
    assert p.hand_open == (0.10, 0.10)  # defaults kept


def test_invalid_frames_are_rejected():
    op = SyntheticOperator(roles=ALL_ROLES, dropout=0.12)  # 12 % of tracker samples invalid with garbage poses
    p = calibrate(op.record(seed=5), "drop").profile
    assert abs(p.arm_length - op.arm_length) < 0.005
    for role, (dp, dr) in offset_errors(p, op).items():
        assert dp < 0.01 and dr < 2.0, role


def test_noise_of_2mm_and_1deg_vs_4mm_and_2deg():
    """Error grows with noise but the median/mean over the hold keeps it far inside the bounds."""
    for noise_pos, noise_rot, tol in ((0.002, 1.0, 0.003), (0.004, 2.0, 0.006)):
        op = SyntheticOperator(roles=ALL_ROLES, noise_pos=noise_pos, noise_rot_deg=noise_rot)
        p = calibrate(op.record(seed=11), "n").profile
        assert abs(p.arm_length - op.arm_length) < tol
        assert max(dp for dp, _ in offset_errors(p, op).values()) < 0.01


def test_missing_wrist_tracker_names_the_role_and_the_fix():
    op = SyntheticOperator(roles=(TrackerRole.LEFT_WRIST, TrackerRole.WAIST))
    with pytest.raises(CalibrationError, match=r"right_wrist tracker was tracked in only 0% .*assign it the role 'right_wrist'"):
        calibrate(op.record(seed=0), "x")


def test_missing_optional_tracker_is_simply_not_calibrated():
    op = SyntheticOperator(roles=(TrackerRole.LEFT_WRIST, TrackerRole.RIGHT_WRIST))
    p = calibrate(op.record(seed=0), "x").profile
    assert set(p.tracker_offsets) == {"left_wrist", "right_wrist"}


def test_missing_headset_is_named():
    rec = SyntheticOperator().record(seed=0)
    for f in rec.frames[Phase.NEUTRAL]:
        f.head_valid = False
    with pytest.raises(CalibrationError, match="headset was tracked in only 0% of the neutral hold"):
        calibrate(rec, "x")


def test_moving_during_a_hold_is_rejected():
    rec = SyntheticOperator().record(seed=0, moving={Phase.T_POSE: 0.08})
    with pytest.raises(CalibrationError, match=r"moved \d+\.\d cm during the t_pose hold .*hold still"):
        calibrate(rec, "x")


def test_small_sway_is_tolerated():
    op = SyntheticOperator()
    p = calibrate(op.record(seed=0, moving={Phase.T_POSE: 0.005}), "x").profile
    assert abs(p.arm_length - op.arm_length) < 0.02


def test_missing_phase_and_short_hold():
    rec = SyntheticOperator().record(phases=(Phase.NEUTRAL, Phase.HAND_OPEN), seed=0)
    with pytest.raises(CalibrationError, match="no t_pose hold"):
        calibrate(rec, "x")
    rec = SyntheticOperator().record(phases=(Phase.NEUTRAL, Phase.T_POSE), hold_s=0.55, seed=0)
    with pytest.raises(CalibrationError, match=r"the neutral hold has 5 frames after the first 0.5 s \(need 10\)"):
        calibrate(rec, "x")


def test_wrong_pose_is_rejected():
    """Arms left hanging instead of a T-pose: the wrist trackers did not turn 90°."""
    op = SyntheticOperator()
    rec = op.record(phases=(Phase.NEUTRAL, Phase.T_POSE), seed=0)
    neutral_again = op.record(phases=(Phase.NEUTRAL,), seed=1)
    rec.frames[Phase.T_POSE] = neutral_again.frames[Phase.NEUTRAL]
    with pytest.raises(CalibrationError, match=r"left_wrist tracker turned \d+° between the neutral pose and the t_pose"):
        calibrate(rec, "x")


def test_pinch_wider_than_open_hand_is_rejected():
    op = SyntheticOperator(hand_open=0.05, hand_closed=0.06)
    with pytest.raises(CalibrationError, match="pinch .* was not narrower than the open hand"):
        calibrate(op.record(seed=0), "x")


def test_implausible_body_is_rejected_by_the_profile():
    op = SyntheticOperator(eye_height=2.5)
    with pytest.raises(CalibrationError, match=r"eye_height=2\.(49|50)\d* is outside the plausible range \[1\.0, 2\.2\] m"):
        calibrate(op.record(seed=0), "x")


def test_calibrated_mapping_puts_the_body_parts_where_they_are():
    """Through OperatorToRobot, tracker pose ∘ calibrated offset = the body part's true pose (T-pose)."""
    from calibration.mapping import OperatorToRobot

    op = SyntheticOperator(roles=ALL_ROLES, noise_pos=0.0, noise_rot_deg=0.0)
    p = calibrate(replace(op, noise_pos=0.002, noise_rot_deg=1.0).record(seed=2), "map").profile
    mapping = OperatorToRobot(p)
    frame = op.frame(Phase.T_POSE, 0.0, np.random.default_rng(0))
    T_so = np.eye(4)
    T_so[:3, :3] = rpy_to_mat(np.array([0.0, 0.0, op.yaw]))
    T_so[:2, 3] = op.origin_xy
    truth = {k: T_so @ v for k, v in op.body_poses_op(Phase.T_POSE).items()}
    for role in (TrackerRole.LEFT_WRIST, TrackerRole.RIGHT_WRIST, TrackerRole.LEFT_ELBOW, TrackerRole.WAIST):
        T = mapping.body_pose(frame, role)
        assert np.linalg.norm(T[:3, 3] - truth[role][:3, 3]) < 0.005, role
        assert math.degrees(rotation_angle(T[:3, :3], truth[role][:3, :3])) < 1.0, role
    # the T-pose wrist is at the operator's shoulder height, i.e. the robot's shoulder height after mapping
    p_base = mapping.stage_to_base(truth[TrackerRole.LEFT_WRIST][:3, 3])
    assert p_base[2] == pytest.approx(mapping.c_robot[2], abs=0.01)
    assert p_base[1] - mapping.c_robot[1] == pytest.approx(mapping.scale * (op.shoulder_width / 2 + op.arm_length), abs=0.01)


def test_chordal_mean_is_the_rotation_average():
    R0 = rpy_to_mat(np.array([0.3, -0.2, 1.0]))
    Rs = np.stack([R0 @ rpy_to_mat(np.array([d, -d, 0.0])) for d in (-0.01, 0.0, 0.01)])
    assert rotation_angle(chordal_mean(Rs), R0) < 1e-4


def test_routine_config_validation():
    with pytest.raises(CalibrationError, match=r"RoutineConfig.min_valid_fraction=0\.0 is outside"):
        RoutineConfig(min_valid_fraction=0.0)
    with pytest.raises(CalibrationError, match="settle_s=3.0 must be shorter than hold_s=2.0"):
        RoutineConfig(hold_s=2.0, settle_s=3.0)


def test_profile_json_is_valid_and_versioned(tmp_path):
    p = calibrate(SyntheticOperator().record(seed=0), "carol").profile
    data = json.loads(p.save(tmp_path).read_text())
    assert data["version"] == 1 and data["name"] == "carol"
    assert set(data["tracker_offsets"]) == {"left_wrist", "right_wrist", "waist", "left_ankle", "right_ankle"}
    assert set(DEFAULT_OFFSETS) >= {TrackerRole.parse(k) for k in data["tracker_offsets"]}
