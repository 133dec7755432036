"""Config arithmetic the studies need, as OmegaConf resolvers; registered by train.py and the report reader."""

from __future__ import annotations

from omegaconf import OmegaConf


def effective_lr(lr: float, momentum: float) -> float:
    """The step of heavy ball under a steady gradient g: z -> g / (1 - beta), so w moves lr / (1 - beta) * g.

    Rounded to 12 significant digits, so 0.05 / (1 - 0.9) is 0.5 and not 0.5000000000000001.
    """
    return float(f"{lr / (1.0 - momentum):.12g}")


def register_resolvers() -> None:
    """`${effective_lr:${base_lr},0.9}` (conf/arm/effective_step.yaml). Safe to call more than once."""
    if not OmegaConf.has_resolver("effective_lr"):
        OmegaConf.register_new_resolver("effective_lr", effective_lr)
