"""The robot backend interface: what the teleop loop and the policy runtime talk to.

Two implementations exist: :class:`teleop.robot.sim.SimBackend` (MuJoCo in process) and
the DDS link (``teleop.robot.dds``) that drives a real G1 or the simulator running as a DDS
robot. Both take the 36-value action of DESIGN.md and return a :class:`RobotState`.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field

import numpy as np

from teleop.robot import g1


class LinkStatus(enum.Enum):
    """Health of the link to the robot, as the status snapshot shows it."""

    DISCONNECTED = "disconnected"
    OK = "ok"
    STALE = "stale"  # state stopped arriving: the backend holds or damps
    DAMPING = "damping"  # e-stop or watchdog: motors in damping mode


@dataclass
class RobotState:
    """Everything measured on the robot at one instant.

    Attributes:
        stamp: acquisition time on :func:`teleop.clock.now` [s].
        q, dq, tau: (43,) joint position [rad], velocity [rad/s], torque [N m], :data:`g1.MODEL_JOINTS` order.
        base_pos: (3,) pelvis position in the world [m] (simulation or odometry; NaN when unknown).
        base_quat: (4,) pelvis orientation, wxyz (from the IMU on the robot).
        imu_gyro: (3,) pelvis angular velocity [rad/s]; imu_acc: (3,) linear acceleration [m/s^2].
        hand_pressure: (2, 9) Dex3 tactile pressure per side (zeros in simulation).
        lower_body_cmd: (8,) the last lower-body command applied.
    """

    stamp: float = 0.0
    q: np.ndarray = field(default_factory=lambda: np.zeros(len(g1.MODEL_JOINTS)))
    dq: np.ndarray = field(default_factory=lambda: np.zeros(len(g1.MODEL_JOINTS)))
    tau: np.ndarray = field(default_factory=lambda: np.zeros(len(g1.MODEL_JOINTS)))
    base_pos: np.ndarray = field(default_factory=lambda: np.full(3, np.nan))
    base_quat: np.ndarray = field(default_factory=lambda: np.array([1.0, 0.0, 0.0, 0.0]))
    imu_gyro: np.ndarray = field(default_factory=lambda: np.zeros(3))
    imu_acc: np.ndarray = field(default_factory=lambda: np.zeros(3))
    hand_pressure: np.ndarray = field(default_factory=lambda: np.zeros((2, 9)))
    lower_body_cmd: np.ndarray = field(default_factory=lambda: g1.LowerBodyCommand().to_array())

    def joint(self, names: tuple[str, ...]) -> np.ndarray:
        """Positions [rad] of ``names``."""
        return self.q[g1.load_embodiment().indices(names)]

    def state_vector(self, out: np.ndarray | None = None) -> np.ndarray:
        """The 32-value state of DESIGN.md: measured hands and arms, last commanded torso."""
        emb = g1.load_embodiment()
        return g1.pack_state(
            self.q[emb.indices(g1.HAND_JOINTS)], self.q[emb.indices(g1.ARM_JOINTS)], self.lower_body_cmd[:4], out=out
        )

    def as_arrays(self) -> dict[str, np.ndarray]:
        """The full measured state as named arrays (the recorder's ``robot/`` streams)."""
        return {
            "stamp": np.array(self.stamp),
            "q": self.q,
            "dq": self.dq,
            "tau": self.tau,
            "base_pos": self.base_pos,
            "base_quat": self.base_quat,
            "imu_gyro": self.imu_gyro,
            "imu_acc": self.imu_acc,
            "hand_pressure": self.hand_pressure,
            "lower_body_cmd": self.lower_body_cmd,
        }


class RobotBackend(abc.ABC):
    """A robot the application can command: the simulation or a G1 over DDS.

    Life cycle: ``start()`` → any number of ``read_state()`` / ``apply_action()`` →
    ``stop()`` (safe even if ``start`` failed). Use as a context manager.
    """

    #: Name shown in logs and the status snapshot ("sim", "dds").
    name: str = "robot"

    @abc.abstractmethod
    def start(self) -> None:
        """Connect (or start the simulation); raise :class:`RobotBackendError` with the fix on failure.

        Idempotent: a started backend ignores further calls (the session builder starts the
        robot before the loop does).
        """

    @abc.abstractmethod
    def stop(self) -> None:
        """Put the robot in a safe state and disconnect. Idempotent."""

    @abc.abstractmethod
    def read_state(self) -> RobotState:
        """The latest measured state (never blocks for long)."""

    @abc.abstractmethod
    def apply_action(self, action: np.ndarray) -> None:
        """Command the 36-value action: hand and arm joint targets and the lower-body command.

        The caller (the safety filter) has already checked limits and NaNs; backends check
        again before anything reaches a motor.
        """

    @abc.abstractmethod
    def damp(self) -> None:
        """E-stop: switch every motor to damping (no position target) until :meth:`release`."""

    def release(self) -> None:
        """Leave damping after an e-stop (the next action is commanded again)."""

    @property
    def link_status(self) -> LinkStatus:
        return LinkStatus.OK

    def step(self, dt: float) -> None:
        """Advance a lock-stepped simulation by ``dt`` [s]. Real robots ignore it."""

    def __enter__(self) -> "RobotBackend":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
