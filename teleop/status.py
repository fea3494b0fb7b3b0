"""The session's status snapshot and control surface, shared by the console and the session server.

The teleop loop publishes a :class:`TeleopStatus` (an immutable snapshot, replaced as a
whole under a lock a few times a second) and accepts commands through
:class:`SessionControl`. The operator console and the FastAPI server both talk to a
session only through these two types — there is no second, hidden path.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field


class EngageState(str, enum.Enum):
    """Whether the robot follows the operator (DESIGN.md safety filter)."""

    IDLE = "idle"  # holding the robot's pose, waiting for an engage action
    ENGAGING = "engaging"  # ramping from the robot's pose to the operator's
    ENGAGED = "engaged"  # following the operator
    DISENGAGING = "disengaging"  # ramping back to hold
    HOLD = "hold"  # engaged, but input is invalid or stale: holding the last safe pose
    ESTOP = "estop"  # damping until the operator releases the e-stop


class EpisodeState(str, enum.Enum):
    IDLE = "idle"
    RECORDING = "recording"


@dataclass(frozen=True)
class DeviceStatus:
    """One operator stream as the status shows it (a light in the console)."""

    name: str  # "head", "left_wrist", "left_hand", "left_controller", ...
    valid: bool
    age_ms: float  # [ms] since the stream's last valid sample


@dataclass(frozen=True)
class LoopTiming:
    """Loop measurements over the last second."""

    rate_hz: float = 0.0  # [Hz] achieved tick rate
    target_hz: float = 0.0  # [Hz]
    input_age_ms: float = 0.0  # [ms] OperatorFrame stamp to tick start, median
    ik_ms: float = 0.0  # [ms] IK + retargeting, median
    tick_ms_p99: float = 0.0  # [ms] whole tick compute, p99
    jitter_ms_p99: float = 0.0  # [ms] lateness of tick start against its deadline, p99
    overruns: int = 0  # ticks that started more than 5 ms late, since the session start


@dataclass(frozen=True)
class TeleopStatus:
    """A snapshot of the running session."""

    stamp: float = 0.0  # [s] teleop.clock.now()
    input_kind: str = ""
    robot_kind: str = ""
    link: str = "disconnected"  # teleop.robot.backend.LinkStatus value
    engage: EngageState = EngageState.IDLE
    safety_events: tuple[str, ...] = ()  # last few safety transitions, in words
    devices: tuple[DeviceStatus, ...] = ()
    timing: LoopTiming = field(default_factory=LoopTiming)
    episode: EpisodeState = EpisodeState.IDLE
    episode_id: str | None = None
    episode_rows: int = 0
    task: str = ""
    instruction: str = ""
    calibration_profile: str = ""
    wrist_error_mm: tuple[float, float] = (0.0, 0.0)  # [mm] left, right: IK target vs measured wrist
    arm_q: tuple[float, ...] = ()  # (14,) measured arm joints [rad]
    arm_q_min: tuple[float, ...] = ()
    arm_q_max: tuple[float, ...] = ()
    dataset: str = ""


class SessionControl(abc.ABC):
    """Commands an operator (console, server, foot pedal, headset button) can give a session."""

    @abc.abstractmethod
    def status(self) -> TeleopStatus: ...

    @abc.abstractmethod
    def start_episode(self, task: str | None = None, instruction: str | None = None) -> str:
        """Start recording; return the new episode id."""

    @abc.abstractmethod
    def stop_episode(self, success: bool | None = None) -> str | None:
        """Finish the current episode (status complete); return its id, or None if none was recording."""

    @abc.abstractmethod
    def discard_episode(self, reason: str = "") -> str | None:
        """Stop and mark the current episode discarded."""

    @abc.abstractmethod
    def mark_success(self, episode_id: str, success: bool | None) -> None: ...

    @abc.abstractmethod
    def set_task(self, task: str, instruction: str) -> None: ...

    @abc.abstractmethod
    def engage(self) -> None: ...

    @abc.abstractmethod
    def disengage(self) -> None: ...

    @abc.abstractmethod
    def estop(self) -> None: ...

    @abc.abstractmethod
    def release_estop(self) -> None: ...

    @abc.abstractmethod
    def select_calibration(self, profile: str) -> None: ...

    def latest_frame(self, camera: str) -> "tuple[object, float] | None":
        """The newest camera image (H, W, 3 uint8 ndarray) and its acquisition stamp, if any."""
        return None
