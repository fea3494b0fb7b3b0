"""The input-source interface: kinds, the factory, rate measurement, invalidation."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from teleop.exceptions import ConfigError
from teleop.inputs import InputKind, RateMeter, make_source, mark_all_invalid
from teleop.operator_frame import OperatorFrame


def test_input_kind_parses_cli_spelling():
    assert InputKind.parse("OpenXR") is InputKind.OPENXR
    assert InputKind.parse(" pico ") is InputKind.PICO
    assert InputKind.parse(InputKind.REPLAY) is InputKind.REPLAY
    with pytest.raises(ConfigError, match="unknown input kind 'vive'; valid kinds: scripted, replay, openxr, pico"):
        InputKind.parse("vive")


def test_factory_imports_only_the_chosen_backend():
    pytest.importorskip("xr")
    from teleop.inputs.openxr_backend import OpenXRSource
    from teleop.inputs.openxr_config import OpenXRConfig

    config = OpenXRConfig(stale_after_s=0.2)
    source = make_source("openxr", config=config)
    assert isinstance(source, OpenXRSource) and source.config is config
    assert source.kind is InputKind.OPENXR and not source.lost


def test_import_teleop_inputs_is_light():
    import subprocess

    code = "import sys, teleop.inputs; print(any(m in sys.modules for m in ('xr', 'xrobotoolkit_sdk', 'torch')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_rate_meter_measures_rate_and_age():
    m = RateMeter()
    assert m.age(10.0) == math.inf and m.rate_hz == 0.0
    for k in range(200):
        m.update(1.0 + k / 90.0)
    assert m.rate_hz == pytest.approx(90.0, rel=1e-6)
    assert m.age(1.0 + 199 / 90.0 + 0.05) == pytest.approx(0.05)
    m.update(1.0 + 199 / 90.0)  # the same sample again: ignored
    assert m.count == 200


def test_rate_meter_is_robust_to_one_short_interval():
    m = RateMeter()
    stamps = [0.0, 0.0001] + [0.0001 + k * 0.01 for k in range(1, 40)]
    for t in stamps:
        m.update(t)
    # 39 intervals of 10 ms and one of 0.1 ms: ~100 Hz, not the 10 kHz of the short one
    assert 95.0 < m.rate_hz < 110.0


def test_rate_meter_rejects_bad_alpha():
    with pytest.raises(ConfigError, match="alpha=0"):
        RateMeter(alpha=0.0)


def test_mark_all_invalid_clears_every_flag():
    f = OperatorFrame()
    f.head_valid = True
    f.tracker_valid[:] = f.hand_valid[:] = f.controller_valid[:] = True
    before = f.head_pose.copy()
    mark_all_invalid(f)
    assert not (f.head_valid or f.tracker_valid.any() or f.hand_valid.any() or f.controller_valid.any())
    np.testing.assert_array_equal(f.head_pose, before)
