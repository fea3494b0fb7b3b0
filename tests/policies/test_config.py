import pytest

from policies.config import ModelConfig, NormMode, RTCConfig, RTCMode, TrainConfig, WindowConfig, to_dict
from teleop.exceptions import ConfigError


def test_configs_round_trip_through_dicts():
    w = WindowConfig(horizon=20, cameras=("head",), image_size=(32, 48), image_crop=(40, 0, 80, 160),
                     tasks=("pick_place",), norm_mode=NormMode.QUANTILE)
    assert WindowConfig.from_dict(to_dict(w)) == w
    m = ModelConfig.preset("cpu-small", cameras=("head",), vision_grid=(2, 2))
    assert ModelConfig.from_dict(to_dict(m)) == m
    t = TrainConfig(steps=10, ema_decay=0.99)
    assert TrainConfig.from_dict(to_dict(t)) == t


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: WindowConfig(horizon=0), r"WindowConfig.horizon=0 .*\[1, 256\]"),
        (lambda: WindowConfig(val_fraction=0.9), r"val_fraction=0.9"),
        (lambda: WindowConfig(cameras=("head", "head")), "twice"),
        (lambda: WindowConfig(image_crop=(0, 0, 80)), r"image_crop=\(0, 0, 80\) must be \(top, left, height, width\)"),
        (lambda: WindowConfig(image_crop=(0, 0, 0, 80)), r"image_crop.height=0"),
        (lambda: TrainConfig(image_shift=-1), r"TrainConfig.image_shift=-1"),
        (lambda: ModelConfig(width=100, heads=8), "multiple of heads"),
        (lambda: ModelConfig.preset("huge"), "valid presets: cpu-tiny"),
        (lambda: TrainConfig(lr=0.0), r"TrainConfig.lr=0.0"),
        (lambda: TrainConfig(device="tpu"), "device='tpu'"),
        (lambda: RTCConfig(control_hz=0.0), r"control_hz=0.0 .*\[1.0, 1000.0\]"),
        (lambda: RTCConfig(mode="prefix"), "RTCConfig.mode"),
    ],
)
def test_bad_values_name_the_field_and_range(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_unknown_field_in_a_saved_config_is_reported():
    with pytest.raises(ConfigError, match="unknown field"):
        TrainConfig.from_dict({"stepz": 3})


def test_rtc_period():
    assert RTCConfig(control_hz=30.0).period == pytest.approx(1 / 30)
    assert RTCMode("inpaint") is RTCMode.INPAINT
