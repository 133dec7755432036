"""Config arithmetic and naming as OmegaConf resolvers; registered wherever configs are composed.

    ${effective_lr:${base_lr},0.9}   the effective-step control (conf/arm/effective_step.yaml)
    ${run_key:}                      a study job's directory, hydra.sweep.subdir (conf/config.yaml)
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from sgdtricks.record.identity import run_key


def effective_lr(lr: float, momentum: float) -> float:
    """The step of heavy ball under a steady gradient g: z -> g / (1 - beta), so w moves lr / (1 - beta) * g.

    Rounded to 12 significant digits, so 0.05 / (1 - 0.9) is 0.5 and not 0.5000000000000001.
    """
    return float(f"{lr / (1.0 - momentum):.12g}")


def job_run_key(*, _root_: DictConfig) -> str:
    """record.identity.run_key of the job's config (the root without Hydra's own node, which holds this very
    interpolation): the same config reaches the same directory from any study, spelling or machine."""
    tree: dict[str, Any] = OmegaConf.to_container(_root_, resolve=False)
    tree.pop("hydra", None)
    return run_key(OmegaConf.create(tree))


def register_resolvers() -> None:
    """Safe to call more than once."""
    if not OmegaConf.has_resolver("effective_lr"):
        OmegaConf.register_new_resolver("effective_lr", effective_lr)
    if not OmegaConf.has_resolver("run_key"):
        OmegaConf.register_new_resolver("run_key", job_run_key)
