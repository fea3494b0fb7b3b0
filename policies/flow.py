"""Flow matching for action chunks, with training-time and inference-time real-time chunking.

Convention: flow time t in [0, 1], t = 0 is Gaussian noise, t = 1 is the clean chunk.

    x_t = t a + (1 - t) eps,   eps ~ N(0, I),   target velocity u = a - eps

The network v_theta(x_t, t, o) is trained to minimise, over the tokens not in the prefix,

    L(theta) = E_{a, eps, t, d} [ sum_{j >= d} || v_theta(x_t, t, o)_j - (a_j - eps_j) ||^2 ] / (H - d)

**Training-time RTC** (the Psi-0 / Black et al. recipe): per sample a delay
d ~ U{0, ..., max_delay - 1}; the first d tokens are the clean actions a_j with their own
flow time t_j = 1 (the committed prefix the robot executes while the model thinks), the
others share one sampled t. At inference the committed actions are written into the first
d tokens at every integration step (:data:`RTCMode.PREFIX`).

**Inference-time RTC** (guided inpainting, Black, Galliker & Levine 2025) for checkpoints
trained without a prefix: with Y the previous chunk aligned to the new one and a soft mask
W (1 on the d committed actions, decaying exponentially over the rest of the overlap, 0
after it), each Euler step uses

    x1_hat = x_t + (1 - t) v,      g = [(Y - x1_hat) W]^T d x1_hat / d x_t   (a vector-Jacobian product)
    v_guided = v + min(beta, (1 - t) / (t r_t^2)) g,     r_t^2 = (1 - t)^2 / (t^2 + (1 - t)^2)

where the weight is clamped to ``beta`` (``RTCConfig.max_guidance``) so that early, noisy
steps do not explode.
"""

from __future__ import annotations

import math

import torch

from policies.config import RTCMode
from policies.model import ActionExpert


def rtc_training_inputs(
    actions: torch.Tensor, max_delay: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Noisy inputs for one batch of clean normalised chunks ``actions`` (B, H, A).

    Returns:
        x_t (B, H, A), t (B, H) per-token flow time, target velocity (B, H, A), and
        loss_mask (B, H), True on the tokens the loss is computed on (after the prefix).
    """
    B, H, _ = actions.shape
    dev = actions.device
    eps = torch.randn(actions.shape, generator=generator, device=dev, dtype=actions.dtype)
    tau = torch.rand((B,), generator=generator, device=dev)
    if max_delay > 1:
        d = torch.randint(0, min(max_delay, H), (B,), generator=generator, device=dev)
    else:
        d = torch.zeros(B, dtype=torch.long, device=dev)
    prefix = torch.arange(H, device=dev)[None, :] < d[:, None]
    t = torch.where(prefix, torch.ones_like(tau)[:, None], tau[:, None].expand(B, H))
    tt = t[..., None].to(actions.dtype)
    x_t = tt * actions + (1 - tt) * eps
    return x_t, t, actions - eps, ~prefix


def flow_loss(model: ActionExpert, batch: dict[str, torch.Tensor], max_delay: int,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """The masked flow-matching loss L(theta) above for one batch of windows."""
    x_t, t, target, mask = rtc_training_inputs(batch["actions"], max_delay, generator)
    v = model(x_t, t, batch["state"], batch["instruction_ids"], batch.get("images"))
    err = (v.float() - target.float()).pow(2).mean(-1)  # (B, H)
    m = mask.float()
    return (err * m).sum() / m.sum().clamp(min=1.0)


def soft_mask(horizon: int, delay: int, overlap: int) -> torch.Tensor:
    """Inpainting weights W (H,): 1 on the ``delay`` committed actions, exponential decay
    over the rest of the ``overlap`` with the previous chunk, 0 after it.

        W_j = 1                          j < d
        W_j = c_j (e^{c_j} - 1)/(e - 1)  d <= j < overlap,  c_j = (overlap - j) / (overlap - d + 1)
        W_j = 0                          j >= overlap
    """
    w = torch.zeros(horizon)
    overlap = max(0, min(overlap, horizon))
    d = max(0, min(delay, overlap))
    w[:d] = 1.0
    for j in range(d, overlap):
        c = (overlap - j) / (overlap - d + 1)
        w[j] = c * (math.expm1(c)) / (math.e - 1)
    return w


def sample_chunk(
    model: ActionExpert,
    context: torch.Tensor,
    steps: int,
    mode: RTCMode = RTCMode.NAIVE,
    prefix: torch.Tensor | None = None,
    guide: torch.Tensor | None = None,
    guide_weights: torch.Tensor | None = None,
    max_guidance: float = 5.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Integrate the flow from noise to a normalised chunk (B, H, A) with ``steps`` Euler steps.

    Args:
        context: context tokens from :meth:`ActionExpert.encode_context`.
        mode: NAIVE ignores the previous chunk; PREFIX writes ``prefix`` (B, d, A) into the
            first d tokens at flow time 1; INPAINT guides towards ``guide`` (B, H, A) with
            ``guide_weights`` (H,) and the weight clamp ``max_guidance``.
    """
    cfg = model.config
    B = context.shape[0]
    H, A = cfg.horizon, cfg.action_dim
    dev = context.device
    x = torch.randn((B, H, A), generator=generator, device=dev, dtype=torch.float32)
    t = torch.zeros((B, H), device=dev)
    d = 0
    if mode is RTCMode.PREFIX and prefix is not None and prefix.shape[1] > 0:
        d = min(prefix.shape[1], H)
        prefix = prefix[:, :d].to(x.dtype)
    dt = 1.0 / steps
    for i in range(steps):
        tau = i * dt
        t.fill_(tau)
        if d:
            x[:, :d] = prefix
            t[:, :d] = 1.0
        if mode is RTCMode.INPAINT and guide is not None:
            v = _guided_velocity(model, x, t, tau, context, guide, guide_weights, max_guidance)
        else:
            with torch.no_grad():
                v = model.velocity(x, t, context).float()
        x = x + dt * v
    if d:
        x[:, :d] = prefix
    return x.detach()


def _guided_velocity(model, x, t, tau, context, guide, weights, max_guidance) -> torch.Tensor:
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        v = model.velocity(xg, t, context.detach()).float()
        x1 = xg + (1.0 - tau) * v
        err = (guide.to(x1.dtype) - x1) * weights.to(x1.device)[None, :, None]
        (g,) = torch.autograd.grad(x1, xg, grad_outputs=err)
    if tau <= 0.0:
        w = max_guidance
    else:
        r2 = (1.0 - tau) ** 2 / (tau**2 + (1.0 - tau) ** 2)
        w = min(max_guidance, (1.0 - tau) / (tau * r2)) if r2 > 0 else max_guidance
    return (v + w * g).detach()
