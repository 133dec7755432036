"""Every study composes under every profile into the cells it promises, each job in a run directory named by its
identity; cells two studies share are one run; tuning and evidence seeds are disjoint."""

from __future__ import annotations

import functools
import itertools

import pytest
from omegaconf import OmegaConf

from conftest import CONF, compose_config
from sgdtricks.config import grid as grids
from sgdtricks.config.checks import check_config
from sgdtricks.config.studies import STABILITY_STUDIES
from sgdtricks.errors import ConfigError
from sgdtricks.record.identity import run_key

STUDIES = sorted(p.stem for p in (CONF / "study").glob("*.yaml"))
PROFILES = sorted(p.stem for p in (CONF / "profile").glob("*.yaml"))
# Grids run from one initialisation, each run compared with a closed form rather than paired with another arm: the
# stability studies within the cpu budget, and the stability map (its boundary is drawn against that one init's lambda_0).
ONE_INITIALISATION = {("cpu", s) for s in STABILITY_STUDIES} | {("full", "stability_map")}
BASE_LR = {"cpu": 0.02, "full": 0.05}  # cpu measures its own (base_lr: ???); any value stands in for it here


@functools.cache
def jobs(study: str, profile: str, *extra: str) -> list[tuple[grids.GridRun, dict]]:
    """Each job of `python -m sgdtricks.train -m study=S profile=P EXTRA` (config/grid.py, Hydra's own expansion)
    with its resolved config."""
    return [(run, OmegaConf.to_container(cfg, resolve=True)) for run, cfg in grids.expand(study, profile, extra)]


def extra(profile: str) -> list[str]:
    return ["base_lr=0.02"] if profile == "cpu" else []


@pytest.mark.parametrize(("study", "profile"), list(itertools.product(STUDIES, PROFILES)))
def test_every_study_composes_with_unique_stable_run_directories(study: str, profile: str) -> None:
    grid = jobs(study, profile, *extra(profile))
    keys = [run.run_key for run, _ in grid]
    assert len(set(keys)) == len(keys), "two jobs would write the same run directory"
    assert all("/" not in k and len(k) < 120 for k in keys)
    assert {cfg["study"] for _, cfg in grid} == {study} and {cfg["logger"]["group"] for _, cfg in grid} == {study}
    seeds = {cfg["seed"] for _, cfg in grid}
    assert len(seeds) >= (2 if study == "lr_tuning" else 1 if (profile, study) in ONE_INITIALISATION else 5)
    for _, cfg in grid:  # every job builds: its values pass the config checks
        check_config(OmegaConf.create(cfg))
    # the same job, its overrides given in another order and with its data placed elsewhere, has the same key
    run, _ = grid[-1]
    again = compose_config(*reversed(run.overrides), "data.root=/elsewhere", "trainer.device=cpu")
    assert run_key(again) == run.run_key


@pytest.mark.parametrize("profile", PROFILES)
def test_tuning_and_evidence_seeds_are_disjoint(profile: str) -> None:
    tuning = {cfg["seed"] for _, cfg in jobs("lr_tuning", profile, *extra(profile))}
    for study in ("momentum", "decay"):
        assert tuning.isdisjoint({cfg["seed"] for _, cfg in jobs(study, profile, *extra(profile))})


@pytest.mark.parametrize("profile", PROFILES)
def test_cells_two_studies_hold_are_one_run(profile: str) -> None:
    momentum, decay = (jobs(s, profile, *extra(profile)) for s in ("momentum", "decay"))
    shared = {r.config_hash for r, _ in momentum} & {r.config_hash for r, _ in decay}
    constant = {r.config_hash for r, c in decay if c["scheduler"]["name"] == "constant"}
    assert shared == constant  # beta 0.9 (and 0) at base_lr, every seed: momentum's arms are decay's constant cells
    runs = [r for r, _ in momentum + decay]
    assert len(grids.distinct(runs)) == len(runs) - len(shared)


def cells(study: str, profile: str) -> set[tuple]:
    grid = jobs(study, profile, *extra(profile))
    return {(c["optimizer"]["momentum"], c["optimizer"]["lr"], c["scheduler"]["name"]) for _, c in grid}


@pytest.mark.parametrize("profile", PROFILES)
def test_momentum_study_cells(profile: str) -> None:
    base = BASE_LR[profile]
    control = (0.0, round(base / (1 - 0.9), 12), "constant")  # the effective step, 10 x base_lr
    sweep = (0.0, 0.9, 0.99) if profile == "cpu" else (0.0, 0.5, 0.9, 0.99)  # cpu: no 0.5 arm, for time
    assert cells("momentum", profile) == {(b, base, "constant") for b in sweep} | {control}


# The decay study's schedulers, and StepLR's first drop as a fraction of the run: the lecture's 30 of 100 at
# full scale; the cpu profile leaves cosine out and drops after 20 of 30 epochs, the closest it comes to the
# lecture's regime within its budget (conf/profile/cpu.yaml, conf/profile_scheduler/cpu_step.yaml).
SCHEDULERS = {"cpu": ("constant", "plateau", "step"), "full": ("constant", "plateau", "step", "cosine")}
MOMENTA = {"cpu": (0.9,), "full": (0.0, 0.9)}  # cpu: the lecture's setting alone, for time (conf/profile_study/)
STEP_FRACTION = {"cpu": 2 / 3, "full": 0.3}


@pytest.mark.parametrize("profile", PROFILES)
def test_decay_study_cells_and_schedule_fractions(profile: str) -> None:
    base = BASE_LR[profile]
    assert cells("decay", profile) == {(m, base, s) for m in MOMENTA[profile] for s in SCHEDULERS[profile]}
    by_scheduler = {c["scheduler"]["name"]: c for _, c in jobs("decay", profile, *extra(profile))}
    epochs = by_scheduler["step"]["trainer"]["epochs"]
    assert by_scheduler["step"]["scheduler"]["step_size"] == round(STEP_FRACTION[profile] * epochs)
    # the lecture: plateau patience 10 of 100 epochs -- the same fraction of any run
    assert by_scheduler["plateau"]["scheduler"]["patience"] == round(0.1 * epochs)
    if "cosine" in by_scheduler:
        assert by_scheduler["cosine"]["scheduler"]["T_max"] == epochs


@pytest.mark.parametrize("profile", PROFILES)
def test_lr_tuning_spans_two_decades_at_momentum_09(profile: str) -> None:
    grid = cells("lr_tuning", profile)
    lrs = sorted(lr for _, lr, _ in grid)
    assert {m for m, _, _ in grid} == {0.9} and {s for _, _, s in grid} == {"constant"}
    assert lrs[-1] / lrs[0] >= 100 and 0.05 in lrs


def test_profiles_scale() -> None:
    full, cpu = compose_config("profile=full"), compose_config("profile=cpu")
    assert (full.model.name, full.trainer.epochs, full.trainer.batch_size, full.optimizer.weight_decay) == (
        "resnet18", 100, 128, 5e-4)
    assert full.data.train_subset is None and full.data.augment and full.base_lr == 0.05
    assert (cpu.model.name, cpu.trainer.epochs, cpu.optimizer.weight_decay) == ("small_cnn", 30, 5e-4)
    assert cpu.data.train_subset and cpu.data.augment and OmegaConf.is_missing(cpu, "base_lr")


def test_a_profile_that_measures_its_base_lr_says_so_when_it_is_missing() -> None:
    cfg = compose_config("study=momentum", "profile=cpu", "+arm=effective_step")
    with pytest.raises(ConfigError, match="base_lr, which is not set; pass base_lr=VALUE"):
        check_config(cfg)
