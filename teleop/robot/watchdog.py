"""The robot-link watchdog: decides from timestamps whether the backend commands, holds or damps.

Pure logic (no threads, no clock of its own): the backend's command loop feeds it the
arrival times of robot states and of application commands, and asks it every tick what
the link's health is. Health changes come back as :class:`WatchdogEvent` with a message an
operator understands, so the backend logs each change exactly once.

State machine (``t`` = now, ``t_state`` = last ``rt/lowstate``, ``t_cmd`` = last command)::

    WAITING          no state received yet                      -> OK on the first state
    OK               t - t_state <= state_timeout and t - t_cmd <= command_timeout
    COMMAND_STALLED  t - t_cmd > command_timeout  (hold the last pose, stop walking)
    STATE_LOST       t - t_state > state_timeout  (hold the last targets)
    DAMPING          t - t_state > state_timeout + damp_after (motors to damping)

A lost state outranks a stalled command. Any state arrival leaves STATE_LOST/DAMPING; the
backend then ramps from the measured pose back to the commanded one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from teleop.exceptions import ConfigError


class LinkHealth(enum.Enum):
    """What the watchdog concluded about the link at one instant."""

    WAITING = "waiting"  # no robot state yet
    OK = "ok"
    COMMAND_STALLED = "command_stalled"  # the application stopped commanding: hold
    STATE_LOST = "state_lost"  # the robot stopped reporting: hold
    DAMPING = "damping"  # the robot has been silent too long: damp


@dataclass(frozen=True)
class WatchdogConfig:
    """Timeouts of the robot-link watchdog.

    Attributes:
        state_timeout_s: longest gap between two ``rt/lowstate`` messages before holding [s].
        command_timeout_s: longest gap between two application commands before holding [s].
        damp_after_s: extra silence of the robot, after ``state_timeout_s``, before damping [s].
    """

    state_timeout_s: float = 0.05
    command_timeout_s: float = 0.25
    damp_after_s: float = 0.5

    def __post_init__(self) -> None:
        for name, lo, hi in (
            ("state_timeout_s", 0.004, 5.0),
            ("command_timeout_s", 0.01, 60.0),
            ("damp_after_s", 0.0, 60.0),
        ):
            v = getattr(self, name)
            if not lo <= v <= hi:
                raise ConfigError(f"WatchdogConfig.{name} = {v} s is outside the valid range [{lo}, {hi}] s")


@dataclass(frozen=True)
class WatchdogEvent:
    """A change of link health, with the sentence to log."""

    stamp: float  # [s] on teleop.clock.now()
    previous: LinkHealth
    health: LinkHealth
    message: str


class LinkWatchdog:
    """Tracks state and command arrival times and reports the link's :class:`LinkHealth`."""

    def __init__(self, config: WatchdogConfig | None = None, link_name: str = "robot"):
        self.config = config or WatchdogConfig()
        self.link_name = link_name
        self.health = LinkHealth.WAITING
        self._t_state: float | None = None
        self._t_cmd: float | None = None
        self.trips = 0  # how many times the link went STATE_LOST
        self._last_state_age = float("inf")

    def on_state(self, t: float) -> None:
        """A robot state arrived at ``t`` [s]."""
        self._t_state = t

    def on_command(self, t: float) -> None:
        """The application sent a command at ``t`` [s]."""
        self._t_cmd = t

    @property
    def state_age(self) -> float:
        """Seconds between the last state and the last :meth:`update` (inf before the first state)."""
        return self._last_state_age

    def update(self, t: float) -> WatchdogEvent | None:
        """Re-evaluate at ``t`` [s]; return the event if the health changed, else None."""
        c = self.config
        if self._t_state is None:
            new = LinkHealth.WAITING
            age = float("inf")
        else:
            age = t - self._t_state
            if age > c.state_timeout_s + c.damp_after_s and self.health in (LinkHealth.STATE_LOST, LinkHealth.DAMPING):
                new = LinkHealth.DAMPING
            elif age > c.state_timeout_s:
                new = LinkHealth.STATE_LOST
            elif self._t_cmd is not None and t - self._t_cmd > c.command_timeout_s:
                new = LinkHealth.COMMAND_STALLED
            else:
                new = LinkHealth.OK
        self._last_state_age = age
        if new is self.health:
            return None
        prev, self.health = self.health, new
        if new is LinkHealth.STATE_LOST:
            self.trips += 1
        return WatchdogEvent(t, prev, new, self._message(prev, new, age, t))

    def _message(self, prev: LinkHealth, new: LinkHealth, age: float, t: float) -> str:
        c, name = self.config, self.link_name
        if new is LinkHealth.STATE_LOST:
            return (
                f"{name}: no robot state for {age * 1e3:.0f} ms (limit {c.state_timeout_s * 1e3:.0f} ms) - "
                "holding the last joint targets; check that the robot (or `psi-teleop sim --dds`) is running "
                "and the network cable / interface"
            )
        if new is LinkHealth.DAMPING:
            return (
                f"{name}: robot silent for {age * 1e3:.0f} ms - motors switched to DAMPING; "
                "the link recovers by itself when the robot state returns"
            )
        if new is LinkHealth.COMMAND_STALLED:
            cmd_age = t - (self._t_cmd or t)
            return (
                f"{name}: no new command for {cmd_age * 1e3:.0f} ms (limit {c.command_timeout_s * 1e3:.0f} ms) - "
                "holding the last pose and stopping the legs; the teleop loop or policy has stalled"
            )
        if new is LinkHealth.OK and prev in (LinkHealth.STATE_LOST, LinkHealth.DAMPING):
            return f"{name}: robot state is back - ramping from the measured pose to the commanded one"
        if new is LinkHealth.OK and prev is LinkHealth.COMMAND_STALLED:
            return f"{name}: commands are flowing again - following them"
        if new is LinkHealth.OK:
            return f"{name}: receiving robot state - link is up"
        return f"{name}: link health {prev.value} -> {new.value}"
