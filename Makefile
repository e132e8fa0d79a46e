# Two commands on a fresh machine:  make run  (install + embedded default end to end)
#                                   make test (install + the test suite)
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
CONFIG ?= config/config.yaml
STAMP := $(VENV)/.installed

.PHONY: install run test lint fmt dryrun-paper bench clean

install: $(STAMP)

# torch first (pinned: the CPU build; an unpinned torch would pull GBs of CUDA), then the
# locked rest, then this package in editable mode.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

run: install
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG) --printshellcmds

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/ruff check .

fmt: install
	$(BIN)/snakefmt Snakefile rules
	$(BIN)/ruff check --fix .

dryrun-paper: install
	$(BIN)/snakemake -n --configfile config/paper.yaml

bench: install
	$(BIN)/python benchmarks/bench_dedup.py --n-records 200000 --workers $(CORES) --out benchmarks/out/dedup.json
	$(BIN)/python benchmarks/bench_scoring.py --n-records 2000 --batch-size 32 --threads 1 --out benchmarks/out/scoring.json
	$(BIN)/python benchmarks/bench_engine.py --steps 40 --repeats 3 --threads 1 --out benchmarks/out/engine.json

clean:
	rm -rf results/smoke results/default .snakemake
