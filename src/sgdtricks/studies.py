"""The studies and profiles of conf/ as the orchestrator and the reports see them: order, names, the base lr."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from sgdtricks.errors import UserError

CONF = Path(__file__).resolve().parents[2] / "conf"
STUDIES = ("lr_tuning", "momentum", "decay")  # lr_tuning first: a profile may take its base lr from it


def names(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def check_name(group: str, name: str) -> str:
    if name not in names(group):
        raise UserError(f"{group}={name} does not exist; choose one of {', '.join(names(group))} (conf/{group}/)")
    return name


def compose_config(*overrides: str) -> DictConfig:
    """The config a job of `python -m sgdtricks.train OVERRIDES` gets (no sweep values in `overrides`)."""
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose(config_name="config", overrides=list(overrides))


def fixed_base_lr(profile: str) -> float | None:
    """The profile's base lr, or None when it is measured (base_lr: ??? -- make reproduce picks it from lr_tuning)."""
    cfg = compose_config(f"profile={profile}")
    return None if OmegaConf.is_missing(cfg, "base_lr") else float(cfg.base_lr)


def runs_at_base_lr(study: str) -> bool:
    """Whether the study's runs take their lr from base_lr (optimizer.lr: ${base_lr} in its config)."""
    cfg = compose_config(f"study={study}")
    return OmegaConf.to_container(cfg.optimizer, resolve=False)["lr"] == "${base_lr}"
