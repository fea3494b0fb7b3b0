"""What the operator console shows, computed from status snapshots (no Qt here).

:class:`ConsoleModel` keeps the last ``history_s`` seconds of the plotted measurements in
fixed ring buffers (wrist tracking error, loop rate, tick time, jitter), turns device
validity and age into traffic lights, and words the camera overlay. The console window
feeds it each new :class:`teleop.status.TeleopStatus` and draws what it returns.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from teleop.robot.backend import LinkStatus
from teleop.status import DeviceStatus, EngageState, EpisodeState, TeleopStatus

#: A valid stream older than this is shown as stale (yellow) [ms]: three ticks of a 100 Hz loop
#: plus a headset frame.
STALE_AFTER_MS = 50.0
#: A joint within this fraction of its range from a limit is shown as near the limit.
NEAR_LIMIT_FRACTION = 0.05


class Light(enum.Enum):
    """A status light's state."""

    OK = "ok"  # green: valid and fresh
    STALE = "stale"  # yellow: valid but old
    LOST = "lost"  # red: invalid (tracking lost, device gone)
    OFF = "off"  # grey: not reported


#: RGB of each light, shared by the console's lights and overlay.
LIGHT_RGB: dict[Light, tuple[int, int, int]] = {
    Light.OK: (46, 204, 64),
    Light.STALE: (255, 193, 7),
    Light.LOST: (231, 76, 60),
    Light.OFF: (120, 120, 120),
}


def device_light(device: DeviceStatus, seen_valid: bool = True, stale_after_ms: float = STALE_AFTER_MS) -> Light:
    """Green valid and fresh, yellow valid but stale, red lost; grey for a stream never valid
    since the console connected (a tracker role the rig does not use is absent, not lost)."""
    if not device.valid:
        return Light.LOST if seen_valid else Light.OFF
    return Light.STALE if device.age_ms > stale_after_ms else Light.OK


def engage_light(state: EngageState) -> Light:
    return {
        EngageState.ENGAGED: Light.OK,
        EngageState.ENGAGING: Light.STALE,
        EngageState.DISENGAGING: Light.STALE,
        EngageState.HOLD: Light.STALE,
        EngageState.ESTOP: Light.LOST,
        EngageState.IDLE: Light.OFF,
    }[state]


@dataclass(frozen=True)
class Overlay:
    """The words drawn over the live camera view, with their light colour."""

    items: tuple[tuple[str, Light], ...]


def overlay(
    status: TeleopStatus, absent: frozenset[str] = frozenset(), stale_after_ms: float = STALE_AFTER_MS
) -> Overlay:
    """Engaged / recording / e-stop / tracking-loss badges for the camera view.

    ``absent``: streams never valid so far (not in use on this rig), left out of "tracking lost".
    """
    items: list[tuple[str, Light]] = [(status.engage.value.upper(), engage_light(status.engage))]
    if status.episode is EpisodeState.RECORDING:
        items.append((f"REC {status.episode_id or ''} {status.episode_rows} rows".strip(), Light.LOST))
    if status.engage is EngageState.ESTOP:
        items.append(("E-STOP: release before engaging", Light.LOST))
    lost = [d.name for d in status.devices if not d.valid and d.name not in absent]
    if lost:
        items.append((f"TRACKING LOST: {', '.join(lost)}", Light.LOST))
    stale = [d.name for d in status.devices if d.valid and d.age_ms > stale_after_ms]
    if stale:
        items.append((f"stale: {', '.join(stale)}", Light.STALE))
    if status.link != LinkStatus.OK.value:
        items.append((f"robot link {status.link}", Light.LOST))
    return Overlay(tuple(items))


class ConsoleModel:
    """Ring buffers of the plotted measurements and the derived indicators.

    Args:
        history_s: span of the time plots [s].
        rate_hz: expected status rate [Hz] (sizes the buffers).
    """

    #: Names of the plotted series, in buffer column order.
    SERIES = ("wrist_error_left_mm", "wrist_error_right_mm", "rate_hz", "tick_ms_p99", "jitter_ms_p99", "input_age_ms")

    def __init__(self, history_s: float = 30.0, rate_hz: float = 10.0):
        self.history_s = history_s  # [s]
        self.capacity = max(2, int(round(history_s * rate_hz)) + 1)
        self._t = np.full(self.capacity, np.nan)  # [s] status stamps
        self._v = np.full((self.capacity, len(self.SERIES)), np.nan)
        self._n = 0  # samples ever added
        self._last_stamp: float | None = None
        self._seen_valid: set[str] = set()  # streams valid at least once since the console connected
        self.latest: TeleopStatus | None = None

    def update(self, status: TeleopStatus) -> bool:
        """Add a snapshot; returns False (and ignores it) when it is the same as the last one.

        A stamp that goes backwards or jumps by more than the plotted span (a restarted
        session, a reconnect after a long outage) starts the history afresh.
        """
        if self._last_stamp is not None:
            if status.stamp == self._last_stamp:
                return False
            if status.stamp < self._last_stamp or status.stamp - self._last_stamp > self.history_s:
                self.clear()
        self._last_stamp = status.stamp
        self.latest = status
        self._seen_valid.update(d.name for d in status.devices if d.valid)
        i = self._n % self.capacity
        t = status.timing
        self._t[i] = status.stamp
        self._v[i] = (
            status.wrist_error_mm[0],
            status.wrist_error_mm[1],
            t.rate_hz,
            t.tick_ms_p99,
            t.jitter_ms_p99,
            t.input_age_ms,
        )
        self._n += 1
        return True

    def light(self, device: DeviceStatus) -> Light:
        """The device's light, grey while it has never been valid (see :func:`device_light`)."""
        return device_light(device, seen_valid=device.name in self._seen_valid)

    def overlay(self) -> Overlay:
        """Badges for the newest status (empty before the first one)."""
        if self.latest is None:
            return Overlay(())
        absent = frozenset(d.name for d in self.latest.devices if d.name not in self._seen_valid)
        return overlay(self.latest, absent)

    def clear(self) -> None:
        """Forget the plotted history."""
        self._t[:] = np.nan
        self._v[:] = np.nan
        self._n = 0
        self._last_stamp = None

    def __len__(self) -> int:
        return min(self._n, self.capacity)

    def history(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(seconds relative to the newest sample [s] (<= 0), values) of series ``name``, oldest first."""
        col = self.SERIES.index(name)
        n = len(self)
        if n == 0:
            return np.zeros(0), np.zeros(0)
        start = self._n - n
        idx = np.arange(start, self._n) % self.capacity
        t = self._t[idx]
        return t - t[-1], self._v[idx, col]

    @staticmethod
    def joint_fractions(status: TeleopStatus) -> np.ndarray:
        """Position of each arm joint within its range, 0 (lower limit) .. 1 (upper limit); NaN if unknown."""
        q = np.asarray(status.arm_q, dtype=float)
        lo = np.asarray(status.arm_q_min, dtype=float)
        hi = np.asarray(status.arm_q_max, dtype=float)
        if q.size == 0 or lo.shape != q.shape or hi.shape != q.shape:
            return np.full(q.size, np.nan)
        span = np.where(hi > lo, hi - lo, np.nan)
        return (q - lo) / span

    @classmethod
    def near_limit(cls, status: TeleopStatus, fraction: float = NEAR_LIMIT_FRACTION) -> np.ndarray:
        """Boolean per arm joint: within ``fraction`` of its range from a limit."""
        f = cls.joint_fractions(status)
        return (f < fraction) | (f > 1.0 - fraction)
