# Two commands on a fresh machine:  make run  (install + embedded default end to end)
#                                   make test (install + the test suite)
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
CONFIG ?= config/config.yaml
STAMP := $(VENV)/.installed
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE ?= sftmix:$(VERSION)
# container/sftmix.def starts from Docker Hub's python image; container/sftmix-debian.def
# debootstraps Debian bookworm from its mirror instead (no Docker Hub). APPTAINER_FLAGS: e.g.
# --fakeroot where root's capability bounding set is not full (README, "Running in a container").
DEF ?= container/sftmix.def
APPTAINER_FLAGS ?=

.PHONY: install run test lint fmt dryrun-paper bench container clean

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

# The image jobs run in with `snakemake --sdm apptainer` (config key `container`): with Apptainer
# container/sftmix.sif (the key's default) from $(DEF), else with a running Docker the image
# $(IMAGE) (then `--config container=docker-daemon://$(IMAGE)`). Neither: says so and fails.
# benchmarks/container_check.sh builds and runs it on a machine without either (README).
container:
	@if command -v apptainer >/dev/null 2>&1; then \
	  apptainer build $(APPTAINER_FLAGS) container/sftmix.sif $(DEF); \
	elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
	  docker build -f container/Dockerfile -t $(IMAGE) . && \
	  echo "built $(IMAGE): run with --sdm apptainer --config container=docker-daemon://$(IMAGE)"; \
	else \
	  echo "make container: no apptainer and no running Docker daemon here; build the image where" \
	       "one is: apptainer build container/sftmix.sif container/sftmix.def, or" \
	       "docker build -f container/Dockerfile -t $(IMAGE) ." >&2; \
	  exit 1; \
	fi

clean:
	rm -rf results/smoke results/default .snakemake
