import json
import os
from pathlib import Path

import pytest
import yaml

# The test suite never reaches a hub.
for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(var, "1")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def load_config(name: str) -> dict:
    with open(ROOT / "config" / name, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="session")
def smoke_config() -> dict:
    return load_config("smoke.yaml")


@pytest.fixture(scope="session")
def smoke_workdir(tmp_path_factory) -> Path:
    """The smoke DAG end to end, locally, once per session. Returns the working directory.

    (tests/test_reliability.py runs a second clean run through Slurm when a cluster answers.)"""
    from . import smk

    reuse = os.environ.get("SFTMIX_TEST_SMOKE_DIR")  # developers: a finished smoke run to reuse
    if reuse and (Path(reuse) / "run.json").exists():
        return Path(reuse)
    wd = tmp_path_factory.mktemp("smoke")
    elapsed = smk.run_smoke(wd, slurm=False)
    (wd / "run.json").write_text(json.dumps({"executor": "local", "seconds": round(elapsed, 1)}))
    print(f"\nsmoke DAG (local) took {elapsed:.0f} s")
    return wd


@pytest.fixture(scope="session")
def smoke_run(smoke_workdir) -> Path:
    """The smoke run's results folder."""
    return smoke_workdir / "results" / "smoke"
