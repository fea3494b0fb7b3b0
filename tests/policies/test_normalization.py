import numpy as np
import pytest
import torch

from policies.config import NormMode
from policies.exceptions import CheckpointError
from policies.normalization import NormStats


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    states = rng.normal(2.0, 0.5, size=(1000, 32))
    actions = rng.normal(-1.0, 3.0, size=(1000, 36))
    actions[:, 32:36] = 0.25  # constant lower-body command
    return states, actions


@pytest.mark.parametrize("mode", list(NormMode))
def test_round_trip_and_constant_components(data, mode):
    states, actions = data
    stats = NormStats.compute(states, actions, mode)
    z = stats.normalize_action(actions)
    np.testing.assert_allclose(stats.denormalize_action(z), actions, atol=1e-9)
    np.testing.assert_allclose(z[:, 32:], 0.0, atol=1e-9)  # constant -> 0, no division by zero
    zt = stats.normalize_action(torch.as_tensor(actions, dtype=torch.float32))
    np.testing.assert_allclose(zt.numpy(), z, atol=1e-4)


def test_mean_std_and_quantile_scales(data):
    states, actions = data
    z = NormStats.compute(states, actions, NormMode.MEAN_STD).normalize_state(states)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-9)
    np.testing.assert_allclose(z.std(0), 1.0, atol=1e-9)
    zq = NormStats.compute(states, actions, NormMode.QUANTILE).normalize_state(states)
    np.testing.assert_allclose(np.quantile(zq, 0.01, axis=0), -1.0, atol=1e-9)
    np.testing.assert_allclose(np.quantile(zq, 0.99, axis=0), 1.0, atol=1e-9)


def test_save_load(tmp_path, data):
    stats = NormStats.compute(*data, NormMode.QUANTILE)
    stats.save(tmp_path / "s.json")
    back = NormStats.load(tmp_path / "s.json")
    assert back.mode is NormMode.QUANTILE
    np.testing.assert_array_equal(back.action.q99, stats.action.q99)
    with pytest.raises(CheckpointError, match="incomplete"):
        NormStats.load(tmp_path / "missing.json")
