"""Cross-process: with LowerBodySource.POLICY the backend runs AMO (a TorchScript stand-in with AMO's shapes)
and its leg + waist targets leave on rt/lowcmd in Unitree's motor slots with AMO's gains."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytest.importorskip("unitree_sdk2py")
torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")

from teleop.robot import amo, g1  # noqa: E402
from teleop.robot import dds_codec as codec  # noqa: E402
from teleop.robot.dds import DdsBackend, DdsConfig, LowerBodySource, domain_participant, join_domain  # noqa: E402
from teleop.robot.dds_wire import LowCmdWire, RawReader  # noqa: E402
from teleop.robot.watchdog import WatchdogConfig  # noqa: E402
from tests.robot.dds_sim_process import DOMAIN, INTERFACE, start_sim, stop_sim  # noqa: E402

RAW = 2.0  # the stand-in policy's constant raw action


class ConstantPolicy(torch.nn.Module):
    """AMO's signature, (1, 1043), (1, 2325) -> (1, 15), constant output."""

    def forward(self, obs: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        return torch.full((1, 15), 2.0) + 0.0 * obs[:, :15] + 0.0 * extra[:, :15]


class EchoAdapter(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, x[:, 0:3]], dim=1)


def test_amo_targets_reach_rt_lowcmd(tmp_path):
    policy = amo.AmoPolicy(
        torch.jit.script(ConstantPolicy()), torch.jit.script(EchoAdapter()),
        amo.NormStats(np.zeros(12), np.ones(12), np.zeros(15), np.ones(15)),
    )
    proc = start_sim(tmp_path / "sim.log")
    backend = DdsBackend(
        DdsConfig(domain=DOMAIN, interface=INTERFACE, lower_body=LowerBodySource.POLICY, connect_timeout_s=60.0,
                  watchdog=WatchdogConfig(state_timeout_s=0.5, command_timeout_s=0.5, damp_after_s=2.0)),
        lower_body_policy=policy,
    )
    join_domain(DOMAIN, INTERFACE)
    decoder = LowCmdWire()
    lock = threading.Lock()
    seen: list[dict] = []

    def on_cmd(data: bytes) -> None:
        d = decoder.decode(data)
        with lock:
            seen.append(d)

    reader = RawReader(domain_participant(), codec.TOPIC_LOWCMD, codec.LowCmd_, on_cmd)
    try:
        backend.start()
        action = g1.load_embodiment().default_action()
        t_end = time.monotonic() + 1.5
        while time.monotonic() < t_end:
            backend.apply_action(action)
            time.sleep(0.01)
        with lock:
            last = seen[-1]
            n = len(seen)
        assert n > 100
        # AMO's targets, held inside the joint limits on their way out (0.5 rad of ankle roll is not)
        lo, hi = g1.load_embodiment().limits(amo.AMO_JOINTS[:15])
        unclipped = amo.AMO_DEFAULT_Q[:15] + amo.ACTION_SCALE * RAW
        expected_q = np.clip(unclipped, lo, hi)
        assert (expected_q != unclipped).any()
        for k, name in enumerate(amo.AMO_JOINTS[:15]):
            slot = codec.G1_MOTOR_INDEX[name]
            assert last["q"][slot] == pytest.approx(expected_q[k], abs=1e-6), name
            assert last["kp"][slot] == pytest.approx(amo.AMO_KP[k]), name
            assert last["kd"][slot] == pytest.approx(amo.AMO_KD[k]), name
            assert last["mode"][slot] == codec.BODY_MOTOR_ENABLE
        # arms keep the teleop targets and gains, untouched by the lower body
        s = codec.G1_MOTOR_INDEX["left_elbow_joint"]
        assert last["q"][s] == pytest.approx(action[g1.ACTION_LEFT_ARM][3], abs=1e-6)
        assert last["kp"][s] == pytest.approx(80.0)
        assert last["mode_machine"] == 5  # echoed from the simulator's rt/lowstate
        stats = backend.stats()
        assert stats.policy_steps >= 20 and stats.policy_failures == 0  # its own 50 Hz thread, 1.5 s
    finally:
        reader.close()
        backend.stop()
        stop_sim(proc)
