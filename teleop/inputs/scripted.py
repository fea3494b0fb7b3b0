"""The scripted operator: OperatorFrames that perform a task the way a person in a headset would.

It plays a person of the calibration profile's size standing in the stage, wearing a
headset, wrist and waist trackers, with hand tracking and two controllers. It "sees" the
scene the way a person does (object and robot positions come from the simulation) and
plans its own motions in the robot's frame, then produces the poses *its own body* would
have — through the inverse of the calibration map — so that its demonstrations travel the
same path as a person's: OperatorFrame → calibration → IK → retargeting → safety → robot.

Like a person watching the robot, it corrects its hand position from what it sees: the
wrist target is nudged by an integral of the robot's wrist error (gain
:data:`VISUAL_SERVO_GAIN`, bounded by :data:`VISUAL_SERVO_LIMIT`).

Plans (robot base frame, times from minimum-jerk segments at :data:`HAND_SPEED`):

* ``pick_place`` — press A to engage, raise the right hand with the thumb opposed, come down
  on the can from above with the palm facing it, curl the fingers round it, lift, carry over
  the basket, open, retract.
* ``lift_box`` — both hands down on the box sides, fingers pointing down, squeeze, close the
  fingers, lift.

The person shapes each hand per phase like a person pre-shapes theirs: finger closure
(``grip``), thumb opposition/flexion (``thumb``) and the wrist orientation (``rpy``) are
interpolated along each segment and turned into the 26 OpenXR hand joints of
:class:`ik.human_hand.HumanHandPose`.
* ``loco_pick_place`` — engage, push the left stick forward until the table is in reach,
  release it, then ``pick_place``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from teleop.exceptions import ConfigError, InputDeviceError
from teleop.inputs.base import DeviceInfo, InputKind, InputSource, SourceStatus
from teleop.operator_frame import ControllerAxis, ControllerButton, OperatorFrame, Side, TrackerRole
from teleop.robot import g1
from teleop.spatial import mat_to_pose, rot_z, rpy_to_mat

if TYPE_CHECKING:
    from calibration.mapping import OperatorToRobot
    from teleop.robot.sim import MujocoSim

#: Robot-space hand speed of the plans [m/s]: an unhurried person's reach, scaled to the G1.
HAND_SPEED = 0.18
#: Visual-servo gain [1/s] and bound [m] of the operator's correction of the robot's wrist error.
VISUAL_SERVO_GAIN = 1.5
VISUAL_SERVO_LIMIT = 0.04
#: Grasp of the can by the right Dex3 hand (right wrist frame: x along the fingers, y out of
#: the palm, z toward the index finger). The wrist is held level, fingers forward, palm facing
#: left (roll, pitch, yaw in the base frame :data:`GRASP_RPY` [rad]); the hand comes down from
#: above with the thumb opposed (hanging behind the can, :data:`THUMB_APPROACH`), so that the
#: straight fingers pass beside it, then the fingers curl round its front toward the thumb.
#: Can centre in the right wrist frame at the grasp [m]: the middle of the band in which the
#: grasp holds (scripted episodes with the wrist off this point by up to ±1.5 cm in x, y or z
#: all succeed; the earlier point, 0.5 cm further back and 1.5 cm further from the palm, failed
#: at +1 cm in y). A policy trained on these demonstrations inherits that margin.
CAN_IN_HAND = np.array([0.12, 0.045, 0.012])
GRASP_RPY = np.array([0.0, 0.0, 0.0])
#: How far beside its grasp point the right wrist comes down, palm away from the can [m].
SIDE_APPROACH = 0.03
#: Finger closure the person makes at the grasp (0 open .. 1 fist) and the thumb pose during
#: the approach (0 tucked along the palm .. 1 opposed and flexed).
GRASP_CLOSURE = 1.0
THUMB_APPROACH = 1.0
GRASP_PINCH = 0.3
#: Height of the can centre above the basket's floor while carrying it over the basket [m].
CARRY_HEIGHT = 0.15
#: lift_box: how far the person pushes each palm past the box side [m] (the arm PD turns it into
#: squeeze force) and the finger closure against the box (0 open .. 1 fist).
BOX_SQUEEZE = 0.05
BOX_GRIP = 1.0
#: lift_box: the hands come down on the box sides with the fingers pointing down (wrist pitch
#: :data:`BOX_PITCH` [rad], base frame), the wrists :data:`BOX_ABOVE` [m] above the box centre and
#: :data:`BOX_REACH` [m] behind it: the palm and thumb press the upper half of the side, the
#: fingers reach down to its lower half, so that each hand holds the side at points spread over
#: its height (a level hand touches it with its fingertips alone, and the box turns out of the grasp).
BOX_PITCH = 1.4
BOX_ABOVE = 0.10
BOX_REACH = 0.0
#: Seconds the plan waits after pressing engage (the safety ramp is 2 s).
ENGAGE_WAIT = 2.4


@dataclass
class _Segment:
    """A minimum-jerk move of both wrists and the hands over ``duration`` [s]."""

    duration: float
    left: np.ndarray | None = None  # target wrist position, base frame [m] (None = keep)
    right: np.ndarray | None = None
    grip_left: float | None = None  # finger closure 0 (open) .. 1 (closed)
    grip_right: float | None = None
    thumb_left: float | None = None  # thumb 0 (tucked along the palm) .. 1 (opposed, flexed)
    thumb_right: float | None = None
    pinch_left: float | None = None  # thumb tip toward the index pad 0 .. 1 (a person's pinch)
    pinch_right: float | None = None
    rpy_left: np.ndarray | None = None  # wrist roll, pitch, yaw in the base frame [rad]; 0 = fingers forward, palms facing each other
    rpy_right: np.ndarray | None = None
    stick_y: float = 0.0  # left thumbstick forward [-1, 1]
    engage: bool = False  # press the engage button during this segment
    servo: bool = True  # correct from the robot's measured wrist position
    until: Callable[[], bool] | None = None  # for walking: keep going until this holds
    #: Carry a held object: (held object, destination object, where the held object's centre
    #: goes relative to the destination [m]). The right-hand goal is set when the segment starts,
    #: from where the person sees the object sit in the hand then (it shifts while grasping).
    carry_right: tuple[str, str, np.ndarray] | None = None
    shift_right: np.ndarray | None = None  # right-hand goal relative to where the segment starts [m]


@dataclass(frozen=True)
class ScriptedConfig:
    """Settings of the scripted operator.

    Attributes:
        task: which plan to play (``teleop.robot.tasks.TASK_NAMES``).
        tracker_noise: standard deviation of white noise on tracked positions [m] (real trackers: ~1-2 mm).
        seed: noise seed.
        hand_size: hand size factor of the person (1.0 = 19 cm hand).
    """

    task: str = "pick_place"
    tracker_noise: float = 0.0005  # [m]
    seed: int = 0
    hand_size: float = 1.0

    def __post_init__(self) -> None:
        from teleop.robot.tasks import TASK_NAMES

        if self.task not in TASK_NAMES:
            raise ConfigError(f"unknown task '{self.task}' for the scripted operator; valid tasks: {', '.join(TASK_NAMES)}")
        if not 0.0 <= self.tracker_noise <= 0.02:
            raise ConfigError(f"tracker_noise={self.tracker_noise} m must be within 0..0.02 m")


class ScriptedOperator(InputSource):
    """A simulated person performing a task (see the module docstring).

    Args:
        sim: the simulation it watches (objects, robot base and wrists).
        mapping: the calibration map of the person it plays (its body size).
        clock: the loop's clock [s] (simulation time in lock-step, ``teleop.clock.now`` in real time).
        config: :class:`ScriptedConfig`.
    """

    kind = InputKind.SCRIPTED

    def __init__(self, sim: "MujocoSim", mapping: "OperatorToRobot", clock: Callable[[], float],
                 config: ScriptedConfig | None = None):
        self.sim = sim
        self.mapping = mapping
        self.clock = clock
        self.config = config or ScriptedConfig()
        self._status = SourceStatus.IDLE
        self._rng = np.random.default_rng(self.config.seed)
        self._segments: list[_Segment] = []
        self._seg_i = 0
        self._seg_t0 = 0.0
        self._start: dict[str, np.ndarray | float] = {}
        self._servo = {"left": np.zeros(3), "right": np.zeros(3)}
        self._last_t: float | None = None
        self._rest: dict[str, np.ndarray] = {}
        self._cur = {"left": np.zeros(3), "right": np.zeros(3), "grip_left": 0.0, "grip_right": 0.0,
                     "thumb_left": 0.0, "thumb_right": 0.0, "rpy_left": np.zeros(3), "rpy_right": np.zeros(3),
                     "pinch_left": 0.0, "pinch_right": 0.0}
        self.finished = False

    # -- InputSource --------------------------------------------------------------------------
    def start(self) -> None:
        from ik.human_hand import HumanHandPose  # noqa: F401  (fail early if ik is broken)

        self._plan()
        self._status = SourceStatus.RUNNING

    def stop(self) -> None:
        self._status = SourceStatus.STOPPED

    @property
    def status(self) -> SourceStatus:
        return self._status

    def devices(self) -> list[DeviceInfo]:
        names = ("head", "left_wrist", "right_wrist", "waist", "left_hand", "right_hand", "left_controller",
                 "right_controller")
        running = self._status is SourceStatus.RUNNING
        return [DeviceInfo(name=f"scripted/{n}", role=n, tracked=running, valid=running, age_s=0.0,
                           detail=f"scripted operator, task {self.config.task}") for n in names]

    def poll(self, frame: OperatorFrame) -> bool:
        if self._status is not SourceStatus.RUNNING:
            raise InputDeviceError("the scripted operator is not started; call start() first")
        t = self.clock()
        dt = 0.0 if self._last_t is None else max(0.0, t - self._last_t)
        self._last_t = t
        self._advance(t, dt)
        self._fill(frame, t)
        return True

    # -- planning -----------------------------------------------------------------------------
    def _robot_wrist(self, side: str) -> np.ndarray:
        """The robot's measured wrist position in the base frame [m]."""
        p_world, _ = self.sim.body_pose(g1.WRIST_FRAMES[side])
        base = self.sim.robot_state()
        yaw = 2.0 * math.atan2(base.base_quat[3], base.base_quat[0])
        p = rot_z(-yaw) @ (p_world - np.array([base.base_pos[0], base.base_pos[1], 0.0]))
        return p

    def _objects_in_base(self) -> dict[str, np.ndarray]:
        st = self.sim.robot_state()
        yaw = 2.0 * math.atan2(st.base_quat[3], st.base_quat[0])
        origin = np.array([st.base_pos[0], st.base_pos[1], 0.0])
        task = self.sim.task
        names = task.object_names if task is not None else ()
        return {n: rot_z(-yaw) @ (self.sim.body_position(n) - origin) for n in names}

    def _plan(self) -> None:
        for side in g1.SIDES:
            self._rest[side] = self._robot_wrist(side)
            self._cur[side] = self._rest[side].copy()
        task = self.config.task
        segs: list[_Segment] = [_Segment(duration=ENGAGE_WAIT, engage=True, servo=False)]
        if task == "loco_pick_place":
            from teleop.robot.tasks import LocoPickPlace

            goal_x = LocoPickPlace.walk_distance
            segs.append(_Segment(duration=0.5, servo=False, stick_y=0.0))
            segs.append(_Segment(duration=30.0, stick_y=0.7, servo=False,
                                 until=lambda: self.sim.robot_state().base_pos[0] >= goal_x - 0.02))
            segs.append(_Segment(duration=1.0, stick_y=0.0, servo=False))
            self._segments = segs
            self._deferred_task = "pick_place"
        else:
            self._segments = segs
            self._deferred_task = task
        self._seg_i = 0
        self._seg_t0 = self.clock()
        self._snapshot()
        if self._deferred_task == task and task != "loco_pick_place":
            self._segments.extend(self._manipulation_plan(task))
            self._deferred_task = None

    def _manipulation_plan(self, task: str) -> list[_Segment]:
        obj = self._objects_in_base()
        rest_l, rest_r = self._rest["left"], self._rest["right"]
        segs: list[_Segment] = []

        def move(duration=None, **kw) -> None:
            segs.append(_Segment(duration=duration or 0.0, **kw))

        if task in ("pick_place", "loco_pick_place"):
            can, basket = obj["can"], obj["basket"]
            offset = -rpy_to_mat(GRASP_RPY) @ CAN_IN_HAND  # wrist relative to the can, base frame [m]
            grasp = can + offset
            above = grasp + np.array([0.0, 0.0, 0.10])
            carry = basket + np.array([0.0, 0.0, CARRY_HEIGHT]) + offset
            # Raise the hand with the thumb opposed: it hangs behind the can as the hand comes down.
            move(right=rest_r + np.array([0.0, -0.03, 0.20]), grip_right=0.0, thumb_right=THUMB_APPROACH,
                 rpy_right=GRASP_RPY, servo=False)
            # come down beside the can, palm SIDE_APPROACH away from its grasp point, then close in
            # sideways: a wrist a centimetre off in y then pushes the can a little instead of
            # landing on it from above and knocking it over
            aside = np.array([0.0, -SIDE_APPROACH, 0.0])
            move(right=above + aside + np.array([-0.04, -0.02, 0.04]))
            move(right=above + aside)
            move(right=grasp + aside)
            move(right=grasp)
            move(duration=0.5)  # settle on the grasp pose (visual servo still correcting)
            move(duration=1.0, grip_right=GRASP_CLOSURE, thumb_right=1.0, pinch_right=GRASP_PINCH, servo=False)
            move(duration=0.4, servo=False)
            move(right=grasp + np.array([0.0, 0.0, 0.12]), servo=False)
            move(right=carry, servo=False,
                 carry_right=("can", "basket", np.array([0.0, 0.0, CARRY_HEIGHT])))
            move(duration=0.8, grip_right=0.0, pinch_right=0.0, servo=False)
            move(duration=0.6, servo=False)
            move(right=carry + np.array([0.0, -0.06, 0.04]), shift_right=np.array([0.0, -0.06, 0.04]), servo=False)
            move(right=rest_r + np.array([0.0, -0.03, 0.20]), servo=False)
        elif task == "lift_box":
            from teleop.robot.tasks import BOX_HALF

            box = obj["box"]
            wy = BOX_HALF[1] + 0.045  # palm surface ~4 cm from the wrist centre
            left = box + np.array([-BOX_REACH, wy, BOX_ABOVE])
            right = box + np.array([-BOX_REACH, -wy, BOX_ABOVE])
            rpy = np.array([0.0, BOX_PITCH, 0.0])  # fingers down, palms facing each other
            move(left=rest_l + [0, 0.03, 0.20], right=rest_r + [0, -0.03, 0.20], grip_left=0.0, grip_right=0.0,
                 rpy_left=rpy, rpy_right=rpy, servo=False)
            move(left=left + [0, 0.06, 0.08], right=right + [0, -0.06, 0.08])
            move(left=left + [0, 0.05, 0], right=right + [0, -0.05, 0])
            squeeze = BOX_SQUEEZE
            move(left=left - [0, squeeze, 0], right=right + [0, squeeze, 0], servo=False)
            move(duration=0.8, grip_left=BOX_GRIP, grip_right=BOX_GRIP, servo=False)
            move(left=left - [0, squeeze, -0.11], right=right + [0, squeeze, 0.11], servo=False)
            move(duration=2.0, servo=False)
        for s in segs:
            if s.duration == 0.0:
                d = 0.0
                for side in g1.SIDES:
                    target = getattr(s, side)
                    if target is not None:
                        d = max(d, float(np.linalg.norm(target - self._cur_plan_pos(side, segs, s))))
                s.duration = max(0.6, d / HAND_SPEED)
        return segs

    def _cur_plan_pos(self, side: str, segs: list[_Segment], upto: _Segment) -> np.ndarray:
        p = self._rest[side]
        for s in segs:
            if s is upto:
                break
            if getattr(s, side) is not None:
                p = getattr(s, side)
        return p

    def _snapshot(self) -> None:
        self._start = {
            "left": self._cur["left"].copy(), "right": self._cur["right"].copy(),
            "grip_left": self._cur["grip_left"], "grip_right": self._cur["grip_right"],
            "thumb_left": self._cur["thumb_left"], "thumb_right": self._cur["thumb_right"],
            "rpy_left": self._cur["rpy_left"], "rpy_right": self._cur["rpy_right"],
            "pinch_left": self._cur["pinch_left"], "pinch_right": self._cur["pinch_right"],
        }

    # -- playback ------------------------------------------------------------------------------
    def _advance(self, t: float, dt: float) -> None:
        if self._seg_i >= len(self._segments):
            if getattr(self, "_deferred_task", None):
                self._segments.extend(self._manipulation_plan(self._deferred_task))
                self._deferred_task = None
                self._seg_t0 = t
                self._snapshot()
            else:
                self.finished = True
                return
        seg = self._segments[self._seg_i]
        tau = (t - self._seg_t0) / seg.duration if seg.duration > 0 else 1.0
        done = tau >= 1.0 if seg.until is None else (seg.until() or tau >= 1.0)
        s = min(1.0, tau)
        s = s * s * s * (10.0 - 15.0 * s + 6.0 * s * s)  # minimum jerk
        for side in g1.SIDES:
            goal = getattr(seg, side)
            if goal is not None:
                self._cur[side] = self._start[side] + s * (goal - self._start[side])
            for key in (f"grip_{side}", f"thumb_{side}", f"rpy_{side}", f"pinch_{side}"):
                goal_h = getattr(seg, key)
                if goal_h is not None:
                    self._cur[key] = self._start[key] + s * (goal_h - self._start[key])
            if seg.servo and dt > 0:
                err = self._cur[side] - self._robot_wrist(side)
                self._servo[side] = np.clip(self._servo[side] + VISUAL_SERVO_GAIN * dt * err,
                                            -VISUAL_SERVO_LIMIT, VISUAL_SERVO_LIMIT)
        if done:
            self._seg_i += 1
            self._seg_t0 = t
            self._snapshot()
            if self._seg_i < len(self._segments):
                self._aim(self._segments[self._seg_i])

    def _aim(self, seg: _Segment) -> None:
        """Set the goal of a carrying or relative segment as it starts (base frame)."""
        if seg.shift_right is not None:
            seg.right = self._cur["right"] + seg.shift_right
        if seg.carry_right is None:
            return
        held, dest, offset = seg.carry_right
        obj = self._objects_in_base()
        in_hand = obj[held] - self._robot_wrist("right")
        seg.right = obj[dest] + offset - in_hand

    def _fill(self, frame: OperatorFrame, t: float) -> None:
        from ik.human_hand import HumanHandPose, hand_joints

        m = self.mapping
        seg = self._segments[min(self._seg_i, len(self._segments) - 1)] if self._segments else None
        noise = lambda: self._rng.normal(0.0, self.config.tracker_noise, 3)  # noqa: E731
        frame.stamp = t
        T = np.eye(4)
        T[:3, 3] = m.head_base_to_stage(m.head_robot) + noise()
        T[:3, :3] = m.rotation_to_stage(np.eye(3))
        mat_to_pose(T, out=frame.head_pose)
        frame.head_valid = True
        T_waist = np.eye(4)
        T_waist[:3, 3] = m.base_to_stage(np.array([0.0, 0.0, g1.DEFAULT_TORSO_HEIGHT + 0.3])) + noise()
        T_waist[:3, :3] = m.rotation_to_stage(np.eye(3))
        mat_to_pose(T_waist, out=frame.tracker_pose[TrackerRole.WAIST])
        frame.tracker_valid[:] = False
        frame.tracker_valid[TrackerRole.WAIST] = True
        for side, role, s in (("left", TrackerRole.LEFT_WRIST, Side.LEFT), ("right", TrackerRole.RIGHT_WRIST, Side.RIGHT)):
            p_base = self._cur[side] + self._servo[side]
            T_w = np.eye(4)
            T_w[:3, :3] = m.rotation_to_stage(rpy_to_mat(self._cur[f"rpy_{side}"]))
            T_w[:3, 3] = m.base_to_stage(p_base) + noise()
            mat_to_pose(T_w, out=frame.tracker_pose[role])
            frame.tracker_valid[role] = True
            grip = float(self._cur[f"grip_{side}"])
            thumb = float(self._cur[f"thumb_{side}"])
            pose = HumanHandPose(curl=np.full(4, 0.05 + 0.95 * grip), thumb_opposition=thumb, thumb_flex=thumb,
                                 pinch=float(self._cur[f"pinch_{side}"]))
            frame.hand_joints[s] = hand_joints(side, pose, T_w, size=self.config.hand_size)
            frame.hand_valid[s] = True
        frame.controller_valid[:] = True
        frame.controller_axes[:] = 0.0
        frame.controller_buttons[:] = False
        if seg is not None:
            frame.controller_axes[Side.LEFT, ControllerAxis.THUMBSTICK_Y] = seg.stick_y
            frame.controller_buttons[Side.RIGHT, ControllerButton.PRIMARY] = seg.engage and self._seg_i == 0 and (
                t - self._seg_t0 < 0.3)
        for s in (Side.LEFT, Side.RIGHT):
            frame.controller_pose[s] = frame.tracker_pose[TrackerRole.LEFT_WRIST if s == Side.LEFT else TrackerRole.RIGHT_WRIST]
