"""The DDS robot link: a :class:`RobotBackend` that drives a G1 + Dex3-1 (or the DDS simulator).

Data flow (one process; ``unitree_sdk2py`` over CycloneDDS)::

    rt/lowstate ─────┐  polled by the command thread ──► WireState (under a lock) ──► read_state()
    rt/dex3/*/state ─┘  (no listener callbacks)          │ arrival times
                                                          ▼
    apply_action() ──► targets (lock) ──► command thread, ``command_rate_hz`` (500 Hz):
                                            take new states, watchdog ─► OK / hold / damp
                                            legs + waist ◄── lower-body thread: policy (AMO), 50 Hz
                                            sanitize (NaN refused, limits clipped) → CRC
                                            ──► rt/lowcmd, rt/dex3/{left,right}/cmd, rt/psi/lower_body (sim)

The command thread publishes continuously, as the robot's low-level interface expects (a
G1 in debug mode needs a fresh ``rt/lowcmd`` at >= 250 Hz); ``apply_action`` only updates the
targets. ``mode_pr`` and ``mode_machine`` are copied from the latest ``rt/lowstate`` and no
command is sent before the first state has arrived.

Faults (see :mod:`teleop.robot.watchdog`): a robot state older than ``state_timeout_s``
(50 ms) holds the last joint targets and stops the legs, a longer silence switches every
motor to damping; an application that stops calling :meth:`DdsBackend.apply_action` for
``command_timeout_s`` gets the same hold. Each change is logged once in plain words and
shown by :attr:`DdsBackend.link_status`; when the state returns the backend ramps from the
measured pose back to the commanded one.

ChannelFactoryInitialize is process-global in ``unitree_sdk2py``: one process joins one DDS
domain on one interface. :func:`join_domain` enforces that with a clear error.
"""

from __future__ import annotations

import enum
import logging
import threading
from dataclasses import dataclass, field

import numpy as np

from teleop import clock, realtime
from teleop.exceptions import ConfigError
from teleop.robot import dds_codec as codec
from teleop.robot import g1
from teleop.robot.backend import LinkStatus, RobotBackend, RobotState
from teleop.robot.exceptions import LinkError, UnsafeCommandError
from teleop.robot.lower_body import LOWER_BODY_JOINTS, LowerBodyPolicy
from teleop.robot.watchdog import LinkHealth, LinkWatchdog, WatchdogConfig, WatchdogEvent

log = logging.getLogger(__name__)

#: DDS domain ids CycloneDDS accepts.
_DOMAIN_RANGE = (0, 232)
#: Default PD gains on the wire by group [N m/rad], [N m s/rad]. Arms and wrists follow
#: Unitree's G1 teleoperation settings. Hands use the simulation's Dex3 gains (Menagerie's
#: finger model needs kp ~5 to settle within a few degrees); Unitree's Dex3 examples use
#: kp 1.5, kd 0.2 - set those per joint with DdsConfig.kp / kd on hardware if preferred.
DEFAULT_WIRE_GAINS: dict[str, tuple[float, float]] = {
    "arm": (80.0, 3.0),
    "wrist": (40.0, 1.5),
    "hand": (5.0, 0.1),
    "legs": (150.0, 2.0),  # only used when no lower-body source commands the legs
    "waist": (300.0, 5.0),
}
#: Damping [N m s/rad] in damping mode (e-stop, lost link): body motors, hand motors.
DAMPING_KD = {"body": 3.0, "hand": 0.1}


#: Rate [Hz] at which the command thread takes and decodes the robot's state messages: the
#: state :meth:`DdsBackend.read_state` returns is at most one period old (its stamp says when).
STATE_POLL_HZ = 100.0


class MotionModePolicy(enum.Enum):
    """What :meth:`DdsBackend.start` does about Unitree's own motion controller (sport / "ai" mode)."""

    #: Ask the robot's ``motion_switcher`` service; refuse to start while a mode is active.
    REQUIRE_RELEASED = "require_released"
    #: Ask, and release an active mode (the robot goes limp: it must hang on its gantry).
    RELEASE = "release"
    #: Do not ask (robots whose firmware has no motion_switcher service).
    SKIP = "skip"


class LowerBodySource(enum.Enum):
    """Who drives the legs and the waist."""

    #: A :class:`LowerBodyPolicy` (AMO) in this process: leg + waist targets go out in rt/lowcmd.
    #: The only choice for a real G1.
    POLICY = "policy"
    #: The simulator's kinematic base: the 8-value command goes out on rt/psi/lower_body and the
    #: leg and waist motors get zero gains in rt/lowcmd (simulator only).
    SIMULATOR = "simulator"


def _gain_group(name: str) -> str:
    if "_hand_" in name:
        return "hand"
    if name in g1.LEG_JOINTS:
        return "legs"
    if name in g1.WAIST_JOINTS:
        return "waist"
    if "wrist" in name:
        return "wrist"
    return "arm"


@dataclass(frozen=True)
class DdsConfig:
    """Settings of the DDS robot link.

    Attributes:
        domain: DDS domain id (0 for a real G1, 1 for ``psi-teleop sim --dds``).
        interface: network interface that reaches the robot (``enp3s0``, ``lo`` for the simulator);
            None lets CycloneDDS choose.
        command_rate_hz: rate of rt/lowcmd [Hz] (the robot needs >= 250 Hz).
        hand_rate_hz: rate of the Dex3 hand commands [Hz].
        lower_body: who drives legs and waist (:class:`LowerBodySource`).
        watchdog: state / command timeouts.
        kp, kd: per-joint gain overrides {joint name: value} [N m/rad], [N m s/rad] on top of
            :data:`DEFAULT_WIRE_GAINS`.
        recover_ramp_s: time to blend from the measured pose to the commanded one after a
            lost link or an e-stop [s].
        connect_timeout_s: how long :meth:`DdsBackend.start` waits for the first rt/lowstate [s].
        check_state_crc: drop rt/lowstate messages whose CRC does not match.
        motion_mode: what to do about Unitree's own motion controller (:class:`MotionModePolicy`).
        realtime_priority: SCHED_FIFO priority of the command thread (0: normal scheduling); below
            the teleop loop's (:data:`teleop.realtime.DEFAULT_PRIORITY`), see :mod:`teleop.realtime`.
    """

    domain: int = 0
    interface: str | None = None
    command_rate_hz: float = 500.0
    hand_rate_hz: float = 100.0
    lower_body: LowerBodySource = LowerBodySource.SIMULATOR
    watchdog: WatchdogConfig = field(default_factory=WatchdogConfig)
    kp: dict[str, float] = field(default_factory=dict)
    kd: dict[str, float] = field(default_factory=dict)
    recover_ramp_s: float = 1.0
    connect_timeout_s: float = 5.0
    check_state_crc: bool = True
    motion_mode: MotionModePolicy = MotionModePolicy.REQUIRE_RELEASED
    realtime_priority: int = 30

    def __post_init__(self) -> None:
        lo, hi = _DOMAIN_RANGE
        if not lo <= self.domain <= hi:
            raise ConfigError(f"DdsConfig.domain = {self.domain} is outside [{lo}, {hi}]; use 0 for a G1, 1 for the simulator")
        if self.interface is not None and not self.interface.strip():
            raise ConfigError("DdsConfig.interface is empty; give a network interface name such as 'lo' or 'enp3s0', or None")
        if not 250.0 <= self.command_rate_hz <= 1000.0:
            raise ConfigError(f"DdsConfig.command_rate_hz = {self.command_rate_hz} Hz is outside [250, 1000] Hz")
        if not 10.0 <= self.hand_rate_hz <= self.command_rate_hz:
            raise ConfigError(
                f"DdsConfig.hand_rate_hz = {self.hand_rate_hz} Hz is outside [10, command_rate_hz={self.command_rate_hz}] Hz"
            )
        if not isinstance(self.motion_mode, MotionModePolicy):
            raise ConfigError(f"DdsConfig.motion_mode must be a MotionModePolicy, got {self.motion_mode!r}")
        if not isinstance(self.lower_body, LowerBodySource):
            raise ConfigError(f"DdsConfig.lower_body must be a LowerBodySource, got {self.lower_body!r}")
        if not 0.0 <= self.recover_ramp_s <= 10.0:
            raise ConfigError(f"DdsConfig.recover_ramp_s = {self.recover_ramp_s} s is outside [0, 10] s")
        if not 0 <= self.realtime_priority <= 99:
            raise ConfigError(f"DdsConfig.realtime_priority = {self.realtime_priority} is outside [0, 99] (0: normal)")
        if not 0.1 <= self.connect_timeout_s <= 120.0:
            raise ConfigError(f"DdsConfig.connect_timeout_s = {self.connect_timeout_s} s is outside [0.1, 120] s")
        emb = g1.load_embodiment()
        for which, gains in (("kp", self.kp), ("kd", self.kd)):
            for name, v in gains.items():
                emb.index_of(name)  # raises with the valid names
                if not (np.isfinite(v) and v >= 0.0):
                    raise ConfigError(f"DdsConfig.{which}[{name!r}] = {v} must be a finite value >= 0")

    def gains(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-joint ``(kp, kd)`` (43,) in MODEL_JOINTS order [N m/rad], [N m s/rad]."""
        kp = np.array([self.kp.get(n, DEFAULT_WIRE_GAINS[_gain_group(n)][0]) for n in g1.MODEL_JOINTS])
        kd = np.array([self.kd.get(n, DEFAULT_WIRE_GAINS[_gain_group(n)][1]) for n in g1.MODEL_JOINTS])
        return kp, kd


# ---------------------------------------------------------------------------------------
# Process-global DDS participant
# ---------------------------------------------------------------------------------------
_domain_lock = threading.Lock()
_joined: tuple[int, str | None] | None = None
_participant = None


def join_domain(domain: int, interface: str | None) -> None:
    """Initialise ``unitree_sdk2py``'s channel factory once per process.

    Raises:
        LinkError: this process already joined another domain/interface (the SDK allows one),
            or CycloneDDS cannot use ``interface``.
    """
    global _joined
    from unitree_sdk2py.core.channel import ChannelFactoryInitialize

    with _domain_lock:
        if _joined is not None:
            if _joined != (domain, interface):
                raise LinkError(
                    f"this process already joined DDS domain {_joined[0]} on interface {_joined[1]!r}; "
                    f"unitree_sdk2py allows one domain per process, so domain {domain} on {interface!r} needs "
                    "its own process"
                )
            return
        try:
            ChannelFactoryInitialize(domain, interface)
        except Exception as exc:  # the SDK raises a bare Exception
            raise LinkError(
                f"cannot join DDS domain {domain} on interface {interface!r} ({exc}); check the interface name "
                "with `ip link` (use 'lo' for the simulator on this machine)"
            ) from exc
        _joined = (domain, interface)


def domain_participant():
    """This process's CycloneDDS participant on the joined domain (created once, after :func:`join_domain`)."""
    global _participant
    from cyclonedds.domain import DomainParticipant

    with _domain_lock:
        if _joined is None:
            raise LinkError("no DDS domain joined yet; call join_domain(domain, interface) first")
        if _participant is None:
            _participant = DomainParticipant(_joined[0])
        return _participant


# ---------------------------------------------------------------------------------------
# Unitree's motion switcher (sport mode vs debug mode)
# ---------------------------------------------------------------------------------------
_switcher = None


def _motion_switcher():
    """The process's one ``MotionSwitcherClient`` (created once, never released).

    The SDK client owns DDS readers whose listeners are ctypes callbacks; dropping a client
    lets the garbage collector free a callback that CycloneDDS's receive thread may still
    call, which crashes the process (seen as a segfault in the ``recv`` thread). One client
    for the life of the process avoids that.
    """
    global _switcher
    from unitree_sdk2py.comm.motion_switcher.motion_switcher_client import MotionSwitcherClient

    with _domain_lock:
        if _switcher is None:
            client = MotionSwitcherClient()
            client.Init()
            _switcher = client
        return _switcher


def query_motion_mode(timeout_s: float = 1.0) -> str | None:
    """Name of the active Unitree motion mode ("" = released, i.e. debug mode), or None if nobody answers.

    Uses the SDK's ``MotionSwitcherClient.CheckMode`` RPC on the joined domain.
    """
    client = _motion_switcher()
    client.SetTimeout(timeout_s)
    code, data = client.CheckMode()
    if code != 0 or not isinstance(data, dict):
        return None
    return str(data.get("name", ""))


def release_motion_mode(timeout_s: float = 5.0) -> bool:
    """Ask the robot to release its motion mode and wait until ``CheckMode`` reports none; True on success."""
    client = _motion_switcher()
    client.SetTimeout(1.0)
    t_end = clock.now() + timeout_s
    while clock.now() < t_end:
        client.ReleaseMode()
        code, data = client.CheckMode()
        if code == 0 and isinstance(data, dict) and not data.get("name"):
            return True
        threading.Event().wait(0.2)
    return False


def ensure_debug_mode(policy: MotionModePolicy) -> None:
    """Apply ``policy`` before any low-level command is sent (see :class:`MotionModePolicy`).

    Raises:
        LinkError: a motion mode is active and the policy does not allow releasing it, or the
            release did not take effect.
    """
    if policy is MotionModePolicy.SKIP:
        return
    mode = query_motion_mode()
    if mode is None:
        log.warning(
            "robot link: the robot's motion_switcher service did not answer; make sure the G1 is in debug mode "
            "(remote: L2+R2 with the robot on its gantry) before it receives low-level commands"
        )
        return
    if mode == "":
        log.info("robot link: the robot is in debug mode (no Unitree motion mode active)")
        return
    if policy is MotionModePolicy.REQUIRE_RELEASED:
        raise LinkError(
            f"the robot is running Unitree's own motion controller ('{mode}' mode), which also commands the motors; "
            "hang the robot on its gantry and put it in debug mode (remote: L2+R2), or start the link with "
            "DdsConfig(motion_mode=MotionModePolicy.RELEASE) to release the mode from here"
        )
    log.warning("robot link: releasing Unitree's '%s' motion mode - the robot goes limp until our commands arrive", mode)
    if not release_motion_mode():
        raise LinkError(f"the robot did not leave its '{mode}' motion mode; use the remote (L2+R2) and try again")


# ---------------------------------------------------------------------------------------
# Backend
# ---------------------------------------------------------------------------------------
@dataclass
class LinkStats:
    """Counters of the link since start (read with :meth:`DdsBackend.stats`)."""

    states_received: int = 0
    hand_states_received: int = 0
    bad_crc_states: int = 0
    commands_sent: int = 0
    hand_commands_sent: int = 0
    actions_rejected: int = 0  # NaN / wrong shape actions refused by apply_action
    values_clipped: int = 0  # command values clipped into the limits on their way out
    unsafe_commands_dropped: int = 0  # whole commands not sent (non-finite after the policy)
    overruns: int = 0  # command ticks that started later than one period after their deadline
    watchdog_trips: int = 0
    policy_steps: int = 0  # lower-body policy steps (50 Hz for AMO)
    policy_failures: int = 0  # steps that raised or returned NaN (legs kept their targets)
    policy_overruns: int = 0  # policy ticks that started later than one period after their deadline
    policy_step_ms: float = 0.0  # duration of the last policy step [ms]


class DdsBackend(RobotBackend):
    """The G1 + Dex3-1 over ``unitree_sdk2py`` DDS (real robot or ``psi-teleop sim --dds``).

    Args:
        config: link settings.
        lower_body_policy: the controller for legs and waist when ``config.lower_body`` is
            :attr:`LowerBodySource.POLICY` (e.g. :class:`teleop.robot.amo.AmoPolicy`).
    """

    name = "dds"

    def __init__(self, config: DdsConfig | None = None, lower_body_policy: LowerBodyPolicy | None = None):
        self.config = config or DdsConfig()
        if self.config.lower_body is LowerBodySource.POLICY and lower_body_policy is None:
            raise ConfigError(
                "DdsConfig.lower_body is POLICY but no lower_body_policy was given; pass an AmoPolicy "
                "(see docs/robot_link.md) or use LowerBodySource.SIMULATOR with the DDS simulator"
            )
        self.policy = lower_body_policy
        emb = g1.load_embodiment()
        self._emb = emb
        self._limits = codec.CommandLimits.from_embodiment()
        self._kp, self._kd = self.config.gains()
        self._lower_idx = emb.indices(LOWER_BODY_JOINTS)
        self._arm_idx = emb.indices(g1.ARM_JOINTS)
        self._hand_idx = emb.indices(g1.HAND_JOINTS)
        self._upper_idx = np.concatenate([self._arm_idx, self._hand_idx])
        self._is_hand = np.array(["_hand_" in n for n in g1.MODEL_JOINTS])
        # shared with the listener threads (under _lock)
        self._lock = threading.Lock()
        self._wire = codec.WireState()
        self._t_state: float | None = None
        self._poll_lock = threading.Lock()  # one taker of the state readers at a time
        self._first_state = threading.Event()
        self._first_hand_state = {side: threading.Event() for side in codec.SIDES}
        # shared with apply_action (under _lock)
        self._target_q = emb.q_default.copy()
        self._lower_cmd = g1.LowerBodyCommand()
        self._estop = False
        self._ramp_from: np.ndarray | None = None
        self._ramp_t0 = 0.0
        # command thread only
        self._cmd = codec.MotorCommand()
        self._lower_q = emb.q_default[self._lower_idx].copy()
        self._lower_kp = self._kp[self._lower_idx].copy()
        self._lower_kd = self._kd[self._lower_idx].copy()
        self._watchdog = LinkWatchdog(self.config.watchdog, link_name=f"robot link (domain {self.config.domain})")
        self._stats = LinkStats()
        self._events: list[WatchdogEvent] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._policy_thread: threading.Thread | None = None
        self._policy_reset = False  # set by other threads, done by the lower-body thread
        self._accepting = False
        self._started = False
        self._pub: dict[str, object] = {}
        self._sub: dict[str, object] = {}
        self._last_reject_log = -1e9
        self._crashed = False

    # ------------------------------------------------------------------ life cycle
    def start(self) -> None:
        """Join the domain, open the channels, wait for the robot's first state. Idempotent."""
        from teleop.robot import dds_wire as wire

        if self._started:
            return
        c = self.config
        join_domain(c.domain, c.interface)
        ensure_debug_mode(c.motion_mode)
        dp = domain_participant()
        self._lowcmd_codec = wire.FastLowCmd()
        self._lowstate_codec = wire.FastLowState()
        self._hand_cmd_codec = {s: wire.FastHandCmd(s) for s in codec.SIDES}
        self._hand_state_codec = {s: wire.FastHandState(s) for s in codec.SIDES}
        self._accepting = True
        # polled by the command thread (and below, until the first state): no listener callbacks
        self._sub["lowstate"] = wire.RawReader(dp, codec.TOPIC_LOWSTATE, codec.LowState_, self._on_lowstate, polled=True)
        for side in codec.SIDES:
            self._sub[side] = wire.RawReader(
                dp, codec.TOPIC_HAND_STATE[side], codec.HandState_, lambda data, s=side: self._on_hand_state(s, data),
                polled=True,
            )
        self._pub["lowcmd"] = wire.RawWriter(dp, codec.TOPIC_LOWCMD, codec.LowCmd_)
        for side in codec.SIDES:
            self._pub[side] = wire.RawWriter(dp, codec.TOPIC_HAND_CMD[side], codec.HandCmd_)
        if c.lower_body is LowerBodySource.SIMULATOR:
            self._pub["lower_body"] = wire.RawWriter(dp, codec.TOPIC_LOWER_BODY, codec.LowerBodyCmd_)
        if not self._poll_until(self._first_state, c.connect_timeout_s):
            self.stop()
            if self._stats.bad_crc_states:
                raise LinkError(
                    f"{codec.TOPIC_LOWSTATE} arrives but all {self._stats.bad_crc_states} messages failed their CRC "
                    "check: another robot type or firmware on this domain? If this G1's firmware leaves the CRC "
                    "empty, start with DdsConfig(check_state_crc=False)"
                )
            raise LinkError(
                f"no robot state on {codec.TOPIC_LOWSTATE} within {c.connect_timeout_s:.1f} s "
                f"(DDS domain {c.domain}, interface {c.interface!r}). For the simulator run "
                f"`psi-teleop sim --dds --domain {c.domain} --interface lo`; for a G1 check the cable, the "
                "interface name (`ip addr`: the PC must be on 192.168.123.x) and that the robot is powered on"
            )
        for side in codec.SIDES:  # the Dex3 states come on their own topics; give them a moment
            if not self._poll_until(self._first_hand_state[side], 1.0):
                log.warning("robot link: no Dex3 state from the %s hand yet; its targets start from the default pose", side)
        with self._lock:
            # hold where the robot is until the first action (hands without a state: default pose)
            known = np.ones(len(g1.MODEL_JOINTS), dtype=bool)
            for side in codec.SIDES:
                if not self._first_hand_state[side].is_set():
                    known[codec.wire_map().hand_model_index[side]] = False
            self._target_q[known] = self._wire.q[known]
            state = self._state_locked()
            self._lower_q[:] = self._wire.q[self._lower_idx]
        self._started = True
        self._stop.clear()
        if self.policy is not None:
            self.policy.reset(state)
            self._policy_tick(force=True)  # the legs get the policy's targets from the very first command
            self._policy_thread = threading.Thread(target=self._run_lower_body, name="dds-lower-body", daemon=True)
            self._policy_thread.start()
        self._thread = threading.Thread(target=self._run, name="dds-command", daemon=True)
        self._thread.start()
        log.info(
            "robot link up: DDS domain %d on %r, commands at %.0f Hz, legs by %s",
            c.domain, c.interface, c.command_rate_hz, c.lower_body.value,
        )

    def stop(self) -> None:
        """Send damping for a few ticks, stop the command thread, close the channels. Idempotent."""
        self._stop.set()
        for name in ("_policy_thread", "_thread"):
            thread = getattr(self, name)
            if thread is not None:
                thread.join(timeout=2.0)
                if thread.is_alive():
                    log.error("robot link: the %s thread did not stop within 2 s", thread.name)
                setattr(self, name, None)
        if self._started and self._t_state is not None and "lowcmd" in self._pub:
            try:  # last words: damping, so a robot that stops hearing us is not left stiff on stale targets
                self._fill_damping(self._cmd)
                for _ in range(3):
                    self._publish(self._cmd, hands=True)
            except Exception as exc:  # noqa: BLE001 - shutdown must go on
                log.warning("robot link: could not send the final damping command: %s", exc)
        self._accepting = False
        for ch in list(self._pub.values()) + list(self._sub.values()):
            try:
                ch.close()
            except Exception:  # noqa: BLE001 - closing a half-open channel
                pass
        self._pub.clear()
        self._sub.clear()
        self._started = False

    def _poll_until(self, event: threading.Event, timeout_s: float) -> bool:
        """Poll the state readers until ``event`` is set or ``timeout_s`` passes (start-up, before the command thread)."""
        t_end = clock.now() + timeout_s
        while not event.is_set() and clock.now() < t_end:
            self._poll_states()
            event.wait(0.002)
        return event.is_set()

    def _poll_states(self) -> None:
        """Take the newest robot state messages (the newest supersedes the rest) and decode them.

        Called by the command thread at :data:`STATE_POLL_HZ`, so the caller of
        :meth:`read_state` (the teleop loop) pays nothing for it: decoding costs ~0.3 ms per
        poll. Not at the 500 Hz command rate: decoding every state message would cost a
        fifth of a core for samples nobody reads.
        """
        with self._poll_lock:
            n_low = self._sub["lowstate"].poll(latest_only=True)
            n_hand = sum(self._sub[side].poll(latest_only=True) for side in codec.SIDES)
        if n_low or n_hand:
            with self._lock:
                self._stats.states_received += n_low
                self._stats.hand_states_received += n_hand

    # ------------------------------------------------------------------ state messages (polled)
    def _on_lowstate(self, data: bytes) -> None:
        if not self._accepting:
            return
        t = clock.now()
        with self._lock:
            if self._lowstate_codec.decode(data, self._wire, check_crc=self.config.check_state_crc) is None:
                self._stats.bad_crc_states += 1
                if self._stats.bad_crc_states in (1, 100) or self._stats.bad_crc_states % 5000 == 0:
                    log.warning("robot link: dropped %d rt/lowstate messages with a wrong CRC", self._stats.bad_crc_states)
                return
            self._t_state = t
            self._watchdog.on_state(t)
        self._first_state.set()

    def _on_hand_state(self, side: str, data: bytes) -> None:
        if not self._accepting:
            return
        with self._lock:
            self._hand_state_codec[side].decode(data, self._wire)
        self._first_hand_state[side].set()

    # ------------------------------------------------------------------ RobotBackend API
    def _state_locked(self) -> RobotState:
        w = self._wire
        return RobotState(
            stamp=self._t_state or 0.0,
            q=w.q.copy(),
            dq=w.dq.copy(),
            tau=w.tau.copy(),
            base_quat=w.quat_wxyz.copy(),
            imu_gyro=w.gyro.copy(),
            imu_acc=w.acc.copy(),
            hand_pressure=w.hand_pressure.copy(),
            lower_body_cmd=self._lower_cmd.to_array(),
        )

    def read_state(self) -> RobotState:
        """The latest measured state; ``stamp`` is when it was taken off the wire (:func:`teleop.clock.now`)."""
        with self._lock:
            return self._state_locked()

    def apply_action(self, action: np.ndarray) -> None:
        """Set arm and hand targets and the lower-body command; the command thread sends them.

        A NaN/inf action or one of the wrong size is refused: the previous targets stay, the
        refusal is counted and logged, and (if it persists) the watchdog holds the robot.
        """
        a = np.asarray(action, dtype=float)
        if a.shape != (g1.ACTION_DIM,) or not np.isfinite(a).all():
            self._stats.actions_rejected += 1
            t = clock.now()
            if t - self._last_reject_log > 1.0:
                self._last_reject_log = t
                bad = [g1.ACTION_NAMES[i] for i in np.flatnonzero(~np.isfinite(a))] if a.shape == (g1.ACTION_DIM,) else []
                log.warning(
                    "robot link: refused an action of shape %s%s; the robot keeps its previous targets (%d refused so far)",
                    a.shape, f" with NaN/inf in {bad[:6]}" if bad else "", self._stats.actions_rejected,
                )
            return
        hand_q, arm_q, lower = g1.unpack_action(a)
        t = clock.now()
        with self._lock:
            self._target_q[self._hand_idx] = hand_q
            self._target_q[self._arm_idx] = arm_q
            self._lower_cmd = g1.LowerBodyCommand.from_array(lower)
            self._watchdog.on_command(t)

    def damp(self) -> None:
        """E-stop: every motor to damping (zero stiffness) until :meth:`release`."""
        with self._lock:
            self._estop = True
        log.warning("robot link: E-STOP - all motors in damping mode until released")

    def release(self) -> None:
        """Leave damping: ramp from the measured pose to the commanded targets over ``recover_ramp_s``."""
        with self._lock:
            self._estop = False
            self._ramp_from = self._wire.q.copy()
            self._ramp_t0 = clock.now()
            self._policy_reset = True
        log.info("robot link: released from damping - ramping back to the commanded pose")

    @property
    def link_status(self) -> LinkStatus:
        if not self._started or self._crashed:
            return LinkStatus.DISCONNECTED
        if self._estop:
            return LinkStatus.DAMPING
        return {
            LinkHealth.WAITING: LinkStatus.DISCONNECTED,
            LinkHealth.OK: LinkStatus.OK,
            LinkHealth.COMMAND_STALLED: LinkStatus.STALE,
            LinkHealth.STATE_LOST: LinkStatus.STALE,
            LinkHealth.DAMPING: LinkStatus.DAMPING,
        }[self._watchdog.health]

    @property
    def health(self) -> LinkHealth:
        """The watchdog's finer-grained view (command stall vs lost state)."""
        return self._watchdog.health

    def events(self) -> list[WatchdogEvent]:
        """Every link-health change since start (oldest first)."""
        with self._lock:
            return list(self._events)

    def stats(self) -> LinkStats:
        """A copy of the link counters."""
        s = LinkStats(**vars(self._stats))
        s.watchdog_trips = self._watchdog.trips
        return s

    # ------------------------------------------------------------------ command thread
    def _fill_damping(self, cmd: codec.MotorCommand) -> None:
        with self._lock:
            cmd.q[:] = self._wire.q
        cmd.dq[:] = 0.0
        cmd.tau[:] = 0.0
        cmd.kp[:] = 0.0
        cmd.kd[:] = np.where(self._is_hand, DAMPING_KD["hand"], DAMPING_KD["body"])
        cmd.enabled[:] = True

    def _publish(self, cmd: codec.MotorCommand, hands: bool) -> None:
        with self._lock:
            mode_pr, mode_machine = self._wire.mode_pr, self._wire.mode_machine
        self._pub["lowcmd"].write(self._lowcmd_codec.encode(cmd, mode_pr, mode_machine))
        self._stats.commands_sent += 1
        if hands:
            for side in codec.SIDES:
                self._pub[side].write(self._hand_cmd_codec[side].encode(cmd))
            self._stats.hand_commands_sent += 1

    def _run(self) -> None:
        c = self.config
        realtime.raise_priority(c.realtime_priority, "robot link command thread")  # ends with the link
        period = 1.0 / c.command_rate_hz
        hand_every = max(1, int(round(c.command_rate_hz / c.hand_rate_hz)))
        lower_every = max(1, int(round(c.command_rate_hz / 50.0)))  # rt/psi/lower_body at 50 Hz
        cmd = self._cmd
        tick = 0
        seq = 0
        deadline = clock.now()
        try:
            poll_every = max(1, int(round(c.command_rate_hz / STATE_POLL_HZ)))
            while not self._stop.is_set():
                if tick % poll_every == 0:
                    self._poll_states()
                t = clock.now()
                with self._lock:
                    event = self._watchdog.update(t)
                    if event is not None:
                        self._events.append(event)
                    health = self._watchdog.health
                    estop = self._estop
                    lower_cmd = self._lower_cmd
                if event is not None:
                    self._log_event(event)
                    if event.health is LinkHealth.OK and event.previous in (LinkHealth.STATE_LOST, LinkHealth.DAMPING):
                        with self._lock:
                            self._ramp_from = self._wire.q.copy()
                            self._ramp_t0 = t
                            self._policy_reset = True
                if health is not LinkHealth.WAITING:
                    if health is not LinkHealth.OK:
                        # hold: no walking while the link or the command source is in doubt
                        lower_cmd = g1.LowerBodyCommand(lower_cmd.torso_rpy, lower_cmd.torso_height, 0.0, 0.0, 0.0,
                                                        lower_cmd.target_yaw)
                    if estop or health is LinkHealth.DAMPING:
                        self._fill_damping(cmd)
                    else:
                        self._fill_command(cmd, t)
                    try:
                        self._stats.values_clipped += codec.sanitize_command(cmd, self._limits)
                        self._publish(cmd, hands=tick % hand_every == 0)
                    except UnsafeCommandError as exc:
                        self._stats.unsafe_commands_dropped += 1
                        if self._stats.unsafe_commands_dropped == 1 or self._stats.unsafe_commands_dropped % 500 == 0:
                            log.error("robot link: %s", exc)
                    if "lower_body" in self._pub and tick % lower_every == 0:
                        seq += 1
                        try:
                            self._pub["lower_body"].write(codec.encode_lower_body(lower_cmd, seq).serialize())
                        except UnsafeCommandError as exc:
                            log.error("robot link: %s", exc)
                tick += 1
                deadline += period
                late = clock.sleep_until(deadline, spin=False)
                if late > period:
                    self._stats.overruns += 1
                    deadline = clock.now()  # do not try to catch up with a burst
        except Exception:  # noqa: BLE001 - the thread must say why it died
            self._crashed = True
            log.exception(
                "robot link: the command thread crashed and no longer commands the robot; the Dex3 hands stop by "
                "themselves after 1 s, the body keeps its last command - put the robot in damping with the remote"
            )
            raise

    def _fill_command(self, cmd: codec.MotorCommand, t: float) -> None:
        li = self._lower_idx
        with self._lock:
            cmd.q[:] = self._target_q
            measured_lower = self._wire.q[li]
            ramp_from, ramp_t0 = self._ramp_from, self._ramp_t0
            lower_q, lower_kp, lower_kd = self._lower_q.copy(), self._lower_kp.copy(), self._lower_kd.copy()
        if ramp_from is not None:
            alpha = 1.0 if self.config.recover_ramp_s <= 0 else min(1.0, (t - ramp_t0) / self.config.recover_ramp_s)
            u = self._upper_idx
            cmd.q[u] = ramp_from[u] + alpha * (cmd.q[u] - ramp_from[u])
            if alpha >= 1.0:
                with self._lock:
                    if self._ramp_from is ramp_from:
                        self._ramp_from = None
        cmd.dq[:] = 0.0
        cmd.tau[:] = 0.0
        cmd.kp[:] = self._kp
        cmd.kd[:] = self._kd
        cmd.enabled[:] = True
        if self.config.lower_body is LowerBodySource.SIMULATOR:
            cmd.kp[li] = 0.0  # the simulator's kinematic base poses legs and waist
            cmd.kd[li] = 0.0
            cmd.q[li] = np.clip(measured_lower, self._limits.q_min[li], self._limits.q_max[li])
        else:
            cmd.q[li] = lower_q
            cmd.kp[li] = lower_kp
            cmd.kd[li] = lower_kd

    # ------------------------------------------------------------------ lower-body thread
    def _policy_tick(self, force: bool = False) -> None:
        """One step of the lower-body policy; its targets replace the legs' and waist's under the lock.

        Skipped (legs keep their last targets) while the state is lost, in damping or e-stop.
        While the command source stalls, the policy runs with zero velocity: it stands.
        """
        with self._lock:
            health, estop = self._watchdog.health, self._estop
            reset, self._policy_reset = self._policy_reset, False
            cmd = self._lower_cmd
            state = self._state_locked()
        if not force and (estop or health in (LinkHealth.WAITING, LinkHealth.STATE_LOST, LinkHealth.DAMPING)):
            return
        if reset:
            self.policy.reset(state)
        if health is LinkHealth.COMMAND_STALLED:
            cmd = g1.LowerBodyCommand(cmd.torso_rpy, cmd.torso_height, 0.0, 0.0, 0.0, cmd.target_yaw)
        t0 = clock.now()
        try:
            targets = self.policy.step(cmd, state)
            q, kp, kd = (np.asarray(v, dtype=float).reshape(len(self._lower_idx)) for v in (targets.q, targets.kp, targets.kd))
        except Exception as exc:  # noqa: BLE001 - a failing policy must not stop the link
            self._stats.policy_failures += 1
            if self._stats.policy_failures == 1 or self._stats.policy_failures % 50 == 0:
                log.error("robot link: the lower-body policy failed (%s); legs hold their last targets", exc)
            return
        self._stats.policy_steps += 1
        self._stats.policy_step_ms = (clock.now() - t0) * 1e3
        if not (np.isfinite(q).all() and np.isfinite(kp).all() and np.isfinite(kd).all()):
            self._stats.policy_failures += 1
            log.error("robot link: the lower-body policy returned NaN/inf targets; legs hold their last targets")
            return
        with self._lock:
            self._lower_q[:], self._lower_kp[:], self._lower_kd[:] = q, kp, kd

    def _run_lower_body(self) -> None:
        period = 1.0 / self.policy.rate_hz
        deadline = clock.now()
        try:
            while not self._stop.is_set():
                deadline += period
                late = clock.sleep_until(deadline, spin=False)
                if late > period:
                    self._stats.policy_overruns += 1
                    deadline = clock.now()
                self._policy_tick()
        except Exception:  # noqa: BLE001 - say why the legs stopped getting new targets
            log.exception("robot link: the lower-body thread crashed; the legs hold their last targets")
            raise

    def _log_event(self, event: WatchdogEvent) -> None:
        if event.health in (LinkHealth.STATE_LOST, LinkHealth.DAMPING, LinkHealth.COMMAND_STALLED):
            log.warning("%s", event.message)
        else:
            log.info("%s", event.message)


def make_dds_backend(
    domain: int = 0,
    interface: str | None = None,
    amo_dir: str | None = None,
    device: str = "cpu",
    **config: object,
) -> DdsBackend:
    """The DDS backend as the CLI commands build it from ``--domain --interface --amo-dir``.

    With ``amo_dir`` the legs and waist are driven by AMO loaded from that folder
    (:class:`LowerBodySource.POLICY`, what a real G1 needs); without it the 8-value lower-body
    command goes to the simulator's kinematic base (:class:`LowerBodySource.SIMULATOR`).
    Further :class:`DdsConfig` fields pass through ``config``.

    Raises:
        PolicyWeightsError: ``amo_dir`` lacks AMO's weight files (the message says where to get them).
        ConfigError: an invalid setting.
    """
    policy = None
    if amo_dir is not None:
        from teleop.robot.amo import AmoPolicy

        policy = AmoPolicy.from_directory(amo_dir, device=device)
    source = LowerBodySource.POLICY if policy is not None else LowerBodySource.SIMULATOR
    return DdsBackend(DdsConfig(domain=domain, interface=interface, lower_body=source, **config), policy)
