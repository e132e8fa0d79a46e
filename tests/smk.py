"""Running the workflow from tests: local or through a real Slurm, with a network guard.

``SFTMIX_TEST_SLURM`` picks how the smoke DAG is run: ``auto`` (default: through Slurm when a
cluster answers ``sinfo``, locally otherwise), ``require`` (CI, after .ci/slurm-setup.sh: fail if no
Slurm answers), ``off`` (always local).

Every Python process of a test run (Snakemake, its jobs, Slurm job steps, and the pytest process
itself: tests/conftest.py) starts with ``tests/netguard/sitecustomize.py``: any socket connection
or name lookup outside a Unix socket (and the process's own loopback test servers) is refused and
written to ``SFTMIX_NETGUARD_LOG``, so a code path that reaches for the network fails the run and
leaves a record.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
NETGUARD_DIR = Path(__file__).resolve().parent / "netguard"
SMOKE_CONFIG = ROOT / "config/smoke.yaml"
SLURM_PROFILE = ROOT / "profiles/slurm"

# What a 2-CPU CI node needs on top of the cluster profile: no accounting (no slurmdbd, so squeue
# instead of sacct), fast status polling for a short DAG, CPUs per GPU the node can give, and the
# fine-tunes asking for a GPU (declared as a generic resource without hardware) so the GPU path of
# the executor (sbatch --gpus) is exercised for real. (--set-resources on the command line replaces
# the profile's, so the GPU partitions are repeated here.)
# Each fine-tune runs with its scoring and benchmark as one Slurm job (a Snakemake job group, one
# per model, experiment and seed), and each IterIT run's epochs (each re-selects and trains) and
# its final model as another: every Slurm job costs two Snakemake start-ups (the batch script and its srun
# step) and at least one status poll, which on this DAG of seconds-long jobs is most of the work;
# the grouped run is also the path a user takes to keep evaluation on the training allocation.
SLURM_GROUPS = {"finetune": "eval_chain", "score": "eval_chain", "lmeval": "eval_chain",
                "iterit_epoch": "iterit_chain", "iterit_model": "iterit_chain"}
SLURM_TEST_ARGS = [
    "--workflow-profile", str(SLURM_PROFILE),
    "--slurm-no-account", "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "2",
    "--latency-wait", "10", "--jobs", "8",
    "--groups", *(f"{rule}={group}" for rule, group in SLURM_GROUPS.items()),
    "--set-resources", "finetune:gpu=1", "finetune:cpus_per_gpu=1", "finetune:slurm_partition=gpu",
    "finetune:runtime=30", "score:cpus_per_gpu=1", "score:slurm_partition=gpu", "lmeval:cpus_per_gpu=1",
    "lmeval:slurm_partition=gpu",
    "score_pretrained:cpus_per_gpu=1", "tag:cpus_per_gpu=1",
]


def slurm_status() -> tuple[bool, str]:
    """(usable, why): a Slurm cluster answers and has a node that can run jobs."""
    if not shutil.which("sbatch") or not shutil.which("sinfo"):
        return False, "no sbatch/sinfo on PATH (Slurm is not installed)"
    try:
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"sinfo failed: {e}"
    states = out.stdout.split()
    if out.returncode != 0 or not states:
        return False, f"no Slurm controller answers (sinfo: {out.stderr.strip()[:200]})"
    if not any(s.rstrip("*~#").startswith(("idle", "mix", "alloc")) for s in states):
        return False, f"no usable Slurm node (states: {states})"
    return True, f"Slurm node states {states}"


def slurm_mode() -> str:
    mode = os.environ.get("SFTMIX_TEST_SLURM", "auto")
    if mode not in ("auto", "require", "off"):
        raise ValueError(f"SFTMIX_TEST_SLURM must be auto, require or off, not {mode!r}")
    return mode


def use_slurm() -> tuple[bool, str]:
    mode = slurm_mode()
    if mode == "off":
        return False, "SFTMIX_TEST_SLURM=off"
    ok, why = slurm_status()
    if mode == "require" and not ok:
        raise RuntimeError(f"SFTMIX_TEST_SLURM=require but {why}")
    return ok, why


def guarded_env(workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a guarded child process: the guard on its path (first, once), its log
    ``workdir/network_attempts.log``, the hub switches off."""
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(NETGUARD_DIR)]
    env["PYTHONPATH"] = os.pathsep.join([str(NETGUARD_DIR), *paths])
    env["SFTMIX_NETGUARD_LOG"] = str(workdir / "network_attempts.log")
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        env[var] = "1"
    env.update(extra or {})
    return env


def command(workdir: Path, *args: str) -> list[str]:
    return [*SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(workdir), *args]


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 1500,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(command(workdir, *args), capture_output=True, text=True, timeout=timeout,
                          env=env or guarded_env(workdir), cwd=workdir)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


class BackgroundRun:
    """A run of the smoke DAG (or up to ``targets``) in ``workdir``, locally or through the Slurm
    profile: started on construction, collected by ``wait``, which writes ``run.json`` (executor,
    seconds, why, targets). The log goes to ``snakemake.out``. Tests start their workflow runs this
    way before the first test, so they overlap the rest of the suite."""

    def __init__(self, workdir: Path, targets: tuple[str, ...], slurm: bool, why: str):
        self.workdir, self.targets, self.slurm, self.why = workdir, targets, slurm, why
        # targets first: options such as --configfile and --set-resources take every word after them
        args = [*targets, "--configfile", str(SMOKE_CONFIG)]
        args += [*SLURM_TEST_ARGS, "--verbose"] if slurm else ["--cores", "2"]
        self.out = workdir / "snakemake.out"
        self.t0 = time.time()
        self.proc = subprocess.Popen(command(workdir, *args), stdout=self.out.open("w"), stderr=subprocess.STDOUT,
                                     env=guarded_env(workdir), cwd=workdir, start_new_session=True)
        self.seconds: float | None = None

    @property
    def executor(self) -> str:
        return "slurm" if self.slurm else "local"

    def wait(self, timeout: float = 2400) -> Path:
        """Block until the run ends; raise with the log's tail if it failed. Writes run.json."""
        try:
            rc = self.proc.wait(timeout=max(1.0, timeout - (time.time() - self.t0)))
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"{self.executor} run in {self.workdir} still running after {timeout:.0f} s") from None
        if self.seconds is None:
            self.seconds = time.time() - self.t0
            (self.workdir / "run.json").write_text(json.dumps(
                {"executor": self.executor, "seconds": round(self.seconds, 1), "why": self.why,
                 "targets": list(self.targets) or ["all"]}))
        if rc != 0:
            raise AssertionError(f"snakemake ({self.executor}) failed ({rc}):\n{self.out.read_text()[-6000:]}")
        return self.workdir

    def stop(self) -> None:
        """End a run still going (SIGTERM: the Slurm executor cancels its jobs on the way out)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def job_blocks(out: str) -> list[tuple[str, str]]:
    """(rule, text) of every job Snakemake printed (``rule x:`` / ``localrule x:`` blocks, also
    indented inside a group job), in order."""
    blocks = []
    for block in re.split(r"\n(?=\s*(?:local)?rule \w+:)", out):
        head = re.match(r"\s*(?:local)?rule (\w+):", block)
        if head:
            blocks.append((head.group(1), block))
    return blocks


def network_attempts(workdir: Path) -> list[str]:
    """The network attempts the guarded processes of ``workdir`` made (each was refused)."""
    log = workdir / "network_attempts.log"
    return [line for line in log.read_text().splitlines() if line] if log.exists() else []
