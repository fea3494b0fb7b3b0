"""Simulated tasks in the spirit of the Ψ₀ tasks: scene objects, randomized starts, success predicates.

Each task adds its table and objects to the MuJoCo scene once (:meth:`Task.add_to_scene`),
places them at random for an episode (:meth:`Task.reset`) and judges the outcome from the
simulation state (:meth:`Task.success`). Object poses are in the world frame; the robot
starts at the origin facing +x.

Tasks:
    pick_place       pick a can from the table with the right hand and place it in the basket
    lift_box         lift a box from the table with both hands
    loco_pick_place  walk about 1.5 m to a table, then pick the can and place it in the basket
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from teleop.exceptions import ConfigError

if TYPE_CHECKING:
    import mujoco

    from teleop.robot.sim import MujocoSim

#: Table top height above the floor [m]: a little below the G1's elbow at the default height.
TABLE_HEIGHT = 0.74
#: Half sizes of the table top [m].
TABLE_HALF = (0.25, 0.45, 0.02)
#: Can radius and half height [m], mass [kg].
CAN_RADIUS, CAN_HALF_HEIGHT, CAN_MASS = 0.033, 0.060, 0.12
#: Basket inner half size [m], wall height [m], wall thickness [m].
BASKET_HALF, BASKET_WALL_H, BASKET_WALL_T = 0.075, 0.05, 0.006
#: Box half sizes [m] and mass [kg] for the two-hand lift.
BOX_HALF, BOX_MASS = (0.08, 0.13, 0.07), 0.10
#: Lift success: the box bottom this far above the table top [m].
LIFT_CLEARANCE = 0.06


class TaskName(str, enum.Enum):
    PICK_PLACE = "pick_place"
    LIFT_BOX = "lift_box"
    LOCO_PICK_PLACE = "loco_pick_place"


@dataclass(frozen=True)
class TaskInfo:
    """What the recorder stores about a task (episode attrs ``task`` and ``instruction``)."""

    name: str
    instruction: str


class Task(abc.ABC):
    """A manipulation task in the simulated scene."""

    name: TaskName
    instruction: str
    #: Where the table centre stands, in the world frame [m] (x forward of the robot's start).
    table_x: float = 0.47

    def info(self) -> TaskInfo:
        return TaskInfo(self.name.value, self.instruction)

    # -- scene ---------------------------------------------------------------------------
    def add_to_scene(self, spec: "mujoco.MjSpec") -> None:
        """Add the table and this task's objects (free bodies) to the scene spec."""
        table = spec.worldbody.add_body(name="table", pos=[self.table_x, 0.0, TABLE_HEIGHT - TABLE_HALF[2]])
        table.add_geom(name="table_top", type=_mj().mjtGeom.mjGEOM_BOX, size=list(TABLE_HALF),
                       rgba=[0.55, 0.4, 0.3, 1.0], friction=[1.0, 0.01, 0.001])
        leg_h = (TABLE_HEIGHT - 2 * TABLE_HALF[2]) / 2
        for i, (sx, sy) in enumerate([(1, 1), (1, -1), (-1, 1), (-1, -1)]):
            table.add_geom(name=f"table_leg{i}", type=_mj().mjtGeom.mjGEOM_BOX, size=[0.02, 0.02, leg_h],
                           pos=[sx * (TABLE_HALF[0] - 0.03), sy * (TABLE_HALF[1] - 0.03), -TABLE_HALF[2] - leg_h],
                           rgba=[0.3, 0.25, 0.2, 1.0], contype=0, conaffinity=0, group=4)
        self._add_objects(spec)

    @abc.abstractmethod
    def _add_objects(self, spec: "mujoco.MjSpec") -> None: ...

    # -- episode -------------------------------------------------------------------------
    @abc.abstractmethod
    def reset(self, sim: "MujocoSim", rng: np.random.Generator) -> None:
        """Place the objects at random (and the robot where the task starts)."""

    @abc.abstractmethod
    def success(self, sim: "MujocoSim") -> bool:
        """Whether the task is achieved in the current simulation state."""

    def object_positions(self, sim: "MujocoSim") -> dict[str, np.ndarray]:
        """World positions [m] of this task's named objects (for the scripted operator and logs)."""
        return {name: sim.body_position(name) for name in self.object_names}

    object_names: tuple[str, ...] = ()


def _mj():
    import mujoco

    return mujoco


def _held_contact() -> dict:
    """Contact softness of an object the hands hold (the hand geoms' own, see ``sim.GRASP_SOLREF``)."""
    from teleop.robot.sim import GRASP_SOLIMP, GRASP_SOLREF

    return {"solref": list(GRASP_SOLREF), "solimp": [*GRASP_SOLIMP, 0.5, 2.0]}


def _add_can(spec: "mujoco.MjSpec") -> None:
    can = spec.worldbody.add_body(name="can", pos=[0.4, -0.2, TABLE_HEIGHT + CAN_HALF_HEIGHT])
    can.add_freejoint(name="can_free")
    can.add_geom(name="can_geom", type=_mj().mjtGeom.mjGEOM_CYLINDER, size=[CAN_RADIUS, CAN_HALF_HEIGHT, 0],
                 mass=CAN_MASS, rgba=[0.85, 0.1, 0.1, 1.0], friction=[1.5, 0.02, 0.002], condim=4,
                 **_held_contact())


def _add_basket(spec: "mujoco.MjSpec") -> None:
    basket = spec.worldbody.add_body(name="basket", pos=[0.45, 0.05, TABLE_HEIGHT])
    basket.add_freejoint(name="basket_free")
    box = _mj().mjtGeom.mjGEOM_BOX
    h, t, w = BASKET_HALF, BASKET_WALL_T, BASKET_WALL_H / 2
    rgba = [0.2, 0.4, 0.85, 1.0]
    basket.add_geom(name="basket_floor", type=box, size=[h + t, h + t, t / 2], pos=[0, 0, t / 2], rgba=rgba, mass=0.15)
    for i, (px, py, sx, sy) in enumerate([(h + t / 2, 0, t / 2, h + t), (-h - t / 2, 0, t / 2, h + t),
                                          (0, h + t / 2, h, t / 2), (0, -h - t / 2, h, t / 2)]):
        basket.add_geom(name=f"basket_wall{i}", type=box, size=[sx, sy, w], pos=[px, py, t + w], rgba=rgba, mass=0.03)


def _set_free_pose(sim: "MujocoSim", body: str, pos: np.ndarray, yaw: float = 0.0) -> None:
    sim.set_free_body_pose(body, pos, np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]))


def _can_in_basket(sim: "MujocoSim") -> bool:
    can = sim.body_position("can")
    basket = sim.body_position("basket")
    d = can - basket
    inside_xy = abs(d[0]) < BASKET_HALF and abs(d[1]) < BASKET_HALF
    resting = d[2] < CAN_HALF_HEIGHT + 0.04
    return bool(inside_xy and resting and not sim.touching_hand("can"))


class PickPlace(Task):
    """Pick the can from the table with the right hand and place it in the basket."""

    name = TaskName.PICK_PLACE
    instruction = "Pick up the red can and put it in the blue basket."
    object_names = ("can", "basket")

    def _add_objects(self, spec):
        _add_can(spec)
        _add_basket(spec)

    def reset(self, sim, rng):
        x0 = self.table_x - TABLE_HALF[0]
        can = np.array([x0 + rng.uniform(0.05, 0.08), rng.uniform(-0.25, -0.19), TABLE_HEIGHT + CAN_HALF_HEIGHT])
        basket = np.array([x0 + rng.uniform(0.09, 0.11), rng.uniform(-0.05, 0.0), TABLE_HEIGHT])
        _set_free_pose(sim, "can", can)
        _set_free_pose(sim, "basket", basket)

    def success(self, sim):
        return _can_in_basket(sim)


class LiftBox(Task):
    """Lift the box from the table with both hands."""

    name = TaskName.LIFT_BOX
    instruction = "Lift the box off the table with both hands."
    object_names = ("box",)

    def _add_objects(self, spec):
        box = spec.worldbody.add_body(name="box", pos=[0.4, 0.0, TABLE_HEIGHT + BOX_HALF[2]])
        box.add_freejoint(name="box_free")
        box.add_geom(name="box_geom", type=_mj().mjtGeom.mjGEOM_BOX, size=list(BOX_HALF), mass=BOX_MASS,
                     rgba=[0.8, 0.6, 0.2, 1.0], friction=[2.0, 0.02, 0.002], condim=4, **_held_contact())

    def reset(self, sim, rng):
        x0 = self.table_x - TABLE_HALF[0]
        pos = np.array([x0 + BOX_HALF[0] + rng.uniform(0.01, 0.03), rng.uniform(-0.02, 0.02), TABLE_HEIGHT + BOX_HALF[2]])
        _set_free_pose(sim, "box", pos, yaw=float(rng.uniform(-0.1, 0.1)))

    def success(self, sim):
        bottom = sim.body_position("box")[2] - BOX_HALF[2]
        return bool(bottom > TABLE_HEIGHT + LIFT_CLEARANCE)


class LocoPickPlace(PickPlace):
    """Walk to a table about 1.5 m ahead, then pick the can and place it in the basket."""

    name = TaskName.LOCO_PICK_PLACE
    instruction = "Walk to the table, pick up the red can and put it in the blue basket."
    #: Distance the robot walks before it can reach the table [m].
    walk_distance = 1.5
    table_x = PickPlace.table_x + walk_distance


_TASKS: dict[str, type[Task]] = {t.name.value: t for t in (PickPlace, LiftBox, LocoPickPlace)}
TASK_NAMES: tuple[str, ...] = tuple(_TASKS)


def make_task(name: str) -> Task:
    """The task called ``name`` (one of :data:`TASK_NAMES`)."""
    try:
        return _TASKS[name]()
    except KeyError:
        raise ConfigError(f"unknown task '{name}'; valid tasks: {', '.join(TASK_NAMES)}") from None
