"""The studies and profiles of conf/ as the orchestrator and the reports see them: order, names, the base lr."""

from __future__ import annotations

from collections.abc import Sequence

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from sgdtricks.config.resolvers import register_resolvers
from sgdtricks.errors import ConfigError, UserError
from sgdtricks.paths import CONF

# lr_tuning first: a profile may take its base lr from it. The stability studies (the page's stability section)
# last: they train another kind of run (trainer=stability) and depend on no other study.
STUDIES = ("lr_tuning", "momentum", "decay", "stability", "stability_map", "stability_sgd")
STABILITY_STUDIES = STUDIES[3:]


def names(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def check_name(group: str, name: str) -> str:
    if name not in names(group):
        raise UserError(f"{group}={name} does not exist; choose one of {', '.join(names(group))} (conf/{group}/)")
    return name


def compose_configs(jobs: Sequence[Sequence[str]], hydra_node: bool = False) -> list[DictConfig]:
    """The config each job of `python -m sgdtricks.train OVERRIDES` gets (no sweep values in the overrides),
    composed under one Hydra initialisation; with `hydra_node`, Hydra's own node too (its sweeper params).
    A bad override is a ConfigError naming it."""
    register_resolvers()
    configs = []
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        for overrides in jobs:
            try:
                configs.append(compose(config_name="config", overrides=list(overrides), return_hydra_config=hydra_node))
            except HydraException as exc:
                raise ConfigError(f"overrides {' '.join(overrides) or '(none)'}: {str(exc).splitlines()[0]}") from None
    return configs


def compose_config(*overrides: str, hydra_node: bool = False) -> DictConfig:
    """The config of one job (see compose_configs)."""
    return compose_configs([overrides], hydra_node)[0]


def fixed_base_lr(profile: str) -> float | None:
    """The profile's base lr, or None when it is measured (base_lr: ??? -- make reproduce picks it from lr_tuning)."""
    cfg = compose_config(f"profile={profile}")
    return None if OmegaConf.is_missing(cfg, "base_lr") else float(cfg.base_lr)


def runs_at_base_lr(study: str) -> bool:
    """Whether the study's runs take their lr from base_lr (optimizer.lr: ${base_lr} in its config)."""
    cfg = compose_config(f"study={study}")
    return OmegaConf.to_container(cfg.optimizer, resolve=False)["lr"] == "${base_lr}"
