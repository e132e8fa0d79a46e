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

    (A second clean run, through Slurm when a cluster answers, runs beside it: ``second_run_job``.)"""
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


def second_run_targets(config: dict) -> tuple[str, ...]:
    """What the second clean run builds. Through Slurm: the whole DAG (no target: rule all). Locally
    (no cluster) only what the determinism test compares: the mixtures, the schedules and the
    interaction scores, so a laptop does not pay for the smoke DAG twice."""
    res = "results/smoke"
    opt, cats = config["optimize"], config["experiments"]["categories"]
    exps = ["base"] + [f"{k}_{c.lower().replace(' ', '_')}" for k in ("add", "drop") for c in cats]
    targets = [f"{res}/trainsets/tiny/mix_{m}_{n}.jsonl" for m in opt["methods"] for n in opt["sizes"]]
    targets += [f"{res}/trainsets/tiny/sched_{s}.jsonl" for s in config["curriculum"]["schedules"]]
    targets += [f"{res}/scores/tiny/{e}/seed_{s}.tsv" for e in exps for s in config["train"]["seeds"]]
    return tuple(targets)


@pytest.fixture(scope="session", autouse=True)
def second_run_job(request, tmp_path_factory, smoke_config):
    """The session's second clean run of the smoke DAG, started in the background before the first
    test when any collected test asks for ``second_run`` (tests/test_reliability.py): through the
    Slurm profile with real sbatch when a cluster answers, locally otherwise. A Slurm run spends
    most of its wall time waiting on status polls, so it overlaps the rest of the suite. Yields a
    ``smk.BackgroundRun`` (or the exception that kept it from starting), or None when unused."""
    from . import smk

    if not any("second_run" in getattr(item, "fixturenames", ()) for item in request.session.items):
        yield None
        return
    try:
        slurm, why = smk.use_slurm()
    except RuntimeError as e:  # SFTMIX_TEST_SLURM=require without a cluster: the tests that need it fail
        yield e
        return
    wd = tmp_path_factory.mktemp("second_run")
    run = smk.BackgroundRun(wd, () if slurm else second_run_targets(smoke_config), slurm, why)
    yield run
    run.stop()
