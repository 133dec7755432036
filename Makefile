# sgdtricks — every target installs what it needs first (.venv), so a fresh clone needs nothing else.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ARGS ?=
# make test: test files spread over this many processes (pytest-xdist), each file's tests in one process (they share
# its trained fixtures). Much of the suite waits on process starts and W&B: on 2 cores 2 processes took 7.2 min, 1 took 9.6.
TEST_JOBS ?= 2
# make reproduce / study / reports: empty = automatic (PROFILE: full with a CUDA GPU, else cpu; DATA: cifar10)
PROFILE ?=
DATA ?=
DATA_PATH ?=
JOBS ?= auto
STUDY ?=
SOURCE ?= local
RUNS ?= runs
REPORTS ?= reports
STUDY_ARGS = $(if $(PROFILE),--profile $(PROFILE)) $(if $(DATA),--data $(DATA)) \
	$(if $(DATA_PATH),--data-path $(DATA_PATH)) --jobs $(JOBS) --runs $(RUNS)
REPRODUCE = $(PY) -m sgdtricks.reproduce $(STUDY_ARGS) --reports $(REPORTS)

.DEFAULT_GOAL := help
.PHONY: help install test train quadratic plan reproduce study reports sweep wandb-sync dashboard clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv (when missing) and install sgdtricks editable, pinned by constraints.txt

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $@

test: install ## run the test suite (real CIFAR-10 subset from ../shared/datasets when present)
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile

train: install ## one training run; Hydra overrides in ARGS="data=npz data.path=... trainer.epochs=3"
	$(PY) -m sgdtricks.train $(ARGS)

quadratic: install ## momentum on a quadratic, theory beside measurement: figures, tables, CSV (seconds, CPU)
	$(PY) -m sgdtricks.quadratic --out reports/quadratic

plan: install ## what make reproduce would train (distinct runs, done, epochs) and its measured projected time here
	$(PY) -m sgdtricks.study.plan $(STUDY_ARGS) $(ARGS)

reproduce: install ## every study, then reports/ (PROFILE=cpu|full DATA=npz DATA_PATH=file JOBS=n ARGS=overrides)
	$(REPRODUCE) $(ARGS)
	$(PY) -m sgdtricks.reports --no-build --out $(REPORTS) --readme README.md

study: install ## one study, STUDY=lr_tuning|momentum|decay|stability|stability_map|stability_sgd (same variables as reproduce)
	@test -n "$(STUDY)" || { echo "error: STUDY is not set; make study STUDY=lr_tuning|momentum|decay|stability|stability_map|stability_sgd" >&2; exit 2; }
	$(REPRODUCE) --studies $(STUDY) --no-reports $(ARGS)

reports: install ## figures, tables and pages in reports/<profile>/ from runs/ (SOURCE=local|wandb, PROFILE=...)
	$(PY) -m sgdtricks.reports --source $(SOURCE) --runs $(RUNS) --out $(REPORTS) $(if $(PROFILE),--profile $(PROFILE)) --readme README.md

sweep: install ## register the W&B sweep of STUDY=decay|momentum|lr_tuning and print the `wandb agent` command
	@$(PY) -m sgdtricks.study.wandb_cli sweep $(if $(STUDY),$(STUDY),$(error set STUDY, e.g. make sweep STUDY=decay)) $(ARGS)

wandb-sync: install ## rebuild cut-short W&B runs from their records, upload the newest folder of each run under runs/ (needs `wandb login`)
	@$(PY) -m sgdtricks.study.wandb_cli sync runs

dashboard: install ## save the W&B views (a section per study) and report of PROFILE (default cpu; ARGS="--entity E --dry-run")
	$(PY) -m sgdtricks.dashboard --profile $(or $(PROFILE),cpu) --reports $(REPORTS) $(ARGS)

# The measuring scripts' data: DATA / DATA_PATH, else the CIFAR-10 subset beside the project when present, else cifar10.
SCRIPT_DATA = $(if $(DATA_PATH),data=$(or $(DATA),npz) data.path=$(DATA_PATH),$(if $(DATA),data=$(DATA),$(if \
	  $(wildcard ../shared/datasets/cifar10-subset.npz),data=npz data.path=../shared/datasets/cifar10-subset.npz,data=cifar10)))

.PHONY: bench candidates
bench: install ## images/s: our training path vs torchvision DataLoader vs model alone -> reports/bench.{md,csv} (DATA= DATA_PATH= ARGS=)
	$(PY) scripts/bench.py $(SCRIPT_DATA) $(ARGS)

candidates: install ## the cpu profile's model sizes: test accuracy vs s/epoch -> reports/cpu/candidates.{md,csv} (~4 min idle)
	$(PY) scripts/candidates.py $(SCRIPT_DATA) $(ARGS)

clean: ## remove runs, W&B files and caches (keeps .venv, data/ and reports/)
	rm -rf runs multirun outputs wandb .pytest_cache
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
