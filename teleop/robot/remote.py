"""The Unitree wireless remote as a locomotion stick source (``rt/wirelesscontroller``).

The G1's handheld remote reaches the PC in two forms, both decoded here:

* the ``unitree_go.msg.dds_.WirelessController_`` message on ``rt/wirelesscontroller``
  (``lx, ly, rx, ry`` in [-1, 1] and a 16-bit ``keys`` word), which
  :class:`WirelessRemote` subscribes to through ``unitree_sdk2py``;
* the 40-byte ``wireless_remote`` block inside ``rt/lowstate``: 2 header bytes, the same
  16-bit key word (little-endian), then float32 ``lx, rx, ry, L2, ly`` and 16 unused bytes.

Key bits (:class:`RemoteKey`), from bit 0: R1, L1, Start, Select, R2, L2, F1, F2, A, B, X,
Y, Up, Right, Down, Left. Sticks: ``ly`` push-away positive, ``lx``/``rx`` right positive;
the source maps them to forward = ly, left = -lx, turn = -rx. D-pad Down / Up step the
height preset lower / higher; B is the stop key.
"""

from __future__ import annotations

import enum
import math
import struct
import threading
from dataclasses import dataclass

from teleop import clock
from teleop.exceptions import MissingExtraError
from teleop.locomotion import StickInput
from teleop.operator_frame import OperatorFrame
from teleop.robot.exceptions import LinkError

#: DDS topic of the remote's message.
TOPIC_WIRELESS_CONTROLLER = "rt/wirelesscontroller"
#: Layout of LowState's 40-byte ``wireless_remote`` block.
_REMOTE_BLOCK = struct.Struct("<2BH5f16B")


class RemoteKey(enum.IntFlag):
    """Bits of the remote's 16-bit key word."""

    R1 = 1 << 0
    L1 = 1 << 1
    START = 1 << 2
    SELECT = 1 << 3
    R2 = 1 << 4
    L2 = 1 << 5
    F1 = 1 << 6
    F2 = 1 << 7
    A = 1 << 8
    B = 1 << 9
    X = 1 << 10
    Y = 1 << 11
    UP = 1 << 12
    RIGHT = 1 << 13
    DOWN = 1 << 14
    LEFT = 1 << 15


@dataclass(frozen=True)
class RemoteState:
    """One decoded remote sample.

    Attributes:
        lx, ly, rx, ry: stick axes in [-1, 1] (x right positive, y push-away positive).
        keys: the pressed keys.
        stamp: arrival time on :func:`teleop.clock.now` [s].
    """

    lx: float = 0.0
    ly: float = 0.0
    rx: float = 0.0
    ry: float = 0.0
    keys: RemoteKey = RemoteKey(0)
    stamp: float = -math.inf

    def pressed(self, key: RemoteKey) -> bool:
        return bool(self.keys & key)


def decode_wireless_controller(msg: object, stamp: float) -> RemoteState:
    """Decode a ``WirelessController_`` message (any object with ``lx ly rx ry keys``)."""
    return RemoteState(
        lx=float(msg.lx), ly=float(msg.ly), rx=float(msg.rx), ry=float(msg.ry),  # type: ignore[attr-defined]
        keys=RemoteKey(int(msg.keys) & 0xFFFF), stamp=stamp,  # type: ignore[attr-defined]
    )


def decode_remote_block(block: bytes | bytearray | list[int], stamp: float) -> RemoteState:
    """Decode LowState's 40-byte ``wireless_remote`` block."""
    raw = bytes(bytearray(block))
    if len(raw) != _REMOTE_BLOCK.size:
        raise LinkError(f"the wireless_remote block has {_REMOTE_BLOCK.size} bytes, got {len(raw)}")
    fields = _REMOTE_BLOCK.unpack(raw)
    keys, lx, rx, ry, _l2, ly = fields[2:8]
    return RemoteState(lx=lx, ly=ly, rx=rx, ry=ry, keys=RemoteKey(keys), stamp=stamp)


def encode_remote_block(state: RemoteState) -> bytes:
    """Inverse of :func:`decode_remote_block` (used by the simulator and tests)."""
    return _REMOTE_BLOCK.pack(0, 0, int(state.keys), state.lx, state.rx, state.ry, 0.0, state.ly, *([0] * 16))


@dataclass(frozen=True)
class RemoteBindings:
    """Which remote keys step the height preset and stop."""

    lower: RemoteKey = RemoteKey.DOWN
    raise_: RemoteKey = RemoteKey.UP
    stop: RemoteKey = RemoteKey.B


class RemoteSticks:
    """Turns a stream of :class:`RemoteState` into stick input (edges of preset keys counted per sample).

    Feed it with :meth:`on_state` from any thread; :meth:`read` is the
    :class:`teleop.locomotion.StickSource` method.
    """

    def __init__(self, bindings: RemoteBindings | None = None):
        self.bindings = bindings or RemoteBindings()
        self._lock = threading.Lock()
        self._state = RemoteState()
        self._steps = 0
        self._count = 0

    def on_state(self, state: RemoteState) -> None:
        b = self.bindings
        with self._lock:
            prev = self._state.keys
            new = state.keys & ~prev
            self._steps += int(bool(new & b.lower)) - int(bool(new & b.raise_))
            self._state = state
            self._count += 1

    @property
    def state(self) -> RemoteState:
        with self._lock:
            return self._state

    @property
    def samples(self) -> int:
        with self._lock:
            return self._count

    def read(self, frame: OperatorFrame | None, now: float) -> StickInput:
        with self._lock:
            s, steps, self._steps = self._state, self._steps, 0
            seen = self._count > 0
        values = (s.lx, s.ly, s.rx)
        if not seen or not all(math.isfinite(v) for v in values):
            return StickInput(stamp=s.stamp, preset_step=steps)
        return StickInput(
            forward=s.ly, left=-s.lx, turn=-s.rx, valid=True, stamp=s.stamp,
            preset_step=steps, stop=s.pressed(self.bindings.stop),
        )


class WirelessRemote(RemoteSticks):
    """The remote on ``rt/wirelesscontroller`` through ``unitree_sdk2py`` (extra ``dds``).

    Args:
        domain: DDS domain id (0 on a G1).
        interface: network interface to the robot (e.g. ``eth0``), ``None`` for the default.
        bindings: preset / stop keys.
    """

    def __init__(self, domain: int = 0, interface: str | None = None, bindings: RemoteBindings | None = None):
        super().__init__(bindings)
        self.domain = domain
        self.interface = interface
        self._sub = None

    def start(self) -> None:
        try:
            from unitree_sdk2py.core.channel import ChannelSubscriber
            from unitree_sdk2py.idl.unitree_go.msg.dds_ import WirelessController_
        except ImportError:
            raise MissingExtraError("unitree_sdk2py", "dds", "the Unitree wireless remote") from None
        from teleop.robot.dds import join_domain

        join_domain(self.domain, self.interface)
        sub = ChannelSubscriber(TOPIC_WIRELESS_CONTROLLER, WirelessController_)
        sub.Init(self._on_message, 0)
        self._sub = sub

    def _on_message(self, msg: object) -> None:
        self.on_state(decode_wireless_controller(msg, clock.now()))

    def stop(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            sub.Close()

    def __enter__(self) -> WirelessRemote:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
