"""Range checks on a composed config, so a bad value fails before any work with one line naming its key."""

from __future__ import annotations

import math
from collections.abc import Callable

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationToMissingValueError, MissingMandatoryValue

from sgdtricks.errors import ConfigError

# key -> (test, what the value must be). Keys absent from the composed config are skipped, so a rule
# for scheduler.step_size only applies when the step scheduler is chosen. ONLY_FOR narrows a rule to one
# option of its group where another option uses the same key differently (ConstantLR's factor is 1).
RULES: dict[str, tuple[Callable[[object], bool], str]] = {
    "optimizer.lr": (lambda v: 0 < v < math.inf, "a finite learning rate > 0, e.g. 0.05"),
    "optimizer.momentum": (lambda v: 0 <= v < 1, "in [0, 1), e.g. 0.9"),
    "optimizer.weight_decay": (lambda v: v >= 0, ">= 0, e.g. 5e-4"),
    "optimizer.dampening": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "scheduler.step_size": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1 (epochs between drops)"),
    "scheduler.gamma": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "scheduler.factor": (lambda v: 0 < v < 1, "in (0, 1), e.g. 0.1"),
    "scheduler.patience": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0"),
    "scheduler.cooldown": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0"),
    "scheduler.threshold": (lambda v: v >= 0, ">= 0"),
    "scheduler.mode": (lambda v: v in ("min", "max"), "'min' or 'max'"),
    "scheduler.threshold_mode": (lambda v: v in ("rel", "abs"), "'rel' or 'abs'"),
    "scheduler.T_max": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "trainer.epochs": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "trainer.batch_size": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "trainer.eval_batch_size": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "trainer.log_every": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1 (steps between progress syncs)"),
    "trainer.precision": (lambda v: v in ("fp32", "bf16"), "'fp32' or 'bf16'"),
    "trainer.device": (lambda v: isinstance(v, str) and v.split(":")[0] in ("auto", "cpu", "cuda", "mps"),
                       "auto, cpu, cuda, cuda:N or mps"),
    "trainer.sharpness_every": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0 (epochs; 0: off)"),
    "trainer.sharpness_images": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "trainer.images": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1 (training images of a stability run)"),
    "trainer.steps": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "trainer.batch": (lambda v: v == "full" or (isinstance(v, int) and v >= 1), "full or an integer >= 1"),
    "trainer.measure_every": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1 (steps)"),
    "trainer.sharpness": (lambda v: v in ("full", "batch", "none"), "full, batch or none"),
    "trainer.sharpness_batches": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "trainer.diverge_factor": (lambda v: v > 1, "> 1, e.g. 1000"),
    "data.val_size": (lambda v: v > 0, "> 0: a fraction (< 1) or a count of training images"),
    "data.train_subset": (lambda v: v is None or (isinstance(v, int) and v >= 1), "null or an integer >= 1"),
    "data.augment": (lambda v: isinstance(v, bool), "true or false"),
    "data.pad": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0 (crop padding in pixels)"),
}

ONLY_FOR = {"scheduler.factor": "plateau"}


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError for the first missing or out-of-range value."""
    if "path" in cfg.data and OmegaConf.is_missing(cfg.data, "path"):
        raise ConfigError("data.path is not set; pass data.path=FILE.npz (e.g. ../shared/datasets/cifar10-subset.npz)")
    for key, (ok, must_be) in RULES.items():
        try:
            value = OmegaConf.select(cfg, key, default="<absent>")
        except (MissingMandatoryValue, InterpolationToMissingValueError) as exc:  # lr: ${base_lr}, base_lr: ???
            missing = str(exc).splitlines()[0].rsplit(": ", 1)[-1]
            raise ConfigError(f"{key} needs {missing}, which is not set; pass {missing}=VALUE") from None
        group = key.split(".")[0]
        if value == "<absent>" or ONLY_FOR.get(key, cfg[group].get("name")) != cfg[group].get("name"):
            continue
        try:
            valid = ok(value)
        except TypeError:
            valid = False
        if not valid:
            raise ConfigError(f"{key}={value} is invalid: it must be {must_be}")
