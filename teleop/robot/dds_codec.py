"""Messages of the G1 + Dex3-1 DDS link: build, parse, check, and the wire order of the motors.

The robot speaks ``unitree_hg`` messages over CycloneDDS (via ``unitree_sdk2py``)::

    rt/lowcmd             LowCmd_    35 motor slots, slot i = G1 motor i (29 used), CRC32 at the end
    rt/lowstate           LowState_  35 motor slots + IMU, mode_pr / mode_machine, CRC32
    rt/dex3/{side}/cmd    HandCmd_   7 motors (sequence), Dex3 motor order, no CRC
    rt/dex3/{side}/state  HandState_ 7 motors + tactile sensors + hand IMU
    rt/psi/lower_body     LowerBodyCmd_ (ours, simulator only): the 8-value lower-body command

Everything else in the project uses :data:`teleop.robot.g1.MODEL_JOINTS` order. This module
is the only place that knows the motor numbering on the wire, and it maps by joint *name*
through the two tables below (:data:`G1_MOTOR_INDEX`, :data:`DEX3_MOTOR_INDEX`), never by
assuming that the model's order equals the wire order.

Safety: the encoders refuse non-finite values (:class:`UnsafeCommandError`) and clip
positions, velocities, torques and gains to :class:`CommandLimits` before a single byte is
written, so a NaN or an out-of-limit target can never reach the wire.
"""

# No ``from __future__ import annotations`` here: CycloneDDS reads LowerBodyCmd_'s annotations at runtime.

import enum
import functools
from dataclasses import dataclass, field

import numpy as np

from teleop.exceptions import EmbodimentError, MissingExtraError
from teleop.robot import g1
from teleop.robot.exceptions import UnsafeCommandError

try:
    from cyclonedds.idl import IdlStruct
    from cyclonedds.idl import types as idl_types
    from unitree_sdk2py.idl.default import (
        unitree_hg_msg_dds__HandCmd_,
        unitree_hg_msg_dds__HandState_,
        unitree_hg_msg_dds__LowCmd_,
        unitree_hg_msg_dds__LowState_,
    )
    from unitree_sdk2py.idl.unitree_hg.msg.dds_ import HandCmd_, HandState_, LowCmd_, LowState_
    from unitree_sdk2py.utils.crc import CRC
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError(exc.name or "unitree_sdk2py", "dds", "The DDS robot link") from exc

# ---------------------------------------------------------------------------------------
# Topics
# ---------------------------------------------------------------------------------------
TOPIC_LOWCMD = "rt/lowcmd"
TOPIC_LOWSTATE = "rt/lowstate"
TOPIC_HAND_CMD = {"left": "rt/dex3/left/cmd", "right": "rt/dex3/right/cmd"}
TOPIC_HAND_STATE = {"left": "rt/dex3/left/state", "right": "rt/dex3/right/state"}
#: Simulator-only extension: the 8-value lower-body command for the kinematic base.
TOPIC_LOWER_BODY = "rt/psi/lower_body"

#: Motor slots in LowCmd_/LowState_ (the G1 uses the first 29).
LOW_MOTOR_SLOTS = 35
#: Motors per Dex3-1 hand.
DEX3_MOTORS = 7
#: ``mode`` of a G1 body motor: 1 enables the motor's PD loop, 0 disables it (no torque).
BODY_MOTOR_ENABLE, BODY_MOTOR_DISABLE = 1, 0

#: Unitree's G1 (29 DoF) motor numbering: joint name -> slot in ``motor_cmd`` / ``motor_state``.
#: Written out from Unitree's ``G1JointIndex`` documentation, independent of g1.BODY_JOINTS.
G1_MOTOR_INDEX: dict[str, int] = {
    "left_hip_pitch_joint": 0,
    "left_hip_roll_joint": 1,
    "left_hip_yaw_joint": 2,
    "left_knee_joint": 3,
    "left_ankle_pitch_joint": 4,
    "left_ankle_roll_joint": 5,
    "right_hip_pitch_joint": 6,
    "right_hip_roll_joint": 7,
    "right_hip_yaw_joint": 8,
    "right_knee_joint": 9,
    "right_ankle_pitch_joint": 10,
    "right_ankle_roll_joint": 11,
    "waist_yaw_joint": 12,
    "waist_roll_joint": 13,
    "waist_pitch_joint": 14,
    "left_shoulder_pitch_joint": 15,
    "left_shoulder_roll_joint": 16,
    "left_shoulder_yaw_joint": 17,
    "left_elbow_joint": 18,
    "left_wrist_roll_joint": 19,
    "left_wrist_pitch_joint": 20,
    "left_wrist_yaw_joint": 21,
    "right_shoulder_pitch_joint": 22,
    "right_shoulder_roll_joint": 23,
    "right_shoulder_yaw_joint": 24,
    "right_elbow_joint": 25,
    "right_wrist_roll_joint": 26,
    "right_wrist_pitch_joint": 27,
    "right_wrist_yaw_joint": 28,
}

#: Dex3-1 motor numbering per hand (both sides alike): finger joint -> motor id 0..6.
DEX3_MOTOR_INDEX: dict[str, int] = {
    "thumb_0": 0,
    "thumb_1": 1,
    "thumb_2": 2,
    "middle_0": 3,
    "middle_1": 4,
    "index_0": 5,
    "index_1": 6,
}

SIDES = ("left", "right")


class Dex3Status(enum.IntEnum):
    """``status`` bits of the Dex3 motor mode byte (Unitree's ``RIS_Mode_t``)."""

    LOCK = 0  # motor locked / idle
    FOC = 1  # closed-loop (position/velocity/torque) control


def dex3_mode_byte(motor_id: int, status: Dex3Status = Dex3Status.FOC, timeout: bool = True) -> int:
    """The Dex3 ``mode`` byte: ``id`` in bits 0-3, ``status`` in bits 4-6, ``timeout`` in bit 7.

    ``timeout=True`` arms the hand's own 1 s command timeout: a hand that stops hearing
    from us stops on its own.
    """
    if not 0 <= motor_id < 16:
        raise ValueError(f"Dex3 motor id must be in [0, 15], got {motor_id}")
    return (motor_id & 0x0F) | ((int(status) & 0x07) << 4) | ((1 if timeout else 0) << 7)


def parse_dex3_mode_byte(mode: int) -> tuple[int, Dex3Status, bool]:
    """Inverse of :func:`dex3_mode_byte`: ``(motor_id, status, timeout)``."""
    return mode & 0x0F, Dex3Status((mode >> 4) & 0x07), bool((mode >> 7) & 0x01)


# ---------------------------------------------------------------------------------------
# Name-based wire map
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WireMap:
    """Index arrays between the model order and the wire order, built by joint name.

    Attributes:
        body_model_index: (29,) ``body_model_index[slot]`` = position in MODEL_JOINTS of G1 motor ``slot``.
        hand_model_index: per side, (7,) ``[motor_id]`` = position in MODEL_JOINTS of that Dex3 motor.
        body_names: (29,) joint name of each G1 motor slot.
        hand_names: per side, (7,) joint name of each Dex3 motor id.
    """

    body_model_index: np.ndarray
    hand_model_index: dict[str, np.ndarray]
    body_names: tuple[str, ...]
    hand_names: dict[str, tuple[str, ...]]


@functools.cache
def wire_map() -> WireMap:
    """Build the wire map from :data:`G1_MOTOR_INDEX`, :data:`DEX3_MOTOR_INDEX` and the embodiment."""
    emb = g1.load_embodiment()
    if set(G1_MOTOR_INDEX) != set(g1.BODY_JOINTS):
        raise EmbodimentError(
            f"G1 motor table and embodiment disagree: table-only {sorted(set(G1_MOTOR_INDEX) - set(g1.BODY_JOINTS))}, "
            f"model-only {sorted(set(g1.BODY_JOINTS) - set(G1_MOTOR_INDEX))}"
        )
    body_names = tuple(sorted(G1_MOTOR_INDEX, key=G1_MOTOR_INDEX.__getitem__))
    hand_names: dict[str, tuple[str, ...]] = {}
    hand_index: dict[str, np.ndarray] = {}
    for side in SIDES:
        names = tuple(f"{side}_hand_{part}_joint" for part in sorted(DEX3_MOTOR_INDEX, key=DEX3_MOTOR_INDEX.__getitem__))
        hand_names[side] = names
        hand_index[side] = emb.indices(names)
    return WireMap(
        body_model_index=emb.indices(body_names),
        hand_model_index=hand_index,
        body_names=body_names,
        hand_names=hand_names,
    )


# ---------------------------------------------------------------------------------------
# Commands and their limits
# ---------------------------------------------------------------------------------------
N_JOINTS = len(g1.MODEL_JOINTS)


@dataclass
class MotorCommand:
    """Per-motor PD command for every joint, in MODEL_JOINTS order (preallocated, reused).

    The motor applies ``tau = kp (q - q_meas) + kd (dq - dq_meas) + tau_ff`` when enabled.

    Attributes:
        q: (43,) position targets [rad]; dq: (43,) velocity targets [rad/s];
        tau: (43,) feed-forward torques [N m]; kp: (43,) [N m/rad]; kd: (43,) [N m s/rad];
        enabled: (43,) bool, False puts the motor in its disabled (zero torque) mode.
    """

    q: np.ndarray = field(default_factory=lambda: np.zeros(N_JOINTS))
    dq: np.ndarray = field(default_factory=lambda: np.zeros(N_JOINTS))
    tau: np.ndarray = field(default_factory=lambda: np.zeros(N_JOINTS))
    kp: np.ndarray = field(default_factory=lambda: np.zeros(N_JOINTS))
    kd: np.ndarray = field(default_factory=lambda: np.zeros(N_JOINTS))
    enabled: np.ndarray = field(default_factory=lambda: np.ones(N_JOINTS, dtype=bool))

    def copy_from(self, other: "MotorCommand") -> None:
        for name in ("q", "dq", "tau", "kp", "kd", "enabled"):
            getattr(self, name)[:] = getattr(other, name)


@dataclass(frozen=True)
class CommandLimits:
    """What a motor command may contain (MODEL_JOINTS order).

    Attributes:
        q_min, q_max: (43,) joint position range [rad].
        dq_max: (43,) velocity target magnitude [rad/s].
        tau_max: (43,) feed-forward torque magnitude [N m].
        kp_max: largest stiffness accepted [N m/rad]; kd_max: largest damping [N m s/rad].
    """

    q_min: np.ndarray
    q_max: np.ndarray
    dq_max: np.ndarray
    tau_max: np.ndarray
    kp_max: float = 500.0
    kd_max: float = 50.0

    @classmethod
    def from_embodiment(cls, kp_max: float = 500.0, kd_max: float = 50.0) -> "CommandLimits":
        emb = g1.load_embodiment()
        return cls(emb.q_min.copy(), emb.q_max.copy(), emb.v_max.copy(), emb.tau_max.copy(), kp_max, kd_max)


def sanitize_command(cmd: MotorCommand, limits: CommandLimits) -> int:
    """Check ``cmd`` in place: refuse non-finite values, clip everything else into ``limits``.

    Returns:
        How many values were clipped (0 for a command that was already within limits).

    Raises:
        UnsafeCommandError: a value is NaN or infinite (the command must not be sent at all).
    """
    bad = ~(
        np.isfinite(cmd.q) & np.isfinite(cmd.dq) & np.isfinite(cmd.tau) & np.isfinite(cmd.kp) & np.isfinite(cmd.kd)
    )
    if bad.any():
        names = tuple(g1.MODEL_JOINTS[i] for i in np.flatnonzero(bad))
        raise UnsafeCommandError(
            names,
            f"refusing to send a motor command with NaN/inf values for {', '.join(names[:6])}"
            f"{' ...' if len(names) > 6 else ''}; the source of the command (IK, policy) produced invalid "
            "numbers - the robot keeps its last valid command",
        )
    n = 0
    for arr, lo, hi in (
        (cmd.q, limits.q_min, limits.q_max),
        (cmd.dq, -limits.dq_max, limits.dq_max),
        (cmd.tau, -limits.tau_max, limits.tau_max),
        (cmd.kp, 0.0, limits.kp_max),
        (cmd.kd, 0.0, limits.kd_max),
    ):
        out = (arr < lo) | (arr > hi)
        if out.any():
            n += int(out.sum())
            np.clip(arr, lo, hi, out=arr)
    return n


def _require_finite(cmd: MotorCommand, index: np.ndarray) -> None:
    for name in ("q", "dq", "tau", "kp", "kd"):
        if not np.isfinite(getattr(cmd, name)[index]).all():
            names = tuple(g1.MODEL_JOINTS[i] for i in index if not np.isfinite(getattr(cmd, name)[i]))
            raise UnsafeCommandError(names, f"non-finite {name} for {', '.join(names)}: not encoding this command")


# ---------------------------------------------------------------------------------------
# CRC
# ---------------------------------------------------------------------------------------
@functools.cache
def _crc() -> "CRC":
    return CRC()


def compute_crc(msg: "LowCmd_ | LowState_") -> int:
    """Unitree's CRC32 of a ``unitree_hg`` LowCmd_/LowState_ (the SDK's own implementation)."""
    return int(_crc().Crc(msg))


def crc_ok(msg: "LowCmd_ | LowState_") -> bool:
    """Whether ``msg.crc`` matches its contents."""
    return int(msg.crc) == compute_crc(msg)


# ---------------------------------------------------------------------------------------
# rt/lowcmd
# ---------------------------------------------------------------------------------------
class LowCmdCodec:
    """Fills one reusable ``LowCmd_`` from a :class:`MotorCommand`, and reads one back (simulator side)."""

    def __init__(self) -> None:
        self._map = wire_map()
        self.msg = unitree_hg_msg_dds__LowCmd_()

    def encode(self, cmd: MotorCommand, mode_pr: int, mode_machine: int) -> "LowCmd_":
        """Write the 29 body motors of ``cmd`` into the message, set the mode fields and the CRC.

        The unused slots 29..34 stay disabled with zero gains. Raises :class:`UnsafeCommandError`
        on non-finite values (call :func:`sanitize_command` first to also enforce limits).
        """
        idx = self._map.body_model_index
        _require_finite(cmd, idx)
        msg = self.msg
        msg.mode_pr = int(mode_pr) & 0xFF
        msg.mode_machine = int(mode_machine) & 0xFF
        q, dq, tau, kp, kd, en = (
            cmd.q[idx].tolist(), cmd.dq[idx].tolist(), cmd.tau[idx].tolist(),
            cmd.kp[idx].tolist(), cmd.kd[idx].tolist(), cmd.enabled[idx].tolist(),
        )
        for slot, m in enumerate(msg.motor_cmd[: len(idx)]):
            m.mode = BODY_MOTOR_ENABLE if en[slot] else BODY_MOTOR_DISABLE
            m.q, m.dq, m.tau, m.kp, m.kd = q[slot], dq[slot], tau[slot], kp[slot], kd[slot]
        msg.crc = compute_crc(msg)
        return msg

    def decode(self, msg: "LowCmd_", out: MotorCommand) -> None:
        """Write the body motors of a received ``msg`` into ``out`` (MODEL_JOINTS order); hands untouched."""
        for slot, mi in enumerate(self._map.body_model_index):
            m = msg.motor_cmd[slot]
            out.q[mi], out.dq[mi], out.tau[mi], out.kp[mi], out.kd[mi] = m.q, m.dq, m.tau, m.kp, m.kd
            out.enabled[mi] = m.mode != BODY_MOTOR_DISABLE


# ---------------------------------------------------------------------------------------
# rt/dex3/{side}/cmd
# ---------------------------------------------------------------------------------------
class HandCmdCodec:
    """Fills one reusable ``HandCmd_`` for one side, and reads one back (simulator side)."""

    def __init__(self, side: str) -> None:
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {side!r}")
        self.side = side
        self._index = wire_map().hand_model_index[side]
        self.msg = unitree_hg_msg_dds__HandCmd_()

    def encode(self, cmd: MotorCommand, timeout: bool = True) -> "HandCmd_":
        """Write this side's 7 hand motors of ``cmd`` in Dex3 motor order."""
        _require_finite(cmd, self._index)
        for motor_id, (m, mi) in enumerate(zip(self.msg.motor_cmd, self._index, strict=True)):
            status = Dex3Status.FOC if cmd.enabled[mi] else Dex3Status.LOCK
            m.mode = dex3_mode_byte(motor_id, status, timeout)
            m.q, m.dq, m.tau = float(cmd.q[mi]), float(cmd.dq[mi]), float(cmd.tau[mi])
            m.kp, m.kd = float(cmd.kp[mi]), float(cmd.kd[mi])
        return self.msg

    def decode(self, msg: "HandCmd_", out: MotorCommand) -> int:
        """Write a received hand command into ``out``; motors are placed by the id in their mode byte.

        Returns the number of motor entries used (entries with an unknown id are skipped).
        """
        used = 0
        for m in msg.motor_cmd:
            motor_id, status, _ = parse_dex3_mode_byte(int(m.mode))
            if motor_id >= DEX3_MOTORS:
                continue
            mi = self._index[motor_id]
            out.q[mi], out.dq[mi], out.tau[mi], out.kp[mi], out.kd[mi] = m.q, m.dq, m.tau, m.kp, m.kd
            out.enabled[mi] = status == Dex3Status.FOC
            used += 1
        return used


# ---------------------------------------------------------------------------------------
# rt/lowstate and rt/dex3/{side}/state
# ---------------------------------------------------------------------------------------
@dataclass
class WireState:
    """What the robot reports on the wire, in MODEL_JOINTS order (preallocated, reused).

    Attributes:
        q, dq, tau: (43,) joint position [rad], velocity [rad/s], estimated torque [N m].
        quat_wxyz: (4,) pelvis IMU orientation; gyro: (3,) [rad/s]; acc: (3,) [m/s^2].
        hand_pressure: (2, 9) mean tactile pressure per sensor, left then right.
        mode_pr, mode_machine: the robot's mode fields (echoed in every LowCmd_).
        tick: the robot's state counter.
    """

    q: np.ndarray = field(default_factory=lambda: np.zeros(N_JOINTS))
    dq: np.ndarray = field(default_factory=lambda: np.zeros(N_JOINTS))
    tau: np.ndarray = field(default_factory=lambda: np.zeros(N_JOINTS))
    quat_wxyz: np.ndarray = field(default_factory=lambda: np.array([1.0, 0.0, 0.0, 0.0]))
    gyro: np.ndarray = field(default_factory=lambda: np.zeros(3))
    acc: np.ndarray = field(default_factory=lambda: np.zeros(3))
    hand_pressure: np.ndarray = field(default_factory=lambda: np.zeros((2, 9)))
    mode_pr: int = 0
    mode_machine: int = 0
    tick: int = 0


class LowStateCodec:
    """Reads ``LowState_`` into a :class:`WireState` (backend), and fills one (simulator)."""

    def __init__(self) -> None:
        self._map = wire_map()
        self.msg = unitree_hg_msg_dds__LowState_()

    def decode(self, msg: "LowState_", out: WireState) -> None:
        """Body motors, IMU and mode fields of ``msg`` into ``out`` (hand entries untouched)."""
        ms = msg.motor_state
        for slot, mi in enumerate(self._map.body_model_index):
            m = ms[slot]
            out.q[mi], out.dq[mi], out.tau[mi] = m.q, m.dq, m.tau_est
        imu = msg.imu_state
        out.quat_wxyz[:] = imu.quaternion
        out.gyro[:] = imu.gyroscope
        out.acc[:] = imu.accelerometer
        out.mode_pr, out.mode_machine, out.tick = int(msg.mode_pr), int(msg.mode_machine), int(msg.tick)

    def encode(self, state: WireState, rpy: np.ndarray | None = None) -> "LowState_":
        """Fill the reusable message from ``state`` (body motors, IMU, modes, tick) and set its CRC."""
        msg = self.msg
        idx = self._map.body_model_index
        q, dq, tau = state.q[idx].tolist(), state.dq[idx].tolist(), state.tau[idx].tolist()
        for slot, m in enumerate(msg.motor_state[: len(idx)]):
            m.mode = BODY_MOTOR_ENABLE
            m.q, m.dq, m.tau_est = q[slot], dq[slot], tau[slot]
        imu = msg.imu_state
        imu.quaternion = state.quat_wxyz.tolist()
        imu.gyroscope = state.gyro.tolist()
        imu.accelerometer = state.acc.tolist()
        if rpy is not None:
            imu.rpy = np.asarray(rpy, dtype=float).tolist()
        msg.mode_pr = int(state.mode_pr) & 0xFF
        msg.mode_machine = int(state.mode_machine) & 0xFF
        msg.tick = int(state.tick) & 0xFFFFFFFF
        msg.crc = compute_crc(msg)
        return msg


class HandStateCodec:
    """Reads/fills ``HandState_`` for one side."""

    def __init__(self, side: str) -> None:
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {side!r}")
        self.side = side
        self._row = SIDES.index(side)
        self._index = wire_map().hand_model_index[side]
        self.msg = unitree_hg_msg_dds__HandState_()

    def decode(self, msg: "HandState_", out: WireState) -> None:
        """This side's 7 motors (Dex3 motor order -> model order) and tactile means into ``out``."""
        for motor_id, mi in enumerate(self._index[: len(msg.motor_state)]):
            m = msg.motor_state[motor_id]
            out.q[mi], out.dq[mi], out.tau[mi] = m.q, m.dq, m.tau_est
        row = out.hand_pressure[self._row]
        row[:] = 0.0
        for k, sensor in enumerate(msg.press_sensor_state[: row.shape[0]]):
            row[k] = float(np.mean(sensor.pressure))

    def encode(self, state: WireState) -> "HandState_":
        """Fill the reusable message with this side's hand motors from ``state``."""
        for motor_id, (m, mi) in enumerate(zip(self.msg.motor_state, self._index, strict=True)):
            m.mode = dex3_mode_byte(motor_id, Dex3Status.FOC, True)
            m.q, m.dq, m.tau_est = float(state.q[mi]), float(state.dq[mi]), float(state.tau[mi])
        return self.msg


# ---------------------------------------------------------------------------------------
# rt/psi/lower_body (simulator-only extension)
# ---------------------------------------------------------------------------------------
@dataclass
class LowerBodyCmd_(IdlStruct, typename="psi_teleop.msg.dds_.LowerBodyCmd_"):
    """The 8-value lower-body command of DESIGN.md for the simulator's kinematic base.

    ``values`` = [torso_roll, torso_pitch, torso_yaw [rad], torso_height [m], vx, vy [m/s],
    vyaw [rad/s], target_yaw [rad]]; ``seq`` counts messages. Not a Unitree message: a real
    G1 ignores this topic (its legs are driven through rt/lowcmd by the lower-body policy).
    """

    values: idl_types.array[idl_types.float64, g1.LOWER_BODY_DIM]
    seq: idl_types.uint32


def encode_lower_body(cmd: g1.LowerBodyCommand, seq: int) -> LowerBodyCmd_:
    """A :class:`LowerBodyCmd_` for ``cmd``; raises :class:`UnsafeCommandError` on non-finite values."""
    values = cmd.to_array()
    if not np.isfinite(values).all():
        raise UnsafeCommandError((), f"refusing to send a non-finite lower-body command {values.tolist()}")
    return LowerBodyCmd_(values=values.tolist(), seq=int(seq) & 0xFFFFFFFF)


def decode_lower_body(msg: LowerBodyCmd_) -> g1.LowerBodyCommand:
    """The :class:`g1.LowerBodyCommand` carried by ``msg``."""
    return g1.LowerBodyCommand.from_array(np.asarray(msg.values, dtype=float))


__all__ = [
    "CommandLimits",
    "DEX3_MOTOR_INDEX",
    "Dex3Status",
    "G1_MOTOR_INDEX",
    "HandCmdCodec",
    "HandCmd_",
    "HandStateCodec",
    "HandState_",
    "LowCmdCodec",
    "LowCmd_",
    "LowStateCodec",
    "LowState_",
    "LowerBodyCmd_",
    "MotorCommand",
    "WireMap",
    "WireState",
    "compute_crc",
    "crc_ok",
    "decode_lower_body",
    "dex3_mode_byte",
    "encode_lower_body",
    "parse_dex3_mode_byte",
    "sanitize_command",
    "wire_map",
]
