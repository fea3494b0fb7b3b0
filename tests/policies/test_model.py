import pytest
import torch
from torch import nn

from policies.config import ModelConfig
from policies.instruction import MAX_WORDS, encode_instruction
from policies.model import ActionExpert, MMDiTBlock, count_parameters


def _inputs(cfg: ModelConfig, B: int = 2):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(B, cfg.horizon, cfg.action_dim, generator=g)
    t = torch.rand(B, cfg.horizon, generator=g)
    s = torch.randn(B, cfg.state_dim, generator=g)
    ids = torch.as_tensor(encode_instruction("pick up the red can", cfg.instruction_buckets)).repeat(B, 1)
    return x, t, s, ids


def _randomize_zero_inits(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.abs().sum() == 0:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)


def test_adaln_zero_makes_a_fresh_model_output_zero():
    cfg = ModelConfig.preset("cpu-tiny")
    v = ActionExpert(cfg)(*_inputs(cfg))
    assert v.shape == (2, 30, 36)
    assert v.abs().max().item() == 0.0


def test_flow_time_is_per_token():
    cfg = ModelConfig.preset("cpu-tiny")
    model = ActionExpert(cfg).eval()
    _randomize_zero_inits(model)
    x, t, s, ids = _inputs(cfg, 1)
    t2 = t.clone()
    t2[0, :5] = 1.0  # a committed prefix carries its own time
    v1, v2 = model(x, t, s, ids), model(x, t2, s, ids)
    assert (v1 - v2).abs().max().item() > 1e-4
    # the instruction and the state reach the action tokens through the joint attention
    v3 = model(x, t, s + 1.0, ids)
    v4 = model(x, t, s, torch.as_tensor(encode_instruction("lift the box", cfg.instruction_buckets))[None])
    assert (v1 - v3).abs().max().item() > 1e-4 and (v1 - v4).abs().max().item() > 1e-4


def test_two_streams_have_separate_weights():
    block = MMDiTBlock(64, 4, 4.0, 0.0)
    assert block.a_attn.qkv.weight.data_ptr() != block.c_attn.qkv.weight.data_ptr()
    assert block.a_mlp.fc1.weight.shape == block.c_mlp.fc1.weight.shape


def test_vision_tokens_and_a_pluggable_encoder():
    cfg = ModelConfig.preset("cpu-tiny", cameras=("head", "left_wrist"), image_size=(32, 48), vision_grid=(2, 3))
    model = ActionExpert(cfg)
    x, t, s, ids = _inputs(cfg)
    images = torch.randint(0, 255, (2, 2, 3, 32, 48), dtype=torch.uint8)
    ctx = model.encode_context(s, ids, images)
    assert ctx.shape == (2, 2 + 2 * 6, cfg.width)  # state + instruction + 2 cameras x 6 tokens

    class Flat(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(3, cfg.width)

        def forward(self, img):
            return self.proj(img.mean(dim=(2, 3)))[:, None].expand(-1, 6, -1)

    custom = ActionExpert(cfg, image_encoder=Flat())
    assert custom.encode_context(s, ids, images).shape == ctx.shape
    with pytest.raises(ValueError, match="pass images"):
        model.encode_context(s, ids, None)
    assert ids.shape[1] == MAX_WORDS


def test_size_presets_span_cpu_to_500m_without_allocating():
    small = count_parameters(ActionExpert(ModelConfig.preset("cpu-small")))
    assert 1e6 < small < 1e7
    with torch.device("meta"):
        big = ActionExpert(ModelConfig.preset("gpu-500m", cameras=("head",)))
    n = count_parameters(big)
    assert 4.0e8 < n < 6.0e8, n
    assert all(p.device.type == "meta" for p in big.parameters())


def test_random_shift_moves_each_image_by_at_most_pad_pixels():
    from policies.vision import random_shift

    images = torch.zeros(64, 1, 3, 16, 20, dtype=torch.uint8)
    images[:, 0, :, 8, 10] = 255  # one bright pixel in the middle
    assert random_shift(images, 0) is images
    out = random_shift(images, 3, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8
    shifts = set()
    for i in range(64):
        ys, xs = torch.nonzero(out[i, 0, 0] == 255, as_tuple=True)
        assert len(ys) == 1  # the pixel moved, nothing else appeared (the border repeats zeros)
        dy, dx = int(ys[0]) - 8, int(xs[0]) - 10
        assert abs(dy) <= 3 and abs(dx) <= 3
        shifts.add((dy, dx))
    assert len(shifts) > 10  # shifts differ between images

