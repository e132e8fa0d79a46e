"""Rule logs say where a job ran: inside a Slurm job, setup_logging's first line names it."""

import logging
import sys

import pytest

from sftmix.logutil import container_context, setup_logging, slurm_context


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


def test_setup_logging_names_the_container_image_and_its_python_inside_one(tmp_path, monkeypatch, root_logger):
    """Under `snakemake --sdm apptainer` Apptainer sets APPTAINER_CONTAINER in the job: the rule's
    log names the image and the Python running the job (the image's, not the host's venv)."""
    for var in ("APPTAINER_CONTAINER", "SINGULARITY_CONTAINER", "SLURM_JOB_ID"):
        monkeypatch.delenv(var, raising=False)
    assert container_context() is None
    setup_logging(tmp_path / "host.log").info("hello")
    assert "container:" not in (tmp_path / "host.log").read_text()
    monkeypatch.setenv("APPTAINER_CONTAINER", "/work/container/sftmix.sif")
    setup_logging(tmp_path / "job.log").info("hello")
    lines = (tmp_path / "job.log").read_text().splitlines()
    python = sys.version.split()[0]
    assert lines[0].endswith(f"sftmix.container: container: /work/container/sftmix.sif python {python} ({sys.executable})")
    assert "hello" in lines[1]
    assert container_context({"SINGULARITY_CONTAINER": "old.sif"}).startswith("container: old.sif python ")


def test_finish_flushes_runs_atexit_and_exits_with_the_code(tmp_path):
    """finish() ends a script's process without interpreter teardown, but nothing it wrote is lost:
    the log file is complete, buffered stdout arrives, atexit handlers run, the status is kept."""
    import subprocess
    import sys

    log, mark = tmp_path / "job.log", tmp_path / "atexit.txt"
    script = tmp_path / "job.py"
    script.write_text(f"""
import atexit, pathlib, sys
from sftmix.logutil import finish, setup_logging
atexit.register(lambda: pathlib.Path({str(mark)!r}).write_text("ran"))
log = setup_logging({str(log)!r})
log.info("last line")
sys.stdout.write("no newline, still buffered")
finish("not main")  # run another way (the tests' runpy): returns
finish(__name__, int(sys.argv[1]))
sys.stdout.write("never reached")
""")
    for code in (0, 3):
        mark.unlink(missing_ok=True)
        proc = subprocess.run([sys.executable, str(script), str(code)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == code, proc.stderr
        assert proc.stdout == "no newline, still buffered"
        assert log.read_text().rstrip().endswith("last line") and mark.read_text() == "ran"
