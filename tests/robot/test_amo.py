"""AMO adapter: command mapping, observation builder against hand-computed values, TorchScript stand-ins, weights."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")

from teleop.robot import amo, g1  # noqa: E402
from teleop.robot.backend import RobotState  # noqa: E402
from teleop.robot.exceptions import PolicyWeightsError  # noqa: E402

ZERO_STATS = amo.NormStats(np.zeros(12), np.ones(12), np.zeros(15), np.ones(15))


def test_command_mapping():
    cmd = g1.LowerBodyCommand(torso_rpy=(0.1, -0.2, 0.3), torso_height=0.65, vx=0.4, vy=-0.1, vyaw=0.7, target_yaw=1.2)
    c = amo.amo_commands(cmd)
    # AMO's commands[0..6] = vx, target yaw, vy, height offset from 0.75 m, torso yaw, pitch, roll
    np.testing.assert_allclose(c, [0.4, 1.2, -0.1, -0.10, 0.3, -0.2, 0.1], atol=1e-12)


def test_amo_joint_table_by_name():
    assert len(amo.AMO_JOINTS) == 23 and len(set(amo.AMO_JOINTS)) == 23
    assert amo.AMO_JOINTS[12:15] == ("waist_yaw_joint", "waist_roll_joint", "waist_pitch_joint")
    assert amo.AMO_JOINTS[15:19] == ("left_shoulder_pitch_joint", "left_shoulder_roll_joint",
                                     "left_shoulder_yaw_joint", "left_elbow_joint")
    g1.load_embodiment().indices(amo.AMO_JOINTS)  # every name exists in the model
    assert amo.OBS_DIM == 1043 and amo.N_PROPRIO == 93 and amo.N_DEMO == 17


def test_quat_to_rpy_known_rotations():
    half = 0.15
    q_roll = np.array([np.cos(half), np.sin(half), 0.0, 0.0])  # 0.3 rad about x
    np.testing.assert_allclose(amo.quat_to_rpy_wxyz(q_roll), [0.3, 0.0, 0.0], atol=1e-12)
    q_yaw = np.array([np.cos(1.0), 0.0, 0.0, np.sin(1.0)])  # 2 rad about z
    np.testing.assert_allclose(amo.quat_to_rpy_wxyz(q_yaw), [0.0, 0.0, 2.0], atol=1e-12)


def _inputs():
    q = amo.AMO_DEFAULT_Q + 0.01 * np.arange(23)
    dq = np.linspace(-1.0, 1.0, 23)
    quat = np.array([np.cos(0.5), 0.0, 0.0, np.sin(0.5)])  # yaw 1.0 rad, level
    gyro = np.array([0.4, -0.8, 1.2])
    adapter_out = np.arange(15) * 0.1
    return q, dq, quat, gyro, adapter_out


def test_observation_first_frame_by_hand():
    ob = amo.AmoObservation()
    q, dq, quat, gyro, adapter_out = _inputs()
    c = amo.amo_commands(g1.LowerBodyCommand(torso_rpy=(0.05, 0.1, 0.2), torso_height=0.70, vx=0.5, target_yaw=0.25))
    obs, extra = ob.build(c, q, dq, quat, gyro, adapter_out)
    assert obs.shape == (1043,) and extra.shape == (25 * 93,)
    p = obs[:93]
    np.testing.assert_allclose(p[0:3], [0.1, -0.2, 0.3])  # 0.25 * gyro
    np.testing.assert_allclose(p[3:5], [0.0, 0.0], atol=1e-12)  # roll, pitch
    np.testing.assert_allclose(p[5:7], [0.0, 1.0])  # standing on the first step: dyaw forced to 0
    np.testing.assert_allclose(p[7:30], 0.01 * np.arange(23), atol=1e-12)  # q - default
    np.testing.assert_allclose(p[30:53], 0.05 * dq)
    np.testing.assert_allclose(p[53:76], 0.0)  # no last action yet
    np.testing.assert_allclose(p[76:78], [1.0, 1.0])  # sin(2π·0.25) for both feet
    np.testing.assert_allclose(p[78:93], adapter_out)
    demo = obs[93:110]
    np.testing.assert_allclose(demo[:8], q[15:])
    np.testing.assert_allclose(demo[8:], [0.5, 0.0, 0.0, 0.2, 0.1, 0.05, 0.70, 0.70, 0.70], atol=1e-12)
    np.testing.assert_allclose(obs[110:113], 0.0)  # privileged part
    np.testing.assert_allclose(obs[113:], 0.0)  # empty history
    np.testing.assert_allclose(extra[-93:], p)  # the extra history ends with the current frame
    np.testing.assert_allclose(extra[:-93], 0.0)


def test_observation_second_frame_history_heading_and_last_action():
    ob = amo.AmoObservation()
    q, dq, quat, gyro, adapter_out = _inputs()
    c = amo.amo_commands(g1.LowerBodyCommand(vx=0.5, target_yaw=0.25))
    obs1, _ = ob.build(c, q, dq, quat, gyro, adapter_out)
    raw = np.full(15, 2.0)
    targets = ob.finish(raw, q)
    np.testing.assert_allclose(targets, amo.AMO_DEFAULT_Q[:15] + 0.5)
    obs2, extra2 = ob.build(c, q, dq, quat, gyro, adapter_out)
    p2 = obs2[:93]
    # walking now (|vx| >= 0.1 decided on the previous step): dyaw = yaw - target = 1.0 - 0.25
    np.testing.assert_allclose(p2[5:7], [np.sin(0.75), np.cos(0.75)], atol=1e-12)
    np.testing.assert_allclose(p2[53:68], 2.0)  # last raw action
    np.testing.assert_allclose(p2[68:76], (q[15:] - amo.AMO_DEFAULT_Q[15:]) / 0.25)
    # the history holds the previous frame last (oldest first)
    np.testing.assert_allclose(obs2[113 + 9 * 93:], obs1[:93])
    np.testing.assert_allclose(obs2[113:113 + 9 * 93], 0.0)
    np.testing.assert_allclose(extra2[-2 * 93:-93], obs1[:93])


def test_gait_phase_standing_and_walking():
    ob = amo.AmoObservation()
    q = amo.AMO_DEFAULT_Q.copy()
    stand = amo.amo_commands(g1.LowerBodyCommand(vx=0.05))
    walk = amo.amo_commands(g1.LowerBodyCommand(vx=0.3))
    for _ in range(5):
        ob.build(stand, q, np.zeros(23), np.array([1.0, 0, 0, 0]), np.zeros(3), np.zeros(15))
        ob.finish(np.zeros(15), q)
        np.testing.assert_allclose(ob.gait_phase, [0.25, 0.25])  # holds mid-stance while standing
    ob.build(walk, q, np.zeros(23), np.array([1.0, 0, 0, 0]), np.zeros(3), np.zeros(15))
    ob.finish(np.zeros(15), q)
    np.testing.assert_allclose(ob.gait_phase, [0.25, 0.75])  # feet in anti-phase when walking starts
    ob.build(walk, q, np.zeros(23), np.array([1.0, 0, 0, 0]), np.zeros(3), np.zeros(15))
    ob.finish(np.zeros(15), q)
    np.testing.assert_allclose(ob.gait_phase, [0.25 + 0.026, 0.75 + 0.026])  # 1.3 Hz · 0.02 s


def test_raw_action_is_clipped_to_40():
    ob = amo.AmoObservation()
    targets = ob.finish(np.full(15, 100.0), amo.AMO_DEFAULT_Q)
    np.testing.assert_allclose(targets, amo.AMO_DEFAULT_Q[:15] + 0.25 * 40.0)
    np.testing.assert_allclose(ob.last_action[:15], 40.0)


STANDIN_SOURCE = textwrap.dedent(
    '''
    import torch

    class Policy(torch.nn.Module):
        """Same signature as amo_jit.pt: (1, 1043), (1, 2325) -> (1, 15)."""
        def forward(self, obs: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
            # raw action k = obs[k] (the first 15 proprio values) + 1000 * (sizes wrong)
            bad = float(obs.shape[1] != 1043) + float(extra.shape[1] != 2325)
            return obs[:, 0:15] + 1000.0 * bad

    class Adapter(torch.nn.Module):
        """Same signature as adapter_jit.pt: (1, 12) -> (1, 15)."""
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([x, x[:, 0:3]], dim=1)
    '''
)


@pytest.fixture
def weights_dir(tmp_path):
    """TorchScript stand-ins with AMO's input/output shapes, and a norm-stats file of numpy arrays."""
    src = tmp_path / "standin_modules.py"
    src.write_text(STANDIN_SOURCE)
    import importlib.util

    spec = importlib.util.spec_from_file_location("standin_modules", src)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.jit.script(mod.Policy()).save(str(tmp_path / "amo_jit.pt"))
    torch.jit.script(mod.Adapter()).save(str(tmp_path / "adapter_jit.pt"))
    torch.save(
        {"input_mean": np.full(12, 0.5), "input_std": np.full(12, 2.0), "output_mean": np.full(15, 0.1),
         "output_std": np.full(15, 3.0)},
        str(tmp_path / "adapter_norm_stats.pt"),
    )
    return tmp_path


def test_policy_from_directory_runs_the_modules_with_amo_shapes(weights_dir):
    pol = amo.AmoPolicy.from_directory(weights_dir)
    assert pol.rate_hz == 50.0
    state = RobotState()
    emb = g1.load_embodiment()
    idx = emb.indices(amo.AMO_JOINTS)
    state.q[idx] = amo.AMO_DEFAULT_Q
    state.imu_gyro[:] = [0.4, 0.8, -0.4]
    pol.reset(state)
    cmd = g1.LowerBodyCommand(torso_height=0.65)
    out = pol.step(cmd, state)
    # stand-in policy: raw = first 15 proprio values = [0.25 gyro, roll, pitch, sin, cos, (q - default)[:8]]
    raw = np.array([0.1, 0.2, -0.1, 0.0, 0.0, 0.0, 1.0] + [0.0] * 8)
    np.testing.assert_allclose(out.q, amo.AMO_DEFAULT_Q[:15] + 0.25 * raw, atol=1e-6)
    np.testing.assert_allclose(out.kp, amo.AMO_KP)
    np.testing.assert_allclose(out.kd, amo.AMO_KD)
    # adapter: input normalized with (x - 0.5) / 2, output x * 3 + 0.1; first input = 0.75 + (0.65 - 0.75)
    adapter_out = pol.last_obs[78:93]
    expected0 = (0.65 - 0.5) / 2.0 * 3.0 + 0.1
    assert adapter_out[0] == pytest.approx(expected0, abs=1e-6)
    assert adapter_out[12] == pytest.approx(expected0, abs=1e-6)  # the stand-in repeats input 0 at 12


def test_missing_weights_name_the_files_and_the_source(tmp_path):
    with pytest.raises(PolicyWeightsError, match="amo_jit.pt, adapter_jit.pt, adapter_norm_stats.pt") as info:
        amo.AmoPolicy.from_directory(tmp_path)
    assert "github.com/OpenTeleVision/AMO" in str(info.value)
    assert str(tmp_path) in str(info.value)
    assert info.value.missing == amo.AMO_WEIGHT_FILES


def test_one_missing_file_is_named_alone(weights_dir):
    (weights_dir / "adapter_jit.pt").unlink()
    with pytest.raises(PolicyWeightsError, match=r"weight file\(s\) adapter_jit.pt not found") as info:
        amo.AmoPolicy.from_directory(weights_dir)
    assert info.value.missing == ("adapter_jit.pt",)


def test_norm_stats_of_the_wrong_size_are_refused():
    with pytest.raises(PolicyWeightsError, match="input_mean has shape"):
        amo.NormStats(np.zeros(11), np.ones(12), np.zeros(15), np.ones(15))
