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
        lag_compensation: Add ``tau * dx_hat`` to the output, where ``tau`` is the time
            constant of the position low-pass: a first-order low-pass lags a ramp by exactly
            ``tau``, so this removes the lag on constant-velocity motion while the (heavily
            low-passed) derivative adds almost no noise.
    """

    min_cutoff: float = 2.0  # [Hz]
    beta: float = 0.5  # [Hz s/unit]
    d_cutoff: float = 2.0  # [Hz]
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

        \dot{\hat x}_k &= \dot{\hat x}_{k-1} + \alpha(f_d)\,((x_k - \hat x_{k-1})/\Delta t - \dot{\hat x}_{k-1}) \\
        f_c &= f_{min} + \beta\,|\dot{\hat x}_k| \\
        \hat x_k &= \hat x_{k-1} + \alpha(f_c)\,(x_k - \hat x_{k-1}),
        \quad \alpha(f) = \frac{\Delta t}{\Delta t + 1/(2\pi f)} \\
        y_k &= \hat x_k + \tau_c\,\dot{\hat x}_k \cdot [\text{lag compensation}],
        \quad \tau_c = \Delta t\,(1-\alpha(f_c))/\alpha(f_c)

    The output :math:`y_k` is returned. A non-finite sample is ignored (the previous output
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
        diff = x - self._x_hat
        self._dx_hat += _alpha(cfg.d_cutoff, dt) * (diff / dt - self._dx_hat)
        # a = dt / (dt + tau), tau = 1 / (2 pi f_c): then (1 - a) / a * dt = tau
        tau = 1.0 / (_TWO_PI * (cfg.min_cutoff + cfg.beta * np.abs(self._dx_hat)))
        self._x_hat += diff * (dt / (dt + tau))
        if cfg.lag_compensation:
            np.multiply(self._dx_hat, tau, out=self._out)
            self._out += self._x_hat
        else:
            self._out[:] = self._x_hat
        return self._out
