"""Logging for rule scripts: everything goes to the rule's log file and to stderr."""

from __future__ import annotations

import atexit
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

# What a Slurm job step's environment says about where it runs, in the order logged.
SLURM_VARS = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_STEP_ID",
              "SLURM_JOB_PARTITION", "SLURMD_NODENAME", "SLURM_JOB_NODELIST", "SLURM_JOB_GPUS")


def slurm_context(environ: Mapping[str, str] | None = None) -> str | None:
    """One line naming the Slurm job this process runs in (job id, and the array task, step,
    partition, node and GPUs where set), or None outside Slurm (no ``SLURM_JOB_ID``)."""
    env = os.environ if environ is None else environ
    if not env.get("SLURM_JOB_ID"):
        return None
    return "slurm: " + " ".join(f"{v}={env[v]}" for v in SLURM_VARS if env.get(v))


def container_context(environ: Mapping[str, str] | None = None) -> str | None:
    """One line naming the Apptainer (Singularity) image this process runs in and the Python that
    runs it (``snakemake --sdm apptainer``), or None outside one (no ``APPTAINER_CONTAINER``)."""
    env = os.environ if environ is None else environ
    image = env.get("APPTAINER_CONTAINER") or env.get("SINGULARITY_CONTAINER")
    if not image:
        return None
    return f"container: {image} python {sys.version.split()[0]} ({sys.executable})"


def setup_logging(log_path: str | Path | None, name: str = "sftmix") -> logging.Logger:
    """Configure the root logger to write to ``log_path`` (truncated) and stderr. Inside a Slurm
    job the first line names it (:func:`slurm_context`), inside a container the next line names the
    image and its Python (:func:`container_context`), so a rule's log says where it ran."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w", encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    where = slurm_context()
    if where:
        logging.getLogger("sftmix.slurm").info(where)
    image = container_context()
    if image:
        logging.getLogger("sftmix.container").info(image)
    return logging.getLogger(name)


def offline_env() -> None:
    """The default run never touches a hub: set the offline switches unless the user chose otherwise."""
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def limit_threads(n: int) -> None:
    """Cap torch/BLAS threads to the job's ``threads`` (oversubscription makes 2 cores ~5x slower)."""
    n = max(1, int(n))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:  # pragma: no cover - torch is a dependency, but the data stages do not need it
        pass


def finish(name: str, code: int = 0) -> None:
    """End a rule script's process now that its outputs are written: run the ``atexit`` handlers
    (``logging.shutdown`` closes the rule's log), flush stdout and stderr, then ``os._exit(code)``,
    skipping the interpreter's teardown.

    Why: tearing down an interpreter that imported torch and transformers (every module, a loaded
    model, ~365k objects) costs a small job more than its work. Measured on a 2-core machine, a
    score job (imports, 176 items scored, scores written) used 7.1-7.5 CPU-s with a normal exit and
    5.3-5.8 CPU-s with this one; the suite's smoke DAG runs ~100 such processes.

    ``name`` is the caller's ``__name__``: only a script that is the process's main program
    (Snakemake's ``script:`` jobs, a command line) ends here; run any other way (the tests' runpy)
    this returns. Call it last, on success: a script that raises before keeps the normal exit, with
    its traceback and a non-zero status."""
    if name != "__main__":
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing left to flush
            pass
    os._exit(code)
