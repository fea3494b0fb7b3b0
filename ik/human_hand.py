"""A simple kinematic model of a human hand, producing the 26 OpenXR hand joints.

Used to generate retargeting test and benchmark data (no recorded data is downloaded) and
by the scripted operator. The hand is described in its own *canonical frame*:

* origin at the wrist joint, ``x`` from the wrist toward the middle knuckle (fingers),
* ``z`` radial (from the little finger toward the index finger, i.e. the thumb side),
* ``y = z × x``; the palm faces ``-y`` for a left hand and ``+y`` for a right hand
  (a mirrored hand in a right-handed frame).

Bone lengths are those of an adult hand of about 19 cm (wrist crease to middle tip),
multiplied by ``size``. Each long finger has a flexion ``curl ∈ [0, 1]`` spread over its
three joints (MCP 90°, PIP 100°, DIP 70° at ``curl = 1``) and a small spread angle; the
thumb has an opposition ``∈ [0, 1]`` that swings it from its rest direction (forward and
radial) across the palm, and a flexion. A *pinch* (:class:`HumanHandPose` ``pinch_finger``
and ``pinch``) blends the thumb chain so that its tip lands on the pad of the index or
middle tip (``pinch_gap`` apart, the finger-pad thickness), as a person's does.

Joint orientations follow the OpenXR convention for every joint (``-Z`` toward the
fingertips, ``+Y`` on the back of the hand), expressed with the hand's orientation (the
retargeter uses positions only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from teleop.operator_frame import N_HAND_JOINTS, HandJoint

#: Metacarpal, proximal, intermediate, distal bone lengths [m] of the long fingers.
_BONES = {
    "index": (0.068, 0.040, 0.023, 0.020),
    "middle": (0.065, 0.044, 0.027, 0.021),
    "ring": (0.060, 0.041, 0.026, 0.020),
    "little": (0.055, 0.033, 0.018, 0.018),
}
#: Lateral (z) position of each finger's knuckle [m] and its base of metacarpal.
_LATERAL = {"index": 0.022, "middle": 0.002, "ring": -0.017, "little": -0.033}
_BASE_LATERAL = {"index": 0.012, "middle": 0.002, "ring": -0.010, "little": -0.020}
#: Thumb metacarpal, proximal, distal lengths [m] and its base (CMC) in the canonical frame (palm side sign applied).
_THUMB_BONES = (0.045, 0.032, 0.025)
_THUMB_CMC = np.array([0.020, 0.010, 0.025])  # y entry is toward the palm
#: Maximum flexion of MCP, PIP, DIP [rad] at curl = 1.
_MAX_FLEX = np.radians([90.0, 100.0, 70.0])
_FINGER_JOINTS = {
    "index": (HandJoint.INDEX_METACARPAL, HandJoint.INDEX_PROXIMAL, HandJoint.INDEX_INTERMEDIATE,
              HandJoint.INDEX_DISTAL, HandJoint.INDEX_TIP),
    "middle": (HandJoint.MIDDLE_METACARPAL, HandJoint.MIDDLE_PROXIMAL, HandJoint.MIDDLE_INTERMEDIATE,
               HandJoint.MIDDLE_DISTAL, HandJoint.MIDDLE_TIP),
    "ring": (HandJoint.RING_METACARPAL, HandJoint.RING_PROXIMAL, HandJoint.RING_INTERMEDIATE,
             HandJoint.RING_DISTAL, HandJoint.RING_TIP),
    "little": (HandJoint.LITTLE_METACARPAL, HandJoint.LITTLE_PROXIMAL, HandJoint.LITTLE_INTERMEDIATE,
               HandJoint.LITTLE_DISTAL, HandJoint.LITTLE_TIP),
}
_THUMB_JOINTS = (HandJoint.THUMB_METACARPAL, HandJoint.THUMB_PROXIMAL, HandJoint.THUMB_DISTAL, HandJoint.THUMB_TIP)


@dataclass
class HumanHandPose:
    """Joint parameters of one human hand pose (all unitless in [0, 1] unless stated).

    Attributes:
        curl: (4,) flexion of index, middle, ring, little.
        spread: Finger abduction [rad] (fan of the long fingers).
        thumb_opposition: 0 = thumb forward and radial, 1 = across the palm.
        thumb_flex: Flexion of the thumb's two distal joints.
        pinch: 0..1 blend of the thumb tip toward the pad of ``pinch_finger``.
        pinch_finger: ``"index"`` or ``"middle"``.
        pinch_gap: Distance kept between the two tips at ``pinch = 1`` [m].
    """

    curl: np.ndarray
    spread: float = 0.05
    thumb_opposition: float = 0.3
    thumb_flex: float = 0.2
    pinch: float = 0.0
    pinch_finger: str = "index"
    pinch_gap: float = 0.012


def _rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _openxr_rotation(side: str) -> np.ndarray:
    """Orientation of OpenXR hand joints in the canonical frame (``-Z`` fingers, ``+Y`` dorsal)."""
    return _OPENXR_ROTATION[side]


def _make_openxr_rotation(side: str) -> np.ndarray:
    palm = -1.0 if side == "left" else 1.0  # palm normal along palm * y
    Y = np.array([0.0, -palm, 0.0])
    Z = np.array([-1.0, 0.0, 0.0])
    R = np.column_stack([np.cross(Y, Z), Y, Z])
    R.flags.writeable = False
    return R


_OPENXR_ROTATION = {side: _make_openxr_rotation(side) for side in ("left", "right")}


def hand_keypoints(side: str, pose: HumanHandPose, size: float = 1.0) -> np.ndarray:
    """Positions (26, 3) [m] of the OpenXR hand joints in the canonical hand frame."""
    if side not in ("left", "right"):
        raise ValueError(f"unknown side '{side}'; valid sides: left, right")
    palm = -1.0 if side == "left" else 1.0
    pts = np.zeros((N_HAND_JOINTS, 3))
    curl = np.clip(np.asarray(pose.curl, dtype=float), 0.0, 1.0)
    spreads = {"index": 1.0, "middle": 0.0, "ring": -1.0, "little": -2.0}
    for k, (finger, joints) in enumerate(_FINGER_JOINTS.items()):
        meta, prox, inter, dist = (size * b for b in _BONES[finger])
        base = np.array([0.03 * size, 0.0, size * _BASE_LATERAL[finger]])  # carpals ~3 cm
        knuckle = np.array([base[0] + meta, 0.0, size * _LATERAL[finger]])
        pts[joints[0]] = base
        pts[joints[1]] = knuckle
        # flexion bends toward the palm: rotation about z by palm * angle takes x toward palm * y
        direction = _rot_y(-spreads[finger] * pose.spread) @ np.array([1.0, 0.0, 0.0])
        p = knuckle.copy()
        angle = 0.0
        for j, (length, flex) in enumerate(zip((prox, inter, dist), _MAX_FLEX * curl[k])):
            angle += flex
            d = _rot_z(palm * angle) @ direction
            p = p + length * d
            pts[joints[2 + j]] = p
    pts[HandJoint.WRIST] = 0.0
    pts[HandJoint.PALM] = 0.5 * (pts[HandJoint.WRIST] + pts[HandJoint.MIDDLE_PROXIMAL])

    # Thumb: rest direction forward-radial (40° from x toward z), opposition swings it about x
    # toward the palm normal and across, flexion curls the two distal joints toward the palm.
    cmc = size * _THUMB_CMC * np.array([1.0, palm, 1.0])
    rest = np.array([np.cos(np.radians(40.0)), 0.0, np.sin(np.radians(40.0))])
    opp = np.clip(pose.thumb_opposition, 0.0, 1.0)
    swing = np.radians(80.0) * opp
    d0 = np.array([rest[0], palm * np.sin(swing) * rest[2], np.cos(swing) * rest[2]])
    d0 /= np.linalg.norm(d0)
    axis = np.array([-palm * d0[2], 0.0, palm * d0[0]])  # d0 x (0, palm, 0)
    axis /= np.linalg.norm(axis)
    chain = [cmc]
    p = cmc
    bend = 0.0
    for j, length in enumerate(size * np.array(_THUMB_BONES)):
        if j > 0:
            bend += np.radians(45.0) * np.clip(pose.thumb_flex, 0.0, 1.0)
        d = _axis_angle(axis, bend) @ d0
        p = p + length * d
        chain.append(p)
    chain = np.array(chain)  # CMC, MCP, IP, TIP
    if pose.pinch > 0.0:
        if pose.pinch_finger not in ("index", "middle"):
            raise ValueError(f"pinch_finger must be 'index' or 'middle', got {pose.pinch_finger!r}")
        tip_f = pts[_FINGER_JOINTS[pose.pinch_finger][4]]
        # the thumb pad meets the finger pad: offset toward the palm side of the finger tip
        target = tip_f + np.array([0.0, palm * pose.pinch_gap, 0.0])
        delta = (target - chain[3]) * np.clip(pose.pinch, 0.0, 1.0)
        chain = chain + np.outer([0.0, 0.35, 0.7, 1.0], delta)
    for joint, p in zip(_THUMB_JOINTS, chain):
        pts[joint] = p
    return pts


def _axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    K = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return np.eye(3) + np.sin(angle) * K + (1.0 - np.cos(angle)) * (K @ K)


def hand_joints(side: str, pose: HumanHandPose, T_world_hand: np.ndarray | None = None,
                size: float = 1.0) -> np.ndarray:
    """The 26 hand joints as rows ``[x y z qw qx qy qz]`` in the world frame of ``T_world_hand``.

    Args:
        side: ``"left"`` or ``"right"``.
        pose: Finger parameters.
        T_world_hand: 4x4 pose of the canonical hand frame (default: identity).
        size: Hand size factor (1.0 = 19 cm hand).
    """
    from teleop.spatial import mat_to_quat

    T = np.eye(4) if T_world_hand is None else np.asarray(T_world_hand, dtype=float)
    pts = hand_keypoints(side, pose, size)
    out = np.empty((N_HAND_JOINTS, 7))
    out[:, 0:3] = pts @ T[:3, :3].T + T[:3, 3]
    out[:, 3:7] = mat_to_quat(T[:3, :3] @ _openxr_rotation(side))
    return out


class HandMotionGenerator:
    """Smooth random human hand motion: finger curls, thumb and pinches as sums of sinusoids.

    Each parameter is ``0.5 + 0.5 * sum_k a_k sin(2π f_k t + φ_k)`` clipped to [0, 1], with
    3 random components per parameter between 0.1 and 1.2 Hz (human finger motion is
    mostly below 2 Hz); pinches are raised for about a third of the time. The wrist pose
    wanders slowly (a random rotation and translation), so wrist-relative processing is
    exercised. Deterministic for a given ``seed``.
    """

    def __init__(self, side: str, seed: int = 0, size: float = 1.0):
        self.side = side
        self.size = size
        rng = np.random.default_rng(seed)
        n_params = 8  # 4 curls, opposition, thumb flex, pinch, spread
        self._freq = rng.uniform(0.1, 1.2, size=(n_params, 3))
        self._phase = rng.uniform(0, 2 * np.pi, size=(n_params, 3))
        self._amp = rng.uniform(0.2, 0.5, size=(n_params, 3)) / 1.5
        self._rot_axis = rng.normal(size=3)
        self._rot_axis /= np.linalg.norm(self._rot_axis)
        self._pinch_finger_phase = rng.uniform(0, 2 * np.pi)

    def pose(self, t: float) -> HumanHandPose:
        """The hand pose at time ``t`` [s]."""
        s = 0.5 + 0.5 * np.sum(self._amp * np.sin(2 * np.pi * self._freq * t + self._phase), axis=1) * 1.5
        s = np.clip(s, 0.0, 1.0)
        pinch = float(np.clip((s[6] - 0.6) / 0.15, 0.0, 1.0))
        finger = "index" if np.sin(0.2 * t + self._pinch_finger_phase) >= 0 else "middle"
        curl = s[0:4].copy()
        if pinch > 0:  # a pinching person half-curls the pinching finger
            k = 0 if finger == "index" else 1
            curl[k] = 0.35 + 0.25 * curl[k]
        return HumanHandPose(curl=curl, spread=0.15 * s[7], thumb_opposition=s[4], thumb_flex=s[5],
                             pinch=pinch, pinch_finger=finger)

    def T_world_hand(self, t: float) -> np.ndarray:
        """A slowly wandering wrist pose at time ``t`` [s] (4x4)."""
        T = np.eye(4)
        T[:3, :3] = _axis_angle(self._rot_axis, 0.8 * np.sin(0.3 * t))
        T[:3, 3] = [0.3 + 0.05 * np.sin(0.5 * t), 0.1 * np.sin(0.4 * t), 1.0 + 0.05 * np.cos(0.3 * t)]
        return T

    def sample(self, t: float) -> np.ndarray:
        """The 26 hand joints (26, 7) at time ``t`` [s]."""
        return hand_joints(self.side, self.pose(t), self.T_world_hand(t), self.size)
