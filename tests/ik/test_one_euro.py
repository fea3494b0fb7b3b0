"""OneEuroFilter: pass-through of constants, zero lag on ramps, noise attenuation, bad samples."""

import numpy as np
import pytest

from ik import IKConfigError, IKInputError, OneEuroConfig, OneEuroFilter

DT = 0.01


def test_first_sample_passes_and_constant_stays():
    f = OneEuroFilter(OneEuroConfig(), 3)
    x = np.array([0.1, -0.2, 0.3])
    np.testing.assert_array_equal(f(x, DT), x)
    for _ in range(50):
        y = f(x, DT)
    np.testing.assert_allclose(y, x, atol=1e-12)


def test_lag_compensated_ramp_has_no_steady_state_lag():
    f = OneEuroFilter(OneEuroConfig(lag_compensation=True), 1)
    v = 0.5  # [m/s]
    for k in range(400):
        y = f(np.array([v * k * DT]), DT)
    assert abs(y[0] - v * 399 * DT) < 1e-6  # < 1 µm behind after settling


def test_classic_filter_lags_a_ramp_by_its_time_constant():
    cfg = OneEuroConfig(min_cutoff=5.0, beta=0.0, lag_compensation=False)
    f = OneEuroFilter(cfg, 1)
    v = 0.5
    for k in range(400):
        y = f(np.array([v * k * DT]), DT)
    tau = 1.0 / (2 * np.pi * 5.0)
    # steady-state lag of a first-order low-pass with alpha = dt/(dt+tau) on a ramp is tau
    assert y[0] == pytest.approx(v * 399 * DT - v * tau, abs=1e-6)


def test_white_noise_is_attenuated():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(OneEuroConfig(), 1)
    x = rng.normal(scale=0.002, size=2000)
    y = np.array([f(np.array([v]), DT)[0] for v in x])
    jerk_in = np.std(np.diff(x[100:], n=3))
    jerk_out = np.std(np.diff(y[100:], n=3))
    assert jerk_out < jerk_in / 3.0


def test_non_finite_sample_returns_previous_output():
    f = OneEuroFilter(OneEuroConfig(), 2)
    f(np.array([1.0, 2.0]), DT)
    y = f(np.array([1.0, 2.0]), DT).copy()
    np.testing.assert_array_equal(f(np.array([np.nan, 2.0]), DT), y)
    np.testing.assert_array_equal(f(np.array([np.inf, 2.0]), DT), y)


def test_reset_restarts_from_value():
    f = OneEuroFilter(OneEuroConfig(), 1)
    for k in range(10):
        f(np.array([float(k)]), DT)
    f.reset(np.array([-3.0]))
    assert f(np.array([-3.0]), DT)[0] == pytest.approx(-3.0)
    f.reset()
    assert not f.initialized


def test_shape_and_config_errors():
    with pytest.raises(IKInputError, match=r"shape \(2,\)"):
        OneEuroFilter(OneEuroConfig(), 2)(np.zeros(3), DT)
    with pytest.raises(IKConfigError, match="min_cutoff"):
        OneEuroConfig(min_cutoff=0.0)
    with pytest.raises(IKConfigError, match="beta"):
        OneEuroConfig(beta=-1.0)
