"""The safety filter: the one place in the loop between what the operator asks and what the robot gets.

Every tick the loop hands it the desired 36-value action (IK, retargeting, locomotion) and
whether the operator input is usable; it returns the action to command. It owns:

* **engagement** — the robot follows only after :meth:`SafetyFilter.engage`, ramping over
  ``ramp_time`` from the held pose to the operator's (``a = a_hold + s(τ)(a_des - a_hold)``,
  ``s`` a smoothstep of ``τ = t / ramp_time``); :meth:`disengage` holds where it is;
* **input checks** (:meth:`check_frame`) — NaN poses, non-unit quaternions and jumps beyond
  ``teleport_distance`` in one tick are rejected; input older than ``input_timeout`` counts
  as lost. Bad or lost input while engaged → HOLD: last safe joints, zero locomotion, the
  same tick; when input comes back the filter re-engages with a ramp;
* **limits** — joint position limits and per-tick velocity limits
  (``|a_k - a_{k-1}| <= v_max dt``) on every joint and torso value, velocity commands
  within ``g1.VELOCITY_LIMITS``;
* **e-stop** — :meth:`estop` switches to ESTOP; the loop puts the backend in damping.

Every transition is logged in words and kept in :attr:`events` for the status snapshot.
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass

import numpy as np

from teleop.exceptions import ConfigError
from teleop.operator_frame import OperatorFrame, TrackerRole
from teleop.robot import g1
from teleop.status import EngageState

log = logging.getLogger(__name__)

#: The poses :meth:`SafetyFilter.check_frame` checks, in order (hands: the wrist joint of hand tracking).
_CHECKED = ("head", "left_wrist", "right_wrist", "waist", "left_hand", "right_hand")
_TRACKER_ROWS = np.array([TrackerRole.LEFT_WRIST, TrackerRole.RIGHT_WRIST, TrackerRole.WAIST])
#: A valid pose's quaternion norm may differ from 1 by this much.
_QUAT_TOLERANCE = 0.05
#: Torso roll/pitch/yaw rate limit [rad/s] and height rate limit [m/s] of the command.
_TORSO_RATE = np.array([1.0, 1.0, 1.5, 0.3])


@dataclass(frozen=True)
class SafetyConfig:
    """Safety filter settings.

    Attributes:
        ramp_time: engage ramp duration [s].
        input_timeout: operator input older than this counts as lost [s].
        teleport_distance: a tracked position that moves more than this between ticks is rejected [m].
        teleport_reject_ticks: consecutive jumped samples rejected before the new position is accepted
            (a re-centred tracker); until then the robot holds.
        velocity_scale: fraction of the embodiment's joint velocity limits the command may use.
    """

    ramp_time: float = 2.0  # [s]
    input_timeout: float = 0.1  # [s]
    teleport_distance: float = 0.25  # [m]
    teleport_reject_ticks: int = 20
    velocity_scale: float = 1.0

    def __post_init__(self) -> None:
        if not 0.1 <= self.ramp_time <= 10.0:
            raise ConfigError(f"ramp_time={self.ramp_time} s must be within 0.1..10 s")
        if not 0.01 <= self.input_timeout <= 1.0:
            raise ConfigError(f"input_timeout={self.input_timeout} s must be within 0.01..1 s")
        if not 0.02 <= self.teleport_distance <= 2.0:
            raise ConfigError(f"teleport_distance={self.teleport_distance} m must be within 0.02..2 m")
        if not 0.0 < self.velocity_scale <= 1.0:
            raise ConfigError(f"velocity_scale={self.velocity_scale} must be within (0, 1]")


class SafetyFilter:
    """Engagement, input checks, limits and e-stop (see the module docstring)."""

    def __init__(self, config: SafetyConfig | None = None):
        self.config = config or SafetyConfig()
        emb = g1.load_embodiment()
        self.lo, self.hi = emb.action_limits()
        self.rate = np.empty(g1.ACTION_DIM)
        self.rate[:28] = emb.velocity_limits(g1.ACTION_JOINTS) * self.config.velocity_scale
        self.rate[28:32] = _TORSO_RATE
        self.rate[32:36] = np.inf
        self.state = EngageState.IDLE
        self.events: collections.deque[str] = collections.deque(maxlen=20)
        self._out = emb.default_action()
        self._hold = self._out.copy()
        self._ramp_t = 0.0
        # input checks (check_frame): the poses of _CHECKED, their last accepted positions
        self._poses = np.zeros((len(_CHECKED), 7))
        self._valid = np.zeros(len(_CHECKED), dtype=bool)
        self._last_pos = np.zeros((len(_CHECKED), 3))
        self._seen = np.zeros(len(_CHECKED), dtype=bool)
        self._jump_count = np.zeros(len(_CHECKED), dtype=int)
        self.max_joint_speed = 0.0  # [rad/s] largest commanded joint speed since reset (for tests and status)

    # -- transitions -----------------------------------------------------------------------
    def _event(self, words: str) -> None:
        self.events.append(words)
        log.warning(words) if self.state in (EngageState.ESTOP, EngageState.HOLD) else log.info(words)

    def reset(self, measured_action: np.ndarray) -> None:
        """Start from the robot's measured pose (hands, arms, torso of a 36-value action), idle."""
        a = np.asarray(measured_action, dtype=float)
        self._out = np.clip(a, self.lo, self.hi)
        self._out[32:35] = 0.0
        self._hold = self._out.copy()
        self.state = EngageState.IDLE

    def engage(self) -> None:
        if self.state == EngageState.ESTOP:
            self._event("engage refused: release the e-stop first")
            return
        if self.state in (EngageState.ENGAGED, EngageState.ENGAGING):
            return
        self._hold = self._out.copy()
        self._ramp_t = 0.0
        self.state = EngageState.ENGAGING
        self._event(f"engaging: the robot blends into the operator's pose over {self.config.ramp_time:.1f} s")

    def disengage(self) -> None:
        if self.state in (EngageState.IDLE, EngageState.ESTOP):
            return
        self._hold = self._out.copy()
        self._hold[32:35] = 0.0
        self.state = EngageState.IDLE
        self._event("disengaged: the robot holds its pose and stops walking")

    def estop(self) -> None:
        if self.state != EngageState.ESTOP:
            self.state = EngageState.ESTOP
            self._event("E-STOP: motors in damping mode, walking stopped; release the e-stop to continue")

    def release(self, measured_action: np.ndarray) -> None:
        if self.state == EngageState.ESTOP:
            self.reset(measured_action)
            self._event("e-stop released: the robot holds its measured pose; engage to follow again")

    # -- input checks ------------------------------------------------------------------------
    def check_frame(self, frame: OperatorFrame, now: float) -> str | None:
        """Why ``frame`` must not drive the robot this tick, in words; ``None`` if it may.

        Invalid streams are not a problem here (the IK ignores them); NaN in a valid pose, a
        non-unit quaternion, a stale frame and a jump beyond ``teleport_distance`` are.
        The six checked poses (head, both wrists, waist, both hand wrists) are gathered into
        one array and checked together; only a frame with a problem takes the per-stream path.
        """
        age = now - frame.stamp
        if not np.isfinite(frame.stamp) or age > self.config.input_timeout:
            return f"operator input is {age * 1e3:.0f} ms old (limit {self.config.input_timeout * 1e3:.0f} ms)"
        poses, valid = self._poses, self._valid
        poses[0] = frame.head_pose
        valid[0] = frame.head_valid
        np.take(frame.tracker_pose, _TRACKER_ROWS, axis=0, out=poses[1:4])
        np.take(frame.tracker_valid, _TRACKER_ROWS, out=valid[1:4])
        poses[4:6] = frame.hand_joints[:, 1]
        valid[4:6] = frame.hand_valid
        with np.errstate(invalid="ignore"):
            quat_norm = np.sqrt(np.einsum("ij,ij->i", poses[:, 3:7], poses[:, 3:7]))
            jump = np.sqrt(np.einsum("ij,ij->i", poses[:, :3] - self._last_pos, poses[:, :3] - self._last_pos))
            bad = ~np.isfinite(poses).all(axis=1) | (np.abs(quat_norm - 1.0) > _QUAT_TOLERANCE)
            bad |= self._seen & (jump > self.config.teleport_distance)
        if not (bad & valid).any():  # the common case: every tracked pose is fine
            self._jump_count[valid] = 0
            self._last_pos[valid] = poses[valid, :3]
            self._seen |= valid
            return None
        for k in np.flatnonzero(valid):
            name, pose = _CHECKED[k], poses[k]
            if not np.all(np.isfinite(pose)):
                return f"{name} pose contains NaN or inf"
            if abs(quat_norm[k] - 1.0) > _QUAT_TOLERANCE:
                return f"{name} orientation is not a unit quaternion (norm {quat_norm[k]:.3f})"
            if self._seen[k] and jump[k] > self.config.teleport_distance:
                self._jump_count[k] += 1
                if self._jump_count[k] <= self.config.teleport_reject_ticks:
                    return (f"{name} jumped {jump[k] * 100:.0f} cm in one tick "
                            f"(limit {self.config.teleport_distance * 100:.0f} cm)")
            self._jump_count[k] = 0
        self._last_pos[valid] = poses[valid, :3]
        self._seen |= valid
        return None

    # -- the filter --------------------------------------------------------------------------
    def apply(self, desired: np.ndarray | None, problem: str | None, dt: float, out: np.ndarray | None = None) -> np.ndarray:
        """The action to command this tick.

        Args:
            desired: the operator's 36-value action, or None when it could not be computed.
            problem: :meth:`check_frame`'s verdict (None = input usable).
            dt: tick period [s].
        """
        ok = desired is not None and problem is None and bool(np.all(np.isfinite(desired)))
        if ok and self.state == EngageState.HOLD:
            self._hold = self._out.copy()
            self._ramp_t = 0.0
            self.state = EngageState.ENGAGING
            self._event("operator input is back: re-engaging with a ramp")
        if not ok and self.state in (EngageState.ENGAGED, EngageState.ENGAGING):
            self.state = EngageState.HOLD
            why = problem or "the operator pose could not be computed"
            self._event(f"holding the last safe pose and stopping: {why}")
        target = self._out.copy()
        if self.state == EngageState.ENGAGING and ok:
            self._ramp_t += dt
            tau = min(1.0, self._ramp_t / self.config.ramp_time)
            s = tau * tau * (3.0 - 2.0 * tau)
            target = self._hold + s * (np.asarray(desired) - self._hold)
            target[32:35] = 0.0  # no walking during the ramp
            target[35] = desired[35]
            if tau >= 1.0:
                self.state = EngageState.ENGAGED
                self._event("engaged: the robot follows the operator")
        elif self.state == EngageState.ENGAGED and ok:
            target = np.asarray(desired, dtype=float).copy()
        else:  # IDLE, HOLD, ESTOP: hold, no walking
            target = self._hold.copy() if self.state == EngageState.IDLE else self._out.copy()
            target[32:35] = 0.0
        np.clip(target, self.lo, self.hi, out=target)
        step = self.rate * dt
        delta = np.clip(target - self._out, -step, step)
        delta[32:36] = target[32:36] - self._out[32:36]
        if self.state != EngageState.ENGAGED and self.state != EngageState.ENGAGING:
            delta[32:35] = -self._out[32:35]  # velocities to zero at once
        self._out = self._out + delta
        speed = float(np.max(np.abs(delta[:28]) / dt)) if dt > 0 else 0.0
        self.max_joint_speed = max(self.max_joint_speed, speed)
        if out is not None:
            out[:] = self._out
            return out
        return self._out.copy()
