import os
import shutil
import tempfile
from pathlib import Path

import pytest

from .netguard import sitecustomize as netguard

# The test suite never reaches a hub.
for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(var, "1")

# The suite oversubscribes its cores by design (its Slurm node offers 8 CPU slots on a 2-core CI
# machine, and the session's runs overlap the tests): OpenMP threads that spin while they wait
# then burn the CPU the other processes need. Measured here, a 2-thread torch loop beside two busy
# processes: 16.6-21.9 CPU-s spinning against 7.6-7.9 CPU-s passive (alone: 7.3 vs 7.2 CPU-s,
# passive 10% slower in wall time). Every process of a test run inherits this (set before torch).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
NETGUARD_DIR = Path(netguard.__file__).resolve().parent
_NETGUARD_LOG = pytest.StashKey[Path]()


def pytest_sessionstart(session):
    """Every process of a test run is guarded (tests/netguard/sitecustomize.py): this one from
    here on, and every Python subprocess a test starts, through the environment it inherits
    (workflow runs get their own log from ``smk.guarded_env``). The session's log is checked in
    ``pytest_sessionfinish``: one attempt fails the run."""
    log = Path(tempfile.mkdtemp(prefix="sftmix-netguard-")) / "network_attempts.log"
    netguard.install(log)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(NETGUARD_DIR)]
    os.environ["PYTHONPATH"] = os.pathsep.join([str(NETGUARD_DIR), *paths])
    os.environ[netguard.LOG_VAR] = str(log)
    session.config.stash[_NETGUARD_LOG] = log


def pytest_sessionfinish(session, exitstatus):
    log = session.config.stash.get(_NETGUARD_LOG, None)
    attempts = netguard.attempts(log)
    if log is not None and not attempts:
        shutil.rmtree(log.parent, ignore_errors=True)
    if attempts:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        msg = (f"network guard: {len(attempts)} network attempt(s) by the pytest process or a "
               f"subprocess of a test (log {log}):\n" + "\n".join(attempts[:20]))
        if reporter is not None:
            reporter.write_sep("=", "network guard", red=True)
            reporter.write_line(msg)
        else:
            print(msg)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def load_config(name: str) -> dict:
    """config/<name> as a run sees it: overlays resolved, validated, schema defaults filled."""
    from sftmix.config import load_config as load

    return load(ROOT / "config" / name, ROOT / "config/schemas/config.schema.yaml", ROOT)


@pytest.fixture(scope="session")
def smoke_config() -> dict:
    return load_config("smoke.yaml")


def pytest_collection_modifyitems(session, config, items):
    """Tests that need the session's smoke run go last (in their collected order): every other test
    then runs while the smoke run is still going (``background_runs``), and only the tests that
    check what it made wait for it."""
    items.sort(key=lambda item: "smoke_workdir" in getattr(item, "fixturenames", ()))


def _wanted(session, fixture: str) -> bool:
    """Does any collected test need ``fixture`` (directly or through another fixture)?"""
    return any(fixture in getattr(item, "fixturenames", ()) for item in session.items)


def second_run_targets(config: dict) -> tuple[str, ...]:
    """What the second clean run builds: every shared training set and the eval subsets (what the
    determinism test compares byte for byte), the base experiment's first-seed model with its
    scores and its lm-eval benchmark (one fine-tune's whole evaluation chain: on a cluster, one
    Slurm job group asking for a GPU) and the tag shards the failure tests break. Not the other
    fine-tunes: the analyses and the per-model training sets are rebuilt from the smoke run's own
    inputs instead (``test_analyses_and_per_model_sets_rebuild_to_the_same_bytes``), which costs
    seconds, not a second pass over every model of the DAG on a 2-core machine."""
    from sftmix.experiments import REGISTRY, declared_experiments, trainset_file

    res = f"results/{config['run']}"
    seed = config["train"]["seeds"][0]
    models = REGISTRY["interaction"].models_of(config)[:1]  # Beyond IID's first base model
    targets = [trainset_file(res, model, e) for model in models for e in declared_experiments(config, ["interaction"])]
    targets += [f"{res}/{kind}/{model}/base/seed_{seed}.{ext}" for model in models
                for kind, ext in (("scores", "tsv"), ("lmeval", "json"))]
    targets += [f"{res}/pool/records.jsonl"]
    return tuple(dict.fromkeys(targets))


@pytest.fixture(scope="session", autouse=True)
def background_runs(request, tmp_path_factory, smoke_config):
    """The session's two clean runs, started in the background before the first test so they
    overlap the rest of the suite and each other:

    - ``smoke``: the whole smoke DAG, locally (``--cores 2``; ``smoke_workdir``): every rule and
      script of the default DAG, at the cost of its work and one process per job;
    - ``second``: a second clean run of the shared training sets and one fine-tune's evaluation
      chain (``second_run_targets``; the determinism, failure and Slurm tests) through the Slurm
      profile with real sbatch when a cluster answers (``smk.use_slurm``), locally otherwise.

    Why the cluster gets the small run: on Slurm every job pays two Snakemake start-ups (its batch
    script and its srun step) and a status poll, which on the smoke DAG's seconds-long jobs was
    most of the work (measured on this 2-core machine: 917 s for the smoke DAG through Slurm, 513 s
    locally). The Slurm path is the same for one job group as for fifty.

    Each is a ``smk.BackgroundRun``, or the exception that kept it from starting (Slurm required
    but absent); a run no collected test needs is not started."""
    from . import smk

    runs: dict[str, object] = {}
    reuse = os.environ.get("SFTMIX_TEST_SMOKE_DIR")
    if _wanted(request.session, "smoke_workdir") and not (reuse and (Path(reuse) / "run.json").exists()):
        runs["smoke"] = smk.BackgroundRun(tmp_path_factory.mktemp("smoke"), (), False, "the smoke run is local")
    if _wanted(request.session, "second_run"):
        try:
            slurm, why = smk.use_slurm()
        except RuntimeError as e:  # SFTMIX_TEST_SLURM=require without a cluster: the run's tests fail
            runs["second"] = e
        else:
            runs["second"] = smk.BackgroundRun(tmp_path_factory.mktemp("second_run"),
                                               second_run_targets(smoke_config), slurm, why)
    yield runs
    for run in runs.values():
        if isinstance(run, smk.BackgroundRun):
            run.stop()


@pytest.fixture(scope="session")
def smoke_workdir(background_runs) -> Path:
    """The smoke DAG end to end, run locally once per session (started in the background by
    ``background_runs``). Returns the working directory."""
    reuse = os.environ.get("SFTMIX_TEST_SMOKE_DIR")  # developers: a finished smoke run to reuse
    if reuse and (Path(reuse) / "run.json").exists():
        return Path(reuse)
    run = background_runs["smoke"]
    wd = run.wait()
    print(f"\nsmoke DAG (local) took {run.seconds:.0f} s")
    return wd


@pytest.fixture(scope="session")
def smoke_run(smoke_workdir) -> Path:
    """The smoke run's results folder."""
    return smoke_workdir / "results" / "smoke"


@pytest.fixture(scope="session")
def second_run(background_runs) -> Path:
    """The second clean run (``second_run_targets``; through Slurm when a cluster answers), started
    in the background by ``background_runs``. Tests must not change it: copy it first."""
    run = background_runs["second"]
    if isinstance(run, Exception):
        raise run
    wd = run.wait()
    print(f"\nsecond clean run ({run.executor}: {run.why}): {run.seconds:.0f} s")
    return wd
