"""The annotation app's timeline: one cursor (a row index) over an episode, playback and stepping.

:class:`Playback` is pure arithmetic on the episode's ``time`` column, so the player's
behaviour (speed, stepping, seeking, where playback stops) is tested without a window. The
cursor is a row index; the time shown is ``time[index]`` [s].

Playback at speed ``s`` advances episode time by ``s * Δt_wall``; the cursor moves to the
last row whose time is not past the accumulated playhead, so a 0.25x replay shows every row
and a 4x replay skips rows rather than falling behind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ui.exceptions import UiError

#: Playback speeds the player offers (x real time).
SPEEDS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)


@dataclass
class Playback:
    """Cursor and transport state of one episode.

    Attributes:
        time_s: (T,) row times [s], non-decreasing (the episode's ``time`` stream).
        index: current row.
        speed: playback speed, one of :data:`SPEEDS` [x real time].
        playing: whether :meth:`advance` moves the cursor.
    """

    time_s: np.ndarray
    index: int = 0
    speed: float = 1.0
    playing: bool = False
    _playhead_s: float = field(default=0.0, repr=False)  # [s] episode time between rows while playing

    def __post_init__(self) -> None:
        self.time_s = np.asarray(self.time_s, dtype=float)
        if self.time_s.ndim != 1:
            raise UiError(f"Playback.time_s must be 1-D, got shape {self.time_s.shape}")
        self.set_speed(self.speed)
        self.seek(self.index)

    @property
    def n_rows(self) -> int:
        return len(self.time_s)

    @property
    def t(self) -> float:
        """Time of the cursor row [s] (0 for an empty episode)."""
        return float(self.time_s[self.index]) if self.n_rows else 0.0

    @property
    def duration_s(self) -> float:
        return float(self.time_s[-1]) if self.n_rows else 0.0

    def seek(self, index: int) -> int:
        """Move the cursor to row ``index`` (clipped to the episode); returns the row."""
        self.index = int(min(max(int(index), 0), max(self.n_rows - 1, 0)))
        self._playhead_s = self.t
        return self.index

    def step(self, rows: int = 1) -> int:
        """Move by ``rows`` (negative: back) and pause, like a frame-step key."""
        self.playing = False
        return self.seek(self.index + rows)

    def seek_time(self, t: float) -> int:
        """Move to the row nearest to time ``t`` [s]."""
        if not self.n_rows or not math.isfinite(t):
            return self.index
        i = int(np.searchsorted(self.time_s, t))
        if i > 0 and (i == self.n_rows or abs(self.time_s[i - 1] - t) <= abs(self.time_s[i] - t)):
            i -= 1
        return self.seek(i)

    def set_speed(self, speed: float) -> None:
        if speed not in SPEEDS:
            raise UiError(f"playback speed {speed!r} is not offered; valid: {', '.join(f'{s:g}x' for s in SPEEDS)}")
        self.speed = float(speed)

    def faster(self) -> float:
        """Next speed up (stays at the fastest); returns it."""
        self.set_speed(SPEEDS[min(SPEEDS.index(self.speed) + 1, len(SPEEDS) - 1)])
        return self.speed

    def slower(self) -> float:
        self.set_speed(SPEEDS[max(SPEEDS.index(self.speed) - 1, 0)])
        return self.speed

    def play(self) -> None:
        if self.n_rows and self.index >= self.n_rows - 1:
            self.seek(0)  # play from the start when at the end, like any player
        self.playing = self.n_rows > 1
        self._playhead_s = self.t

    def pause(self) -> None:
        self.playing = False

    def toggle(self) -> bool:
        """Play if paused, pause if playing; returns ``playing``."""
        if self.playing:
            self.pause()
        else:
            self.play()
        return self.playing

    def advance(self, wall_dt_s: float) -> bool:
        """Advance playback by ``wall_dt_s`` [s] of wall time; returns whether the cursor moved.

        Stops (``playing`` False) at the last row.
        """
        if not self.playing or wall_dt_s <= 0 or not self.n_rows:
            return False
        self._playhead_s += self.speed * wall_dt_s
        i = int(np.searchsorted(self.time_s, self._playhead_s, side="right")) - 1
        i = min(max(i, self.index), self.n_rows - 1)
        moved = i != self.index
        self.index = i
        if i >= self.n_rows - 1:
            self.playing = False
        return moved
