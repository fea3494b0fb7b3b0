"""The locomotion command channel: thumbsticks (or the Unitree remote, or the keyboard) → ``vx, vy, vyaw, target_yaw``.

Locomotion is separate from the upper body, as in Ψ₀: the sticks drive the RL lower-body
controller's velocity command, while in-place whole-body motion (squatting, leaning,
turning the torso) comes from the head and waist trackers through IK. The loop calls the
channel once per tick::

    loco = LocomotionChannel(LocomotionConfig())          # controller thumbsticks by default
    loco.reset(yaw=state.base_yaw)                        # on engage: hold the measured heading
    cmd = loco.update(frame, dt, now)                     # every tick
    cmd.write_action(action)                              # action[32:36] = vx, vy, vyaw, target_yaw
    loco.zero(yaw=state.base_yaw)                         # tracking loss / e-stop: stop at once

Per tick and per axis ``i`` (vx, vy, vyaw) the channel computes

1. the stick value ``s_i`` in [-1, 1] from a :class:`StickSource`
   (forward, left and counter-clockwise positive, in the robot's heading frame);
2. the desired velocity: a deadzone ``d`` then linear scaling,
   ``u_i = max_velocity_i * sign(s_i) * max(0, |s_i| - d) / (1 - d)`` (radial for the 2-D
   move stick, so a diagonal push is not cut to a cross), or, when the axis has a
   :class:`StepQuantizer`, the discrete level of ``|s_i|`` (the Ψ₀ release sends a few
   fixed speeds, which its AMO walker tracks more reliably than a continuum);
3. an acceleration limit ``|v_i(t) - v_i(t - dt)| <= a_i dt`` with ``a_i`` the
   acceleration when speeding up and the (larger) deceleration when slowing down;
4. the clamp ``|v_i| <= g1.VELOCITY_LIMITS_i``;
5. ``target_yaw(t) = wrap(target_yaw(t - dt) + vyaw dt)``, kept within
   ``max_yaw_lead`` of the measured heading when the caller passes it.

Stops are immediate (no deceleration ramp): :meth:`LocomotionChannel.zero`, an invalid or
stale source, or the source's stop key set every velocity to zero in the same tick, and
*latch*: the sticks are ignored until the operator lets them return inside the deadzone,
so a stick held forward during a tracking loss does not walk the robot off when tracking
comes back.

Height presets: buttons step through ``[follow head] + height_presets`` (pelvis heights
[m], high to low); :attr:`LocomotionCommand.height_preset` is ``None`` while the torso
height follows the operator's head.
"""

from __future__ import annotations

import enum
import logging
import math
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Protocol

import numpy as np

from teleop.enums import parse_enum
from teleop.exceptions import ConfigError
from teleop.operator_frame import ControllerAxis, ControllerButton, OperatorFrame, Side
from teleop.robot import g1
from teleop.spatial import wrap_angle

if TYPE_CHECKING:
    from teleop.inputs.keyboard import KeyState

log = logging.getLogger(__name__)

#: Axis order of every per-axis tuple in this module.
AXES = ("vx", "vy", "vyaw")
#: Longest tick the integrator trusts [s]; a longer gap (a stalled loop) is clipped so a
#: late tick cannot jump target_yaw or the velocities.
MAX_DT = 0.1


class StickSourceKind(enum.Enum):
    """Where the locomotion sticks come from (the CLI's ``--locomotion``)."""

    CONTROLLERS = "controllers"  # VR controller thumbsticks in the OperatorFrame
    REMOTE = "remote"  # Unitree wireless remote on rt/wirelesscontroller (teleop.robot.remote)
    KEYBOARD = "keyboard"  # keys, in simulation (teleop.inputs.keyboard)

    @classmethod
    def parse(cls, value: StickSourceKind | str) -> StickSourceKind:
        return parse_enum(cls, value, "locomotion source")


#: Value of :attr:`StickInput.preset_select` that goes back to following the head height.
FOLLOW_HEAD = 0


@dataclass(frozen=True)
class StickInput:
    """What a locomotion source says at one instant (before shaping).

    Attributes:
        forward: move stick, forward positive, in [-1, 1].
        left: move stick, left positive, in [-1, 1].
        turn: turn stick, counter-clockwise (turn left) positive, in [-1, 1].
        valid: the device is present and its numbers are meaningful.
        stamp: when the sample was taken, on :func:`teleop.clock.now` [s].
        preset_step: height-preset button presses since the last read: +1 per "lower",
            -1 per "raise".
        preset_select: a directly selected position (keyboard digits): ``FOLLOW_HEAD`` (0)
            or ``k`` for ``height_presets[k - 1]``; ``None`` if none.
        stop: the source's stop key is pressed (zero and latch, like :meth:`LocomotionChannel.zero`).
    """

    forward: float = 0.0
    left: float = 0.0
    turn: float = 0.0
    valid: bool = False
    stamp: float = -math.inf
    preset_step: int = 0
    preset_select: int | None = None
    stop: bool = False


#: The input of a source that has nothing (absent device).
NO_INPUT = StickInput()


class StickSource(Protocol):
    """Anything that turns a device into :class:`StickInput` once per tick."""

    def read(self, frame: OperatorFrame | None, now: float) -> StickInput:
        """The newest stick state; ``frame`` is this tick's OperatorFrame (may be ``None``)."""
        ...


@dataclass(frozen=True)
class StepQuantizer:
    """Maps a stick magnitude to a few discrete speeds: ``|s| >= thresholds[k]`` → ``levels[k]``.

    With ``thresholds = (t_0, ..., t_n)`` strictly increasing in (0, 1] and ``levels =
    (l_0, ..., l_n)`` non-decreasing and positive, ``q(s) = sign(s) * l_k`` for the largest
    ``k`` with ``|s| >= t_k``, and 0 below ``t_0`` (``t_0`` is the deadzone of that axis).

    Attributes:
        thresholds: stick magnitudes where each level starts, in (0, 1].
        levels: output magnitudes [m/s or rad/s].
    """

    thresholds: tuple[float, ...]
    levels: tuple[float, ...]

    def __post_init__(self) -> None:
        t, lv = tuple(self.thresholds), tuple(self.levels)
        if not t or len(t) != len(lv):
            raise ConfigError(
                f"StepQuantizer needs as many thresholds as levels (at least one), got {len(t)} and {len(lv)}"
            )
        if not all(0.0 < x <= 1.0 for x in t) or any(b <= a for a, b in pairwise(t)):
            raise ConfigError(f"StepQuantizer.thresholds={t} must be strictly increasing within (0, 1]")
        if not all(x > 0.0 and math.isfinite(x) for x in lv) or any(b < a for a, b in pairwise(lv)):
            raise ConfigError(f"StepQuantizer.levels={lv} must be positive, finite and non-decreasing")

    def __call__(self, s: float) -> float:
        a = abs(s)
        out = 0.0
        for t, lv in zip(self.thresholds, self.levels):
            if a >= t:
                out = lv
        return math.copysign(out, s) if out else 0.0


@dataclass(frozen=True)
class LocomotionConfig:
    """Shaping, limits and presets of the locomotion channel.

    Attributes:
        source: which device drives it.
        max_velocity: speed at full stick (vx [m/s], vy [m/s], vyaw [rad/s]); each within
            ``g1.VELOCITY_LIMITS``.
        deadzone: stick magnitude below which the stick reads zero, in [0, 0.9).
        max_acceleration: speeding-up limit (vx, vy [m/s²], vyaw [rad/s²]).
        max_deceleration: slowing-down limit, same units; stops by :meth:`LocomotionChannel.zero`
            ignore it.
        quantize: per axis an optional :class:`StepQuantizer` replacing deadzone + scaling.
        height_presets: pelvis heights [m] the preset buttons step through, high to low,
            within ``g1.TORSO_HEIGHT_RANGE``.
        max_input_age: a sample older than this zeroes and latches the channel [s].
        max_yaw_lead: how far target_yaw may run ahead of the measured heading [rad].
    """

    source: StickSourceKind = StickSourceKind.CONTROLLERS
    max_velocity: tuple[float, float, float] = (0.6, 0.4, 0.8)
    deadzone: float = 0.15
    max_acceleration: tuple[float, float, float] = (0.8, 0.8, 2.0)
    max_deceleration: tuple[float, float, float] = (1.6, 1.6, 4.0)
    quantize: tuple[StepQuantizer | None, StepQuantizer | None, StepQuantizer | None] = (None, None, None)
    height_presets: tuple[float, ...] = (0.75, 0.65, 0.55)
    max_input_age: float = 0.1
    max_yaw_lead: float = 0.6

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", StickSourceKind.parse(self.source))
        for name in ("max_velocity", "max_acceleration", "max_deceleration", "quantize"):
            if len(getattr(self, name)) != 3:
                raise ConfigError(f"LocomotionConfig.{name} needs 3 values ({', '.join(AXES)}), got {getattr(self, name)}")
        for i, axis in enumerate(AXES):
            v, lim = self.max_velocity[i], float(g1.VELOCITY_LIMITS[i])
            if not (math.isfinite(v) and 0.0 < v <= lim):
                raise ConfigError(f"LocomotionConfig.max_velocity[{axis}]={v} is outside (0, {lim}] (g1.VELOCITY_LIMITS)")
            for name in ("max_acceleration", "max_deceleration"):
                a = getattr(self, name)[i]
                if not (math.isfinite(a) and 0.0 < a <= 20.0):
                    raise ConfigError(f"LocomotionConfig.{name}[{axis}]={a} is outside (0, 20]")
            q = self.quantize[i]
            if q is not None:
                if not isinstance(q, StepQuantizer):
                    raise ConfigError(f"LocomotionConfig.quantize[{axis}] must be a StepQuantizer or None, got {q!r}")
                if q.levels[-1] > lim:
                    raise ConfigError(
                        f"LocomotionConfig.quantize[{axis}] top level {q.levels[-1]} exceeds the limit {lim} "
                        "(g1.VELOCITY_LIMITS)"
                    )
        if not (math.isfinite(self.deadzone) and 0.0 <= self.deadzone < 0.9):
            raise ConfigError(f"LocomotionConfig.deadzone={self.deadzone} is outside [0, 0.9)")
        lo, hi = g1.TORSO_HEIGHT_RANGE
        hp = tuple(self.height_presets)
        if not all(lo <= h <= hi for h in hp) or any(b >= a for a, b in pairwise(hp)):
            raise ConfigError(
                f"LocomotionConfig.height_presets={hp} must be strictly decreasing pelvis heights within [{lo}, {hi}] m"
            )
        if not (math.isfinite(self.max_input_age) and 0.0 < self.max_input_age <= 1.0):
            raise ConfigError(f"LocomotionConfig.max_input_age={self.max_input_age} s is outside (0, 1]")
        if not (math.isfinite(self.max_yaw_lead) and 0.0 < self.max_yaw_lead <= math.pi):
            raise ConfigError(f"LocomotionConfig.max_yaw_lead={self.max_yaw_lead} rad is outside (0, pi]")

    @classmethod
    def psi0_release(cls, **overrides: object) -> LocomotionConfig:
        """The discrete speeds of the Ψ₀ real-robot teleop release (remote sticks → AMO).

        vx: ±0.6 m/s beyond 30 % stick; vy: ±0.5 m/s beyond 70 %; vyaw: ±0.3 rad/s beyond
        20 %, ±0.5 rad/s beyond 50 %. Everything else is this class's defaults unless overridden.
        """
        quant = (
            StepQuantizer((0.3,), (0.6,)),
            StepQuantizer((0.7,), (0.5,)),
            StepQuantizer((0.2, 0.5), (0.3, 0.5)),
        )
        kwargs: dict[str, object] = {"quantize": quant, "max_velocity": (0.6, 0.5, 0.5)}
        kwargs.update(overrides)
        return cls(**kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class LocomotionCommand:
    """The channel's output for one tick (the last 4 values of the 36-value action).

    Attributes:
        vx, vy: base velocity in the heading frame [m/s].
        vyaw: yaw rate [rad/s].
        target_yaw: heading to hold, world frame, wrapped to [-pi, pi) [rad].
        height_preset: selected pelvis height [m], or ``None`` to follow the head tracker.
        latched: the channel is stopped and waits for the sticks to return to neutral.
        reason: why it is stopped, in operator words (empty while it is not).
    """

    vx: float = 0.0
    vy: float = 0.0
    vyaw: float = 0.0
    target_yaw: float = 0.0
    height_preset: float | None = None
    latched: bool = False
    reason: str = ""

    def write_action(self, action: np.ndarray) -> None:
        """Write ``vx, vy, vyaw, target_yaw`` into a 36-value action in place."""
        action[g1.ACTION_VX] = self.vx
        action[g1.ACTION_VY] = self.vy
        action[g1.ACTION_VYAW] = self.vyaw
        action[g1.ACTION_TARGET_YAW] = self.target_yaw


@dataclass(frozen=True)
class ControllerBindings:
    """Which VR-controller inputs drive locomotion.

    Attributes:
        move_side: the controller whose thumbstick gives vx (push away) and vy (push left).
        turn_side: the controller whose thumbstick x gives vyaw (push left = turn left).
        lower_button: (side, button) that steps to the next lower height preset.
        raise_button: (side, button) that steps to the next higher one.
    """

    move_side: Side = Side.LEFT
    turn_side: Side = Side.RIGHT
    lower_button: tuple[Side, ControllerButton] = (Side.LEFT, ControllerButton.THUMBSTICK_CLICK)
    raise_button: tuple[Side, ControllerButton] = (Side.RIGHT, ControllerButton.THUMBSTICK_CLICK)


@dataclass
class ControllerSticks:
    """:class:`StickSource` reading the VR controllers of the OperatorFrame.

    Both controllers named by the bindings must be valid, and the stick numbers finite;
    otherwise the input is invalid (and the channel stops). Preset buttons count on the
    press edge, so holding one steps once.
    """

    bindings: ControllerBindings = field(default_factory=ControllerBindings)
    _prev_lower: bool = False
    _prev_raise: bool = False

    def read(self, frame: OperatorFrame | None, now: float) -> StickInput:
        b = self.bindings
        if frame is None:
            return NO_INPUT
        lo_side, lo_btn = b.lower_button
        hi_side, hi_btn = b.raise_button
        lower = bool(frame.controller_valid[lo_side] and frame.controller_buttons[lo_side, lo_btn])
        raise_ = bool(frame.controller_valid[hi_side] and frame.controller_buttons[hi_side, hi_btn])
        step = int(lower and not self._prev_lower) - int(raise_ and not self._prev_raise)
        self._prev_lower, self._prev_raise = lower, raise_
        if not (frame.controller_valid[b.move_side] and frame.controller_valid[b.turn_side]):
            return StickInput(stamp=frame.stamp, preset_step=step)
        fwd = float(frame.controller_axes[b.move_side, ControllerAxis.THUMBSTICK_Y])
        left = -float(frame.controller_axes[b.move_side, ControllerAxis.THUMBSTICK_X])
        turn = -float(frame.controller_axes[b.turn_side, ControllerAxis.THUMBSTICK_X])
        ok = math.isfinite(fwd) and math.isfinite(left) and math.isfinite(turn)
        if not ok:
            return StickInput(stamp=frame.stamp, preset_step=step)
        return StickInput(fwd, left, turn, valid=True, stamp=frame.stamp, preset_step=step)


def radial_deadzone(x: float, y: float, deadzone: float) -> tuple[float, float]:
    """Rescale a 2-D stick so that ``|(x, y)| <= d`` reads 0 and the edge still reads 1.

    ``(x, y) * clip((r - d) / (1 - d), 0, 1) / r`` with ``r = |(x, y)|``.
    """
    r = math.hypot(x, y)
    if r <= deadzone:
        return 0.0, 0.0
    k = min(1.0, (r - deadzone) / (1.0 - deadzone)) / r
    return x * k, y * k


def axial_deadzone(s: float, deadzone: float) -> float:
    """``sign(s) * clip((|s| - d) / (1 - d), 0, 1)``."""
    a = abs(s)
    if a <= deadzone:
        return 0.0
    return math.copysign(min(1.0, (a - deadzone) / (1.0 - deadzone)), s)


class LocomotionChannel:
    """Shapes stick input into the lower-body velocity command (see the module docstring)."""

    def __init__(self, config: LocomotionConfig | None = None, source: StickSource | None = None):
        self.config = config or LocomotionConfig()
        if source is None:
            if self.config.source is not StickSourceKind.CONTROLLERS:
                raise ConfigError(
                    f"locomotion source {self.config.source.value} needs its device object: pass "
                    "source=WirelessRemote(...) (teleop.robot.remote) or KeyboardSticks(...) (teleop.inputs.keyboard)"
                )
            source = ControllerSticks()
        self.source = source
        self._limits = np.asarray(g1.VELOCITY_LIMITS, dtype=float).copy()  # [m/s, m/s, rad/s]
        self._v = np.zeros(3)  # [m/s, m/s, rad/s] current rate-limited command
        self._target_yaw = 0.0  # [rad]
        self._position = 0  # 0 = follow head, k = height_presets[k - 1]
        self._latched = True
        self._reason = "not engaged yet"
        self.last_input: StickInput = NO_INPUT

    # -- life cycle ---------------------------------------------------------------------------
    def reset(self, yaw: float = 0.0) -> None:
        """Start from standstill holding heading ``yaw`` [rad] (the robot's measured heading on engage).

        Clears the height preset (back to following the head) and the latch; a stick already
        held away from neutral must still be released first.
        """
        self._v[:] = 0.0
        self._target_yaw = float(wrap_angle(float(yaw)))
        self._position = FOLLOW_HEAD
        self._latched = True
        self._reason = "release the sticks to walk"

    def zero(self, yaw: float | None = None, reason: str = "stopped") -> None:
        """Zero every velocity now and latch until the sticks return to neutral.

        Args:
            yaw: if given, target_yaw snaps to this measured heading [rad] so the walker
                does not keep turning toward an old target.
            reason: shown in the command while latched.
        """
        self._v[:] = 0.0
        if yaw is not None and math.isfinite(yaw):
            self._target_yaw = float(wrap_angle(float(yaw)))
        if not self._latched:
            log.info("locomotion stopped: %s; release the sticks to walk again", reason)
        self._latched = True
        self._reason = reason

    # -- per tick -----------------------------------------------------------------------------
    def desired_velocity(self, inp: StickInput) -> np.ndarray:
        """Velocity (3,) the sticks ask for, after deadzone/quantisation and the speed limits."""
        c = self.config
        sticks = (inp.forward, inp.left, inp.turn)
        out = np.zeros(3)
        fx, ly = radial_deadzone(inp.forward, inp.left, c.deadzone)
        shaped = (fx, ly, axial_deadzone(inp.turn, c.deadzone))
        for i in range(3):
            q = c.quantize[i]
            s = max(-1.0, min(1.0, sticks[i]))
            out[i] = q(s) if q is not None else shaped[i] * c.max_velocity[i]
        np.clip(out, -self._limits, self._limits, out=out)
        return out

    def _neutral(self, inp: StickInput) -> bool:
        c = self.config
        fx, ly = radial_deadzone(inp.forward, inp.left, c.deadzone)
        if fx or ly or axial_deadzone(inp.turn, c.deadzone):
            return False
        for i, s in enumerate((inp.forward, inp.left, inp.turn)):
            q = c.quantize[i]
            if q is not None and q(s) != 0.0:
                return False
        return True

    def update(
        self, frame: OperatorFrame | None, dt: float, now: float, measured_yaw: float | None = None
    ) -> LocomotionCommand:
        """One tick: read the source, shape, rate-limit, integrate target_yaw.

        Args:
            frame: this tick's OperatorFrame (``None`` if the loop has none).
            dt: time since the previous tick [s] (clipped to ``MAX_DT``; non-positive → no motion).
            now: :func:`teleop.clock.now` of this tick [s].
            measured_yaw: the robot's heading [rad]; if given, target_yaw stays within
                ``max_yaw_lead`` of it.
        """
        c = self.config
        dt = min(float(dt), MAX_DT) if math.isfinite(dt) and dt > 0.0 else 0.0
        inp = self.source.read(frame, now)
        self.last_input = inp
        self._apply_presets(inp)
        if inp.stop:
            self.zero(reason="stop key pressed")
        elif not inp.valid:
            self.zero(reason="stick source not available")
        elif now - inp.stamp > c.max_input_age:
            self.zero(reason=f"stick input is {now - inp.stamp:.2f} s old (limit {c.max_input_age:.2f} s)")
        elif self._latched and self._neutral(inp):
            self._latched = False
            self._reason = ""
            log.info("locomotion enabled: sticks at neutral")
        if not self._latched:
            want = self.desired_velocity(inp)
            for i in range(3):
                v = self._v[i]
                speeding_up = abs(want[i]) > abs(v) and want[i] * v >= 0.0
                a = (c.max_acceleration if speeding_up else c.max_deceleration)[i]
                self._v[i] = v + max(-a * dt, min(a * dt, want[i] - v))
            np.clip(self._v, -self._limits, self._limits, out=self._v)
            self._target_yaw += float(self._v[2]) * dt
            if measured_yaw is not None and math.isfinite(measured_yaw):
                lead = float(wrap_angle(self._target_yaw - measured_yaw))
                if abs(lead) > c.max_yaw_lead:
                    self._target_yaw = measured_yaw + math.copysign(c.max_yaw_lead, lead)
            self._target_yaw = float(wrap_angle(self._target_yaw))
        return self.command()

    def _apply_presets(self, inp: StickInput) -> None:
        n = len(self.config.height_presets)
        if inp.preset_select is not None and 0 <= inp.preset_select <= n:
            self._position = int(inp.preset_select)
        if inp.preset_step:
            self._position = max(0, min(n, self._position + inp.preset_step))

    def command(self) -> LocomotionCommand:
        """The current command without advancing time."""
        preset = None if self._position == FOLLOW_HEAD else self.config.height_presets[self._position - 1]
        return LocomotionCommand(
            vx=float(self._v[0]),
            vy=float(self._v[1]),
            vyaw=float(self._v[2]),
            target_yaw=self._target_yaw,
            height_preset=preset,
            latched=self._latched,
            reason=self._reason,
        )


def make_stick_source(
    kind: StickSourceKind | str,
    *,
    domain: int = 0,
    interface: str | None = None,
    keys: KeyState | None = None,
) -> StickSource:
    """The :class:`StickSource` of ``kind`` (device modules are imported only when asked for).

    Args:
        kind: ``controllers``, ``remote`` or ``keyboard``.
        domain, interface: DDS domain and network interface of the robot (``remote``); the
            returned :class:`~teleop.robot.remote.WirelessRemote` still needs ``start()``.
        keys: the :class:`~teleop.inputs.keyboard.KeyState` the console or terminal feeds
            (``keyboard``); a new one (terminal mode, 0.6 s hold) if ``None``.
    """
    kind = StickSourceKind.parse(kind)
    if kind is StickSourceKind.CONTROLLERS:
        return ControllerSticks()
    if kind is StickSourceKind.REMOTE:
        from teleop.robot.remote import WirelessRemote

        return WirelessRemote(domain=domain, interface=interface)
    from teleop.inputs.keyboard import KeyboardSticks, KeyState

    return KeyboardSticks(keys if keys is not None else KeyState(hold_s=0.6))
