"""The simulation: PD tracking, kinematic base, determinism, task predicates."""

import numpy as np
import pytest

from teleop.exceptions import ConfigError, RobotBackendError
from teleop.robot import g1
from teleop.robot.sim import MujocoSim, SimBackend, SimConfig
from teleop.robot.tasks import BOX_HALF, CAN_HALF_HEIGHT, LIFT_CLEARANCE, TABLE_HEIGHT


def test_same_seed_same_episode_and_different_seed_differs():
    a, b = MujocoSim(SimConfig(seed=3, cameras=())), MujocoSim(SimConfig(seed=3, cameras=()))
    c = MujocoSim(SimConfig(seed=4, cameras=()))
    for s in (a, b, c):
        s.set_joint_targets(g1.RIGHT_ARM_JOINTS, np.array([-0.5, -0.2, 0.0, 0.8, 0.0, 0.0, 0.0]))
        s.step(250)
    assert np.array_equal(a.data.qpos, b.data.qpos)
    assert np.linalg.norm(a.body_position("can") - c.body_position("can")) > 1e-3


def test_arm_tracks_pd_targets_within_a_degree():
    sim = MujocoSim(SimConfig(task=None, cameras=()))
    target = np.array([-0.4, 0.3, 0.2, 0.9, 0.1, -0.2, 0.1])
    sim.set_joint_targets(g1.LEFT_ARM_JOINTS, target)
    sim.step(1000)  # 2 s
    err = np.abs(sim.robot_state().joint(g1.LEFT_ARM_JOINTS) - target)
    assert np.degrees(err.max()) < 1.0


def test_kinematic_base_follows_the_lower_body_command():
    sim = MujocoSim(SimConfig(task=None, cameras=()))
    sim.set_lower_body_command(g1.LowerBodyCommand(torso_height=0.65, vx=0.4, target_yaw=0.5))
    sim.step(1000)  # 2 s
    st = sim.robot_state()
    assert st.base_pos[2] == pytest.approx(0.65, abs=1e-3)
    yaw = 2 * np.arctan2(st.base_quat[3], st.base_quat[0])
    assert yaw == pytest.approx(0.5, abs=1e-3)
    assert 0.6 < np.hypot(st.base_pos[0], st.base_pos[1]) < 0.8  # 0.4 m/s for 2 s, turning
    feet_z = [sim.body_position(f"{s}_ankle_roll_link")[2] for s in g1.SIDES]
    assert max(feet_z) < 0.08  # feet stay on the floor while squatting


def test_bad_commands_are_refused():
    sim = MujocoSim(SimConfig(task=None, cameras=()))
    with pytest.raises(RobotBackendError, match="NaN"):
        sim.set_joint_targets(g1.LEFT_ARM_JOINTS, np.full(7, np.nan))
    backend = SimBackend(sim=sim)
    with pytest.raises(RobotBackendError, match="refusing action"):
        backend.apply_action(np.zeros(35))
    with pytest.raises(ConfigError, match="valid cameras"):
        SimConfig(cameras=("belly",))


def test_pick_place_predicate_true_only_when_the_can_rests_in_the_basket():
    sim = MujocoSim(SimConfig(task="pick_place", seed=0, cameras=()))
    assert not sim.success()
    basket = sim.body_position("basket")
    sim.set_free_body_pose("can", basket + np.array([0, 0, CAN_HALF_HEIGHT + 0.02]), np.array([1.0, 0, 0, 0]))
    sim.step(500)
    assert sim.success()
    sim.set_free_body_pose("can", basket + np.array([0.15, 0, CAN_HALF_HEIGHT + 0.01]), np.array([1.0, 0, 0, 0]))
    sim.step(200)
    assert not sim.success()  # beside the basket


def test_lift_box_predicate():
    sim = MujocoSim(SimConfig(task="lift_box", seed=0, cameras=()))
    assert not sim.success()
    p = sim.body_position("box")
    p[2] = TABLE_HEIGHT + BOX_HALF[2] + LIFT_CLEARANCE + 0.02
    sim.set_free_body_pose("box", p, np.array([1.0, 0, 0, 0]))
    sim._mj.mj_forward(sim.model, sim.data)
    assert sim.success()


def test_loco_task_table_is_out_of_reach_at_the_start():
    sim = MujocoSim(SimConfig(task="loco_pick_place", seed=0, cameras=()))
    assert sim.body_position("can")[0] > 1.5
    assert not sim.success()


def test_head_camera_renders_the_table():
    sim = MujocoSim(SimConfig(task="pick_place", cameras=("head",), camera_size=(48, 64)))
    img = sim.render("head")
    assert img.shape == (48, 64, 3) and img.dtype == np.uint8
    # the table (orange-brown) fills the lower middle of the view
    r, g, b = img[30:46, 20:44].reshape(-1, 3).mean(axis=0)
    assert r > g > b
    sim.close()
