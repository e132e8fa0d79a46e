"""What every benchmark script records about where it ran, and how it writes its result."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def load_config(path: Path) -> dict[str, Any]:
    """The config a workflow run sees (:func:`sftmix.config.load_config`: ``extends`` resolved,
    validated, schema defaults filled)."""
    from sftmix.config import load_config as workflow_config

    return workflow_config(path, ROOT / "config/schemas/config.schema.yaml", ROOT)


def environment(load_start: float) -> dict[str, Any]:
    """The interpreter, torch, CPU count and load (a busy machine makes every timing slower)."""
    import torch

    return {"torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
            "loadavg_1min_at_start": round(load_start, 2), "loadavg_1min_at_end": round(os.getloadavg()[0], 2)}


def emit(result: dict[str, Any], out: Path | None) -> dict[str, Any]:
    """Print ``result`` as JSON and write it to ``out`` when given."""
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
    return result
