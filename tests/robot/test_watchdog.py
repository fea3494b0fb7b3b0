"""The link watchdog's state machine, driven with synthetic timestamps (no threads, no sleeps)."""

from __future__ import annotations

import pytest

from teleop.exceptions import ConfigError
from teleop.robot.watchdog import LinkHealth, LinkWatchdog, WatchdogConfig

CFG = WatchdogConfig(state_timeout_s=0.05, command_timeout_s=0.25, damp_after_s=0.5)


def feed_states(wd: LinkWatchdog, t0: float, t1: float, period: float = 0.002) -> None:
    t = t0
    while t <= t1 + 1e-12:
        wd.on_state(t)
        wd.update(t)
        t += period


def test_waiting_until_the_first_state():
    wd = LinkWatchdog(CFG)
    assert wd.update(10.0) is None and wd.health is LinkHealth.WAITING
    wd.on_state(10.001)
    ev = wd.update(10.002)
    assert ev.health is LinkHealth.OK and "link is up" in ev.message


def test_state_loss_trips_after_the_timeout_then_damps_then_recovers():
    wd = LinkWatchdog(CFG, link_name="robot link")
    feed_states(wd, 0.0, 1.0)
    assert wd.health is LinkHealth.OK
    assert wd.update(1.0 + 0.049) is None  # 49 ms of silence: still fine
    ev = wd.update(1.0 + 0.051)
    assert ev.health is LinkHealth.STATE_LOST and wd.trips == 1
    assert "no robot state for 51 ms" in ev.message and "holding" in ev.message
    assert wd.update(1.0 + 0.5) is None  # still holding
    ev = wd.update(1.0 + 0.56)
    assert ev.health is LinkHealth.DAMPING and "DAMPING" in ev.message
    wd.on_state(2.0)
    ev = wd.update(2.0)
    assert ev.health is LinkHealth.OK and ev.previous is LinkHealth.DAMPING and "ramping" in ev.message


def test_command_stall_holds_and_clears():
    wd = LinkWatchdog(CFG)
    wd.on_command(0.0)
    feed_states(wd, 0.0, 0.24)
    assert wd.health is LinkHealth.OK
    feed_states(wd, 0.242, 0.26)
    assert wd.health is LinkHealth.COMMAND_STALLED
    wd.on_command(0.262)
    ev = wd.update(0.262)
    assert ev.health is LinkHealth.OK and "flowing again" in ev.message


def test_no_command_yet_is_not_a_stall():
    wd = LinkWatchdog(CFG)
    feed_states(wd, 0.0, 5.0)
    assert wd.health is LinkHealth.OK


def test_lost_state_outranks_a_stalled_command():
    wd = LinkWatchdog(CFG)
    wd.on_command(0.0)
    feed_states(wd, 0.0, 0.3)
    assert wd.health is LinkHealth.COMMAND_STALLED
    assert wd.update(0.3 + 0.06).health is LinkHealth.STATE_LOST


@pytest.mark.parametrize(
    "field,value", [("state_timeout_s", 0.0), ("state_timeout_s", 10.0), ("command_timeout_s", -1.0), ("damp_after_s", -0.1)]
)
def test_config_validation_names_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        WatchdogConfig(**{field: value})
