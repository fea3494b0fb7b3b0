"""DDS round trip over loopback: rt/lowcmd published -> first rt/lowstate that reflects it.

The simulator runs as a DDS robot in its own process (``psi-teleop sim --dds``, domain 1 on
``lo``, 500 Hz). This process publishes LowCmd_ messages one at a time (each with a slightly
different wrist target, hence its own CRC) and waits for the LowState_ whose diagnostic
``reserve[0]`` carries that CRC, i.e. the first state computed *after* the command was applied
to the physics. The round trip therefore includes: our encode + CRC, DDS over loopback, the
simulator's CRC check and decode, waiting for its next 2 ms tick, one physics step, its encode,
DDS back, our decode. Expect ~1 ms of it to be the tick wait (uniform in [0, 2] ms).

Baselines, measured in this process: encoding a LowCmd_ and decoding a LowState_ with the
fixed-layout fast path vs with CycloneDDS's generic IDL serializer, and the period at which
states arrive (the simulator's achieved rate).

    python -m tests.bench dds           # 1000 round trips
    python -m tests.bench dds --quick   # 100 round trips
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from tests.bench.stats import print_table, summarize


def _time_calls(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def run(quick: bool = False) -> dict[str, float]:
    from teleop.robot import dds_codec as codec
    from teleop.robot import dds_wire as wire
    from teleop.robot import g1
    from teleop.robot.dds import DdsConfig, domain_participant, join_domain
    from tests.robot.dds_sim_process import DOMAIN, INTERFACE, start_sim, stop_sim

    n_trips = 100 if quick else 1000
    n_codec = 200 if quick else 2000
    emb = g1.load_embodiment()

    # ---- baselines: codec cost, fast path vs CycloneDDS's IDL serializer
    cmd = codec.MotorCommand()
    cmd.q[:] = emb.q_default
    cmd.kp[:], cmd.kd[:] = DdsConfig().gains()
    fast_cmd = wire.FastLowCmd()
    idl_cmd = codec.LowCmdCodec()
    state = codec.WireState(mode_machine=5)
    state.q[:] = emb.q_default
    state_bytes = codec.LowStateCodec().encode(state).serialize()
    fast_state = wire.FastLowState()
    out = codec.WireState()
    enc_fast = _time_calls(lambda: fast_cmd.encode(cmd, 0, 5), n_codec)
    enc_idl = _time_calls(lambda: idl_cmd.encode(cmd, 0, 5).serialize(), n_codec // 4)
    dec_fast = _time_calls(lambda: fast_state.decode(state_bytes, out), n_codec)
    dec_idl = _time_calls(lambda: codec.LowStateCodec().decode(codec.LowState_.deserialize(state_bytes), out), n_codec // 4)

    # ---- round trip through the simulator process
    tmp = Path(tempfile.mkdtemp(prefix="bench_dds_"))
    proc = start_sim(tmp / "sim.log")
    try:
        join_domain(DOMAIN, INTERFACE)
        dp = domain_participant()
        decoder = wire.LowStateWire()
        lock = threading.Lock()
        expected = {"crc": -1, "t": 0.0}
        got = threading.Event()
        arrivals: list[float] = []
        last_q = np.zeros(codec.LOW_MOTOR_SLOTS)
        mode = {"pr": 0, "machine": 0}

        def on_state(data: bytes) -> None:
            t = time.perf_counter()
            d = decoder.decode(data)
            arrivals.append(t)
            with lock:
                last_q[:] = d["q"]
                mode["pr"], mode["machine"] = d["mode_pr"], d["mode_machine"]
                if int(d["reserve"][0]) == expected["crc"] and not got.is_set():
                    expected["t"] = t
                    got.set()

        reader = wire.RawReader(dp, codec.TOPIC_LOWSTATE, codec.LowState_, on_state)
        writer = wire.RawWriter(dp, codec.TOPIC_LOWCMD, codec.LowCmd_)
        t_wait = time.monotonic() + 90.0
        while not arrivals and time.monotonic() < t_wait:
            time.sleep(0.05)
        if not arrivals:
            raise RuntimeError(f"the DDS simulator sent no state within 90 s; see {tmp / 'sim.log'}")
        time.sleep(1.0)  # let discovery settle both ways
        lower = emb.indices(g1.LEG_JOINTS + g1.WAIST_JOINTS)
        cmd.kp[lower] = 0.0  # legs and waist stay with the simulator's kinematic base
        cmd.kd[lower] = 0.0
        wrist = emb.index_of("left_wrist_yaw_joint")
        trips: list[float] = []
        lost = 0
        for i in range(n_trips):
            cmd.q[wrist] = 0.05 * np.sin(0.01 * i)  # a new target, hence a new CRC, every time
            with lock:
                payload = fast_cmd.encode(cmd, mode["pr"], mode["machine"])
                expected["crc"] = int(np.frombuffer(payload[-4:], dtype="<u4")[0])
                got.clear()
            t0 = time.perf_counter()
            writer.write(payload)
            if got.wait(0.5):
                trips.append(expected["t"] - t0)
            else:
                lost += 1
            time.sleep(0.003)
        a = np.diff(np.array(arrivals[len(arrivals) // 4:]))
        reader.close()
        writer.close()
    finally:
        stop_sim(proc)

    rt = summarize(trips)
    period = summarize(a)
    fe, ie = summarize(enc_fast, 1e6), summarize(enc_idl, 1e6)
    fd, idd = summarize(dec_fast, 1e6), summarize(dec_idl, 1e6)
    print_table(
        "DDS link over loopback (simulator process at 500 Hz)",
        [
            ("round trip lowcmd -> lowstate", f"{rt['median']:.2f} ms", f"{rt['p99']:.2f} ms", f"{rt['n']} ({lost} lost)"),
            ("state period (sim rate)", f"{period['median']:.2f} ms", f"{period['p99']:.2f} ms", str(period["n"])),
            ("encode LowCmd_ + CRC, fast path", f"{fe['median']:.0f} us", f"{fe['p99']:.0f} us", str(fe["n"])),
            ("encode LowCmd_ + CRC, IDL serializer", f"{ie['median']:.0f} us", f"{ie['p99']:.0f} us", str(ie["n"])),
            ("decode LowState_ + CRC, fast path", f"{fd['median']:.0f} us", f"{fd['p99']:.0f} us", str(fd["n"])),
            ("decode LowState_, IDL deserializer", f"{idd['median']:.0f} us", f"{idd['p99']:.0f} us", str(idd["n"])),
        ],
        ("measure", "median", "p99", "n"),
    )
    return {
        "roundtrip_p50_ms": rt["median"],
        "roundtrip_p99_ms": rt["p99"],
        "roundtrip_lost": float(lost),
        "state_period_p50_ms": period["median"],
        "state_period_p99_ms": period["p99"],
        "encode_lowcmd_fast_us": fe["median"],
        "encode_lowcmd_idl_us": ie["median"],
        "decode_lowstate_fast_us": fd["median"],
        "decode_lowstate_idl_us": idd["median"],
    }
