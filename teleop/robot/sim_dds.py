"""The MuJoCo simulation as a DDS robot: speaks the G1's own topics, so the link code cannot tell.

One loop, paced in real time against absolute deadlines (500 Hz = one 2 ms physics step)::

    rt/lowcmd ──► listener: CRC check (bad CRC: counted, ignored) ─┐
    rt/dex3/*/cmd ──► listener ────────────────────────────────────┼─► pending MotorCommand (lock)
    rt/psi/lower_body ──► listener (simulator-only extension) ─────┘
                                                                    ▼
    loop: apply pending commands ─► MujocoSim.step() ─► rt/lowstate (q, dq, tau_est, IMU,
          mode_machine, tick, CRC) every step, rt/dex3/*/state at ``hand_state_rate_hz``

Legs and waist: by default the simulator's kinematic base poses them from the lower-body
command on ``rt/psi/lower_body`` (joints with zero gains in rt/lowcmd keep the simulator's
own gains). When an rt/lowcmd commands every leg motor with a nonzero ``kp`` (a lower-body
policy such as AMO running in the teleop process), the base is released once and for all:
the pelvis becomes a free body and the legs and waist follow rt/lowcmd's PD targets.

Unitree's ``motion_switcher`` RPC service is played too (``CheckMode``, ``SelectMode``,
``ReleaseMode``): started with a motion mode (``--motion-mode ai``) the simulator ignores
rt/lowcmd until the link releases it, as a G1 in sport mode must not be low-level commanded.

Diagnostics (simulator only, a real G1 leaves them zero): ``LowState_.reserve[0]`` carries
the CRC of the last rt/lowcmd applied to the physics, ``reserve[1]`` how many bad-CRC
commands were ignored. The round-trip benchmark uses the first.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass

import numpy as np

from teleop import clock
from teleop.exceptions import ConfigError
from teleop.spatial import quat_to_rpy
from teleop.robot import dds_codec as codec
from teleop.robot import g1
from teleop.robot.dds import domain_participant, join_domain
from teleop.robot.lower_body import LOWER_BODY_JOINTS, LowerBodyPolicy, LowerBodyTargets

log = logging.getLogger(__name__)

#: ``mode_machine`` the simulator reports: the G1 29-DoF type id seen on Unitree's robots.
SIM_MODE_MACHINE = 5
#: ``mode_pr`` the simulator reports: 0 = pitch/roll ankle mode (Unitree's default).
SIM_MODE_PR = 0


@dataclass(frozen=True)
class DdsSimConfig:
    """Settings of the DDS simulator.

    Attributes:
        domain: DDS domain id (1 by convention, so a real robot on domain 0 is never disturbed).
        interface: network interface (``lo`` keeps everything on this machine).
        rate_hz: physics and rt/lowstate rate [Hz]; each tick is one 2 ms physics step, so
            anything but 500 runs the physics faster or slower than real time.
        hand_state_rate_hz: rate of rt/dex3/*/state [Hz].
        task: simulated task (``teleop.robot.tasks``) or None for an empty floor.
        seed: episode seed.
        mode_machine: the robot type id reported in rt/lowstate.
        motion_mode: Unitree motion mode the simulated robot starts in ("" = debug mode, as
            the link needs; e.g. "ai" to rehearse releasing sport mode).
    """

    domain: int = 1
    interface: str | None = "lo"
    rate_hz: float = 500.0
    hand_state_rate_hz: float = 500.0
    task: str | None = None
    seed: int = 0
    mode_machine: int = SIM_MODE_MACHINE
    motion_mode: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.domain <= 232:
            raise ConfigError(f"DdsSimConfig.domain = {self.domain} is outside [0, 232]")
        if not 50.0 <= self.rate_hz <= 1000.0:
            raise ConfigError(f"DdsSimConfig.rate_hz = {self.rate_hz} Hz is outside [50, 1000] Hz")
        if not 1.0 <= self.hand_state_rate_hz <= self.rate_hz:
            raise ConfigError(
                f"DdsSimConfig.hand_state_rate_hz = {self.hand_state_rate_hz} Hz is outside [1, rate_hz={self.rate_hz}] Hz"
            )
        if not 0 <= self.mode_machine <= 255:
            raise ConfigError(f"DdsSimConfig.mode_machine = {self.mode_machine} is outside [0, 255]")


class _MotionSwitcherService:
    """The robot's ``motion_switcher`` RPC service, as the simulator plays it.

    ``mode`` is the active Unitree motion mode ("" = debug mode). While a mode is active the
    simulator ignores rt/lowcmd (Unitree's own controller owns the motors); ``ReleaseMode``
    clears it, ``SelectMode`` sets it.
    """

    def __init__(self, mode: str):
        self.mode = mode
        self._server = None

    def start(self) -> None:
        from unitree_sdk2py.comm.motion_switcher import motion_switcher_api as api
        from unitree_sdk2py.rpc.server import Server

        server = Server(api.MOTION_SWITCHER_SERVICE_NAME)
        server._SetApiVersion(api.MOTION_SWITCHER_API_VERSION)
        server._RegistHandler(api.MOTION_SWITCHER_API_ID_CHECK_MODE, self._check, False)
        server._RegistHandler(api.MOTION_SWITCHER_API_ID_SELECT_MODE, self._select, False)
        server._RegistHandler(api.MOTION_SWITCHER_API_ID_RELEASE_MODE, self._release, False)
        server.Start(False)
        self._server = server

    def _check(self, parameter: str) -> tuple[int, str]:
        return 0, json.dumps({"form": "0", "name": self.mode})

    def _select(self, parameter: str) -> tuple[int, str]:
        self.mode = str(json.loads(parameter or "{}").get("name", ""))
        log.warning("DDS simulator: motion mode '%s' selected - rt/lowcmd is ignored until it is released", self.mode)
        return 0, ""

    def _release(self, parameter: str) -> tuple[int, str]:
        if self.mode:
            log.warning("DDS simulator: motion mode '%s' released - debug mode, rt/lowcmd now drives the motors", self.mode)
        self.mode = ""
        return 0, ""


@dataclass
class SimServerStats:
    """Counters of a running DDS simulator."""

    steps: int = 0
    states_published: int = 0
    lowcmds_received: int = 0
    lowcmds_bad_crc: int = 0
    lowcmds_ignored_motion_mode: int = 0  # arrived while a Unitree motion mode owned the motors
    commands_refused: int = 0  # non-finite values: the physics kept the previous command
    hand_cmds_received: int = 0
    lower_body_received: int = 0
    late_ticks: int = 0  # ticks that started more than one period late
    legs_released: bool = False


class _WireLegs(LowerBodyPolicy):
    """Feeds the legs and waist the PD targets that arrived in rt/lowcmd (after the base is released)."""

    def __init__(self, rate_hz: float, q: np.ndarray, kp: np.ndarray, kd: np.ndarray):
        self.rate_hz = rate_hz
        self.q, self.kp, self.kd = q.copy(), kp.copy(), kd.copy()

    def reset(self, state: object) -> None:
        """Nothing to clear: the targets come from the wire."""

    def step(self, cmd: g1.LowerBodyCommand, state: object) -> LowerBodyTargets:
        return LowerBodyTargets(self.q.copy(), self.kp.copy(), self.kd.copy())


class DdsSimServer:
    """Runs :class:`teleop.robot.sim.MujocoSim` behind the G1's DDS topics."""

    def __init__(self, config: DdsSimConfig | None = None, sim=None):
        from teleop.robot.sim import MujocoSim, SimConfig

        self.config = config or DdsSimConfig()
        self.sim = sim or MujocoSim(SimConfig(task=self.config.task, seed=self.config.seed, cameras=()))
        emb = g1.load_embodiment()
        self._lower_idx = emb.indices(LOWER_BODY_JOINTS)
        self._leg_idx = emb.indices(g1.LEG_JOINTS)
        self._lock = threading.Lock()
        state = self.sim.robot_state()
        self._pending = codec.MotorCommand()
        self._pending.q[:] = state.q
        self._pending.kp[:] = self.sim.kp
        self._pending.kd[:] = self.sim.kd
        self._pending.kp[self._lower_idx] = 0.0  # legs stay with the kinematic base until rt/lowcmd says otherwise
        self._pending.kd[self._lower_idx] = 0.0
        self._dirty = True
        self._pending_lower: g1.LowerBodyCommand | None = None
        self._applied_crc = 0
        self._pending_crc = 0
        self._cmd = codec.MotorCommand()
        self._state = state
        self._wire = codec.WireState(mode_pr=SIM_MODE_PR, mode_machine=self.config.mode_machine)
        self.stats = SimServerStats()
        self._channels: list[object] = []
        self._readers: list[object] = []
        self._pub: dict[str, object] = {}
        self._accepting = False
        self._wire_legs: _WireLegs | None = None
        self.motion = _MotionSwitcherService(self.config.motion_mode)

    # ------------------------------------------------------------------ wiring
    def start(self) -> None:
        """Join the DDS domain and open every topic."""
        from teleop.robot import dds_wire as wire

        c = self.config
        join_domain(c.domain, c.interface)
        dp = domain_participant()
        self._lowcmd_codec = wire.FastLowCmd()
        self._lowstate_codec = wire.FastLowState()
        self._hand_cmd_codec = {s: wire.FastHandCmd(s) for s in codec.SIDES}
        self._hand_state_codec = {s: wire.FastHandState(s) for s in codec.SIDES}
        self._accepting = True
        self._pub["lowstate"] = wire.RawWriter(dp, codec.TOPIC_LOWSTATE, codec.LowState_)
        for side in codec.SIDES:
            self._pub[side] = wire.RawWriter(dp, codec.TOPIC_HAND_STATE[side], codec.HandState_)
        self._channels.extend(self._pub.values())
        # polled once per physics step by run() (no listener callbacks on the receive thread)
        self._readers = [wire.RawReader(dp, codec.TOPIC_LOWCMD, codec.LowCmd_, self._on_lowcmd, polled=True)]
        for side in codec.SIDES:
            self._readers.append(wire.RawReader(
                dp, codec.TOPIC_HAND_CMD[side], codec.HandCmd_, lambda data, s=side: self._on_hand_cmd(s, data),
                polled=True,
            ))
        self._readers.append(wire.RawReader(dp, codec.TOPIC_LOWER_BODY, codec.LowerBodyCmd_, self._on_lower_body,
                                            polled=True))
        self._channels.extend(self._readers)
        self.motion.start()
        log.info("DDS simulator up: domain %d on %r, %.0f Hz", c.domain, c.interface, c.rate_hz)

    def close(self) -> None:
        """Close every channel and the simulation. Idempotent."""
        self._accepting = False
        for ch in self._channels:
            try:
                ch.close()
            except Exception:  # noqa: BLE001 - closing a half-open channel
                pass
        self._channels.clear()
        self._readers.clear()
        self._pub.clear()
        self.sim.close()

    # ------------------------------------------------------------------ listeners
    def _on_lowcmd(self, data: bytes) -> None:
        if not self._accepting:
            return
        if self.motion.mode:
            self.stats.lowcmds_ignored_motion_mode += 1
            return
        with self._lock:
            crc = self._lowcmd_codec.decode(data, self._pending)
            if crc is None:
                self.stats.lowcmds_bad_crc += 1
                return
            self._pending_crc = crc
            self._dirty = True
            self.stats.lowcmds_received += 1

    def _on_hand_cmd(self, side: str, data: bytes) -> None:
        if not self._accepting:
            return
        with self._lock:
            self._hand_cmd_codec[side].decode(data, self._pending)
            self._dirty = True
            self.stats.hand_cmds_received += 1

    def _on_lower_body(self, data: bytes) -> None:
        if not self._accepting:
            return
        try:
            cmd = codec.decode_lower_body(codec.LowerBodyCmd_.deserialize(data))
        except Exception:  # noqa: BLE001 - a malformed message from someone else's tool
            return
        with self._lock:
            self._pending_lower = cmd
            self.stats.lower_body_received += 1

    # ------------------------------------------------------------------ loop
    def _apply_pending(self) -> None:
        with self._lock:
            dirty, lower = self._dirty, self._pending_lower
            if dirty:
                self._cmd.copy_from(self._pending)
                crc = self._pending_crc
            self._dirty, self._pending_lower = False, None
        sim = self.sim
        if lower is not None:
            try:
                sim.set_lower_body_command(lower)
            except Exception:  # noqa: BLE001 - NaN from the wire: keep the previous command
                self.stats.commands_refused += 1
        if not dirty:
            return
        c = self._cmd
        off = ~c.enabled
        c.kp[off] = 0.0
        c.kd[off] = 0.0
        c.tau[off] = 0.0
        li = self._lower_idx
        if self._wire_legs is None and np.all(c.kp[self._leg_idx] > 0.0) and np.all(c.enabled[self._leg_idx]):
            self._wire_legs = _WireLegs(self.config.rate_hz, c.q[li], c.kp[li], c.kd[li])
            sim.attach_lower_body_policy(self._wire_legs)
            self.stats.legs_released = True
            log.warning("rt/lowcmd commands the legs: kinematic base released, legs and waist now under PD from rt/lowcmd")
        if self._wire_legs is not None:
            self._wire_legs.q[:], self._wire_legs.kp[:], self._wire_legs.kd[:] = c.q[li], c.kp[li], c.kd[li]
        else:  # the kinematic base poses legs and waist with the simulator's own gains
            c.kp[li] = sim.kp[li]
            c.kd[li] = sim.kd[li]
        try:
            sim.set_motor_commands(c.q, c.dq, c.kp, c.kd, c.tau)
            self._applied_crc = crc
        except Exception as exc:  # noqa: BLE001 - RobotBackendError on NaN: keep the previous command
            self.stats.commands_refused += 1
            if self.stats.commands_refused == 1:
                log.warning("DDS simulator refused a command: %s", exc)

    def _publish_state(self, hands: bool) -> None:
        s = self.sim.robot_state(self._state)
        w = self._wire
        w.q[:], w.dq[:], w.tau[:] = s.q, s.dq, s.tau
        w.quat_wxyz[:] = s.base_quat
        w.gyro[:] = s.imu_gyro
        w.acc[:] = s.imu_acc
        w.tick = (w.tick + 1) & 0xFFFFFFFF
        reserve = (self._applied_crc, self.stats.lowcmds_bad_crc & 0xFFFFFFFF, 0, 0)
        self._pub["lowstate"].write(self._lowstate_codec.encode(w, rpy=quat_to_rpy(w.quat_wxyz), reserve=reserve))
        self.stats.states_published += 1
        if hands:
            for side in codec.SIDES:
                self._pub[side].write(self._hand_state_codec[side].encode(w))

    def run(self, stop: threading.Event, duration_s: float | None = None, on_second=None) -> SimServerStats:
        """Step and publish in real time until ``stop`` is set (or ``duration_s`` [s] of wall time passed).

        Args:
            stop: set it (from another thread or a signal handler) to end the loop.
            duration_s: optional wall-clock limit [s].
            on_second: optional callback ``f(stats, sim_time_s, wall_s)`` called about once a second.
        """
        period = 1.0 / self.config.rate_hz
        hand_every = max(1, int(round(self.config.rate_hz / self.config.hand_state_rate_hz)))
        t0 = clock.now()
        deadline = t0
        next_report = t0 + 1.0
        while not stop.is_set():
            for reader in self._readers:
                reader.poll()
            self._apply_pending()
            self.sim.step(1)
            self.stats.steps += 1
            self._publish_state(hands=self.stats.steps % hand_every == 0)
            deadline += period
            late = clock.sleep_until(deadline, spin=False)
            if late > period:
                self.stats.late_ticks += 1
                deadline = clock.now()
            now = clock.now()
            if on_second is not None and now >= next_report:
                next_report += 1.0
                on_second(self.stats, self.sim.time, now - t0)
            if duration_s is not None and now - t0 >= duration_s:
                break
        return self.stats


__all__ = ["DdsSimConfig", "DdsSimServer", "SimServerStats"]
