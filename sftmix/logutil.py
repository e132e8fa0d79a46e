"""Logging for rule scripts: everything goes to the rule's log file and to stderr."""

from __future__ import annotations

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


def setup_logging(log_path: str | Path | None, name: str = "sftmix") -> logging.Logger:
    """Configure the root logger to write to ``log_path`` (truncated) and stderr. Inside a Slurm
    job the first line names it (:func:`slurm_context`), so a rule's log says where it ran."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w", encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    where = slurm_context()
    if where:
        logging.getLogger("sftmix.slurm").info(where)
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
