"""Reliability: Slurm for real, retries, failures, SIGKILL resume, partial reruns, determinism.

The session's run of the smoke DAG goes end to end locally; a second clean run of the shared
training sets and one fine-tune's evaluation chain goes through the Slurm profile with real sbatch
when a cluster answers (see tests/smk.py; CI starts one), locally otherwise, and must reproduce the
first byte for byte. Both start in the background when the suite starts (conftest.background_runs).

The failure tests work on their own copy of the second run (``broken``), so the runs the other
tests read stay intact, and use the Slurm profile with the local executor: its
retries and ``rerun-incomplete`` are what is tested, without the cluster's polling latency.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from . import smk

pytestmark = pytest.mark.slow
RES = "results/smoke"
CFG = ["--configfile", str(smk.SMOKE_CONFIG)]


PROFILE_LOCAL = ["--workflow-profile", str(smk.SLURM_PROFILE), "--executor", "local", "--cores", "2"]


@pytest.fixture
def broken(second_run, tmp_path) -> Path:
    """A private copy of the second clean run (it has the models, trainsets and tag shards these
    tests break, and is done long before the smoke run) to break things in."""
    wd = tmp_path / "wd"
    shutil.copytree(second_run, wd, symlinks=True,
                    ignore=shutil.ignore_patterns("slurm_logs", "network_attempts.log", "report.zip"))
    return wd


def launcher(tmp: Path, fail_times: int) -> tuple[Path, Path]:
    """A train.launcher that fails the first ``fail_times`` attempts of every fine-tune after
    half-writing its model, then runs the real script. Returns (launcher, attempts folder)."""
    marks = tmp / "attempts"
    marks.mkdir(exist_ok=True)
    script = tmp / "flaky_launcher.py"
    script.write_text(f"""#!{sys.executable}
import os, pathlib, sys
args = sys.argv[1:]
out = pathlib.Path(args[args.index("--out") + 1])
mark = pathlib.Path({str(marks)!r}) / str(out).replace("/", "_")
n = int(mark.read_text()) if mark.exists() else 0
mark.write_text(str(n + 1))
if n < {fail_times}:
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.safetensors").write_bytes(b"half-written")
    sys.exit(f"injected failure {{n + 1}} of {fail_times} for {{out}}")
os.execv(sys.executable, [sys.executable, *args])
""")
    script.chmod(0o755)
    return script, marks


def override(tmp: Path, **train) -> list[str]:
    f = tmp / "override.yaml"
    f.write_text(json.dumps({"train": train}))
    return ["--configfile", str(smk.SMOKE_CONFIG), str(f)]


def dry_run_jobs(wd: Path, *args: str) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run would run. Targets go first in ``args``: options
    like --forcerun and --configfile take every word after them."""
    jobs = []
    for rule, block in smk.job_blocks(smk.snakemake(wd, "-n", *args).stdout):
        wc = re.search(r"^\s+wildcards: (.*)$", block, flags=re.M)
        jobs.append((rule, wc.group(1).strip() if wc else ""))
    return sorted(jobs)


def test_failed_job_is_retried_by_the_profile_and_half_written_output_is_not_kept(broken, tmp_path):
    target = f"{RES}/models/tiny/base/seed_1.train.json"
    fake, marks = launcher(tmp_path, fail_times=1)
    before = json.loads((broken / target).read_text())
    proc = smk.snakemake(broken, target, *override(tmp_path, launcher=str(fake)), *PROFILE_LOCAL,
                         "--forcerun", "finetune")
    out = proc.stdout + proc.stderr
    assert "injected failure 1 of 1" in (broken / f"{RES}/logs/finetune/tiny/base/seed_1.log").read_text() or \
        "restart" in out.lower()
    assert [m.read_text() for m in marks.iterdir()] == ["2"], "one failure, one retry"
    # the retry gets more: memory from the rule (scaled by attempt), runtime from the profile
    attempts = [dict(re.findall(r"\b(mem_mb|runtime)=(\d+)", b)) for r, b in smk.job_blocks(out) if r == "finetune"]
    assert len(attempts) == 2, attempts
    assert all(int(attempts[1][k]) == 2 * int(attempts[0][k]) for k in ("mem_mb", "runtime")), attempts
    model = broken / f"{RES}/models/tiny/base/seed_1/model.safetensors"
    assert model.read_bytes() != b"half-written" and model.stat().st_size > 10_000
    after = json.loads((broken / target).read_text())
    assert after["steps"] == before["steps"] and after["order_digest"] == before["order_digest"]


def test_always_failing_job_stops_the_run_and_names_its_log(broken, tmp_path):
    fake, marks = launcher(tmp_path, fail_times=99)
    model = f"{RES}/models/tiny/base/seed_2"
    proc = smk.snakemake(broken, f"{model}.train.json", *override(tmp_path, launcher=str(fake)),
                         *PROFILE_LOCAL, "--forcerun", "finetune", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    log = f"{RES}/logs/finetune/tiny/base/seed_2.log"
    assert "Error in rule finetune" in out and log in out, out[-3000:]
    assert [m.read_text() for m in marks.iterdir()] == ["3"], "the profile's 2 retries, then stop"
    assert "injected failure 3 of 99" in (broken / log).read_text()
    # nothing half-written is taken as done: the outputs are gone and a dry run wants the job again
    assert not (broken / model).exists() and not (broken / f"{model}.train.json").exists()
    assert ("finetune", "model=tiny, experiment=base, seed=2") in dry_run_jobs(broken, f"{model}.train.json", *CFG)


def _popen(wd: Path, *args: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(smk.command(wd, *args), stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=wd,
                            env=smk.guarded_env(wd), start_new_session=True)


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 300) -> None:
    t0 = time.time()
    while not ready():
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() - t0 < timeout, "timed out waiting for the moment to kill"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and its job, no clean-up
    proc.wait()


def test_finetune_killed_mid_run_resumes_from_its_last_checkpoint(broken, tmp_path):
    """SIGKILL the whole run while a fine-tune trains; the rerun resumes, no finished step repeats,
    and lands on the weights of the uninterrupted run."""
    from safetensors.numpy import load_file

    exp = "base/seed_1"  # the second run trains it
    ref = load_file(str(broken / f"{RES}/models/tiny/{exp}/model.safetensors"))
    ckpts = broken / f"{RES}/checkpoints/tiny/{exp}"
    target = f"{RES}/models/tiny/{exp}.train.json"

    def a_checkpoint_is_complete():
        from sftmix.sft import checkpoint_complete

        return any(checkpoint_complete(d) for d in ckpts.glob("checkpoint-*"))

    proc = _popen(broken, target, *CFG, "--cores", "1", "--forcerun", "finetune", log=tmp_path / "killed.log")
    _kill_when(proc, a_checkpoint_is_complete)
    assert not (broken / target).exists(), "killed before the fine-tune finished"
    done = {int(d.name.split("-")[1]) for d in ckpts.glob("checkpoint-*")}
    # the killed job's outputs are marked incomplete; the profile's rerun-incomplete reruns it
    smk.snakemake(broken, "--unlock", *CFG)  # a killed snakemake leaves its lock behind
    smk.snakemake(broken, target, *CFG, "--workflow-profile", str(smk.SLURM_PROFILE), "--executor", "local",
                  "--cores", "1")
    s = json.loads((broken / target).read_text())
    assert s["resumed_from"], "the rerun started from scratch"
    k = int(s["resumed_from"].rsplit("-", 1)[1])
    assert k in done and k > 0
    assert s["steps_run"] == s["steps"] - k, "steps before the checkpoint were trained again"
    logged = [h["step"] for h in s["loss_history"]]  # restored history + this run's, each step once
    every = max(1, s["steps"] // 20)  # the trainer's logging interval
    assert logged == sorted(set(logged)) and logged[-1] == s["steps"] - s["steps"] % every
    assert "resuming from" in (broken / f"{RES}/logs/finetune/tiny/{exp}.log").read_text()
    got = load_file(str(broken / f"{RES}/models/tiny/{exp}/model.safetensors"))
    assert got.keys() == ref.keys()
    worst = max(float(abs(got[n] - ref[n]).max()) for n in ref)
    print(f"\nresumed from step {k}; max weight difference to the uninterrupted run {worst:.2e}")
    assert worst < 1e-4


def test_tagging_resumes_from_its_finished_shards(broken, tmp_path):
    shards = sorted((broken / f"{RES}/tag/shards").glob("*.jsonl"))
    assert len(shards) >= 2
    for s in shards:
        s.unlink()
    targets = [str(s.relative_to(broken)) for s in shards]
    log = tmp_path / "killed.log"
    proc = _popen(broken, *targets, *CFG, "--cores", "1", log=log)
    _kill_when(proc, lambda: "(Rule: tag)" in log.read_text())  # one shard done, the next running
    finished = [s for s in shards if s.exists()]
    assert finished and len(finished) < len(shards), "kill landed before or after the shards ran"
    stamps = {s: s.stat().st_mtime_ns for s in finished}
    smk.snakemake(broken, "--unlock", *CFG)
    jobs = dry_run_jobs(broken, *targets, *CFG, "--rerun-incomplete")
    rerun = {w for r, w in jobs if r == "tag"}
    print(f"\nkilled after {len(finished)} of {len(shards)} shards; the rerun tags {sorted(rerun)}")
    assert rerun == {f"shard={s.stem}" for s in shards if s not in stamps}, "finished shards would be redone"
    smk.snakemake(broken, *targets, *CFG, "--cores", "2", "--rerun-incomplete")
    assert all(s.stat().st_mtime_ns == t for s, t in stamps.items()) and all(s.exists() for s in shards)


def _sched_jobs(seeds, names, benchmarked) -> set[tuple[str, str]]:
    """The schedule family downstream of the taxonomy: each schedule fine-tuned, scored and (when
    the config benchmarks schedules) benchmarked per seed."""
    jobs = {("schedule", f"model=tiny, name={n}, seed={s}") for n in names for s in seeds}
    for rule in ("finetune", "score", "lmeval") if benchmarked else ("finetune", "score"):
        jobs |= {(rule, f"model=tiny, experiment=sched_{n}, seed={s}") for n in names for s in seeds}
    return jobs


def test_changing_one_parameter_reruns_that_stage_and_its_dependents_only(smoke_workdir, smoke_config, tmp_path):
    """beyond_iid.analysis.alpha is the dependency test's level: the taxonomy and everything built on it
    (schedules, their fine-tunes, scores and benchmarks, the score summary and report) rerun; gamma,
    which shares the analysis section, and the mixtures do not."""
    f = tmp_path / "override.yaml"
    f.write_text(json.dumps({"beyond_iid": {"analysis": {"alpha": 0.01}}}))
    jobs = set(dry_run_jobs(smoke_workdir, "--configfile", str(smk.SMOKE_CONFIG), str(f)))
    seeds = smoke_config["train"]["seeds"]
    expected = {("dependency", "model=tiny"), ("validate_dependency", "model=tiny"), ("compare", "model=tiny"),
                ("paper_tables", ""), ("score_summary", "model=tiny"), ("all", "")} | _sched_jobs(
        seeds, smoke_config["beyond_iid"]["curriculum"]["schedules"],
        "schedule" in smoke_config["benchmarks"]["lmeval"]["families"])
    assert jobs == expected, f"unexpected: {sorted(jobs - expected)}; missing: {sorted(expected - jobs)}"


def test_forcerun_and_until_on_a_single_stage(smoke_workdir, smoke_config):
    assert dry_run_jobs(smoke_workdir, *CFG, "--forcerun", "gamma", "--until", "gamma") == [("gamma", "model=tiny")]
    # --forcerun alone: gamma and what is built from it (the EE-CPO plan, its mixtures, their models)
    jobs = set(dry_run_jobs(smoke_workdir, *CFG, "--forcerun", "gamma"))
    seeds = smoke_config["train"]["seeds"]
    sizes = smoke_config["beyond_iid"]["optimize"]["sizes"]
    expected = {("gamma", "model=tiny"), ("eecpo", "model=tiny"), ("compare", "model=tiny"),
                ("paper_tables", ""), ("score_summary", "model=tiny"), ("all", "")}
    eecpo = [m for m in smoke_config["beyond_iid"]["optimize"]["methods"] if m.startswith("eecpo")]
    expected |= {("mixture", f"model=tiny, method={m}, size={n}, seed={s}") for m in eecpo for n in sizes for s in seeds}
    benchmarked = "mixture" in smoke_config["benchmarks"]["lmeval"]["families"]
    for rule in ("finetune", "score", "lmeval") if benchmarked else ("finetune", "score"):
        expected |= {(rule, f"model=tiny, experiment=mix_{m}_{n}, seed={s}") for m in eecpo for n in sizes
                     for s in seeds}
    assert jobs == expected, f"unexpected: {sorted(jobs - expected)}; missing: {sorted(expected - jobs)}"


# Rules whose log is not written through sftmix.logutil.setup_logging, so it cannot carry the
# Slurm line (none today: finetune's script logs to stderr through it, redirected to the rule's log).
NOT_VIA_SETUP_LOGGING: frozenset[str] = frozenset()
SLURM_LINE = re.compile(r"slurm: SLURM_JOB_ID=(\d+)\b(.*)$", re.M)


def _rules_of(name: str, known: set[str]) -> list[str]:
    """Split a job group's name (``<groupid>_<rule>_<rule>...``, rules sorted) into its rules."""
    for groupid_end in [m.end() for m in re.finditer("_", name)]:
        rest, rules = name[groupid_end:], []
        while rest:
            r = max((k for k in known if rest == k or rest.startswith(k + "_")), key=len, default=None)
            if r is None:
                break
            rules.append(r)
            rest = rest[len(r) + 1:]
        if not rest and rules:
            return rules
    raise AssertionError(f"cannot split job group name {name!r} into rules of {sorted(known)}")


def slurm_submissions(out: str) -> tuple[list[dict], dict[str, dict], dict[str, str]]:
    """From a ``--verbose`` Slurm run's log: every sbatch call as ``{"rules", "call", "partition",
    "gpus", "group", "path"}``; ``{slurm_id: call}`` for every submission; and ``{snakemake_jobid:
    slurm_id}`` (last submission) of the jobs submitted on their own. A submission is tied to its
    call by the log path the executor gives sbatch (``--output .../slurm_logs/{rule,group}_<name>/
    [<wildcards>/]%j.log``), which names the rule, or the job group and its rules: calls sharing a
    path (a job group's, retries) share their rules."""
    known = {rule for _, rule in re.findall(r"^\s*(local)?rule (\w+):", out, flags=re.M)}
    calls, by_path = [], {}
    for call in re.findall(r"sbatch call: (.*)", out):
        m = re.search(r"--output '?(\S+?)/%j\.log", call)
        assert m, call[:300]
        kind, name = re.search(r"/slurm_logs/(rule|group)_([^/]+)", m.group(1)).groups()
        part = re.search(r" -p '?([\w-]+)", call)
        c = {"rules": [name] if kind == "rule" else _rules_of(name, known), "call": call, "path": m.group(1),
             "partition": part.group(1) if part else None, "group": kind == "group",
             "gpus": re.search(r"--gpus=\S+", call) is not None}
        calls.append(c)
        by_path.setdefault(c["path"], c)
    by_slurm_id, by_jobid = {}, {}
    for jobid, slurm_id, log in re.findall(r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (\S+)/\d+\.log\)",
                                           out):
        assert log in by_path, f"submission of Slurm job {slurm_id} without its sbatch call ({log})"
        by_slurm_id[slurm_id] = by_path[log]
        if not by_path[log]["group"]:
            by_jobid[jobid] = slurm_id
    return calls, by_slurm_id, by_jobid


def test_the_second_run_runs_on_slurm(second_run, smoke_config):
    """When the second run went to Slurm: every job that is not a localrule ran in a Slurm job of
    its own, or (the fine-tune, its scoring and its benchmark) in its job group's, and its log says
    so (sftmix.logutil.setup_logging writes the job's SLURM_JOB_ID and partition: the id Snakemake
    got back from that job's sbatch, the partition it asked for), while no localrule's log carries
    a Slurm job; the Slurm job holding the fine-tune, whose rule asks for a GPU, asked for --gpus
    on the gpu partition, and no other asked for a GPU; nothing is left to do afterwards and no job
    made a network call."""
    from .conftest import second_run_targets

    run = json.loads((second_run / "run.json").read_text())
    if run["executor"] != "slurm":
        pytest.skip(f"no Slurm cluster: {run['why']}")
    targets = second_run_targets(smoke_config)
    assert run["targets"] == list(targets)
    out = (second_run / "snakemake.out").read_text()
    calls = re.findall(r"sbatch call: (.*)", out)
    jobs = re.findall(r"^\s*(local)?rule (\w+):", out, flags=re.M)
    remote = [r for local, r in jobs if not local]
    grouped = [r for r in remote if r in smk.SLURM_GROUPS]
    groups = [c for c in calls if "group_eval_chain" in c]
    print(f"\nSlurm: {len(jobs)} jobs in {len(calls)} Slurm jobs ({len(groups)} job groups of {len(grouped)} "
          f"jobs), {len(jobs) - len(remote)} localrules; {run['seconds']:.0f} s")
    assert {r for _, r in jobs} >= {"world", "dedup", "tag", "base_model", "finetune", "score", "lmeval", "trainset"}
    assert sorted(grouped) == ["finetune", "lmeval", "score"] and len(groups) == 1, "one group per model"
    assert len(calls) == len(remote) - len(grouped) + len(groups) >= 6, "a job ran outside Slurm"

    # GPUs: from each job's printed resources, the rules that ask for one; then every sbatch call
    parsed, submitted, by_jobid = slurm_submissions(out)
    assert len(parsed) == len(submitted) == len(calls), "every sbatch call was submitted once"
    blocks = smk.job_blocks(out)
    gpu_of = [(rule, int(g.group(1)) if (g := re.search(r"^\s*resources: .*?\bgpu=(\d+)", b, re.M)) else 0)
              for rule, b in blocks if not re.match(r"\s*localrule ", b)]
    gpu_rules = {rule for rule, g in gpu_of if g > 0}
    assert gpu_rules == {"finetune"}, gpu_rules  # the suite's --set-resources: fine-tunes ask for a GPU
    for c in parsed:
        if gpu_rules & set(c["rules"]):
            assert c["gpus"] and c["partition"] == "gpu", f"{c['rules']} need a GPU: {c['call'][:400]}"
        else:
            assert not c["gpus"], f"{c['rules']} ask for a GPU they do not need: {c['call'][:400]}"
    assert sum(bool(gpu_rules & set(c["rules"])) for c in parsed) == remote.count("finetune") == 1
    assert [c["partition"] for c in parsed if "dedup" in c["rules"]] == ["batch"]

    # each job's log names the Slurm job it ran in; a localrule's names none
    checked = Counter()
    for rule, block in blocks:
        local = bool(re.match(r"\s*localrule ", block))
        logs = re.search(r"^\s*log: (.*)$", block, re.M)
        jobid = re.search(r"^\s*jobid: (\S+)$", block, re.M)
        assert logs, f"job of rule {rule} has no log"
        for log in logs.group(1).split(", "):
            text = (second_run / log.strip()).read_text(errors="replace")
            found = SLURM_LINE.findall(text)
            if local:
                assert "SLURM_JOB_ID" not in text, f"localrule {rule} ran inside a Slurm job: {log}"
                checked["localrule"] += 1
                continue
            if rule in NOT_VIA_SETUP_LOGGING:
                continue
            assert len(found) == 1, f"{rule}: its log {log} does not name one Slurm job: {found}"
            slurm_id, rest = found[0]
            assert slurm_id in submitted and rule in submitted[slurm_id]["rules"], \
                f"{log} names Slurm job {slurm_id}, which was not submitted for rule {rule}"
            if not submitted[slurm_id]["group"]:
                assert by_jobid.get(jobid.group(1)) == slurm_id, f"{log}: Slurm job {slurm_id} is not this job's"
            assert f"SLURM_JOB_PARTITION={submitted[slurm_id]['partition']}" in rest, (log, rest)
            checked[rule] += 1
    print(f"logs naming their Slurm job: {dict(checked)}")
    assert checked["score"] == 1 and checked["lmeval"] == 1 and checked["dedup"] == 1 and checked["localrule"] > 5
    assert "Nothing to be done" in smk.snakemake(second_run, "-n", *targets, *CFG).stdout
    assert smk.network_attempts(second_run) == []


def test_the_smoke_dag_runs_end_to_end(smoke_workdir):
    """The session's smoke run built the whole DAG (every stage family and study) and made no
    network call (test_workflow_smoke: nothing is left to do)."""
    run = json.loads((smoke_workdir / "run.json").read_text())
    out = (smoke_workdir / "snakemake.out").read_text()
    rules = {r for r, _ in smk.job_blocks(out)}
    print(f"\nsmoke DAG: {len(smk.job_blocks(out))} jobs, {run['executor']}, {run['seconds']:.0f} s")
    assert run["targets"] == ["all"] and "all" in rules
    assert rules >= {"world", "tag", "finetune", "score", "gamma", "dependency", "eecpo", "mixture", "schedule",
                     "lmeval", "compare", "paper_tables", "iterit_epoch", "im_fit", "mixing_report", "doit_finetune",
                     "doit_report"}
    assert (smoke_workdir / RES / "report" / "paper_tables.md").stat().st_size > 0
    assert smk.network_attempts(smoke_workdir) == []


def test_two_clean_runs_agree(smoke_workdir, second_run):
    """Same config, same bytes: subsets, eval sets, the candidate pool and every shared training set
    are identical (the smoke run ran locally, the second through Slurm when a cluster answers);
    the fine-tune both runs share scores the same within float tolerance."""
    from sftmix.scores import read_scores

    a, b = smoke_workdir / RES, second_run / RES
    files = sorted(p.relative_to(b) for d in ("subsets", "trainsets", "pool", "eval", "quality") for p in (b / d).rglob("*")
                   if p.is_file() and p.suffix in (".jsonl", ".json", ".tsv"))
    assert any("add_" in str(f) for f in files) and any("drop_" in str(f) for f in files)
    assert any(f.name == "deita_seed.jsonl" for f in files)  # the scorer's seed set: the pool's input
    assert any(str(f).startswith("subsets/") for f in files) and any(str(f).startswith("pool/") for f in files)
    differ = [str(f) for f in files if (a / f).read_bytes() != (b / f).read_bytes()]
    assert not differ, f"not byte-identical: {differ}"
    scores = sorted(p.relative_to(b) for p in (b / "scores").rglob("seed_*.tsv"))
    assert scores
    worst = 0.0
    for f in scores:
        ra, rb = read_scores(a / f), read_scores(b / f)
        assert [(r["id"], r["n_tokens"]) for r in ra] == [(r["id"], r["n_tokens"]) for r in rb]
        worst = max(worst, max(abs(x["nll_mean"] - y["nll_mean"]) for x, y in zip(ra, rb, strict=True)))
    print(f"\n{len(files)} data files byte-identical; {len(scores)} score tables, max |nll_mean| difference {worst:.2e}")
    assert worst <= 1e-5


def test_analyses_and_per_model_sets_rebuild_to_the_same_bytes(smoke_workdir, smoke_config, tmp_path):
    """The stages between the interaction scores and Beyond IID's per-model training sets (gamma,
    the taxonomy, quality scores, the EE-CPO plan, every mixture and schedule) rebuilt locally from
    the smoke run's own inputs give the same bytes the smoke run wrote. (Not the scorers' seed sets:
    rebuilding them retrains the scorers; the second clean run compares them. Not the studies'
    per-model sets: an IterIT epoch's set is the previous epoch's model's choice, and rebuilding it
    retrains that model.)"""
    wd = tmp_path / "wd"
    shutil.copytree(smoke_workdir, wd, symlinks=True,
                    ignore=shutil.ignore_patterns("slurm_logs", "checkpoints", "lmeval", "report.zip"))
    res = wd / RES
    rebuilt = [p for d in ("analysis", "quality/tiny", "optimize", "trainsets/tiny") for p in (res / d).rglob("*")
               if p.is_file() and p.suffix in (".tsv", ".json", ".jsonl")
               and (d != "trainsets/tiny" or p.relative_to(res / d).as_posix().startswith(("mix_", "sched_")))]
    assert any("mix_eecpo" in str(p) for p in rebuilt) and any("sched_dtcsft" in str(p) for p in rebuilt)
    assert any(p.name == "gamma.tsv" for p in rebuilt) and any(p.name == "taxonomy.tsv" for p in rebuilt)
    before = {p: p.read_bytes() for p in rebuilt}
    for p in rebuilt:
        p.unlink()
    smk.snakemake(wd, *[str(p.relative_to(wd)) for p in rebuilt], *CFG, "--cores", "2")
    differ = [str(p.relative_to(res)) for p in rebuilt if p.read_bytes() != before[p]]
    print(f"\n{len(rebuilt)} analysis files and per-model training sets rebuilt")
    assert not differ, f"not byte-identical: {differ}"
