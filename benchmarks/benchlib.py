"""What every benchmark script records about where it ran, and how it writes its result."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def load_config(path: Path) -> dict[str, Any]:
    """A workflow config with its ``extends`` chain resolved and the train section's schema
    defaults filled in (what the Snakefile would hand the rules)."""
    from sftmix.config import resolve_extends

    cfg = resolve_extends(yaml.safe_load(Path(path).read_text(encoding="utf-8")), ROOT)
    schema = yaml.safe_load((ROOT / "config/schemas/config.schema.yaml").read_text(encoding="utf-8"))
    train = {k: v["default"] for k, v in schema["properties"]["train"]["properties"].items() if "default" in v}
    cfg["train"] = {**train, **cfg.get("train", {})}
    return cfg


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
