"""The flow-matching action expert: an MM-DiT over action tokens and context tokens.

Tokens (width D):

    action stream   H tokens   W_a x_j + p_j          (noisy or committed action j, position p_j)
    context stream  state token W_s s + e_state
                    instruction token  mean of hashed word embeddings + e_instr
                    vision tokens      encoder(image_c) + e_cam_c + grid position, per camera

Each block keeps separate weights per stream (norms, QKV, output projection, MLP) and
runs one joint attention over the concatenation of both streams (MM-DiT); the last block
only updates the action stream (nothing reads the context after it). The action
stream is conditioned on flow time with AdaLN-Zero **per token**: token j gets

    h = LN(x_j) (1 + scale(t_j)) + shift(t_j),     x_j <- x_j + gate(t_j) * f(h)

with (shift, scale, gate) = Linear(SiLU(emb(t_j))) initialised to zero, so a block starts
as the identity and a committed, clean prefix token (t_j = 1) carries its own time while
the tokens after it are still noisy (t_j < 1). The head predicts the velocity field
v_theta(x_t, t, context) of :mod:`policies.flow` for every action token.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from policies.config import ModelConfig
from policies.instruction import MAX_WORDS


def time_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of flow times ``t`` in [0, 1], shape (..., dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = (t.float() * 1000.0)[..., None] * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class _RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class _Mlp(nn.Module):
    def __init__(self, dim: int, ratio: float, dropout: float):
        super().__init__()
        hidden = int(dim * ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(F.gelu(self.fc1(x), approximate="tanh")))


class _StreamAttn(nn.Module):
    """Per-stream QKV and output projections with RMS-normalised queries and keys."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_norm = _RMSNorm(dim // heads)
        self.k_norm = _RMSNorm(dim // heads)
        self.out = nn.Linear(dim, dim)

    def qkv_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B, N, D = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        return self.q_norm(q), self.k_norm(k), v


class MMDiTBlock(nn.Module):
    """One block: two streams with their own weights, one joint attention; AdaLN-Zero on the action stream."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float, context_out: bool = True):
        super().__init__()
        self.context_out = context_out  # False in the last block: nothing reads the context after it
        self.a_norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.a_norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.a_attn = _StreamAttn(dim, heads)
        self.a_mlp = _Mlp(dim, mlp_ratio, dropout)
        self.a_mod = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        nn.init.zeros_(self.a_mod[1].weight)
        nn.init.zeros_(self.a_mod[1].bias)
        self.c_norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.c_attn = _StreamAttn(dim, heads)
        if context_out:
            self.c_norm2 = nn.LayerNorm(dim, eps=1e-6)
            self.c_mlp = _Mlp(dim, mlp_ratio, dropout)
        else:
            del self.c_attn.out
        self.dropout = dropout

    def forward(self, a: torch.Tensor, c: torch.Tensor, temb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """a: (B, H, D) action tokens, c: (B, N, D) context tokens, temb: (B, H, D) per-token time embedding."""
        shift1, scale1, gate1, shift2, scale2, gate2 = self.a_mod(temb).chunk(6, dim=-1)
        qa, ka, va = self.a_attn.qkv_heads(self.a_norm1(a) * (1 + scale1) + shift1)
        qc, kc, vc = self.c_attn.qkv_heads(self.c_norm1(c))
        q = torch.cat([qa, qc], dim=2)
        k = torch.cat([ka, kc], dim=2)
        v = torch.cat([va, vc], dim=2)
        o = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        B, heads, N, dh = o.shape
        o = o.transpose(1, 2).reshape(B, N, heads * dh)
        H = a.shape[1]
        a = a + gate1 * self.a_attn.out(o[:, :H])
        a = a + gate2 * self.a_mlp(self.a_norm2(a) * (1 + scale2) + shift2)
        if self.context_out:
            c = c + self.c_attn.out(o[:, H:])
            c = c + self.c_mlp(self.c_norm2(c))
        return a, c


class ActionExpert(nn.Module):
    """v_theta(x_t, t, observation): the velocity of every action token.

    Args:
        config: sizes and inputs.
        image_encoder: a module (B, 3, h, w) in [0, 1] -> (B, n, D) tokens; None builds
            the encoder named by ``config.image_encoder`` when cameras are configured.
    """

    def __init__(self, config: ModelConfig, image_encoder: nn.Module | None = None):
        super().__init__()
        self.config = config
        D = config.width
        self.action_in = nn.Linear(config.action_dim, D)
        self.action_pos = nn.Parameter(torch.randn(config.horizon, D) * 0.02)
        self.time_mlp = nn.Sequential(nn.Linear(D, D), nn.SiLU(), nn.Linear(D, D))
        self.state_in = nn.Sequential(nn.Linear(config.state_dim, D), nn.SiLU(), nn.Linear(D, D))
        self.words = nn.Embedding(config.instruction_buckets, D, padding_idx=0)
        self.ctx_type = nn.Parameter(torch.randn(2 + len(config.cameras), D) * 0.02)  # state, instr, cameras
        self.image_encoder: nn.Module | None = None
        if config.cameras:
            from policies.vision import build_image_encoder

            self.image_encoder = image_encoder if image_encoder is not None else build_image_encoder(config)
            n_tok = config.vision_grid[0] * config.vision_grid[1]
            self.vision_pos = nn.Parameter(torch.randn(n_tok, D) * 0.02)
        self.blocks = nn.ModuleList(
            MMDiTBlock(D, config.heads, config.mlp_ratio, config.dropout, context_out=i < config.depth - 1)
            for i in range(config.depth)
        )
        self.out_norm = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        self.out_mod = nn.Sequential(nn.SiLU(), nn.Linear(D, 2 * D))
        self.out = nn.Linear(D, config.action_dim)
        for m in (self.out_mod[1], self.out):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def encode_context(
        self, state: torch.Tensor, instruction_ids: torch.Tensor, images: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Context tokens (B, N, D) from the normalised state (B, 32), word ids (B, MAX_WORDS)
        and images (B, n_cam, 3, h, w) uint8 or float in [0, 1]. Computed once per chunk."""
        B = state.shape[0]
        tokens = [self.state_in(state.float())[:, None] + self.ctx_type[0]]
        ids = instruction_ids[:, :MAX_WORDS]
        mask = (ids > 0).float()[..., None]
        bag = (self.words(ids) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        tokens.append(bag[:, None] + self.ctx_type[1])
        if self.config.cameras:
            if images is None:
                raise ValueError(f"this model takes camera images {self.config.cameras}; pass images")
            imgs = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
            n_cam = imgs.shape[1]
            feats = self.image_encoder(imgs.flatten(0, 1))  # (B * n_cam, n_tok, D)
            feats = feats.view(B, n_cam, feats.shape[1], -1) + self.vision_pos
            feats = feats + self.ctx_type[2:2 + n_cam, None, :]
            tokens.append(feats.flatten(1, 2))
        return torch.cat(tokens, dim=1)

    def velocity(self, x_t: torch.Tensor, t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Velocity (B, H, A) of noisy actions ``x_t`` (B, H, A) at per-token flow times ``t`` (B, H)."""
        a = self.action_in(x_t) + self.action_pos[: x_t.shape[1]]
        temb = self.time_mlp(time_embedding(t, self.config.width).to(a.dtype))
        c = context
        for block in self.blocks:
            a, c = block(a, c, temb)
        shift, scale = self.out_mod(temb).chunk(2, dim=-1)
        return self.out(self.out_norm(a) * (1 + scale) + shift)

    def forward(self, x_t, t, state, instruction_ids, images=None) -> torch.Tensor:
        return self.velocity(x_t, t, self.encode_context(state, instruction_ids, images))


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (works on the meta device: nothing is allocated)."""
    return sum(p.numel() for p in model.parameters())
