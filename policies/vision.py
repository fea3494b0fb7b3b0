"""Image encoders: camera frames -> vision tokens.

An image encoder is any ``nn.Module`` that maps (B, 3, h, w) float images in [0, 1] to
(B, n_tokens, width) tokens; :class:`SmallCNN` is the default, small enough to train on a
CPU. Pass another module (a pretrained backbone with a projection) to
:class:`policies.model.ActionExpert` to swap it.
"""

from __future__ import annotations

import torch
from torch import nn

from policies.config import ImageEncoderKind, ModelConfig

#: ImageNet channel statistics: inputs are standardised with them so that a pretrained
#: backbone can be swapped in without changing the data path.
_RGB_MEAN = (0.485, 0.456, 0.406)
_RGB_STD = (0.229, 0.224, 0.225)


class SmallCNN(nn.Module):
    """Four stride-2 convolutions (GroupNorm, SiLU), then average pooling to a token grid.

    (B, 3, h, w) in [0, 1] -> (B, rows * cols, width). Receptive field grows to the whole
    image at the last layer; each output token summarises one cell of the grid.
    """

    def __init__(self, width: int, grid: tuple[int, int] = (3, 4), channels: tuple[int, ...] = (32, 64, 96, 128)):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.GroupNorm(min(8, c), c), nn.SiLU()]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(grid)
        self.proj = nn.Linear(c_in, width)
        self.register_buffer("mean", torch.tensor(_RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_RGB_STD).view(1, 3, 1, 1), persistent=False)
        self.n_tokens = grid[0] * grid[1]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images - self.mean) / self.std
        x = self.pool(self.features(x))  # (B, C, rows, cols)
        return self.proj(x.flatten(2).transpose(1, 2))


def build_image_encoder(config: ModelConfig) -> nn.Module:
    """The built-in encoder named by ``config.image_encoder``."""
    if config.image_encoder is ImageEncoderKind.SMALL_CNN:
        return SmallCNN(config.width, config.vision_grid)
    raise ValueError(f"unhandled image encoder {config.image_encoder}")  # unreachable: the enum is closed


def random_shift(images: torch.Tensor, pad: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Training augmentation: shift every image by a random whole number of pixels in [-pad, pad].

    ``images`` (B, n_cam, 3, h, w), any dtype; the borders are padded by repeating the edge
    pixels and a (h, w) window is cut out at a random offset per image (as in DrQ). The
    encoder then cannot rely on exact pixel positions, which it would otherwise memorise
    from a few dozen demonstrations.
    """
    if pad <= 0:
        return images
    import torch.nn.functional as F

    B, n, c, h, w = images.shape
    flat = images.reshape(B * n, c, h, w)
    padded = F.pad(flat.float(), (pad, pad, pad, pad), mode="replicate")
    offsets = torch.randint(0, 2 * pad + 1, (B * n, 2), generator=generator, device=images.device)
    out = torch.empty_like(flat)
    for i, (dy, dx) in enumerate(offsets.tolist()):
        out[i] = padded[i, :, dy:dy + h, dx:dx + w].to(flat.dtype)
    return out.view(B, n, c, h, w)

