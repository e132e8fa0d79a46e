"""Rule logs say where a job ran: inside a Slurm job, setup_logging's first line names it."""

import logging

import pytest

from sftmix.logutil import setup_logging, slurm_context


@pytest.fixture
def root_logger():
    """setup_logging replaces the root logger's handlers: put back what was there."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    for h in root.handlers:
        if h not in handlers:
            h.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_slurm_context_names_the_job_and_only_inside_one():
    env = {"SLURM_JOB_ID": "42", "SLURM_STEP_ID": "0", "SLURM_JOB_PARTITION": "gpu", "SLURMD_NODENAME": "n1",
           "SLURM_JOB_NODELIST": "n1", "SLURM_JOB_GPUS": "0", "SLURM_CPUS_ON_NODE": "8"}
    assert slurm_context(env) == ("slurm: SLURM_JOB_ID=42 SLURM_STEP_ID=0 SLURM_JOB_PARTITION=gpu "
                                  "SLURMD_NODENAME=n1 SLURM_JOB_NODELIST=n1 SLURM_JOB_GPUS=0")
    assert slurm_context({"SLURM_JOB_ID": "7"}) == "slurm: SLURM_JOB_ID=7"
    assert slurm_context({"SLURM_JOB_PARTITION": "gpu"}) is None  # no job id: not inside a job
    assert slurm_context({}) is None


def test_setup_logging_writes_the_slurm_line_first_inside_a_job(tmp_path, monkeypatch, root_logger):
    for var in ("SLURM_JOB_ID", "SLURM_STEP_ID", "SLURM_JOB_PARTITION", "SLURMD_NODENAME", "SLURM_JOB_NODELIST",
                "SLURM_JOB_GPUS", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(var, raising=False)
    setup_logging(tmp_path / "local.log").info("hello")
    assert "SLURM" not in (tmp_path / "local.log").read_text()
    monkeypatch.setenv("SLURM_JOB_ID", "123")
    monkeypatch.setenv("SLURM_JOB_PARTITION", "batch")
    setup_logging(tmp_path / "job.log").info("hello")
    lines = (tmp_path / "job.log").read_text().splitlines()
    assert lines[0].endswith("sftmix.slurm: slurm: SLURM_JOB_ID=123 SLURM_JOB_PARTITION=batch") and "hello" in lines[1]
