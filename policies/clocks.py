"""Clocks and latency models of the RTC runtime.

The control loop runs against absolute deadlines t_k = t_0 + k T on a :class:`ControlClock`:

* :class:`RealTimeClock` is :mod:`teleop.clock`: the loop sleeps until each deadline; the
  robot (the DDS link, or a simulator running on its own) moves in real time.
* :class:`SteppedClock` is virtual time for a lock-stepped simulation: ``sleep_until``
  jumps to the deadline and the loop advances the physics by one period per tick, so a
  rollout is reproducible and runs as fast as the CPU allows.

On a stepped clock the inference latency is virtual too. A :class:`LatencyModel` says how
long an inference takes in the clock's time: :class:`MeasuredLatency` uses the measured
compute time (the control loop waits, in real time, for an inference that would already be
done on a real robot; this keeps the sim faithful to the real ratio of latency to period),
:class:`InjectedLatency` uses a given sequence or function (deterministic tests and
benchmarks). On a real-time clock an injected latency is realised by the inference thread
sleeping until the injected latency has elapsed (a compute time longer than it is kept).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence

from teleop import clock as teleop_clock


class ControlClock(abc.ABC):
    """Time source of the control loop [s]."""

    #: True when the loop must advance the robot itself (``backend.step(period)``) every tick.
    lock_stepped: bool = False

    @abc.abstractmethod
    def now(self) -> float:
        """Current time [s]."""

    @abc.abstractmethod
    def sleep_until(self, deadline: float) -> float:
        """Wait until ``deadline`` [s]; return the lateness [s] (>= 0)."""


class RealTimeClock(ControlClock):
    """Monotonic wall time (:func:`teleop.clock.now`)."""

    lock_stepped = False

    def now(self) -> float:
        return teleop_clock.now()

    def sleep_until(self, deadline: float) -> float:
        return teleop_clock.sleep_until(deadline)


class SteppedClock(ControlClock):
    """Virtual time that only moves when the control loop reaches its next deadline."""

    lock_stepped = True

    def __init__(self, start: float = 0.0):
        self._t = float(start)

    def now(self) -> float:
        return self._t

    def sleep_until(self, deadline: float) -> float:
        late = max(0.0, self._t - deadline)
        self._t = max(self._t, deadline)
        return late


class LatencyModel(abc.ABC):
    """Inference latency in the control clock's time."""

    @abc.abstractmethod
    def planned(self, index: int) -> float | None:
        """Latency [s] of inference ``index`` when it is fixed in advance, else None (measured)."""


class MeasuredLatency(LatencyModel):
    """The inference takes as long as it really takes."""

    def planned(self, index: int) -> float | None:
        return None


class InjectedLatency(LatencyModel):
    """Latency [s] of inference i is ``values[i % len(values)]`` or ``fn(i)``."""

    def __init__(self, values: Sequence[float] | Callable[[int], float]):
        self._values = values

    def planned(self, index: int) -> float:
        if callable(self._values):
            return float(self._values(index))
        return float(self._values[index % len(self._values)])
