"""DdsConfig validation and per-joint gains by name; DdsSimConfig validation."""

from __future__ import annotations

import pytest

pytest.importorskip("unitree_sdk2py")

from teleop.exceptions import ConfigError, EmbodimentError  # noqa: E402
from teleop.robot import g1  # noqa: E402
from teleop.robot.dds import DdsBackend, DdsConfig, LowerBodySource  # noqa: E402
from teleop.robot.sim_dds import DdsSimConfig  # noqa: E402


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"domain": 300}, r"domain = 300 is outside \[0, 232\]"),
        ({"interface": " "}, "interface is empty"),
        ({"command_rate_hz": 100.0}, r"command_rate_hz = 100.0 Hz is outside \[250, 1000\]"),
        ({"hand_rate_hz": 800.0}, "hand_rate_hz = 800.0"),
        ({"recover_ramp_s": -1.0}, "recover_ramp_s"),
        ({"connect_timeout_s": 0.0}, "connect_timeout_s"),
        ({"kd": {"left_elbow_joint": -1.0}}, r"kd\['left_elbow_joint'\] = -1.0"),
        ({"lower_body": "policy"}, "must be a LowerBodySource"),
    ],
)
def test_invalid_config_names_the_field(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        DdsConfig(**kwargs)


def test_unknown_joint_lists_valid_names():
    with pytest.raises(EmbodimentError, match="unknown joint 'left_pinky_joint'.*left_elbow_joint"):
        DdsConfig(kp={"left_pinky_joint": 10.0})


def test_gains_by_joint_name_with_overrides():
    emb = g1.load_embodiment()
    kp, kd = DdsConfig(kp={"right_elbow_joint": 55.0}).gains()
    assert kp[emb.index_of("left_elbow_joint")] == 80.0 and kd[emb.index_of("left_elbow_joint")] == 3.0
    assert kp[emb.index_of("left_wrist_roll_joint")] == 40.0
    assert kp[emb.index_of("right_hand_index_1_joint")] == 5.0
    assert kp[emb.index_of("right_elbow_joint")] == 55.0
    assert (kp >= 0).all() and (kd >= 0).all() and kp.shape == (len(g1.MODEL_JOINTS),)


def test_policy_source_needs_a_policy():
    with pytest.raises(ConfigError, match="no lower_body_policy was given"):
        DdsBackend(DdsConfig(lower_body=LowerBodySource.POLICY))


@pytest.mark.parametrize(
    "kwargs,match",
    [({"rate_hz": 20.0}, "rate_hz = 20.0"), ({"hand_state_rate_hz": 600.0}, "hand_state_rate_hz"),
     ({"domain": -1}, "domain"), ({"mode_machine": 256}, "mode_machine")],
)
def test_sim_config_validation(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        DdsSimConfig(**kwargs)


def test_start_without_a_robot_says_what_to_run():
    from teleop.robot.exceptions import LinkError
    from tests.robot.dds_sim_process import DOMAIN, INTERFACE

    backend = DdsBackend(DdsConfig(domain=DOMAIN, interface=INTERFACE, connect_timeout_s=0.5))
    with pytest.raises(LinkError, match=r"no robot state on rt/lowstate within 0.5 s.*psi-teleop sim --dds --domain 1"):
        backend.start()
    assert backend.link_status.value == "disconnected"
    backend.stop()  # idempotent after a failed start


def test_make_dds_backend_picks_the_lower_body_source(tmp_path):
    from teleop.robot.dds import make_dds_backend
    from teleop.robot.exceptions import PolicyWeightsError

    b = make_dds_backend(domain=1, interface="lo", hand_rate_hz=50.0)
    assert b.config.lower_body is LowerBodySource.SIMULATOR and b.policy is None
    assert b.config.hand_rate_hz == 50.0
    pytest.importorskip("torch")
    with pytest.raises(PolicyWeightsError, match="amo_jit.pt"):
        make_dds_backend(domain=0, interface="enp3s0", amo_dir=str(tmp_path))
