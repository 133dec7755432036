"""A stability run: heavy ball on a fixed set of training images, square loss, sharpness measured as it trains.

Why momentum allows larger steps, measured on a network: on a quadratic, heavy ball with step size lr and
momentum beta is stable while the top Hessian eigenvalue (sharpness) stays below 2(1 + beta)/lr; gradient
descent on a network raises its sharpness until it reaches that level and then hovers there (Cohen et al.,
ICLR 2021, "the edge of stability"); minibatch SGD holds the *batch* sharpness at 2(1 -+ beta)/lr (Andreyev
et al. 2026). A run here is the setting of Cohen et al.: a tanh MLP (no BatchNorm, which makes most weights
scale-invariant and hides the edge), the first `trainer.images` training images, square loss, the whole set
as one batch (`trainer.batch: full`) or minibatches of `trainer.batch` images drawn with replacement.

Every `trainer.measure_every` steps (and after the last) a row: the full-set training loss and, per
`trainer.sharpness`, the top Hessian eigenvalue of the full-set loss (`full`), the batch sharpness over
`trainer.sharpness_batches` minibatches (`batch`), or neither (`none`: the stability map's runs, which only
need their final loss). A run diverges when the loss is no longer finite or exceeds `trainer.diverge_factor`
times its initial value; it then stops and says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from sgdtricks.sharpness import batch_sharpness, top_hessian_eigenvalue

COLUMNS = ["step", "lr", "train_loss", "sharpness", "batch_sharpness"]  # metrics.csv of a stability run
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


class MLP(nn.Sequential):
    """A fully connected network on the flattened image: Linear-activation per hidden width, a linear head.

    No normalisation layer, so the loss is not invariant to the scale of any weight and the stability
    edge of the step size is a property of the weights (Cohen et al. use tanh, widths 200-200)."""

    def __init__(self, in_channels: int, num_classes: int, widths: Sequence[int] = (200, 200),
                 activation: str = "tanh", image_size: int = 32):
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_channels * image_size * image_size
        for hidden in widths:
            layers += [nn.Linear(width, hidden), ACTIVATIONS[activation]()]
            width = hidden
        super().__init__(*layers, nn.Linear(width, num_classes))


def square_loss(out: Tensor, target: Tensor) -> Tensor:
    """1/2 |f(x) - onehot(y)|^2 summed over classes, averaged over images (Cohen et al.'s square loss)."""
    return 0.5 * ((out - target) ** 2).sum(1).mean()


def inputs(images: Tensor, labels: Tensor, mean: Tensor, std: Tensor, num_classes: int,
           count: int) -> tuple[Tensor, Tensor]:
    """The first `count` images as float, standardised per channel, and their one-hot targets."""
    x = (images[:count].float() / 255 - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
    return x, nn.functional.one_hot(labels[:count], num_classes).float()


@dataclass
class Settings:
    """The run's trainer settings (conf/trainer/stability.yaml)."""

    steps: int
    batch: int | None  # None: the full set every step
    measure_every: int
    sharpness: str  # full | batch | none
    sharpness_batches: int
    diverge_factor: float


def measure(model: nn.Module, x: Tensor, y: Tensor, settings: Settings, generator: torch.Generator) -> dict[str, float]:
    """The full-set training loss and the sharpness the settings ask for (NaN where not measured)."""
    with torch.no_grad():
        row = {"train_loss": square_loss(model(x), y).item(), "sharpness": math.nan, "batch_sharpness": math.nan}
    if not math.isfinite(row["train_loss"]):
        return row
    if settings.sharpness == "full":
        row["sharpness"] = top_hessian_eigenvalue(model, square_loss, x, y)
    elif settings.sharpness == "batch":
        picks = torch.randint(len(x), (settings.sharpness_batches, settings.batch), generator=generator)
        row["batch_sharpness"] = batch_sharpness(model, square_loss, [(x[i], y[i]) for i in picks])
    return row


def run(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor, settings: Settings,
        seed: int) -> tuple[list[dict[str, float]], str]:
    """Train, measuring every `measure_every` steps and after the last; the rows and the status
    (finished, or diverged at the first row whose loss is non-finite or past diverge_factor x the first)."""
    batches = torch.Generator(device=x.device).manual_seed(seed)  # minibatch draws
    probes = torch.Generator(device=x.device).manual_seed(seed + 1)  # batch-sharpness draws: never shift training
    rows: list[dict[str, float]] = []
    for step in range(settings.steps + 1):
        if step % settings.measure_every == 0 or step == settings.steps:
            rows.append({"step": step, "lr": optimizer.param_groups[0]["lr"], **measure(model, x, y, settings, probes)})
            loss = rows[-1]["train_loss"]
            if not math.isfinite(loss) or loss > settings.diverge_factor * rows[0]["train_loss"]:
                return rows, "diverged"
        if step == settings.steps:
            break
        xb, yb = x, y
        if settings.batch is not None:
            picks = torch.randint(len(x), (settings.batch,), generator=batches, device=x.device)
            xb, yb = x[picks], y[picks]
        optimizer.zero_grad(set_to_none=True)
        square_loss(model(xb), yb).backward()
        optimizer.step()
    return rows, "finished"
