"""Running a rule script in the test process, as Snakemake would."""

from __future__ import annotations

import logging
import os
import runpy
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def run_rule_script(name: str, smk: Any) -> None:
    """Run scripts/<name>.py with ``smk`` as its ``snakemake`` object; undo what it sets
    process-wide (root logging, torch threads, environment variables)."""
    import torch

    root = logging.getLogger()
    handlers, level, threads, env = root.handlers[:], root.level, torch.get_num_threads(), dict(os.environ)
    try:
        runpy.run_path(str(SCRIPTS / f"{name}.py"), init_globals={"snakemake": smk})
    finally:
        for h in root.handlers[:]:
            if h not in handlers:
                h.close()
        root.handlers[:] = handlers
        root.setLevel(level)
        torch.set_num_threads(threads)
        os.environ.clear()
        os.environ.update(env)
