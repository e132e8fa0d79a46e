"""Partial reruns on a finished smoke run: a new seed trains only that seed; editing one library
module reruns exactly the stages whose scripts import it (and what is built from their outputs)."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from sftmix.codedeps import library_files
from sftmix.experiments import declared_experiments, experiment_family, seeds_of, study_models

from . import smk
from .test_architecture import rule_scripts

pytestmark = pytest.mark.slow
ROOT = smk.ROOT
CFG = ["--configfile", str(smk.SMOKE_CONFIG)]


def dry_run(wd: Path, *args: str, snakefile: Path | None = None) -> list[tuple[str, str, str]]:
    """(rule, wildcards, reason) of every job a dry run lists."""
    return [(r, w, reason) for r, w, reason, _ in dry_run_jobs(wd, *args, snakefile=snakefile)]


def dry_run_jobs(wd: Path, *args: str, snakefile: Path | None = None) -> list[tuple[str, str, str, str]]:
    """(rule, wildcards, reason, inputs) of every job a dry run lists."""
    cmd = smk.command(wd, "-n", *args)
    if snakefile is not None:
        cmd[cmd.index("-s") + 1] = str(snakefile)
    import subprocess

    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=smk.guarded_env(wd), cwd=wd)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = []
    for rule, block in smk.job_blocks(proc.stdout):
        wc = re.search(r"^\s+wildcards: (.*)$", block, flags=re.M)
        reason = re.search(r"^\s+reason: (.*)$", block, flags=re.M)
        inputs = re.search(r"^\s+input: (.*)$", block, flags=re.M)
        jobs.append((rule, wc.group(1).strip() if wc else "", reason.group(1).strip() if reason else "",
                     inputs.group(1).strip() if inputs else ""))
    return sorted(jobs)


def test_adding_a_seed_trains_only_the_new_seed(smoke_workdir, smoke_config, tmp_path):
    """seeds [1, 2] -> [1, 2, 3]: every experiment gets a seed-3 fine-tune, score (and benchmark);
    no seed 1/2 model is retrained except those built from what the new seed changes: the gamma
    matrix (so EE-CPO's plan and its mixtures) and the taxonomy (so the schedules). Nothing upstream
    of the fine-tunes reruns."""
    f = tmp_path / "seeds.yaml"
    f.write_text(json.dumps({"train": {"seeds": [1, 2, 3]}}))
    jobs = {(r, w) for r, w, _ in dry_run(smoke_workdir, *CFG, str(f))}
    cfg = smoke_config
    models = study_models(cfg, "beyond_iid")  # DoIT's extra sizes train DoIT's own seeds only
    benchmarked = set(declared_experiments(cfg, cfg["benchmarks"]["lmeval"]["families"]))
    rebuilt = {e for e in declared_experiments(cfg, ["mixture", "schedule"])
               if e.startswith(("mix_eecpo", "sched_"))}
    expected = {("gamma", f"model={m}") for m in models} | {("dependency", f"model={m}") for m in models}
    expected |= {("validate_dependency", f"model={m}") for m in models} | {("eecpo", f"model={m}") for m in models}
    expected |= {(r, f"model={m}") for m in models for r in ("score_summary", "compare")}
    expected |= {("paper_tables", ""), ("all", "")}
    # mixtures and schedules are drawn per seed: seed 3 gets its own draw of every one; the EE-CPO
    # mixtures (from gamma) and the schedules (from the taxonomy) are redrawn for every seed
    opt = cfg["beyond_iid"]["optimize"]
    expected |= {("mixture", f"model={m}, method={x}, size={n}, seed={s}") for m in models for n in opt["sizes"]
                 for x in opt["methods"] for s in ([1, 2, 3] if x.startswith("eecpo") else [3])}
    expected |= {("schedule", f"model={m}, name={n}, seed={s}") for m in models
                 for n in cfg["beyond_iid"]["curriculum"]["schedules"] for s in (1, 2, 3)}
    # families with their own seeds (IterIT's iterit.seeds) gain none
    grown = [e for e in declared_experiments(cfg) if seeds_of(e, {**cfg, "train": {**cfg["train"], "seeds": [1, 2, 3]}})
             != seeds_of(e, cfg)]
    assert not any(experiment_family(e) in ("iterit", "selection") for e in grown)
    for m in models:
        for e in grown:
            seeds = [1, 2, 3] if e in rebuilt else [3]
            rules = ("finetune", "score", "lmeval") if e in benchmarked else ("finetune", "score")
            expected |= {(r, f"model={m}, experiment={e}, seed={s}") for r in rules for s in seeds}
    new_finetunes = sum(1 for r, w in jobs if r == "finetune" and w.endswith("seed=3"))
    old_finetunes = sum(1 for r, w in jobs if r == "finetune" and not w.endswith("seed=3"))
    print(f"\nseeds [1, 2] -> [1, 2, 3]: {len(jobs)} jobs, {new_finetunes} seed-3 fine-tunes, "
          f"{old_finetunes} seed-1/2 fine-tunes downstream of gamma/taxonomy")
    assert jobs == expected, f"unexpected: {sorted(jobs - expected)}; missing: {sorted(expected - jobs)}"
    assert new_finetunes == len(grown) * len(models)


def _workflow_copy(dst: Path) -> Path:
    """The workflow's code in ``dst`` with its files' modification times (Snakefile, rules, scripts,
    the library, configs, report captions)."""
    for name in ("Snakefile",):
        shutil.copy2(ROOT / name, dst / name)
    for d in ("rules", "scripts", "sftmix", "config", "envs", "report"):
        shutil.copytree(ROOT / d, dst / d, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return dst / "Snakefile"


def test_editing_a_library_module_reruns_exactly_the_stages_that_import_it(smoke_workdir, tmp_path):
    """A copy of the workflow whose ``sftmix/<module>.py`` is newer than every output: the jobs that
    rerun *because of that file* are exactly the jobs of rules whose scripts import it (directly or
    through other modules); every other listed job reruns only because an input is rebuilt."""
    module = "scoring"  # scoring, quality, EE-CPO and mixtures import it; data stages and gamma do not
    code = tmp_path / "code"
    code.mkdir()
    snakefile = _workflow_copy(code)
    edited = code / "sftmix" / f"{module}.py"
    future = time.time() + 3600
    os.utime(edited, (future, future))
    args = ["--configfile", str(code / "config/smoke.yaml"), "--rerun-triggers", "mtime"]
    # the rules of the smoke DAG: every job the session's run printed
    in_dag = {r for r, _ in smk.job_blocks((smoke_workdir / "snakemake.out").read_text())}
    jobs = dry_run_jobs(smoke_workdir, *args, snakefile=snakefile)
    # a job that runs the edited file (declared input) reruns; Snakemake names only one reason per
    # job, so a job that also waits on a rebuilt input says "updated by another job"
    direct = {r for r, _, _, inputs in jobs if str(edited) in inputs.split(", ")}
    importers = {rule for rule, (script, _) in rule_scripts().items()
                 if script and str(ROOT / "sftmix" / f"{module}.py") in library_files(ROOT / "scripts" / f"{script}.py",
                                                                                      ROOT / "sftmix")}
    if "score" in importers:
        importers.add("score_pretrained")  # `use rule score as score_pretrained`
    expected = importers & in_dag
    print(f"\nsftmix/{module}.py edited: {len(jobs)} jobs; rerun because of it: {sorted(direct)}")
    assert expected, f"no rule of the smoke DAG imports {module}: pick another module"
    assert direct == expected, f"unexpected: {sorted(direct - expected)}; missing: {sorted(expected - direct)}"
    others = [(r, reason) for r, _, reason, inputs in jobs if str(edited) not in inputs.split(", ") and r != "all"]
    assert all(reason.startswith("Input files updated by another job") for _, reason in others), others[:5]


def test_where_a_fine_tune_runs_does_not_retrain_it(smoke_workdir, tmp_path):
    """train.threads, mem_mb, runtime and launcher say where and how a fine-tune runs, not what it
    learns: changing them leaves every finished job as it is."""
    import sys

    f = tmp_path / "runtime.yaml"
    f.write_text(json.dumps({"train": {"threads": 2, "mem_mb": 1234, "runtime": 99, "launcher": sys.executable}}))
    jobs = dry_run(smoke_workdir, *CFG, str(f))
    assert jobs == [], f"would rerun: {jobs[:10]}"
