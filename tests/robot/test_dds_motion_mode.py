"""Cross-process: the link refuses a robot still in Unitree's motion mode, or releases it when told to.

The simulator plays the G1's ``motion_switcher`` RPC service (started with ``--motion-mode ai``,
it ignores rt/lowcmd until the mode is released)."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("unitree_sdk2py")

from teleop.robot import g1  # noqa: E402
from teleop.robot.dds import DdsBackend, DdsConfig, MotionModePolicy, join_domain, query_motion_mode  # noqa: E402
from teleop.robot.exceptions import LinkError  # noqa: E402
from teleop.robot.watchdog import WatchdogConfig  # noqa: E402
from tests.robot.dds_sim_process import DOMAIN, INTERFACE, start_sim, stop_sim  # noqa: E402


def _config(policy: MotionModePolicy) -> DdsConfig:
    return DdsConfig(domain=DOMAIN, interface=INTERFACE, connect_timeout_s=60.0, motion_mode=policy,
                     watchdog=WatchdogConfig(state_timeout_s=0.5, command_timeout_s=0.5, damp_after_s=2.0))


def test_motion_mode_refused_then_released(tmp_path):
    proc = start_sim(tmp_path / "sim.log", ("--motion-mode", "ai"))
    join_domain(DOMAIN, INTERFACE)
    try:
        t_end = time.monotonic() + 60.0
        mode = None
        while mode is None and time.monotonic() < t_end:  # the simulator process is still loading
            mode = query_motion_mode(timeout_s=1.0)
        assert mode == "ai"
        with pytest.raises(LinkError, match="'ai' mode.*L2\\+R2"):
            DdsBackend(_config(MotionModePolicy.REQUIRE_RELEASED)).start()

        backend = DdsBackend(_config(MotionModePolicy.RELEASE))
        try:
            backend.start()
            assert query_motion_mode() == ""
            action = g1.load_embodiment().default_action()
            target = np.array([0.2, 0.3, 0.0, 0.5, 0.0, 0.0, 0.0])
            action[g1.ACTION_RIGHT_ARM] = target
            t_end = time.monotonic() + 2.5
            while time.monotonic() < t_end:
                backend.apply_action(action)
                time.sleep(0.01)
            err_deg = np.degrees(np.abs(backend.read_state().joint(g1.RIGHT_ARM_JOINTS) - target))
            assert err_deg.max() < 3.0, err_deg  # commands drive the motors once the mode is released
        finally:
            backend.stop()
    finally:
        stop_sim(proc)
