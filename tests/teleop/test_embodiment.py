"""The embodiment agrees with both model loaders, and the vector layouts round-trip."""

import mujoco
import numpy as np
import pinocchio as pin
import pytest

from teleop.exceptions import EmbodimentError
from teleop.robot import g1


@pytest.fixture(scope="module")
def models():
    return g1.load_mujoco_model(), g1.load_pinocchio_model()


def test_joint_names_and_limits_agree(models):
    m, pm = models
    emb = g1.load_embodiment()
    assert tuple(pm.names[2:]) == g1.MODEL_JOINTS
    assert len(g1.BODY_JOINTS) == 29 and len(g1.HAND_JOINTS) == 14 and m.nu == 43
    for i, name in enumerate(g1.MODEL_JOINTS):
        jid = pm.getJointId(name)
        iq = pm.joints[jid].idx_q
        assert pm.lowerPositionLimit[iq] == pytest.approx(emb.q_min[i], abs=1e-9)
        assert pm.upperPositionLimit[iq] == pytest.approx(emb.q_max[i], abs=1e-9)
    assert np.all(emb.q_default >= emb.q_min) and np.all(emb.q_default <= emb.q_max)


def test_wrist_and_fingertip_frames_agree_under_random_configurations(models):
    m, pm = models
    emb = g1.load_embodiment()
    d = mujoco.MjData(m)
    pdata = pm.createData()
    rng = np.random.default_rng(0)
    frames = list(g1.WRIST_FRAMES.values()) + [f for side in g1.SIDES for f in g1.FINGERTIP_FRAMES[side].values()]
    worst = 0.0
    for _ in range(20):
        d.qpos[:3] = rng.uniform(-1, 1, 3)
        quat = rng.normal(size=4)
        d.qpos[3:7] = quat / np.linalg.norm(quat)
        q = rng.uniform(emb.q_min, emb.q_max)
        for name, v in zip(g1.MODEL_JOINTS, q):
            d.qpos[m.jnt_qposadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, name)]] = v
        mujoco.mj_kinematics(m, d)
        pin.framesForwardKinematics(pm, pdata, g1.mujoco_qpos_to_pinocchio(d.qpos))
        for f in frames:
            bid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, f)
            T = pdata.oMf[pm.getFrameId(f)]
            worst = max(worst, float(np.abs(T.translation - d.xpos[bid]).max()),
                        float(np.abs(T.rotation - d.xmat[bid].reshape(3, 3)).max()))
    assert worst < 1e-6


def test_action_and_state_layouts_round_trip():
    emb = g1.load_embodiment()
    a = emb.default_action()
    hand, arm, lower = g1.unpack_action(a)
    assert np.array_equal(g1.pack_action(hand, arm, lower), a)
    assert a[g1.ACTION_TORSO_HEIGHT] == g1.DEFAULT_TORSO_HEIGHT
    assert g1.ACTION_NAMES[g1.ACTION_LEFT_ARM.start] == "left_shoulder_pitch_joint"
    assert g1.ACTION_NAMES[g1.ACTION_RIGHT_HAND.start] == "right_hand_thumb_0_joint"
    assert len(g1.ACTION_NAMES) == 36 and len(g1.STATE_NAMES) == 32
    s = g1.pack_state(hand, arm, lower[:4])
    assert np.array_equal(g1.unpack_state(s)[1], arm)
    cmd = g1.LowerBodyCommand.from_array(lower)
    assert np.array_equal(cmd.to_array(), lower)
    with pytest.raises(EmbodimentError, match="36 values"):
        g1.unpack_action(np.zeros(35))
    with pytest.raises(EmbodimentError, match="unknown joint 'elbow'"):
        emb.index_of("elbow")
