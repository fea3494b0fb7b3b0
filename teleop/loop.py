"""The fixed-rate teleop loop: OperatorFrame → calibration → IK + retargeting + locomotion → safety → robot → recorder.

One tick (100 Hz by default)::

    frame   = source.poll()                       newest OperatorFrame (non-blocking)
    problem = safety.check_frame(frame)           NaN, jumps, stale input
    targets = mapping.targets(frame)              calibrated, in the robot base frame
    sol     = ik.solve(targets, dt)               arms (14), torso rpy + height
    hands   = retargeter[side].solve(joints)      Dex3-1 (2 x 7)
    loco    = locomotion.update(frame, dt)        vx, vy, vyaw, target_yaw
    action  = safety.apply(pack(...), problem)    ramps, limits, hold, e-stop
    robot.apply_action(action)                    sim or DDS
    recorder.append(tick)  every 1/record_hz      non-blocking

Ticks are scheduled against absolute deadlines ``t_k = t_0 + k / rate`` on the monotonic
clock, so the loop does not drift; a tick starting more than 5 ms late counts as an overrun,
and when a tick overruns by more than a whole period the missed slots are skipped (counted in
``skipped_ticks``) rather than run back to back.
In lock-step simulation (``LoopConfig.lockstep``) the loop advances the physics by one
period per tick instead of sleeping and its clock is simulation time, so a simulated
session runs as fast as the machine allows with the same code path.
"""

from __future__ import annotations

import collections
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from teleop import clock as process_clock
from teleop import realtime
from teleop.exceptions import ConfigError
from teleop.operator_frame import ControllerButton, OperatorFrame, Side, TrackerRole
from teleop.robot import g1
from teleop.safety import SafetyFilter
from teleop.status import DeviceStatus, EngageState, LoopTiming

if TYPE_CHECKING:
    from calibration.mapping import OperatorToRobot
    from ik import HandRetargeter, UpperBodyIK
    from teleop.inputs.base import InputSource
    from teleop.robot.backend import RobotBackend

log = logging.getLogger(__name__)

#: A tick starting later than this past its deadline counts as an overrun [s].
OVERRUN_THRESHOLD = 0.005
#: Controller button that toggles engagement (A on the right controller).
ENGAGE_BUTTON = (Side.RIGHT, ControllerButton.PRIMARY)
#: Controller button that triggers the e-stop (menu on the left controller).
ESTOP_BUTTON = (Side.LEFT, ControllerButton.MENU)
#: Controller button that switches the headset between the robot's view and passthrough (Y on the left).
VIEW_BUTTON = (Side.LEFT, ControllerButton.SECONDARY)


@dataclass(frozen=True)
class LoopConfig:
    """Teleop loop settings.

    Attributes:
        rate_hz: tick rate [Hz], 50..500.
        record_hz: recording rate [Hz] (a divisor-free rate: rows are taken at the first tick past each record deadline).
        lockstep: advance a simulated backend by one period per tick, on simulation time.
        cameras: cameras to record, rendered from the simulation in lock-step mode.
        camera_hz: lock-step camera rate [Hz] (frames are re-used between renders, with their own stamps).
        realtime_priority: SCHED_FIFO priority of the loop thread in real time (0: normal scheduling;
            see :mod:`teleop.realtime`; needs root or CAP_SYS_NICE, else the loop runs at normal priority).
    """

    rate_hz: float = 100.0
    record_hz: float = 30.0
    lockstep: bool = False
    cameras: tuple[str, ...] = ()
    camera_hz: float = 10.0
    realtime_priority: int = realtime.DEFAULT_PRIORITY

    def __post_init__(self) -> None:
        if not 50.0 <= self.rate_hz <= 500.0:
            raise ConfigError(f"rate_hz={self.rate_hz} must be within 50..500 Hz (the loop never runs below 50 Hz)")
        if not 1.0 <= self.record_hz <= self.rate_hz:
            raise ConfigError(f"record_hz={self.record_hz} must be within 1..rate_hz ({self.rate_hz}) Hz")
        if not 0.5 <= self.camera_hz <= 60.0:
            raise ConfigError(f"camera_hz={self.camera_hz} must be within 0.5..60 Hz")
        if not 0 <= self.realtime_priority <= 99:
            raise ConfigError(f"realtime_priority={self.realtime_priority} must be within 0..99 (0: normal scheduling)")


class _Window:
    """The last ``n`` samples of a measurement in a ring buffer, for medians and p99 in the status.

    ``add`` is O(1) and allocation-free (it runs every tick); the statistics cost one
    ``np.percentile`` over at most ``n`` values and run only when the status is published.
    """

    def __init__(self, n: int):
        self._buf = np.zeros(n)
        self._i = 0
        self._full = False

    def add(self, v: float) -> None:
        self._buf[self._i] = v
        self._i += 1
        if self._i == self._buf.size:
            self._i = 0
            self._full = True

    def _quantile(self, q: float) -> float:
        """Nearest-rank quantile (``np.percentile`` costs ~40 µs of call overhead; this ~5 µs)."""
        v = self._buf if self._full else self._buf[: self._i]
        if not v.size:
            return 0.0
        k = int(round(q * (v.size - 1)))
        return float(np.partition(v, k)[k])

    def median(self) -> float:
        return self._quantile(0.5)

    def p99(self) -> float:
        return self._quantile(0.99)


class TeleopLoop:
    """Runs the tick above; owned by one thread. See :class:`teleop.session.TeleopSession` for control."""

    def __init__(
        self,
        source: "InputSource",
        backend: "RobotBackend",
        mapping: "OperatorToRobot",
        ik: "UpperBodyIK",
        retargeters: "dict[str, HandRetargeter]",
        safety: SafetyFilter,
        locomotion=None,
        config: LoopConfig | None = None,
        clock: Callable[[], float] | None = None,
        cameras=None,
        sim_tap=None,
    ):
        self.source = source
        self.backend = backend
        self.mapping = mapping
        self.ik = ik
        self.retargeters = retargeters
        self.safety = safety
        self.locomotion = locomotion
        self.config = config or LoopConfig()
        #: A ``teleop.cameras.CameraRig`` whose capture threads feed the recorder (real-time sessions).
        self.cameras = cameras
        #: A ``teleop.cameras.SimStateTap`` the loop publishes the simulation state to after each step.
        self.sim_tap = sim_tap
        self.dt = 1.0 / self.config.rate_hz
        self.clock = clock or process_clock.now
        self.frame = OperatorFrame()
        self.action = np.zeros(g1.ACTION_DIM)
        self._desired = np.zeros(g1.ACTION_DIM)
        self._hand_q = g1.load_embodiment().default(g1.HAND_JOINTS)
        self._prev_buttons = np.zeros_like(self.frame.controller_buttons)
        self._damping = False
        self.recorder = None  # an EpisodeWriter while recording
        self._next_record = 0.0
        self._next_camera = 0.0
        self._camera_frames: dict[str, tuple[np.ndarray, float] | None] = {}
        self.ticks = 0
        self.records = 0
        self.overruns = 0
        self.skipped_ticks = 0  # deadlines dropped because a tick overran by more than a period
        #: When a list, every tick appends ``(lateness [s], compute [s])`` (benchmarks and soak tests).
        self.trace: list[tuple[float, float]] | None = None
        self._last_late = 0.0
        self._t_input_age = _Window(200)
        self._t_ik = _Window(200)
        self._t_tick = _Window(1000)
        self._t_late = _Window(1000)
        self._tick_starts: collections.deque[float] = collections.deque(maxlen=200)
        self.last_state = None
        self.last_solution = None
        self._ik_targets = None
        self._stop = threading.Event()
        self.on_tick: Callable[["TeleopLoop"], None] | None = None  # session hook, runs at the end of a tick
        self.on_view_button: Callable[[], None] | None = None  # session hook: VIEW_BUTTON pressed

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the robot, then the input; begin holding the robot's measured pose."""
        from ik import UpperBodyTargets

        self.backend.start()
        state = self.backend.read_state()
        emb = g1.load_embodiment()
        arm_q = state.q[emb.indices(g1.ARM_JOINTS)]
        torso = state.lower_body_cmd[:4]
        self.ik.reset(arm_q=arm_q, torso_rpy=torso[:3], torso_height=float(torso[3]))
        measured = g1.pack_action(state.q[emb.indices(g1.HAND_JOINTS)], arm_q, state.lower_body_cmd)
        self._hand_q = measured[:14].copy()
        self.safety.reset(measured)
        self.action[:] = measured
        self._ik_targets = UpperBodyTargets()
        self.source.start()
        if self.locomotion is not None:
            self.locomotion.reset(yaw=float(state.lower_body_cmd[7]))
        now = self.clock()
        self._next_record = now
        self._next_camera = now
        log.info("teleop loop ready: input %s, robot %s, %.0f Hz", self.source.kind.name.lower(),
                 self.backend.name, self.config.rate_hz)

    def stop(self) -> None:
        """Shutdown order: stop commanding, inputs off, cameras off, robot to a safe state (the session finalizes the recorder)."""
        self._stop.set()
        try:
            self.source.stop()
            if self.cameras is not None:
                self.cameras.stop()
        finally:
            self.backend.stop()

    # -- one tick ------------------------------------------------------------------------------
    def tick(self) -> None:
        t0 = self.clock()
        wall0 = process_clock.now()
        self._tick_starts.append(t0)
        self.source.poll(self.frame)
        problem = (self.source.lost_reason or "the input device was lost") if self.source.lost else None
        if problem is None:
            problem = self.safety.check_frame(self.frame, t0)
        self._handle_buttons()
        self._t_input_age.add(max(0.0, t0 - self.frame.stamp))
        desired = self._operator_action(problem)
        action = self.safety.apply(desired, problem, self.dt, out=self.action)
        if self.safety.state == EngageState.ESTOP:
            if not self._damping:
                self.backend.damp()
                if self.locomotion is not None:
                    self.locomotion.zero()
                self._damping = True
        else:
            if self._damping:
                self.backend.release()
                self._damping = False
            self.backend.apply_action(action)
        if problem is not None and self.locomotion is not None:
            self.locomotion.zero()
        self.backend.step(self.dt)  # advances a simulation by one period; real robots ignore it
        if self.sim_tap is not None:
            self.sim_tap.publish_sim(self.backend.sim, stamp=self.clock())
        self.last_state = self.backend.read_state()
        self._maybe_record(t0)
        self.ticks += 1
        compute = process_clock.now() - wall0
        self._t_tick.add(compute)
        if self.trace is not None:
            self.trace.append((self._last_late, compute))
        if self.on_tick is not None:
            self.on_tick(self)

    def _handle_buttons(self) -> None:
        b = self.frame.controller_buttons
        valid = self.frame.controller_valid
        pressed = b & ~self._prev_buttons
        self._prev_buttons[:] = b
        if valid[ESTOP_BUTTON[0]] and pressed[ESTOP_BUTTON]:
            self.safety.estop()
        elif valid[ENGAGE_BUTTON[0]] and pressed[ENGAGE_BUTTON]:
            if self.safety.state in (EngageState.IDLE,):
                if self.locomotion is not None and self.last_state is not None:
                    self.locomotion.reset(yaw=float(self.last_state.lower_body_cmd[7]))
                self.safety.engage()
            elif self.safety.state != EngageState.ESTOP:
                self.safety.disengage()
        if valid[VIEW_BUTTON[0]] and pressed[VIEW_BUTTON] and self.on_view_button is not None:
            self.on_view_button()

    def _operator_action(self, problem: str | None) -> np.ndarray | None:
        """The action the operator asks for, or None when the input cannot be used."""
        if problem is not None:
            return None
        t_ik = process_clock.now()
        sol = self.ik.solve(self.mapping.targets(self.frame, out=self._ik_targets), self.dt)
        self.last_solution = sol
        for i, side in enumerate(g1.SIDES):
            if self.frame.hand_valid[i]:
                self._hand_q[7 * i:7 * i + 7] = self.retargeters[side].solve(self.frame.hand_joints[i])
        self._t_ik.add(process_clock.now() - t_ik)
        lower = self._desired[28:36]
        lower[0:3] = sol.torso_rpy
        lower[3] = sol.torso_height
        if self.locomotion is not None:
            cmd = self.locomotion.update(self.frame, self.dt, self.clock())
            lower[4:8] = (cmd.vx, cmd.vy, cmd.vyaw, cmd.target_yaw)
        else:
            lower[4:7] = 0.0
            lower[7] = self.action[35]
        return g1.pack_action(self._hand_q, sol.arm_q, lower, out=self._desired)

    # -- recording -----------------------------------------------------------------------------
    def _maybe_record(self, now: float) -> None:
        if self.config.lockstep and self.config.cameras and now >= self._next_camera:
            sim = getattr(self.backend, "sim", None)
            if sim is not None:
                for cam in self.config.cameras:
                    self._camera_frames[cam] = (sim.render(cam), now)
            self._next_camera += 1.0 / self.config.camera_hz
        if self.recorder is None or now < self._next_record:
            return
        from recorder import TickRecord

        self._next_record += 1.0 / self.config.record_hz
        if self._next_record < now:  # fell behind (a stall): realign instead of bursting rows
            self._next_record = now + 1.0 / self.config.record_hz
        st = self.last_state
        if self.cameras is not None:
            frames = self.cameras.snapshot(now)
        else:
            frames = dict(self._camera_frames) if self.config.cameras else None
        rec = TickRecord(
            t=now,
            state=st.state_vector(),
            action=self.action,
            robot=st.as_arrays(),
            robot_stamp=st.stamp if not self.config.lockstep else now,
            operator=self.frame.as_arrays(),
            operator_stamp=self.frame.stamp,
            cameras=frames,
        )
        self.recorder.append(rec)
        self.records += 1

    def latest_frame(self, camera: str):
        """Newest ``(image, acquisition stamp)`` of ``camera``, or None."""
        if self.cameras is not None:
            return self.cameras.latest_frame(camera)
        return self._camera_frames.get(camera)

    def start_recording(self, writer) -> None:
        self.recorder = writer
        self._next_record = self.clock()

    # -- running -------------------------------------------------------------------------------
    def run(self, duration: float | None = None, until: Callable[[], bool] | None = None) -> None:
        """Tick until ``duration`` [s] of loop time passed, ``until()`` holds, or :meth:`request_stop`.

        In real time the calling thread runs with :func:`teleop.realtime.realtime_thread`.
        """
        if self.config.lockstep:
            self._run(duration, until)
            return
        with realtime.realtime_thread(self.config.realtime_priority):
            self._run(duration, until)

    def _run(self, duration: float | None, until: Callable[[], bool] | None) -> None:
        t_start = self.clock()
        deadline = t_start
        while not self._stop.is_set():
            if duration is not None and self.clock() - t_start >= duration:
                break
            if until is not None and until():
                break
            if not self.config.lockstep:
                late = process_clock.sleep_until(deadline)
                self._t_late.add(late)
                self._last_late = late
                if late > OVERRUN_THRESHOLD:
                    self.overruns += 1
            self.tick()
            deadline += self.dt
            if not self.config.lockstep:
                behind = process_clock.now() - deadline
                if behind > self.dt:  # a tick ran longer than a period: skip the missed slots, keep the grid
                    skipped = int(behind // self.dt)
                    deadline += skipped * self.dt
                    self.skipped_ticks += skipped

    def request_stop(self) -> None:
        self._stop.set()

    # -- status --------------------------------------------------------------------------------
    def timing(self) -> LoopTiming:
        starts = list(self._tick_starts)
        rate = (len(starts) - 1) / (starts[-1] - starts[0]) if len(starts) > 2 and starts[-1] > starts[0] else 0.0
        return LoopTiming(
            rate_hz=rate,
            target_hz=self.config.rate_hz,
            input_age_ms=self._t_input_age.median() * 1e3,
            ik_ms=self._t_ik.median() * 1e3,
            tick_ms_p99=self._t_tick.p99() * 1e3,
            jitter_ms_p99=self._t_late.p99() * 1e3,
            overruns=self.overruns,
        )

    def device_status(self, now: float) -> tuple[DeviceStatus, ...]:
        f = self.frame
        age = (now - f.stamp) * 1e3
        out = [DeviceStatus("head", bool(f.head_valid), age)]
        for role in TrackerRole:
            out.append(DeviceStatus(role.name.lower(), bool(f.tracker_valid[role]), age))
        for i, side in enumerate(g1.SIDES):
            out.append(DeviceStatus(f"{side}_hand", bool(f.hand_valid[i]), age))
            out.append(DeviceStatus(f"{side}_controller", bool(f.controller_valid[i]), age))
        return tuple(out)

    def wrist_errors_mm(self) -> tuple[float, float]:
        """The IK's wrist error to its (filtered) targets [mm], left and right; 0 before the first solve."""
        sol = self.last_solution
        if sol is None:
            return (0.0, 0.0)
        e = np.nan_to_num(sol.info.wrist_position_error, nan=0.0) * 1e3
        return (float(e[0]), float(e[1]))
