"""Cross-process: the simulator runs as a DDS robot in its own process; this process drives it
through :class:`DdsBackend`, exactly as it would drive a G1 (domain 1 on the loopback interface)."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("unitree_sdk2py")

from teleop.robot import dds_codec as codec  # noqa: E402
from teleop.robot import g1  # noqa: E402
from teleop.robot.backend import LinkStatus  # noqa: E402
from teleop.robot.dds import DdsBackend, DdsConfig, join_domain  # noqa: E402
from teleop.robot.exceptions import LinkError  # noqa: E402
from teleop.robot.watchdog import WatchdogConfig  # noqa: E402
from tests.robot.dds_sim_process import DOMAIN, INTERFACE, start_sim, stop_sim  # noqa: E402


ARM_TARGET = np.array([0.3, 0.25, 0.1, 0.6, 0.2, 0.1, -0.1])  # left arm [rad]
HAND_TARGET = np.array([0.3, -0.4, -0.5, 0.6, 0.5, 0.6, 0.5])  # right hand [rad], inside the Dex3 ranges


def hold(backend: DdsBackend, action: np.ndarray, seconds: float, rate_hz: float = 100.0) -> None:
    """Send ``action`` like the teleop loop does, for ``seconds`` [s]."""
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        backend.apply_action(action)
        time.sleep(1.0 / rate_hz)


@pytest.fixture(scope="module")
def link(tmp_path_factory):
    log_path = tmp_path_factory.mktemp("dds") / "sim.log"
    proc = start_sim(log_path)
    # a generous state timeout: this test is about tracking, and a loaded CI machine can stall the
    # simulator process for a few tens of ms (test_dds_watchdog_trip checks the 50 ms watchdog)
    backend = DdsBackend(DdsConfig(
        domain=DOMAIN, interface=INTERFACE, connect_timeout_s=60.0,
        watchdog=WatchdogConfig(state_timeout_s=0.5, command_timeout_s=0.5, damp_after_s=2.0),
    ))
    try:
        backend.start()
        yield backend, proc
    finally:
        backend.stop()
        stop_sim(proc)


def test_start_twice_keeps_one_set_of_channels(link):
    """The session builder and the loop both call start(): the second call must not open new readers.

    (It once did; the replaced readers' DDS listeners were then freed by the garbage collector
    while CycloneDDS's receive thread still called them, and the process crashed.)
    """
    backend, _proc = link
    readers, writers, thread = dict(backend._sub), dict(backend._pub), backend._thread
    backend.start()
    assert backend._sub == readers and backend._pub == writers and backend._thread is thread
    assert all(backend._sub[name] is readers[name] for name in readers)


def test_joints_track_their_targets_over_dds(link):
    backend, _ = link
    emb = g1.load_embodiment()
    action = emb.default_action()
    action[g1.ACTION_LEFT_ARM] = ARM_TARGET
    action[g1.ACTION_RIGHT_HAND] = HAND_TARGET
    assert backend.link_status is LinkStatus.OK
    t_start = time.monotonic()
    hold(backend, action, 3.0)
    state = backend.read_state()
    arm_err_deg = np.degrees(np.abs(state.joint(g1.LEFT_ARM_JOINTS) - ARM_TARGET))
    hand_err_deg = np.degrees(np.abs(state.joint(g1.RIGHT_HAND_JOINTS) - HAND_TARGET))
    print(f"left arm error [deg]: {np.round(arm_err_deg, 2)}; right hand error [deg]: {np.round(hand_err_deg, 2)}")
    assert arm_err_deg.max() < 3.0, arm_err_deg
    assert hand_err_deg.max() < 3.0, hand_err_deg
    assert state.stamp > t_start + 2.0  # measured while commanding, not the state from before
    stats = backend.stats()
    assert stats.commands_sent > 500 and stats.states_received > 500
    assert stats.unsafe_commands_dropped == 0 and stats.bad_crc_states == 0


def test_nan_action_never_reaches_the_robot(link):
    backend, _ = link
    emb = g1.load_embodiment()
    good = emb.default_action()
    good[g1.ACTION_LEFT_ARM] = ARM_TARGET
    hold(backend, good, 1.0)
    rejected = backend.stats().actions_rejected
    bad = good.copy()
    bad[g1.ACTION_LEFT_ARM] = [np.nan, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    bad_and_far = bad.copy()
    for _ in range(30):  # 0.3 s of poisoned commands
        backend.apply_action(bad_and_far)
        backend.apply_action(np.zeros(35))  # wrong size as well
        time.sleep(0.01)
    assert backend.stats().actions_rejected == rejected + 60
    state = backend.read_state()
    err_deg = np.degrees(np.abs(state.joint(g1.LEFT_ARM_JOINTS) - ARM_TARGET))
    assert err_deg.max() < 3.0, err_deg  # the arm kept its last valid target
    hold(backend, good, 0.3)
    assert backend.link_status is LinkStatus.OK


def test_simulator_ignores_commands_with_a_bad_crc(link):
    backend, _ = link
    from teleop.robot.dds import domain_participant
    from teleop.robot.dds_wire import LowStateWire, RawReader, RawWriter

    join_domain(DOMAIN, INTERFACE)
    dp = domain_participant()
    seen: list[int] = []  # bad-CRC count the simulator reports (LowState_.reserve[1])
    applied: set[int] = set()  # CRCs of the commands it applied (LowState_.reserve[0])
    state_wire = LowStateWire()

    def on_state(data: bytes) -> None:
        r = state_wire.decode(data)["reserve"]
        seen.append(int(r[1]))
        applied.add(int(r[0]))

    sub = RawReader(dp, codec.TOPIC_LOWSTATE, codec.LowState_, on_state)
    pub = RawWriter(dp, codec.TOPIC_LOWCMD, codec.LowCmd_)
    emb = g1.load_embodiment()
    action = emb.default_action()
    action[g1.ACTION_LEFT_ARM] = ARM_TARGET
    backend.damp()  # keep our own stream from overwriting the forged one: damping holds no position
    try:
        time.sleep(0.3)
        forged = codec.MotorCommand()
        forged.q[:] = emb.q_default
        forged.q[emb.index_of("left_elbow_joint")] = -0.8  # far from where the arm is
        forged.kp[:] = 80.0
        msg = codec.LowCmdCodec().encode(forged, 0, 5)
        msg.crc ^= 0x1  # corrupted in transit
        n0 = max(seen[-5:]) if seen else 0
        for _ in range(50):
            pub.write(msg.serialize())
            time.sleep(0.002)
        time.sleep(0.2)
        q_after = backend.read_state().joint(g1.LEFT_ARM_JOINTS)
        assert max(seen[-5:]) - n0 >= 45  # the simulator counted them (LowState_.reserve[1])
        elbow = g1.LEFT_ARM_JOINTS.index("left_elbow_joint")
        assert msg.crc not in applied and (msg.crc ^ 0x1) not in applied  # never applied to the physics
        assert abs(q_after[elbow] - (-0.8)) > 0.5  # and the elbow did not go there
    finally:
        sub.close()
        pub.close()
        backend.release()
        hold(backend, action, 1.2)
    assert backend.link_status is LinkStatus.OK


def test_second_domain_in_one_process_is_refused():
    join_domain(DOMAIN, INTERFACE)
    with pytest.raises(LinkError, match="one domain per process"):
        join_domain(0, "eth0")


def test_lower_body_command_reaches_the_simulated_base(link):
    """rt/psi/lower_body (simulator-only): the kinematic base turns to target_yaw, the waist takes torso yaw."""
    from teleop.spatial import yaw_of

    backend, _ = link
    action = g1.load_embodiment().default_action()
    action[g1.ACTION_TARGET_YAW] = 0.5  # [rad]
    action[g1.ACTION_TORSO_RPY] = [0.0, 0.0, 0.2]  # torso yaw [rad]
    hold(backend, action, 2.0)  # the base turns at up to 1.5 rad/s
    state = backend.read_state()
    heading_err_deg = np.degrees(abs(yaw_of(state.base_quat) - 0.5))
    waist_err_deg = np.degrees(abs(state.joint(("waist_yaw_joint",))[0] - 0.2))
    print(f"heading error {heading_err_deg:.2f} deg, waist yaw error {waist_err_deg:.2f} deg")
    assert heading_err_deg < 1.0
    assert waist_err_deg < 2.0
    np.testing.assert_allclose(state.lower_body_cmd, action[g1.ACTION_LOWER_BODY])
    action[g1.ACTION_TARGET_YAW] = 0.0
    action[g1.ACTION_TORSO_RPY] = 0.0
    hold(backend, action, 1.0)


def test_stalled_command_source_holds_and_recovers(link):
    from teleop.robot.watchdog import LinkHealth

    backend, _ = link
    action = g1.load_embodiment().default_action()
    action[g1.ACTION_LEFT_ARM] = ARM_TARGET
    hold(backend, action, 0.5)
    assert backend.health is LinkHealth.OK
    time.sleep(1.0)  # the teleop loop "hangs" for longer than command_timeout_s (0.5 s here)
    assert backend.health is LinkHealth.COMMAND_STALLED
    assert backend.link_status is LinkStatus.STALE
    err_deg = np.degrees(np.abs(backend.read_state().joint(g1.LEFT_ARM_JOINTS) - ARM_TARGET))
    assert err_deg.max() < 3.0, err_deg  # held the last pose
    stalls = [e for e in backend.events() if e.health is LinkHealth.COMMAND_STALLED]
    assert stalls and "no new command" in stalls[-1].message
    hold(backend, action, 0.2)
    assert backend.health is LinkHealth.OK


def test_polled_reader_counts_every_sample_and_hands_over_the_newest(link):
    """State topics are polled, not called back: the newest sample wins, the rest are counted."""
    from teleop.robot import dds_wire as wire
    from teleop.robot.dds import domain_participant

    dp = domain_participant()
    got: list[bytes] = []
    reader = wire.RawReader(dp, "rt/psi/test_poll", codec.LowState_, got.append, polled=True)
    writer = wire.RawWriter(dp, "rt/psi/test_poll", codec.LowState_)
    enc = wire.FastLowState()
    state = codec.WireState()
    try:
        time.sleep(0.5)  # discovery on loopback
        assert reader.poll() == 0 and got == []
        for k in range(5):
            state.tick = 100 + k
            writer.write(enc.encode(state))
        deadline = time.monotonic() + 5.0
        n = 0
        while n < 5 and time.monotonic() < deadline:
            n += reader.poll(latest_only=True)
            time.sleep(0.01)
        assert n == 5  # every sample counted...
        out = codec.WireState()
        enc.decode(got[-1], out)
        assert out.tick == 104 and len(got) <= n  # ...and the newest handed over
        assert reader.poll() == 0
    finally:
        reader.close()
        writer.close()
    assert reader.poll() == 0  # a closed reader hands over nothing
