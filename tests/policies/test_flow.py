import math

import numpy as np
import torch

from policies.config import ModelConfig, RTCMode
from policies.flow import rtc_training_inputs, sample_chunk, soft_mask
from policies.model import ActionExpert


def test_training_inputs_keep_the_prefix_clean_at_time_one():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(256, 30, 36, generator=g)
    x_t, t, target, mask = rtc_training_inputs(a, max_delay=10, generator=g)
    d = (~mask).sum(1)
    assert d.min() == 0 and d.max() == 9  # d ~ U{0..9}
    prefix = ~mask
    assert torch.equal(x_t[prefix], a[prefix])
    assert torch.all(t[prefix] == 1.0)
    # after the prefix all tokens share one time and x_t = t a + (1 - t) eps with target a - eps
    eps = a - target
    torch.testing.assert_close(x_t, t[..., None] * a + (1 - t[..., None]) * eps)
    assert torch.all(t[mask].reshape(-1) < 1.0)
    _, _, _, no_rtc = rtc_training_inputs(a, max_delay=0, generator=g)
    assert no_rtc.all()


def test_soft_mask_shape():
    w = soft_mask(30, 4, 20)
    assert torch.all(w[:4] == 1.0) and torch.all(w[20:] == 0.0)
    assert torch.all(w[4:20] > 0) and torch.all(w[4:20] < 1)
    assert torch.all(w[4:20][1:] < w[4:20][:-1])  # decays
    c = (20 - 4) / (20 - 4 + 1)
    assert math.isclose(float(w[4]), c * math.expm1(c) / (math.e - 1), rel_tol=1e-6)
    assert soft_mask(30, 40, 10).sum() == 10  # delay clipped to the overlap


def test_prefix_is_reproduced_and_inpainting_pulls_towards_the_guide():
    cfg = ModelConfig.preset("cpu-tiny")
    model = ActionExpert(cfg).eval().requires_grad_(False)  # zero-initialised head: v = 0
    ctx = torch.zeros(1, 2, cfg.width)
    prefix = torch.full((1, 5, 36), 0.7)
    out = sample_chunk(model, ctx, 8, RTCMode.PREFIX, prefix=prefix, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[:, :5], prefix)
    guide = torch.full((1, 30, 36), 0.5)
    w = soft_mask(30, 5, 25)
    naive = sample_chunk(model, ctx, 8, RTCMode.NAIVE, generator=torch.Generator().manual_seed(0))
    guided = sample_chunk(model, ctx, 8, RTCMode.INPAINT, guide=guide, guide_weights=w, max_guidance=5.0,
                          generator=torch.Generator().manual_seed(0))
    err_naive = (naive - guide)[0, :5].abs().mean().item()
    err_guided = (guided - guide)[0, :5].abs().mean().item()
    assert err_guided < 0.1 * err_naive
    # the unguided tail (weight 0) is left alone
    np.testing.assert_allclose(guided[0, 25:].numpy(), naive[0, 25:].numpy(), atol=1e-6)
