"""Batched crop+flip is torchvision's RandomCrop(32, padding=4) + RandomHorizontalFlip, image by image.

Checked against an explicit reference and against the 81 x 2 candidates torchvision.transforms.functional
builds from each source image, for the augment functions and for what train_epoch actually feeds the model.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from torch import nn

from conftest import compose_config
from sgdtricks.run import augment
from sgdtricks.run.data import load_data
from sgdtricks.run.loop import train_epoch

PAD, SIZE = 4, (32, 32)
OFFSETS = 2 * PAD + 1  # 9 crop positions per axis


@pytest.fixture(scope="module")
def images(small_npz) -> torch.Tensor:
    """64 CIFAR-shaped training images, uint8 NCHW (equality with torchvision holds for any pixels)."""
    with np.load(small_npz, allow_pickle=False) as npz:
        return torch.from_numpy(npz["x_train"][:64]).permute(0, 3, 1, 2).contiguous()


def torchvision_candidates(image: torch.Tensor) -> torch.Tensor:
    """All outputs of RandomCrop(32, padding=4) + RandomHorizontalFlip on `image`: [dy, dx, flip, C, H, W]."""
    padded = TF.pad(image, [PAD])  # zero fill, as RandomCrop's default
    crops = torch.stack([torch.stack([TF.crop(padded, dy, dx, *SIZE) for dx in range(OFFSETS)])
                         for dy in range(OFFSETS)])
    return torch.stack([crops, TF.hflip(crops)], dim=2)


def augmented(images: torch.Tensor, seed: int) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    generator = torch.Generator().manual_seed(seed)
    draws = augment.draw_augmentation(len(images), PAD, generator, images.device)
    return augment.crop_flip(augment.pad_images(images, PAD), *draws, SIZE), draws


def test_every_offset_and_flip_gives_torchvisions_image(images):
    """crop_flip at (dy, dx, flip) is exactly torchvision's crop at (top=dy, left=dx), flipped when flip is set."""
    padded = augment.pad_images(images[:4], PAD)
    for i in range(4):
        expected = torchvision_candidates(images[i])
        dy, dx, flip = (g.flatten() for g in torch.meshgrid(
            torch.arange(OFFSETS), torch.arange(OFFSETS), torch.arange(2), indexing="ij"))
        got = augment.crop_flip(padded[i].expand(len(dy), -1, -1, -1), dy, dx, flip.bool(), SIZE)
        assert torch.equal(got, expected.flatten(0, 2))


def test_random_draws_match_explicit_reference_and_torchvision(images):
    """Each image of a batch: pad with zeros, crop at its own drawn offset, flip if drawn; one of the 162 candidates."""
    out, (dy, dx, flip) = augmented(images, seed=1)
    for i in range(len(images)):
        ref = nn.functional.pad(images[i], (PAD,) * 4)[:, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32]
        assert torch.equal(out[i], ref.flip(-1) if flip[i] else ref)
        candidates = torchvision_candidates(images[i]).flatten(0, 2)
        assert (candidates == out[i]).flatten(1).all(1).any(), f"image {i} is no torchvision augmentation"
    assert len({(int(a), int(b), bool(c)) for a, b, c in zip(dy, dx, flip)}) > 40  # each image its own draw


def test_crops_of_selected_images_equal_crops_of_the_selection(images):
    """index= (how train_epoch calls it) crops padded[index] without copying those images first."""
    padded = augment.pad_images(images, PAD)
    index = torch.randperm(len(images), generator=torch.Generator().manual_seed(4))[:40]
    dy, dx, flip = augment.draw_augmentation(40, PAD, torch.Generator().manual_seed(5), images.device)
    assert torch.equal(augment.crop_flip(padded, dy, dx, flip, SIZE, index=index),
                       augment.crop_flip(padded[index].clone(), dy, dx, flip, SIZE))


def test_offsets_and_flips_are_uniform():
    """Over 16,200 images of one batch, all 81 offsets x 2 flips appear about equally (chi-square bound).

    The offsets and flip are read back from the output pixels of a marker image, so this checks crop_flip
    as well as the draws.
    """
    rows = torch.arange(1, 33, dtype=torch.uint8)
    marker = torch.stack([rows[:, None].expand(32, 32), rows[None, :].expand(32, 32),
                          torch.zeros(32, 32, dtype=torch.uint8)])  # channel 0: row + 1, channel 1: column + 1
    n = OFFSETS * OFFSETS * 2 * 100
    padded = augment.pad_images(marker[None], PAD).expand(n, -1, -1, -1)
    draws = augment.draw_augmentation(n, PAD, torch.Generator().manual_seed(2), torch.device("cpu"))
    out = augment.crop_flip(padded, *draws, SIZE)
    # Output pixel (4, 4) always comes from the image: source row dy, source column dx (or dx + 23 when flipped).
    dy, col = out[:, 0, 4, 4].long() - 1, out[:, 1, 4, 4].long() - 1
    flip = col >= 23
    dx = torch.where(flip, col - 23, col)
    assert torch.equal(dy, draws[0]) and torch.equal(dx, draws[1]) and torch.equal(flip, draws[2])
    counts = torch.bincount((dy * OFFSETS + dx) * 2 + flip.long(), minlength=OFFSETS * OFFSETS * 2).double()
    expected = n / len(counts)
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    dof = len(counts) - 1
    assert counts.min() > 0 and chi2 < dof + 6 * (2 * dof) ** 0.5, f"chi2={chi2:.0f} over {dof} dof"
    assert abs(flip.double().mean().item() - 0.5) < 0.02


def test_images_never_mix_within_a_batch():
    """Distinct constant images: every output pixel is its own source's value or padding zero, in the right amount."""
    n = 200
    values = torch.arange(1, n + 1, dtype=torch.uint8)
    sources = values[:, None, None, None].expand(n, 3, 32, 32).contiguous()
    out, (dy, dx, _) = augmented(sources, seed=3)
    own = out == values[:, None, None, None]
    assert ((out == 0) | own).all()
    inside = (32 - (dy - PAD).abs()) * (32 - (dx - PAD).abs()) * 3  # pixels the crop keeps from the image
    assert torch.equal(own.flatten(1).sum(1), inside)


def test_normalize_matches_totensor_normalize(images):
    """uint8 -> standardised float equals torchvision's ToTensor + Normalize, in channels_last layout."""
    mean, std = torch.tensor([0.49, 0.48, 0.45]), torch.tensor([0.25, 0.24, 0.26])
    out = augment.normalize(images, mean, std)
    expected = TF.normalize(images.float() / 255, mean.tolist(), std.tolist())
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)


class InputRecorder(nn.Module):
    """Stands in for the model: keeps every batch train_epoch feeds it; a tiny head gives the optimizer work."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.head = nn.Linear(1, num_classes)
        self.batches: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batches.append(x.detach().clone())
        return self.head(x.mean(dim=(1, 2, 3))[:, None])


def test_train_epoch_feeds_each_source_once_as_a_torchvision_augmentation(small_npz):
    """Everything the model sees in an epoch is a torchvision-producible augmentation of a distinct training image."""
    cfg = compose_config("data=npz", f"data.path={small_npz}", "data.train_subset=96", "trainer.batch_size=32")
    data = load_data(cfg.data, torch.device("cpu"))
    model = InputRecorder(data.num_classes)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    train_epoch(model, optimizer, data, cfg, 1, torch.autocast("cpu", enabled=False), {"signal": 0})
    seen = torch.cat(model.batches)
    assert [len(b) for b in model.batches] == [32, 32, 32]
    pixels = (seen * data.std.view(1, -1, 1, 1) + data.mean.view(1, -1, 1, 1)) * 255  # undo normalize
    pixels = pixels.round().clamp(0, 255).to(torch.uint8)
    source_of = {candidate.numpy().tobytes(): i for i in range(len(data.train_x))
                 for candidate in torchvision_candidates(data.train_x[i]).flatten(0, 2)}
    sources = [source_of.get(image.contiguous().numpy().tobytes()) for image in pixels]
    assert None not in sources, "the model saw an image no torchvision augmentation of any source produces"
    assert sorted(sources) == list(range(len(data.train_x)))
