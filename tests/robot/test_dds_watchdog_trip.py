"""Cross-process: killing the DDS simulator trips the backend's watchdog within 100 ms, with a clear message."""

from __future__ import annotations

import logging
import signal
import time

import numpy as np
import pytest

pytest.importorskip("unitree_sdk2py")

from teleop.robot import g1  # noqa: E402
from teleop.robot.backend import LinkStatus  # noqa: E402
from teleop.robot.dds import DdsBackend, DdsConfig  # noqa: E402
from teleop.robot.watchdog import LinkHealth, WatchdogConfig  # noqa: E402
from tests.robot.dds_sim_process import DOMAIN, INTERFACE, start_sim, stop_sim  # noqa: E402



def test_killing_the_simulator_trips_the_watchdog(tmp_path, caplog):
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # a handler on the link's own logger: independent of logging set-up elsewhere
    logging.getLogger("teleop.robot.dds").addHandler(handler)
    proc = start_sim(tmp_path / "sim.log")
    backend = DdsBackend(DdsConfig(
        domain=DOMAIN, interface=INTERFACE, connect_timeout_s=60.0,
        watchdog=WatchdogConfig(state_timeout_s=0.05, command_timeout_s=0.25, damp_after_s=0.3),
    ))
    try:
        backend.start()
        action = g1.load_embodiment().default_action()
        # Command for at least 1 s, and until the link is healthy (on a loaded machine the
        # simulator process may be starved for a moment at start-up).
        t_min, t_max = time.monotonic() + 1.0, time.monotonic() + 30.0
        while time.monotonic() < t_min or (backend.link_status is not LinkStatus.OK and time.monotonic() < t_max):
            backend.apply_action(action)
            time.sleep(0.01)
        assert backend.link_status is LinkStatus.OK
        t_kill = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        while backend.health is not LinkHealth.STATE_LOST and time.monotonic() - t_kill < 2.0:
            backend.apply_action(action)  # the application keeps commanding; only the robot died
            time.sleep(0.002)
        trip = next(e for e in backend.events() if e.health is LinkHealth.STATE_LOST and e.stamp >= t_kill)
        trip_ms = (trip.stamp - t_kill) * 1e3
        print(f"watchdog tripped {trip_ms:.1f} ms after the kill: {trip.message}")
        assert trip_ms < 100.0
        assert backend.link_status is LinkStatus.STALE
        assert "no robot state" in trip.message and "holding" in trip.message
        assert any("no robot state" in r.getMessage() for r in records)
        # a longer silence escalates to damping
        t_end = time.monotonic() + 0.6
        while time.monotonic() < t_end:
            backend.apply_action(action)
            time.sleep(0.01)
        assert backend.link_status is LinkStatus.DAMPING
        assert backend.stats().watchdog_trips == 1

        # the robot comes back: the link recovers by itself
        proc = start_sim(tmp_path / "sim2.log")
        t_end = time.monotonic() + 60.0
        while backend.health is not LinkHealth.OK and time.monotonic() < t_end:
            backend.apply_action(action)
            time.sleep(0.01)
        assert backend.link_status is LinkStatus.OK
        assert any(e.previous is LinkHealth.DAMPING and e.health is LinkHealth.OK for e in backend.events())
        state = backend.read_state()
        assert np.all(np.isfinite(state.q))
    finally:
        logging.getLogger("teleop.robot.dds").removeHandler(handler)
        backend.stop()
        stop_sim(proc)
