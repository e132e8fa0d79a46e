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
    """The smoke DAG end to end, once per session: through the Slurm profile with real sbatch when
    a cluster answers (see tests/smk.py), locally otherwise. Returns the working directory."""
    from . import smk

    wd = tmp_path_factory.mktemp("smoke")
    slurm, why = smk.use_slurm()
    elapsed = smk.run_smoke(wd, slurm=slurm)
    how = "slurm" if slurm else "local"
    (wd / "run.json").write_text(f'{{"executor": "{how}", "seconds": {elapsed:.1f}, "why": "{why}"}}\n')
    print(f"\nsmoke DAG ({how}: {why}) took {elapsed:.0f} s")
    return wd


@pytest.fixture(scope="session")
def smoke_run(smoke_workdir) -> Path:
    """The smoke run's results folder."""
    return smoke_workdir / "results" / "smoke"
