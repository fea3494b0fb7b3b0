"""Cross-process: another process publishes ``WirelessController_`` on ``rt/wirelesscontroller``;
:class:`WirelessRemote` in this process receives and decodes it (domain 1 on loopback, like the
other DDS tests)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

pytest.importorskip("unitree_sdk2py")

from teleop.robot.remote import RemoteKey, WirelessRemote
from tests.robot.dds_sim_process import DOMAIN, INTERFACE

_PUBLISHER = textwrap.dedent(
    f"""
    import time
    from unitree_sdk2py.core.channel import ChannelFactoryInitialize, ChannelPublisher
    from unitree_sdk2py.idl.unitree_go.msg.dds_ import WirelessController_
    ChannelFactoryInitialize({DOMAIN}, {INTERFACE!r})
    pub = ChannelPublisher("rt/wirelesscontroller", WirelessController_)
    pub.Init()
    t_end = time.monotonic() + 30.0
    while time.monotonic() < t_end:
        pub.Write(WirelessController_(lx=0.25, ly=0.75, rx=-0.5, ry=0.0, keys={int(RemoteKey.UP | RemoteKey.A)}))
        time.sleep(0.02)
    """
)


def test_remote_over_dds_reaches_the_stick_source():
    pub = subprocess.Popen([sys.executable, "-c", _PUBLISHER], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    remote = WirelessRemote(domain=DOMAIN, interface=INTERFACE)
    try:
        remote.start()
        deadline = time.monotonic() + 25.0
        while remote.samples == 0 and time.monotonic() < deadline and pub.poll() is None:
            time.sleep(0.05)
        assert remote.samples > 0, f"no remote message within 25 s; publisher output: {pub.stdout.read() if pub.poll() is not None else ''}"
        state = remote.state
        assert (state.lx, state.ly, state.rx) == (0.25, 0.75, -0.5)
        assert state.pressed(RemoteKey.UP) and state.pressed(RemoteKey.A)
        inp = remote.read(None, time.monotonic())
        assert inp.valid and (inp.forward, inp.left, inp.turn) == (0.75, -0.25, 0.5)
        assert inp.preset_step == -1  # UP pressed once (held afterwards): one "raise" step
    finally:
        remote.stop()
        pub.kill()
        pub.wait(10)
