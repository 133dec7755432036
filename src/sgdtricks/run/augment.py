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


def crop_flip(padded: Tensor, dy: Tensor, dx: Tensor, flip: Tensor, size: tuple[int, int],
              index: Tensor | None = None) -> Tensor:
    """Crop padded[index] (all of `padded` when index is None), each image at its own (dy, dx) to `size`,
    mirroring those with flip set; dy, dx, flip hold one value per output image. uint8 NCHW in and out.

    Every crop window of every image is a strided view of `padded`, so the crops are one gather of whole
    rows, straight from the padded images (no per-batch copy of them first).
    """
    h, w = size
    n, c, hp, wp = padded.shape
    sn, sc, sh, sw = padded.stride()
    windows = padded.as_strided((n, c, hp - h + 1, wp - w + 1, h, w), (sn, sc, sh, sw, sh, sw))
    images = torch.arange(n, device=padded.device) if index is None else index
    crops = windows[images, :, dy, dx]  # [B, C, h, w]
    return torch.where(flip[:, None, None, None], crops.flip(-1), crops)


def normalize(x: Tensor, mean: Tensor, std: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """uint8 NCHW -> float, scaled to [0, 1] then standardised per channel, in channels_last layout."""
    scale = (1.0 / (255.0 * std)).view(1, -1, 1, 1)
    shift = (-mean / std).view(1, -1, 1, 1)
    out = torch.addcmul(shift, x.to(dtype), scale.to(dtype))
    return out.contiguous(memory_format=torch.channels_last)
