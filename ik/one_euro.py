"""One-Euro filter (Casiez, Roussel and Vogel, CHI 2012) with optional lag compensation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ik.exceptions import IKConfigError, IKInputError


@dataclass(frozen=True)
class OneEuroConfig:
    """Parameters of :class:`OneEuroFilter`.

    Attributes:
        min_cutoff: Cut-off frequency when the signal is still [Hz]. Lower removes more jitter.
        beta: Speed coefficient [Hz per (unit/s)]: the cut-off rises by ``beta * |dx/dt|``,
            so fast motions are followed with little lag.
        d_cutoff: Cut-off of the low-pass on the derivative estimate [Hz].
        lag_compensation: Track a velocity (trend) and predict with it before correcting
            (Holt's double exponential smoothing with the One-Euro adaptive gain): a ramp
            then passes with zero lag, so a low cut-off removes jitter without delaying
            motion. ``False`` gives the classic One-Euro filter.
    """

    min_cutoff: float = 6.0  # [Hz]
    beta: float = 0.0  # [Hz s/unit]
    d_cutoff: float = 1.0  # [Hz]
    lag_compensation: bool = True

    def __post_init__(self) -> None:
        for name in ("min_cutoff", "d_cutoff"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0.0):
                raise IKConfigError(f"OneEuroConfig.{name} must be a finite frequency > 0 Hz, got {v!r}")
        if not (math.isfinite(self.beta) and self.beta >= 0.0):
            raise IKConfigError(f"OneEuroConfig.beta must be finite and >= 0, got {self.beta!r}")


_TWO_PI = 2.0 * math.pi


def _alpha(cutoff_hz: float | np.ndarray, dt: float) -> float | np.ndarray:
    """Smoothing factor of a first-order low-pass at ``cutoff_hz`` sampled every ``dt`` [s]."""
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return dt / (dt + tau)


class OneEuroFilter:
    r"""Adaptive low-pass filter of a vector signal, element-wise.

    Per element, with sample period :math:`\Delta t`:

    .. math::

        \alpha(f) &= \frac{\Delta t}{\Delta t + 1/(2\pi f)}, \qquad
        f_c = f_{min} + \beta\,|\dot{\hat x}_{k-1}| \\
        \text{classic:}\quad
        \hat x_k &= \hat x_{k-1} + \alpha(f_c)\,(x_k - \hat x_{k-1}), \quad
        \dot{\hat x}_k = \dot{\hat x}_{k-1} + \alpha(f_d)\,((x_k - \hat x_{k-1})/\Delta t - \dot{\hat x}_{k-1}) \\
        \text{lag-compensated:}\quad
        \tilde x_k &= \hat x_{k-1} + \dot{\hat x}_{k-1}\Delta t, \quad
        \hat x_k = \tilde x_k + \alpha(f_c)\,(x_k - \tilde x_k), \quad
        \dot{\hat x}_k = \dot{\hat x}_{k-1} + \alpha(f_d)\,((\hat x_k - \hat x_{k-1})/\Delta t - \dot{\hat x}_{k-1})

    :math:`\hat x_k` is returned. With lag compensation it is Holt's linear-trend
    smoothing with the One-Euro gain: zero steady-state lag on a ramp, and white noise
    attenuated at high frequency like a first-order low-pass at :math:`f_c` (what the
    third difference, the jerk, sees). A non-finite sample is ignored (the previous output
    is returned again); the first sample, or the first after :meth:`reset`, passes through.
    Arrays are preallocated: :meth:`__call__` allocates only small temporaries.
    """

    def __init__(self, config: OneEuroConfig | None = None, size: int = 1):
        self.config = config or OneEuroConfig()
        if size < 1:
            raise IKInputError(f"OneEuroFilter size must be >= 1, got {size}")
        self.size = size
        self._x_hat = np.zeros(size)
        self._dx_hat = np.zeros(size)
        self._out = np.zeros(size)
        self._prev = np.zeros(size)
        self._initialized = False

    @property
    def initialized(self) -> bool:
        """Whether the filter has seen a sample since construction or :meth:`reset`."""
        return self._initialized

    def reset(self, x: np.ndarray | None = None) -> None:
        """Forget the history; with ``x``, start from that value at rest."""
        self._dx_hat[:] = 0.0
        if x is None:
            self._initialized = False
            return
        self._x_hat[:] = x
        self._out[:] = x
        self._initialized = True

    def reset_part(self, part: slice, x: np.ndarray) -> None:
        """Restart the elements ``part`` from ``x`` at rest; the other elements keep their history.

        Lets one filter smooth several independent signals stacked in one vector (one call
        per tick instead of one per signal) while each restarts on its own.
        """
        if not self._initialized:
            return  # the first call restarts everything from its sample anyway
        self._x_hat[part] = x
        self._dx_hat[part] = 0.0
        self._out[part] = x

    def __call__(self, x: np.ndarray, dt: float) -> np.ndarray:
        """Filter one sample ``x`` (shape ``(size,)``) taken ``dt`` [s] after the previous one.

        Returns a view of the filter's output buffer (copy it to keep it past the next call).
        ``x`` must be a float array (no conversion is made, to keep the tick cheap).
        """
        if x.shape != (self.size,):
            raise IKInputError(f"OneEuroFilter expects shape ({self.size},), got {x.shape}")
        if not math.isfinite(x.sum()):
            return self._out
        if not self._initialized or not (math.isfinite(dt) and dt > 0.0):
            if not self._initialized:
                self.reset(x)
            return self._out
        cfg = self.config
        a_d = _alpha(cfg.d_cutoff, dt)
        if cfg.beta > 0.0:
            tau = 1.0 / (_TWO_PI * (cfg.min_cutoff + cfg.beta * np.abs(self._dx_hat)))
            a = dt / (dt + tau)
        else:
            a = _alpha(cfg.min_cutoff, dt)
        if cfg.lag_compensation:
            self._prev[:] = self._x_hat
            self._x_hat += self._dx_hat * dt  # predict with the trend
            self._x_hat += a * (x - self._x_hat)  # correct
            self._dx_hat += a_d * ((self._x_hat - self._prev) / dt - self._dx_hat)
        else:
            diff = x - self._x_hat
            self._dx_hat += a_d * (diff / dt - self._dx_hat)
            self._x_hat += a * diff
        self._out[:] = self._x_hat
        return self._out
