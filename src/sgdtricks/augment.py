"""Batched augmentation on the device: every image its own crop offset and flip, no per-sample Python.

Equivalent to torchvision's RandomCrop(size, padding=pad) (zero fill) + RandomHorizontalFlip(0.5) applied
image by image, but done for a whole batch with one gather.
"""

import torch
from torch import Tensor


def pad_images(x: Tensor, pad: int) -> Tensor:
    """Zero-pad uint8 NCHW images once, so each epoch only gathers crops."""
    return torch.nn.functional.pad(x, (pad, pad, pad, pad)) if pad else x


def draw_augmentation(n: int, pad: int, generator: torch.Generator, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Crop offsets (dy, dx) in [0, 2*pad] and flip flags for n images, drawn in one go per epoch."""
    offsets = torch.randint(0, 2 * pad + 1, (2, n), generator=generator, device=device)
    flips = torch.randint(0, 2, (n,), generator=generator, device=device).bool()
    return offsets[0], offsets[1], flips


def crop_flip(padded: Tensor, dy: Tensor, dx: Tensor, flip: Tensor, size: tuple[int, int]) -> Tensor:
    """Crop each padded image at its own (dy, dx) to `size`, mirroring those with flip set; uint8 NCHW in and out."""
    h, w = size
    rows = dy[:, None] + torch.arange(h, device=padded.device)  # [B, h]
    cols = dx[:, None] + torch.arange(w, device=padded.device)  # [B, w]
    cols = torch.where(flip[:, None], cols.flip(1), cols)  # a flip is a reversed column index
    batch = torch.arange(padded.shape[0], device=padded.device)[:, None, None]
    crops = padded[batch, :, rows[:, :, None], cols[:, None, :]]  # [B, h, w, C]
    return crops.permute(0, 3, 1, 2)


def normalize(x: Tensor, mean: Tensor, std: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """uint8 NCHW -> float, scaled to [0, 1] then standardised per channel, in channels_last layout."""
    scale = (1.0 / (255.0 * std)).view(1, -1, 1, 1)
    shift = (-mean / std).view(1, -1, 1, 1)
    out = torch.addcmul(shift, x.to(dtype), scale.to(dtype))
    return out.contiguous(memory_format=torch.channels_last)
