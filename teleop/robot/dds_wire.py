"""Fast fixed-layout (de)serialization of the ``unitree_hg`` messages, and raw DDS readers/writers.

Why: CycloneDDS's Python serializer walks every field in Python, ~0.55 ms for one
``LowState_`` (35 motors) and ~0.33 ms for one ``LowCmd_``; at 500 Hz on both ends of the
link that alone would take most of a CPU core. These messages have a fixed size (their
only sequences, the 7 Dex3 motors and sensors, always hold 7 entries), so each field sits
at a fixed byte offset of the XCDR1 little-endian stream. :class:`MessageLayout` computes
those offsets once from a field table (the same alignment rules CDR uses: every primitive
aligned to its size), and numpy writes/reads all motors of a field in one vectorised call.
``tests/robot/test_dds_wire.py`` checks the bytes against CycloneDDS's own serializer.

The CRC that Unitree puts in ``LowCmd_``/``LowState_`` is computed over a *different*
layout (the C struct, 4-byte aligned structs, no CDR header); :class:`MessageLayout` also
computes that one and the CRC32 is Unitree's own C routine shipped with the SDK
(``unitree_sdk2py/utils/lib/crc_*.so``), called on the packed words directly.

Raw I/O goes through CycloneDDS's C layer (``ddspy_write`` / ``ddspy_take``), the calls its
Python ``DataWriter.write`` / ``DataReader.take`` make after (de)serializing; the project
pins ``cyclonedds==11.0.1`` so these entry points are fixed. Topics are typed with the
SDK's IDL classes, so type matching with the robot (and with SDK programs) is unchanged.
"""

# No ``from __future__ import annotations``: none needed, keeps the module like dds_codec.

import ctypes
import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from teleop.robot import dds_codec as codec  # also checks the dds extra
from teleop.robot.dds_codec import DEX3_MOTORS, LOW_MOTOR_SLOTS

#: XCDR1 little-endian encapsulation header (what CycloneDDS puts before every sample).
CDR_LE_HEADER = b"\x00\x01\x00\x00"

_SIZES = {"u1": 1, "i1": 1, "u2": 2, "i2": 2, "u4": 4, "i4": 4, "f4": 4, "f8": 8}


@dataclass(frozen=True)
class _Field:
    name: str
    fmt: str
    count: int


# A layout spec is a list of _Field and nested lists (structs). Repeated structs are expanded
# with names "motor_state[3].q" so every field instance gets its own offset.
def _motor_cmd(prefix: str) -> list:
    return [[_Field(f"{prefix}.mode", "u1", 1), _Field(f"{prefix}.q", "f4", 1), _Field(f"{prefix}.dq", "f4", 1),
             _Field(f"{prefix}.tau", "f4", 1), _Field(f"{prefix}.kp", "f4", 1), _Field(f"{prefix}.kd", "f4", 1),
             _Field(f"{prefix}.reserve", "u4", 1)]]


def _motor_state(prefix: str) -> list:
    return [[_Field(f"{prefix}.mode", "u1", 1), _Field(f"{prefix}.q", "f4", 1), _Field(f"{prefix}.dq", "f4", 1),
             _Field(f"{prefix}.ddq", "f4", 1), _Field(f"{prefix}.tau_est", "f4", 1),
             _Field(f"{prefix}.temperature", "i2", 2), _Field(f"{prefix}.vol", "f4", 1),
             _Field(f"{prefix}.sensor", "u4", 2), _Field(f"{prefix}.motorstate", "u4", 1),
             _Field(f"{prefix}.reserve", "u4", 4)]]


def _imu(prefix: str) -> list:
    return [[_Field(f"{prefix}.quaternion", "f4", 4), _Field(f"{prefix}.gyroscope", "f4", 3),
             _Field(f"{prefix}.accelerometer", "f4", 3), _Field(f"{prefix}.rpy", "f4", 3),
             _Field(f"{prefix}.temperature", "i2", 1)]]


def _press(prefix: str) -> list:
    return [[_Field(f"{prefix}.pressure", "f4", 12), _Field(f"{prefix}.temperature", "f4", 12),
             _Field(f"{prefix}.lost", "u4", 1), _Field(f"{prefix}.reserve", "u4", 1)]]


def _spec_lowcmd() -> list:
    spec: list = [_Field("mode_pr", "u1", 1), _Field("mode_machine", "u1", 1)]
    for k in range(LOW_MOTOR_SLOTS):
        spec += _motor_cmd(f"motor_cmd[{k}]")
    return spec + [_Field("reserve", "u4", 4), _Field("crc", "u4", 1)]


def _spec_lowstate() -> list:
    spec: list = [_Field("version", "u4", 2), _Field("mode_pr", "u1", 1), _Field("mode_machine", "u1", 1),
                  _Field("tick", "u4", 1)]
    spec += _imu("imu_state")
    for k in range(LOW_MOTOR_SLOTS):
        spec += _motor_state(f"motor_state[{k}]")
    return spec + [_Field("wireless_remote", "u1", 40), _Field("reserve", "u4", 4), _Field("crc", "u4", 1)]


def _spec_handcmd() -> list:
    spec: list = [_Field("motor_cmd.length", "u4", 1)]
    for k in range(DEX3_MOTORS):
        spec += _motor_cmd(f"motor_cmd[{k}]")
    return spec + [_Field("reserve", "u4", 4)]


def _spec_handstate() -> list:
    spec: list = [_Field("motor_state.length", "u4", 1)]
    for k in range(DEX3_MOTORS):
        spec += _motor_state(f"motor_state[{k}]")
    spec.append(_Field("press_sensor_state.length", "u4", 1))
    for k in range(DEX3_MOTORS):
        spec += _press(f"press_sensor_state[{k}]")
    spec += _imu("imu_state")
    return spec + [_Field("power_v", "f4", 1), _Field("power_a", "f4", 1), _Field("system_v", "f4", 1),
                   _Field("device_v", "f4", 1), _Field("error", "u4", 2), _Field("reserve", "u4", 2)]


def _align(off: int, a: int) -> int:
    return (off + a - 1) // a * a


def _max_align(spec: list) -> int:
    return max(_max_align(x) if isinstance(x, list) else _SIZES[x.fmt] for x in spec)


def _place(spec: list, off: int, c_rules: bool, out: dict[str, int]) -> int:
    """Assign offsets; CDR aligns each primitive to its size, C also aligns and pads each struct."""
    for item in spec:
        if isinstance(item, list):
            if c_rules:
                a = _max_align(item)
                off = _align(off, a)
                off = _place(item, off, c_rules, out)
                off = _align(off, a)
            else:
                off = _place(item, off, c_rules, out)
        else:
            size = _SIZES[item.fmt]
            off = _align(off, size)
            out[item.name] = off
            off += size * item.count
    return off


class MessageLayout:
    """Byte offsets of every field of one message type, in the CDR stream and in the C struct.

    Attributes:
        cdr: {field name: offset in the serialized sample, counting the 4-byte header}.
        cdr_size: serialized size [bytes] including the header, padded to 4.
        c: {field name: offset in the C struct} (for the CRC); c_size: its size [bytes].
    """

    def __init__(self, spec: list):
        self._fmt: dict[str, tuple[str, int]] = {}

        def collect(s: list) -> None:
            for x in s:
                if isinstance(x, list):
                    collect(x)
                else:
                    self._fmt[x.name] = (x.fmt, x.count)

        collect(spec)
        body: dict[str, int] = {}
        end = _place(spec, 0, False, body)
        self.cdr = {k: v + len(CDR_LE_HEADER) for k, v in body.items()}
        self.cdr_size = _align(end + len(CDR_LE_HEADER), 4)
        self.c: dict[str, int] = {}
        self.c_size = _align(_place(spec, 0, True, self.c), _max_align(spec))

    def index(self, pattern: str, n: int, c: bool = False) -> tuple[np.ndarray, str, int]:
        """Byte index array (n, count·size) of field ``pattern.format(k)`` for k < n, its dtype, count."""
        offsets = self.c if c else self.cdr
        fmt, count = self._fmt[pattern.format(0)]
        size = _SIZES[fmt]
        base = np.array([offsets[pattern.format(k)] for k in range(n)], dtype=np.int64)
        return base[:, None] + np.arange(count * size)[None, :], "<" + fmt, count


@functools.cache
def layouts() -> dict[str, MessageLayout]:
    """The layouts of the four messages, computed once."""
    return {
        "LowCmd_": MessageLayout(_spec_lowcmd()),
        "LowState_": MessageLayout(_spec_lowstate()),
        "HandCmd_": MessageLayout(_spec_handcmd()),
        "HandState_": MessageLayout(_spec_handstate()),
    }


class FieldView:
    """Vectorised access to one field repeated over motors (or a single field when n = 1)."""

    def __init__(self, layout: MessageLayout, pattern: str, n: int, c: bool = False):
        self.idx, self.dtype, self.count = layout.index(pattern, n, c)
        self.n = n

    def put(self, buf: np.ndarray, values) -> None:
        v = np.asarray(values, dtype=self.dtype).reshape(self.n, self.count)
        buf[self.idx] = v.view(np.uint8).reshape(self.idx.shape)

    def get(self, buf: np.ndarray) -> np.ndarray:
        return buf[self.idx].view(self.dtype).reshape(self.n, self.count).squeeze(-1) if self.count == 1 else \
            buf[self.idx].view(self.dtype).reshape(self.n, self.count)


# ---------------------------------------------------------------------------------------
# Unitree CRC over the C layout
# ---------------------------------------------------------------------------------------
@functools.cache
def _crc_core():
    from unitree_sdk2py.utils.crc import CRC

    lib = getattr(CRC(), "crc_lib", None)
    return None if lib is None else lib.crc32_core


def unitree_crc32(words: np.ndarray) -> int:
    """Unitree's CRC32 (poly 0x04C11DB7, MSB first, init 0xFFFFFFFF, no final xor) of uint32 ``words``."""
    words = np.ascontiguousarray(words, dtype="<u4")
    core = _crc_core()
    if core is not None:
        return int(core(words.ctypes.data_as(ctypes.POINTER(ctypes.c_uint32)), ctypes.c_uint32(words.size)))
    from unitree_sdk2py.utils.crc import CRC  # non-Linux: the SDK's pure-Python routine

    return int(CRC()._crc_py(words.tolist()))


class _CrcPacker:
    """Copies the CRC-relevant fields from a CDR buffer into the C-struct layout and hashes it."""

    def __init__(self, layout: MessageLayout, names: list[str]):
        src, dst = [], []
        for name in names:
            fmt, count = layout._fmt[name]
            size = _SIZES[fmt] * count
            src.append(layout.cdr[name] + np.arange(size))
            dst.append(layout.c[name] + np.arange(size))
        self._src = np.concatenate(src)
        self._dst = np.concatenate(dst)
        self._c = np.zeros(layout.c_size, dtype=np.uint8)
        self._n_words = layout.c_size // 4 - 1  # the SDK leaves out the last word (the crc itself)

    def crc(self, cdr: np.ndarray) -> int:
        self._c[self._dst] = cdr[self._src]
        return unitree_crc32(self._c[: self._n_words * 4].view("<u4"))


def _all_field_names(layout: MessageLayout) -> list[str]:
    return [n for n in layout._fmt if not n.endswith(".length")]


# ---------------------------------------------------------------------------------------
# Encoders / decoders working on numpy arrays in wire (slot) order
# ---------------------------------------------------------------------------------------
class LowCmdWire:
    """Build and parse ``LowCmd_`` bytes; arrays are in motor-slot order (35 slots)."""

    def __init__(self) -> None:
        from unitree_sdk2py.idl.default import unitree_hg_msg_dds__LowCmd_

        lay = layouts()["LowCmd_"]
        self.layout = lay
        self._template = np.frombuffer(unitree_hg_msg_dds__LowCmd_().serialize(), dtype=np.uint8).copy()
        if self._template.size != lay.cdr_size:
            raise RuntimeError(f"LowCmd_ layout mismatch: {lay.cdr_size} vs {self._template.size} bytes")
        n = LOW_MOTOR_SLOTS
        self.mode = FieldView(lay, "motor_cmd[{}].mode", n)
        self.f = {k: FieldView(lay, f"motor_cmd[{{}}].{k}", n) for k in ("q", "dq", "tau", "kp", "kd")}
        self.mode_pr = FieldView(lay, "mode_pr", 1)
        self.mode_machine = FieldView(lay, "mode_machine", 1)
        self.crc_field = FieldView(lay, "crc", 1)
        self._crc = _CrcPacker(lay, _all_field_names(lay))
        self.buf = self._template.copy()

    def encode(self, mode: np.ndarray, q, dq, tau, kp, kd, mode_pr: int, mode_machine: int) -> bytes:
        b = self.buf
        self.mode.put(b, mode)
        for k, v in (("q", q), ("dq", dq), ("tau", tau), ("kp", kp), ("kd", kd)):
            self.f[k].put(b, v)
        self.mode_pr.put(b, [mode_pr])
        self.mode_machine.put(b, [mode_machine])
        self.crc_field.put(b, [self._crc.crc(b)])
        return b.tobytes()

    def crc_ok(self, data: bytes) -> bool:
        b = np.frombuffer(data, dtype=np.uint8)
        return int(self.crc_field.get(b)[0]) == self._crc.crc(b)

    def decode(self, data: bytes) -> dict[str, np.ndarray]:
        b = np.frombuffer(data, dtype=np.uint8)
        out = {k: v.get(b).astype(float) for k, v in self.f.items()}
        out["mode"] = self.mode.get(b).astype(int)
        out["mode_pr"] = int(self.mode_pr.get(b)[0])
        out["mode_machine"] = int(self.mode_machine.get(b)[0])
        out["crc"] = int(self.crc_field.get(b)[0])
        return out


class LowStateWire:
    """Build and parse ``LowState_`` bytes; motor arrays in slot order (35 slots)."""

    def __init__(self) -> None:
        from unitree_sdk2py.idl.default import unitree_hg_msg_dds__LowState_

        lay = layouts()["LowState_"]
        self.layout = lay
        self._template = np.frombuffer(unitree_hg_msg_dds__LowState_().serialize(), dtype=np.uint8).copy()
        if self._template.size != lay.cdr_size:
            raise RuntimeError(f"LowState_ layout mismatch: {lay.cdr_size} vs {self._template.size} bytes")
        n = LOW_MOTOR_SLOTS
        self.mode = FieldView(lay, "motor_state[{}].mode", n)
        self.f = {k: FieldView(lay, f"motor_state[{{}}].{k}", n) for k in ("q", "dq", "tau_est")}
        self.imu = {k: FieldView(lay, f"imu_state.{k}", 1) for k in ("quaternion", "gyroscope", "accelerometer", "rpy")}
        self.scalars = {k: FieldView(lay, k, 1) for k in ("mode_pr", "mode_machine", "tick", "crc")}
        self.reserve = FieldView(lay, "reserve", 1)
        self._crc = _CrcPacker(lay, _all_field_names(lay))
        self.buf = self._template.copy()

    def encode(self, mode, q, dq, tau, quat_wxyz, gyro, acc, rpy, mode_pr: int, mode_machine: int, tick: int,
               reserve=(0, 0, 0, 0)) -> bytes:
        b = self.buf
        self.mode.put(b, mode)
        self.f["q"].put(b, q)
        self.f["dq"].put(b, dq)
        self.f["tau_est"].put(b, tau)
        self.imu["quaternion"].put(b, quat_wxyz)
        self.imu["gyroscope"].put(b, gyro)
        self.imu["accelerometer"].put(b, acc)
        self.imu["rpy"].put(b, rpy)
        self.scalars["mode_pr"].put(b, [mode_pr])
        self.scalars["mode_machine"].put(b, [mode_machine])
        self.scalars["tick"].put(b, [tick & 0xFFFFFFFF])
        self.reserve.put(b, reserve)
        self.scalars["crc"].put(b, [self._crc.crc(b)])
        return b.tobytes()

    def crc_ok(self, data: bytes) -> bool:
        b = np.frombuffer(data, dtype=np.uint8)
        return int(self.scalars["crc"].get(b)[0]) == self._crc.crc(b)

    def decode(self, data: bytes) -> dict[str, np.ndarray]:
        b = np.frombuffer(data, dtype=np.uint8)
        out: dict = {k: v.get(b).astype(float) for k, v in self.f.items()}
        for k, v in self.imu.items():
            out[k] = v.get(b).reshape(-1).astype(float)
        for k, v in self.scalars.items():
            out[k] = int(v.get(b)[0])
        out["reserve"] = self.reserve.get(b).reshape(-1).astype(np.int64)
        return out


class HandCmdWire:
    """Build and parse ``HandCmd_`` bytes with exactly 7 motors (other lengths: use the IDL path)."""

    def __init__(self) -> None:
        from unitree_sdk2py.idl.default import unitree_hg_msg_dds__HandCmd_

        lay = layouts()["HandCmd_"]
        self._template = np.frombuffer(unitree_hg_msg_dds__HandCmd_().serialize(), dtype=np.uint8).copy()
        if self._template.size != lay.cdr_size:
            raise RuntimeError(f"HandCmd_ layout mismatch: {lay.cdr_size} vs {self._template.size} bytes")
        n = DEX3_MOTORS
        self.length = FieldView(lay, "motor_cmd.length", 1)
        self.mode = FieldView(lay, "motor_cmd[{}].mode", n)
        self.f = {k: FieldView(lay, f"motor_cmd[{{}}].{k}", n) for k in ("q", "dq", "tau", "kp", "kd")}
        self.buf = self._template.copy()
        self.size = lay.cdr_size

    def encode(self, mode, q, dq, tau, kp, kd) -> bytes:
        b = self.buf
        self.mode.put(b, mode)
        for k, v in (("q", q), ("dq", dq), ("tau", tau), ("kp", kp), ("kd", kd)):
            self.f[k].put(b, v)
        return b.tobytes()

    def fits(self, data: bytes) -> bool:
        return len(data) >= self.size and int(self.length.get(np.frombuffer(data, dtype=np.uint8))[0]) == DEX3_MOTORS

    def decode(self, data: bytes) -> dict[str, np.ndarray]:
        b = np.frombuffer(data, dtype=np.uint8)
        out = {k: v.get(b).astype(float) for k, v in self.f.items()}
        out["mode"] = self.mode.get(b).astype(int)
        return out


class HandStateWire:
    """Build and parse ``HandState_`` bytes with exactly 7 motors and 7 tactile sensors."""

    def __init__(self) -> None:
        from unitree_sdk2py.idl.default import unitree_hg_msg_dds__HandState_

        lay = layouts()["HandState_"]
        self._template = np.frombuffer(unitree_hg_msg_dds__HandState_().serialize(), dtype=np.uint8).copy()
        if self._template.size != lay.cdr_size:
            raise RuntimeError(f"HandState_ layout mismatch: {lay.cdr_size} vs {self._template.size} bytes")
        n = DEX3_MOTORS
        self.lengths = (FieldView(lay, "motor_state.length", 1), FieldView(lay, "press_sensor_state.length", 1))
        self.mode = FieldView(lay, "motor_state[{}].mode", n)
        self.f = {k: FieldView(lay, f"motor_state[{{}}].{k}", n) for k in ("q", "dq", "tau_est")}
        self.pressure = FieldView(lay, "press_sensor_state[{}].pressure", n)
        self.buf = self._template.copy()
        self.size = lay.cdr_size

    def encode(self, mode, q, dq, tau) -> bytes:
        b = self.buf
        self.mode.put(b, mode)
        self.f["q"].put(b, q)
        self.f["dq"].put(b, dq)
        self.f["tau_est"].put(b, tau)
        return b.tobytes()

    def fits(self, data: bytes) -> bool:
        if len(data) < self.size:
            return False
        b = np.frombuffer(data, dtype=np.uint8)
        return all(int(v.get(b)[0]) == DEX3_MOTORS for v in self.lengths)

    def decode(self, data: bytes) -> dict[str, np.ndarray]:
        b = np.frombuffer(data, dtype=np.uint8)
        out = {k: v.get(b).astype(float) for k, v in self.f.items()}
        out["pressure"] = self.pressure.get(b).astype(float)
        return out


# ---------------------------------------------------------------------------------------
# The same, between MotorCommand / WireState (MODEL_JOINTS order) and bytes
# ---------------------------------------------------------------------------------------
class FastLowCmd:
    """``MotorCommand`` <-> ``LowCmd_`` bytes, body motors placed by name (:func:`codec.wire_map`)."""

    def __init__(self) -> None:
        self.wire = LowCmdWire()
        self._idx = codec.wire_map().body_model_index
        n = LOW_MOTOR_SLOTS
        self._slot = {k: np.zeros(n) for k in ("q", "dq", "tau", "kp", "kd")}
        self._mode = np.zeros(n, dtype=np.uint8)

    def encode(self, cmd: codec.MotorCommand, mode_pr: int, mode_machine: int) -> bytes:
        """Serialized LowCmd_ with CRC; refuses non-finite values (:class:`codec.UnsafeCommandError`)."""
        idx = self._idx
        codec._require_finite(cmd, idx)
        m = len(idx)
        for k, arr in self._slot.items():
            arr[:m] = getattr(cmd, k)[idx]
        self._mode[:m] = np.where(cmd.enabled[idx], codec.BODY_MOTOR_ENABLE, codec.BODY_MOTOR_DISABLE)
        s = self._slot
        return self.wire.encode(self._mode, s["q"], s["dq"], s["tau"], s["kp"], s["kd"], mode_pr, mode_machine)

    def decode(self, data: bytes, out: codec.MotorCommand) -> int | None:
        """Body motors of ``data`` into ``out``; returns the message CRC, or None (nothing written) if it is wrong."""
        if not self.wire.crc_ok(data):
            return None
        d = self.wire.decode(data)
        idx = self._idx
        m = len(idx)
        for k in ("q", "dq", "tau", "kp", "kd"):
            getattr(out, k)[idx] = d[k][:m]
        out.enabled[idx] = d["mode"][:m] != codec.BODY_MOTOR_DISABLE
        return d["crc"]


class FastLowState:
    """``WireState`` <-> ``LowState_`` bytes."""

    def __init__(self) -> None:
        self.wire = LowStateWire()
        self._idx = codec.wire_map().body_model_index
        n = LOW_MOTOR_SLOTS
        self._q, self._dq, self._tau = np.zeros(n), np.zeros(n), np.zeros(n)
        self._mode = np.zeros(n, dtype=np.uint8)
        self._mode[: len(self._idx)] = codec.BODY_MOTOR_ENABLE

    def encode(self, state: codec.WireState, rpy=(0.0, 0.0, 0.0), reserve=(0, 0, 0, 0)) -> bytes:
        idx, m = self._idx, len(self._idx)
        self._q[:m], self._dq[:m], self._tau[:m] = state.q[idx], state.dq[idx], state.tau[idx]
        return self.wire.encode(self._mode, self._q, self._dq, self._tau, state.quat_wxyz, state.gyro, state.acc, rpy,
                                state.mode_pr, state.mode_machine, state.tick, reserve)

    def decode(self, data: bytes, out: codec.WireState, check_crc: bool = True) -> dict | None:
        """Body motors, IMU, modes of ``data`` into ``out``; None (nothing written) on a CRC mismatch."""
        if check_crc and not self.wire.crc_ok(data):
            return None
        d = self.wire.decode(data)
        idx, m = self._idx, len(self._idx)
        out.q[idx], out.dq[idx], out.tau[idx] = d["q"][:m], d["dq"][:m], d["tau_est"][:m]
        out.quat_wxyz[:] = d["quaternion"]
        out.gyro[:] = d["gyroscope"]
        out.acc[:] = d["accelerometer"]
        out.mode_pr, out.mode_machine, out.tick = d["mode_pr"], d["mode_machine"], d["tick"]
        return d


class FastHandCmd:
    """``MotorCommand`` (one side's hand) <-> ``HandCmd_`` bytes, Dex3 motors placed by name."""

    def __init__(self, side: str) -> None:
        self.side = side
        self.wire = HandCmdWire()
        self._idx = codec.wire_map().hand_model_index[side]
        self._ids = np.arange(DEX3_MOTORS)
        self._slow = codec.HandCmdCodec(side)

    def encode(self, cmd: codec.MotorCommand, timeout: bool = True) -> bytes:
        idx = self._idx
        codec._require_finite(cmd, idx)
        status = np.where(cmd.enabled[idx], int(codec.Dex3Status.FOC), int(codec.Dex3Status.LOCK))
        mode = (self._ids & 0x0F) | ((status & 0x07) << 4) | ((1 if timeout else 0) << 7)
        return self.wire.encode(mode, cmd.q[idx], cmd.dq[idx], cmd.tau[idx], cmd.kp[idx], cmd.kd[idx])

    def decode(self, data: bytes, out: codec.MotorCommand) -> int:
        """Write the command into ``out`` by the motor id in each mode byte; returns motors used."""
        if not self.wire.fits(data):  # another length: the general (slow) path
            from unitree_sdk2py.idl.unitree_hg.msg.dds_ import HandCmd_

            return self._slow.decode(HandCmd_.deserialize(data), out)
        d = self.wire.decode(data)
        ids = d["mode"] & 0x0F
        ok = ids < DEX3_MOTORS
        mi = self._idx[ids[ok]]
        for k in ("q", "dq", "tau", "kp", "kd"):
            getattr(out, k)[mi] = d[k][ok]
        out.enabled[mi] = ((d["mode"][ok] >> 4) & 0x07) == int(codec.Dex3Status.FOC)
        return int(ok.sum())


class FastHandState:
    """``WireState`` (one side's hand) <-> ``HandState_`` bytes."""

    def __init__(self, side: str) -> None:
        self.side = side
        self.row = codec.SIDES.index(side)
        self.wire = HandStateWire()
        self._idx = codec.wire_map().hand_model_index[side]
        self._mode = np.array([codec.dex3_mode_byte(i) for i in range(DEX3_MOTORS)])
        self._slow = codec.HandStateCodec(side)

    def encode(self, state: codec.WireState) -> bytes:
        idx = self._idx
        return self.wire.encode(self._mode, state.q[idx], state.dq[idx], state.tau[idx])

    def decode(self, data: bytes, out: codec.WireState) -> None:
        if not self.wire.fits(data):
            from unitree_sdk2py.idl.unitree_hg.msg.dds_ import HandState_

            self._slow.decode(HandState_.deserialize(data), out)
            return
        d = self.wire.decode(data)
        idx = self._idx
        out.q[idx], out.dq[idx], out.tau[idx] = d["q"], d["dq"], d["tau_est"]
        row = out.hand_pressure[self.row]
        row[:] = 0.0
        row[:DEX3_MOTORS] = d["pressure"].mean(axis=1)


# ---------------------------------------------------------------------------------------
# Raw DDS endpoints
# ---------------------------------------------------------------------------------------
class RawWriter:
    """A DataWriter on ``topic`` (typed with the SDK's IDL class) that writes pre-serialized bytes."""

    def __init__(self, participant, topic: str, idl_type) -> None:
        from cyclonedds.pub import DataWriter
        from cyclonedds.topic import Topic

        from cyclonedds._clayer import ddspy_write

        self._topic = Topic(participant, topic, idl_type)
        self._writer = DataWriter(participant, self._topic)
        self._write = ddspy_write

    def write(self, payload: bytes) -> bool:
        """Publish one serialized sample; False (nothing sent) once the writer is closed."""
        writer = self._writer
        if writer is None:
            return False
        if len(payload) % 4:
            payload = payload.ljust((len(payload) + 3) & ~3, b"\0")  # as DataWriter.write pads
        ret = self._write(writer._ref, payload)
        if ret < 0:
            from cyclonedds.core import DDSException

            raise DDSException(ret, f"writing {len(payload)} bytes on {self._topic.name}")
        return True

    def close(self) -> None:
        self._writer = None


#: Samples a polled reader keeps between polls (a 100 Hz poll of a 500 Hz topic takes ~5).
POLL_DEPTH = 16


class RawReader:
    """A DataReader on ``topic`` that hands each sample's raw bytes to ``callback``.

    Two ways to receive: by default a DDS listener calls ``callback`` on CycloneDDS's receive
    thread for every sample; with ``polled=True`` there is no listener and the owner calls
    :meth:`poll` from its own thread (a control loop that runs anyway), which hands over what
    arrived since the last poll. Polling saves a Python callback per sample — at 500 Hz state
    rates the listener path costs a receive thread about a quarter of a core and contends for
    the GIL with the control loop.
    """

    def __init__(self, participant, topic: str, idl_type, callback: Callable[[bytes], None],
                 polled: bool = False) -> None:
        from cyclonedds._clayer import ddspy_take
        from cyclonedds.core import InstanceState, Listener, SampleState, ViewState
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic

        self._take = ddspy_take
        self._mask = SampleState.Any | ViewState.Any | InstanceState.Any
        self._callback = callback
        self._open = True
        self._topic = Topic(participant, topic, idl_type)
        if polled:  # keep what arrives between polls (so it can be counted), the newest last
            from cyclonedds.qos import Policy, Qos

            self._reader = DataReader(participant, self._topic, qos=Qos(Policy.History.KeepLast(POLL_DEPTH)))
        else:
            self._reader = DataReader(participant, self._topic, listener=Listener(on_data_available=self._on_data))

    def _on_data(self, reader) -> None:
        if not self._open or reader is None:  # None: the reader is being deleted (close())
            return
        self._deliver(reader)

    def poll(self, latest_only: bool = False) -> int:
        """Hand the samples that arrived since the last call to the callback (caller's thread).

        ``latest_only``: only the newest one (a state topic, where older samples are superseded).
        Returns how many valid samples arrived (handed over or superseded).
        """
        reader = self._reader
        return self._deliver(reader, latest_only) if self._open and reader is not None else 0

    def _deliver(self, reader, latest_only: bool = False) -> int:
        ret = self._take(reader._ref, self._mask, POLL_DEPTH)
        if isinstance(ret, int):
            return 0
        valid = [data for data, info in ret if info.valid_data]
        for data in valid[-1:] if latest_only else valid:
            if not self._open:
                return 0
            self._callback(data)
        return len(valid)

    def close(self) -> None:
        """Detach the listener in CycloneDDS first, then delete the reader: no callback runs after this."""
        self._open = False
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.set_listener(None)
            del reader


__all__ = [
    "FastHandCmd",
    "FastHandState",
    "FastLowCmd",
    "FastLowState",
    "HandCmdWire",
    "HandStateWire",
    "LowCmdWire",
    "LowStateWire",
    "MessageLayout",
    "RawReader",
    "RawWriter",
    "layouts",
    "unitree_crc32",
]
