"""Lower-body controllers: who realises the 8-value lower-body command.

Two kinds sit behind the simulation backend:

* :class:`KinematicBase` (the embedded default in simulation): the pelvis follows the
  command exactly — it moves at ``(vx, vy)`` in its heading frame, turns toward
  ``target_yaw``, holds ``torso_height`` — the legs are posed consistently (feet flat
  under the hips for that height) and the torso roll/pitch/yaw are realised by the waist
  joints. It never falls, so manipulation tasks need no locomotion weights.
* :class:`LowerBodyPolicy`: a learned controller (AMO, ``teleop.robot.amo``) that maps the
  command and the measured state to PD targets for the 12 leg and 3 waist joints at its own
  rate (50 Hz).
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass

import numpy as np

from teleop.exceptions import ConfigError
from teleop.robot import g1


def _clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x

#: Legs and waist, the joints a lower-body controller owns (AMO's 15 outputs, in this order).
LOWER_BODY_JOINTS: tuple[str, ...] = g1.LEG_JOINTS + g1.WAIST_JOINTS


@dataclass(frozen=True)
class LowerBodyTargets:
    """PD targets for :data:`LOWER_BODY_JOINTS` produced by a :class:`LowerBodyPolicy`."""

    q: np.ndarray  # (15,) [rad]
    kp: np.ndarray  # (15,) [N m / rad]
    kd: np.ndarray  # (15,) [N m s / rad]


class LowerBodyPolicy(abc.ABC):
    """A learned lower-body controller: command + measured state → leg and waist PD targets."""

    #: Rate the controller runs at [Hz].
    rate_hz: float = 50.0

    @abc.abstractmethod
    def reset(self, state: "object") -> None:
        """Start from the measured ``RobotState`` (clears histories)."""

    @abc.abstractmethod
    def step(self, cmd: g1.LowerBodyCommand, state: "object") -> LowerBodyTargets:
        """One control step at :attr:`rate_hz`."""


@dataclass(frozen=True)
class KinematicBaseConfig:
    """Limits of the kinematic base (what a walking controller could plausibly do)."""

    max_yaw_rate: float = 1.5  # [rad/s] turning speed toward target_yaw
    max_height_rate: float = 0.3  # [m/s] squat / stand-up speed
    max_speed: tuple[float, float] = (0.8, 0.5)  # [m/s] |vx|, |vy|

    def __post_init__(self) -> None:
        if self.max_yaw_rate <= 0 or self.max_height_rate <= 0 or min(self.max_speed) <= 0:
            raise ConfigError(f"kinematic base limits must be positive, got {self}")


class KinematicBase:
    """Pelvis pose that follows the lower-body command exactly, within rate limits.

    State: planar position ``(x, y)`` [m], heading ``yaw`` [rad], pelvis ``height`` [m].
    Each step of ``dt`` [s]::

        yaw    += clip(wrap(target_yaw - yaw), ±max_yaw_rate·dt)
        (x, y) += Rz(yaw) · (vx, vy) · dt
        height += clip(torso_height - height, ±max_height_rate·dt)

    The legs take the symmetric squat that puts the feet flat on the floor under the hips
    at that height (:meth:`leg_pose`), from a table computed once from the model's kinematics.
    """

    def __init__(self, leg_table: tuple[np.ndarray, np.ndarray], config: KinematicBaseConfig | None = None):
        self.config = config or KinematicBaseConfig()
        self._bend, self._height = leg_table  # bend angle [rad] -> pelvis height [m], height decreasing
        self.x = 0.0
        self.y = 0.0
        self.yaw = 0.0
        self.height = g1.DEFAULT_TORSO_HEIGHT
        self._h_range = (float(self._height.min()), float(self._height.max()))

    @property
    def height_range(self) -> tuple[float, float]:
        return float(self._height.min()), float(self._height.max())

    def reset(self, x: float = 0.0, y: float = 0.0, yaw: float = 0.0, height: float = g1.DEFAULT_TORSO_HEIGHT) -> None:
        self.x, self.y, self.yaw = float(x), float(y), float(yaw)
        self.height = float(np.clip(height, *self.height_range))

    def step(self, cmd: g1.LowerBodyCommand, dt: float) -> tuple[float, float]:
        """Advance by ``dt`` [s]; return the base velocity ``(vx_world, vy_world)`` [m/s] used.

        Runs at every physics step (500 Hz): plain floats, no numpy temporaries.
        """
        c = self.config
        err = (cmd.target_yaw - self.yaw + math.pi) % (2.0 * math.pi) - math.pi
        step_yaw = c.max_yaw_rate * dt
        self.yaw = (self.yaw + _clamp(err, -step_yaw, step_yaw) + math.pi) % (2.0 * math.pi) - math.pi
        vx = _clamp(cmd.vx, -c.max_speed[0], c.max_speed[0])
        vy = _clamp(cmd.vy, -c.max_speed[1], c.max_speed[1])
        cy, sy = math.cos(self.yaw), math.sin(self.yaw)
        vxw, vyw = cy * vx - sy * vy, sy * vx + cy * vy
        self.x += vxw * dt
        self.y += vyw * dt
        lo, hi = self._h_range
        step_h = c.max_height_rate * dt
        self.height += _clamp(_clamp(cmd.torso_height, lo, hi) - self.height, -step_h, step_h)
        return vxw, vyw

    def leg_pose(self) -> np.ndarray:
        """(12,) leg joint angles [rad] in :data:`g1.LEG_JOINTS` order for the current height."""
        bend = float(np.interp(self.height, self._height[::-1], self._bend[::-1]))
        one = np.array([-bend, 0.0, 0.0, 2.0 * bend, -bend, 0.0])
        return np.concatenate([one, one])


def compute_leg_table(model, n: int = 61) -> tuple[np.ndarray, np.ndarray]:
    """Pelvis height [m] with the feet flat on the floor, for symmetric squat angles ``bend`` [rad].

    For ``bend`` in [0, 1.1], the pose hip_pitch = -bend, knee = 2·bend, ankle_pitch = -bend
    keeps the sole parallel to the pelvis; the pelvis height is minus the lowest point of
    the foot collision spheres in the pelvis frame.
    """
    import mujoco

    data = mujoco.MjData(model)
    emb = g1.load_embodiment()
    jids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n_) for n_ in g1.LEG_JOINTS]
    pelvis = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, g1.PELVIS_FRAME)
    feet = [
        g for g in range(model.ngeom)
        if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_SPHERE
        and mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, model.geom_bodyid[g]).endswith("ankle_roll_link")
    ]
    bends = np.linspace(0.0, 1.1, n)
    heights = np.empty(n)
    knee_max = emb.limits(("left_knee_joint",))[1][0]
    for i, bend in enumerate(bends):
        data.qpos[:] = model.qpos0
        one = [-bend, 0.0, 0.0, min(2.0 * bend, knee_max), -bend, 0.0]
        for j, v in zip(jids, one + one):
            data.qpos[model.jnt_qposadr[j]] = v
        mujoco.mj_kinematics(model, data)
        lowest = min(data.geom_xpos[g][2] - model.geom_size[g][0] for g in feet) if feet else data.xpos[pelvis][2] - 0.79
        heights[i] = data.xpos[pelvis][2] - lowest
    return bends, heights
