"""The keyboard as a locomotion stick source, for simulation without controllers.

Keys (lower case; the same for the console and the terminal):

=========  ==========================================
key        effect
=========  ==========================================
w / s      walk forward / backward
a / d      walk left / right
q / e      turn left / right
f / r      next lower / higher height preset
0          torso height follows the head again
1 .. 9     height preset 1 .. 9
space      stop now (zero and latch)
=========  ==========================================

:class:`KeyState` holds which keys are down. A GUI (the console) reports real press and
release events; a terminal only sends characters, with auto-repeat while a key is held, so
:meth:`KeyState.press` with a ``hold_s`` longer than the terminal's repeat interval makes
a key count as held until ``hold_s`` after its last character. :class:`KeyboardSticks`
maps the held set to a :class:`teleop.locomotion.StickInput` (pure, no I/O);
:class:`TerminalKeys` reads characters from a terminal without blocking.
"""

from __future__ import annotations

import math
import os
import select
import sys
import threading
from dataclasses import dataclass

from teleop.exceptions import ConfigError, InputDeviceError
from teleop.locomotion import FOLLOW_HEAD, StickInput
from teleop.operator_frame import OperatorFrame

#: Key → (forward, left, turn) contribution of a held key.
MOTION_KEYS: dict[str, tuple[float, float, float]] = {
    "w": (1.0, 0.0, 0.0),
    "s": (-1.0, 0.0, 0.0),
    "a": (0.0, 1.0, 0.0),
    "d": (0.0, -1.0, 0.0),
    "q": (0.0, 0.0, 1.0),
    "e": (0.0, 0.0, -1.0),
}
LOWER_KEY = "f"
RAISE_KEY = "r"
STOP_KEY = "space"


def normalize_key(key: str) -> str:
    """Canonical key name: lower-case letters and digits, ``" "`` → ``"space"``."""
    if key == " ":
        return STOP_KEY
    k = key.strip().lower()
    if not k:
        raise ConfigError(f"key name {key!r} is empty; use a letter, a digit or 'space'")
    return k


class KeyState:
    """Thread-safe set of held keys, fed by key events.

    Args:
        hold_s: how long a key counts as held after a press with no release event [s]
            (terminal mode); ``math.inf`` for a GUI that sends releases.
    """

    def __init__(self, hold_s: float = math.inf):
        if not (hold_s > 0.0):
            raise ConfigError(f"KeyState hold_s={hold_s} must be > 0 s (inf for press/release events)")
        self.hold_s = hold_s
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}  # key -> time [s] it stops counting as held
        self._edges: list[str] = []  # presses not yet consumed (for step keys)

    def press(self, key: str, now: float) -> None:
        k = normalize_key(key)
        with self._lock:
            if self._until.get(k, -math.inf) < now:  # a new press, not an auto-repeat
                self._edges.append(k)
            self._until[k] = now + self.hold_s

    def release(self, key: str) -> None:
        with self._lock:
            self._until.pop(normalize_key(key), None)

    def held(self, now: float) -> frozenset[str]:
        with self._lock:
            return frozenset(k for k, t in self._until.items() if t >= now)

    def take_presses(self) -> list[str]:
        """Keys newly pressed since the last call (each press once)."""
        with self._lock:
            out, self._edges = self._edges, []
            return out


def keys_to_input(held: frozenset[str] | set[str], presses: list[str], now: float) -> StickInput:
    """Map held keys and new presses to a stick input (pure).

    Opposite keys cancel; a diagonal (w + a) has the same magnitude as a single key.
    """
    fwd = left = turn = 0.0
    for k in held:
        f, l_, t = MOTION_KEYS.get(k, (0.0, 0.0, 0.0))
        fwd, left, turn = fwd + f, left + l_, turn + t
    r = math.hypot(fwd, left)
    if r > 1.0:
        fwd, left = fwd / r, left / r
    step = sum(1 for k in presses if k == LOWER_KEY) - sum(1 for k in presses if k == RAISE_KEY)
    select_: int | None = None
    for k in presses:
        if k.isdigit() and len(k) == 1:
            select_ = int(k) if k != "0" else FOLLOW_HEAD
    return StickInput(
        forward=fwd, left=left, turn=turn, valid=True, stamp=now,
        preset_step=step, preset_select=select_, stop=STOP_KEY in held or STOP_KEY in presses,
    )


@dataclass
class KeyboardSticks:
    """:class:`teleop.locomotion.StickSource` over a :class:`KeyState` (always valid)."""

    keys: KeyState

    def read(self, frame: OperatorFrame | None, now: float) -> StickInput:
        return keys_to_input(self.keys.held(now), self.keys.take_presses(), now)


class TerminalKeys:
    """Non-blocking key reader for a POSIX terminal (cbreak mode while open).

    ::

        keys = KeyState(hold_s=0.6)
        with TerminalKeys() as term:
            for ch in term.poll(timeout_s=0.0):
                keys.press(ch, clock.now())
    """

    def __init__(self, stream=None):
        self.stream = stream if stream is not None else sys.stdin
        self._saved = None

    def __enter__(self) -> TerminalKeys:
        import termios
        import tty

        if not self.stream.isatty():
            raise InputDeviceError(
                "keyboard locomotion needs an interactive terminal (stdin is not a tty); run in a terminal "
                "or use --locomotion controllers"
            )
        fd = self.stream.fileno()
        self._saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            import termios

            termios.tcsetattr(self.stream.fileno(), termios.TCSADRAIN, self._saved)
            self._saved = None

    def poll(self, timeout_s: float = 0.0) -> list[str]:
        """Characters typed since the last call; waits at most ``timeout_s`` [s] for the first."""
        fd = self.stream.fileno()
        out: list[str] = []
        ready, _, _ = select.select([fd], [], [], max(0.0, timeout_s))
        while ready:
            data = os.read(fd, 64)
            if not data:
                break
            out.extend(data.decode(errors="ignore"))
            ready, _, _ = select.select([fd], [], [], 0.0)
        return out
