"""Logging for rule scripts: everything goes to the rule's log file and to stderr."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path


def setup_logging(log_path: str | Path | None, name: str = "sftmix") -> logging.Logger:
    """Configure the root logger to write to ``log_path`` (truncated) and stderr."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w", encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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
