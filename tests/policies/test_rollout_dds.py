"""The RTC runtime drives the DDS backend: the simulator runs as a DDS robot in its own process."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("unitree_sdk2py")

from policies.clocks import InjectedLatency, RealTimeClock  # noqa: E402
from policies.config import RTCConfig, RTCMode  # noqa: E402
from policies.runtime import ActionSource, RTCRuntime  # noqa: E402
from teleop.cli import main  # noqa: E402
from teleop.robot import g1  # noqa: E402
from teleop.robot.dds import DdsBackend, DdsConfig  # noqa: E402
from teleop.robot.watchdog import WatchdogConfig  # noqa: E402
from tests.policies.fakes import RampPolicy  # noqa: E402
from tests.policies.test_trainer import _train_tiny  # noqa: E402
from tests.robot.dds_sim_process import DOMAIN, INTERFACE, start_sim, stop_sim  # noqa: E402


@pytest.fixture(scope="module")
def dds_sim(tmp_path_factory):
    proc = start_sim(tmp_path_factory.mktemp("dds") / "sim.log")
    try:
        yield proc
    finally:
        stop_sim(proc)


def test_runtime_moves_the_dds_robot(dds_sim):
    backend = DdsBackend(DdsConfig(domain=DOMAIN, interface=INTERFACE, connect_timeout_s=60.0,
                                   watchdog=WatchdogConfig(state_timeout_s=0.5, command_timeout_s=0.5, damp_after_s=2.0)))
    backend.start()
    try:
        emb = g1.load_embodiment()
        start = backend.read_state().q[emb.index_of("left_shoulder_pitch_joint")]
        policy = RampPolicy(rate=-0.2)  # shoulder pitch forward at 0.2 rad/s
        report = RTCRuntime(policy, backend, RTCConfig(mode=RTCMode.PREFIX), clock=RealTimeClock(),
                            latency=InjectedLatency([0.08])).run(max_ticks=75)
        end = backend.read_state().q[emb.index_of("left_shoulder_pitch_joint")]
    finally:
        backend.stop()
    assert report.ticks == 75 and report.chunks >= 5
    assert np.count_nonzero(report.log["source"] == ActionSource.CHUNK) > 50
    # commanded: default - 0.2 rad/s * ~2.5 s; the robot follows it within its tracking lag
    assert end - start < -0.25


def test_rollout_command_on_dds(dds_sim, tmp_path):
    ckpt = _train_tiny(tmp_path)
    assert main(["rollout", "--checkpoint", str(ckpt), "--robot", "dds", "--domain", str(DOMAIN),
                 "--interface", INTERFACE, "--duration", "1.5", "--tick-log", str(tmp_path / "ticks")]) == 0
    ticks = np.load(tmp_path / "ticks" / "rollout_dds.npz")["log"]
    assert len(ticks) == 45 and np.any(ticks["source"] == ActionSource.CHUNK)
