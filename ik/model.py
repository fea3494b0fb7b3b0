"""Kinematic models for IK, built from the one G1 + Dex3 model file (``teleop.robot.g1``).

Upper body (:func:`build_upper_body_model`)::

    universe ──PZ── torso_height_joint ── pelvis ── waist_yaw ── waist_roll ── waist_pitch ── torso_link
                  (pelvis height [m])                                          ├── left arm (7)  ── left wrist
                                                                              ├── right arm (7) ── right wrist
                                                                              └── "head" frame (fixed)

Each collision capsule of :data:`CAPSULES` also gets three frames, ``capsule_<name>_p0``,
``capsule_<name>_p1`` and ``capsule_<name>_c``, at its segment's end points and centre.

The Menagerie model is loaded by :func:`teleop.robot.g1.load_pinocchio_model`; legs, hands and
the free flyer are locked by :func:`pinocchio.buildReducedModel` (legs and hands at their
default pose, the free flyer at the identity), and the result is appended below a prismatic
z joint. The universe frame of this model is the *base* (heading) frame: origin on the floor
below the pelvis, x along the pelvis heading, z up. The prismatic joint's coordinate is the
pelvis height above the floor, which is exactly the ``torso_height`` of the lower-body
command: on the robot AMO realises it by squatting (bending hips, knees and ankles) while
keeping the pelvis level, so the upper body sees a pure vertical translation of the pelvis.

Hand (:func:`build_hand_model`): the 7 Dex3-1 joints of one side, everything else locked; its
universe is the wrist frame (``g1.WRIST_FRAMES[side]``), and it gets one ``<finger>_tip``
frame per fingertip, placed at the far end of the fingertip's collision mesh.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from teleop.robot import g1

if TYPE_CHECKING:
    import pinocchio as pin

#: Name of the prismatic joint standing for the pelvis height.
HEIGHT_JOINT = "torso_height_joint"
#: Frame between the eyes, fixed on the torso (the G1 has no neck).
HEAD_FRAME = "head"
#: Position of :data:`HEAD_FRAME` in ``torso_link`` [m]: the head camera (D435) mount of the
#: G1's Unitree URDF, where the operator's eyes are mapped to.
P_TORSO_HEAD = np.array([0.0576, 0.0, 0.4299])
#: Frames of the elbows (origin on the elbow axis), for elbow hints and tests.
ELBOW_FRAMES = {"left": "left_elbow_link", "right": "right_elbow_link"}
#: IK joint order: height, the three waist joints, then the 14 arm joints.
UPPER_BODY_JOINTS: tuple[str, ...] = (HEIGHT_JOINT,) + g1.WAIST_JOINTS + g1.ARM_JOINTS
#: Fingertips of the Dex3-1, in the order the hand retargeter uses.
FINGERS = ("thumb", "index", "middle")


@dataclass(frozen=True)
class Capsule:
    """A capsule fixed on a frame: the segment ``p0``–``p1`` in the frame [m], inflated by ``radius`` [m]."""

    name: str
    frame: str
    p0: tuple[float, float, float]
    p1: tuple[float, float, float]
    radius: float


#: Collision proxies of the upper body (conservative hulls of the Menagerie meshes).
CAPSULES: tuple[Capsule, ...] = (
    Capsule("torso", g1.TORSO_FRAME, (0.0, 0.0, 0.10), (0.0, 0.0, 0.30), 0.085),
    Capsule("pelvis", g1.PELVIS_FRAME, (0.0, -0.08, -0.08), (0.0, 0.08, -0.08), 0.07),
    Capsule("left_forearm", "left_elbow_link", (0.02, 0.0, 0.0), (0.10, 0.0, 0.0), 0.035),
    Capsule("right_forearm", "right_elbow_link", (0.02, 0.0, 0.0), (0.10, 0.0, 0.0), 0.035),
    Capsule("left_hand", g1.WRIST_FRAMES["left"], (0.0, 0.0, 0.0), (0.13, 0.0, 0.0), 0.045),
    Capsule("right_hand", g1.WRIST_FRAMES["right"], (0.0, 0.0, 0.0), (0.13, 0.0, 0.0), 0.045),
)
#: Pairs that must keep apart: arm–arm and arm–body (adjacent links are not checked).
COLLISION_PAIRS: tuple[tuple[str, str], ...] = (
    ("left_hand", "right_hand"),
    ("left_hand", "right_forearm"),
    ("left_forearm", "right_hand"),
    ("left_forearm", "right_forearm"),
    ("left_hand", "torso"),
    ("right_hand", "torso"),
    ("left_hand", "pelvis"),
    ("right_hand", "pelvis"),
)


def build_upper_body_model() -> pin.Model:
    """The upper-body IK model (see the module docstring); joints in :data:`UPPER_BODY_JOINTS` order.

    Limits come from the embodiment: position limits of waist and arms from the model file
    (the waist limits are also :data:`g1.TORSO_RPY_LIMITS`), velocity limits from
    ``G1Embodiment.v_max``, the height range from :data:`g1.TORSO_HEIGHT_RANGE`.
    """
    import pinocchio as pin

    full = g1.load_pinocchio_model()
    emb = g1.load_embodiment()
    locked_names = g1.LEG_JOINTS + g1.HAND_JOINTS
    q_ref = pin.neutral(full)  # free flyer at the identity (pelvis = base origin before the height joint)
    for name in locked_names:
        jid = full.getJointId(name)
        q_ref[full.joints[jid].idx_q] = emb.q_default[emb.index_of(name)]
    locked = [1] + [full.getJointId(n) for n in locked_names]
    reduced = pin.buildReducedModel(full, locked, q_ref)

    lo, hi = g1.TORSO_HEIGHT_RANGE
    root = pin.Model()
    root.name = "g1_upper_body"
    jid = root.addJoint(
        0, pin.JointModelPZ(), pin.SE3.Identity(), HEIGHT_JOINT,
        np.array([1e3]), np.array([0.5]), np.array([lo]), np.array([hi]),
    )
    root.addJointFrame(jid)
    fid = root.addBodyFrame("height_link", jid, pin.SE3.Identity(), -1)
    model = pin.appendModel(root, reduced, fid, pin.SE3.Identity())

    for capsule in CAPSULES:  # segment end points as frames: read with the other frame placements
        parent = model.getFrameId(capsule.frame)
        centre = tuple(0.5 * (a + b) for a, b in zip(capsule.p0, capsule.p1))
        for end, p in (("p0", capsule.p0), ("p1", capsule.p1), ("c", centre)):
            model.addFrame(pin.Frame(f"capsule_{capsule.name}_{end}", model.frames[parent].parentJoint, parent,
                                     model.frames[parent].placement * pin.SE3(np.eye(3), np.array(p)),
                                     pin.FrameType.OP_FRAME))
    torso = model.getFrameId(g1.TORSO_FRAME)
    model.addFrame(pin.Frame(HEAD_FRAME, model.frames[torso].parentJoint, torso,
                             model.frames[torso].placement * pin.SE3(np.eye(3), P_TORSO_HEAD), pin.FrameType.OP_FRAME))
    names = tuple(model.names[1:])
    if names != UPPER_BODY_JOINTS:
        raise g1.EmbodimentError(f"upper-body IK model has joints {names}, expected {UPPER_BODY_JOINTS}")
    v_max = np.empty(model.nv)
    v_max[0] = TORSO_HEIGHT_SPEED
    v_max[1:] = emb.velocity_limits(UPPER_BODY_JOINTS[1:])
    model.velocityLimit = v_max
    return model


#: Fastest pelvis height change asked of the lower body [m/s] (a squat in about one second).
TORSO_HEIGHT_SPEED = 0.5


def fingertip_offsets(side: str) -> dict[str, np.ndarray]:
    """Fingertip positions in their link frames [m], from the far end of each collision mesh.

    The point is the mesh vertex farthest from the link origin, projected on the link's main
    axis (the pad centre line), so it is a property of the model file, not a guess.
    """
    import mujoco

    m = g1.load_mujoco_model()
    out: dict[str, np.ndarray] = {}
    for finger, body in g1.FINGERTIP_FRAMES[side].items():
        bid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, body)
        best = None
        for g in range(m.ngeom):
            if m.geom_bodyid[g] != bid or m.geom_type[g] != mujoco.mjtGeom.mjGEOM_MESH:
                continue
            mid = m.geom_dataid[g]
            verts = m.mesh_vert[m.mesh_vertadr[mid]: m.mesh_vertadr[mid] + m.mesh_vertnum[mid]]
            R = np.zeros(9)
            mujoco.mju_quat2Mat(R, m.geom_quat[g])
            v_link = verts @ R.reshape(3, 3).T + m.geom_pos[g]
            far = v_link[int(np.argmax(np.linalg.norm(v_link, axis=1)))]
            if best is None or np.linalg.norm(far) > np.linalg.norm(best):
                best = far
        if best is None:
            raise g1.EmbodimentError(f"{body} has no mesh in {g1.MODEL_FILE}; cannot place the {finger} tip")
        k = int(np.argmax(np.abs(best)))
        tip = np.zeros(3)
        tip[k] = best[k]
        out[finger] = tip
    return out


def build_hand_model(side: str) -> pin.Model:
    """The 7-joint Dex3-1 model of ``side`` with its root at the wrist frame and ``<finger>_tip`` frames.

    Joints are in ``g1.LEFT_HAND_JOINTS`` / ``g1.RIGHT_HAND_JOINTS`` order (the model's order).
    """
    import pinocchio as pin

    if side not in g1.SIDES:
        raise g1.EmbodimentError(f"unknown side '{side}'; valid sides: {', '.join(g1.SIDES)}")
    full = g1.load_pinocchio_model()
    hand = g1.LEFT_HAND_JOINTS if side == "left" else g1.RIGHT_HAND_JOINTS
    locked = [jid for jid in range(1, full.njoints) if full.names[jid] not in hand]
    reduced = pin.buildReducedModel(full, locked, pin.neutral(full))
    # Re-root at the wrist: express every joint placement relative to the wrist frame.
    data = reduced.createData()
    pin.framesForwardKinematics(reduced, data, pin.neutral(reduced))
    T_world_wrist = data.oMf[reduced.getFrameId(g1.WRIST_FRAMES[side])]
    model = pin.Model()
    model.name = f"dex3_{side}"
    jmap = {0: 0}
    body_frame = {0: 0}
    for jid in range(1, reduced.njoints):
        parent = reduced.parents[jid]
        placement = reduced.jointPlacements[jid]
        if parent == 0:
            placement = T_world_wrist.actInv(placement)
        jmap[jid] = model.addJoint(
            jmap[parent], reduced.joints[jid], placement, reduced.names[jid],
            reduced.effortLimit[reduced.joints[jid].idx_v: reduced.joints[jid].idx_v + 1],
            reduced.velocityLimit[reduced.joints[jid].idx_v: reduced.joints[jid].idx_v + 1],
            reduced.lowerPositionLimit[reduced.joints[jid].idx_q: reduced.joints[jid].idx_q + 1],
            reduced.upperPositionLimit[reduced.joints[jid].idx_q: reduced.joints[jid].idx_q + 1],
        )
        model.appendBodyToJoint(jmap[jid], reduced.inertias[jid], pin.SE3.Identity())
        joint_frame = model.addJointFrame(jmap[jid], body_frame[parent])
        body_frame[jid] = model.addBodyFrame(
            reduced.names[jid].replace("_joint", "_link"), jmap[jid], pin.SE3.Identity(), joint_frame)
    if tuple(model.names[1:]) != hand:
        raise g1.EmbodimentError(f"Dex3 {side} model has joints {tuple(model.names[1:])}, expected {hand}")
    for finger, p_link_tip in fingertip_offsets(side).items():
        link = g1.FINGERTIP_FRAMES[side][finger]
        fid = model.getFrameId(link)
        model.addFrame(pin.Frame(f"{finger}_tip", model.frames[fid].parentJoint, fid,
                                 pin.SE3(np.eye(3), p_link_tip), pin.FrameType.OP_FRAME))
    emb = g1.load_embodiment()
    model.velocityLimit = emb.velocity_limits(hand)
    return model
