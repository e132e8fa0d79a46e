"""Benchmark: both dependency tests (as published, seed-calibrated) over several generated worlds.

One world is one draw of items, resources and noise: an edge the tests find (or miss) on one world
may be luck. This runs the embedded default's interaction experiments (base, add_*, drop_*, every
train seed) and ``validate_dependency`` for each world seed (the config's top-level ``seed``:
world, subsets, training, everything) as its own run ``depseed_<seed>``, then tabulates per world
and test: precision, recall, the false edges and the missed ones against the planted edges, and
each test's seed-only false-positive rate (two seeds of one experiment compared as if one were an
ablation: every significant test is a false positive).

Heavy: about 46 fine-tunes per world (~40 min on 2 CPU cores each). It is a benchmark, not a test.

Usage::

    python benchmarks/dependency_world_seeds.py --seeds 20241121 1 2 --cores 2 \\
        --out benchmarks/out/dependency_world_seeds

writes ``<out>.tsv`` (one row per world and test) and ``<out>.md`` (the same, with the means).
``--collect-only`` tabulates finished runs without running anything.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("world_seed", "test", "precision", "recall", "n_edges", "tp", "fp", "fn", "seed_fp_rate")


def overlay(config: str, seed: int) -> str:
    """The run's config: ``config`` with another seed, under its own run name."""
    return f"extends: {config}\nrun: depseed_{seed}\nseed: {seed}\n"


def target_of(seed: int) -> str:
    return f"results/depseed_{seed}/validation/tiny/dependency.json"


def command(seed: int, cfg: Path, cores: int, extra: list[str]) -> list[str]:
    """The Snakemake call for one world; the target goes before ``--configfile``, which takes every
    argument after it."""
    return [sys.executable, "-m", "snakemake", target_of(seed), "--cores", str(cores), *extra,
            "--configfile", str(cfg)]


def run_world(seed: int, config: str, cores: int, extra: list[str]) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / f"depseed_{seed}.yaml"
        cfg.write_text(overlay(config, seed), encoding="utf-8")
        cmd = command(seed, cfg, cores, extra)
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True)
    return ROOT / target_of(seed)


def _edges(edges: list) -> str:
    return "; ".join(f"{a} -> {b}" for a, b in edges) or "-"


def rows_of(seed: int, validation: dict) -> list[dict]:
    out = []
    for test in ("published", "calibrated"):
        v = validation.get(test)
        if not v:
            continue
        fpr = validation.get("seed_false_positive_rate" if test == "published"
                             else "calibrated_seed_false_positive_rate")
        out.append({"world_seed": seed, "test": test, "precision": v["precision"], "recall": v["recall"],
                    "n_edges": len(v["edges"]), "tp": _edges(v["tp"]), "fp": _edges(v["fp"]),
                    "fn": _edges(v["fn"]), "seed_fp_rate": fpr})
    return out


def _fmt(x: object) -> str:
    return f"{x:.3f}" if isinstance(x, float) else "" if x is None else str(x)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[20241121, 1, 2])
    ap.add_argument("--config", default="config/config.yaml", help="the config each world's overlay extends")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/out/dependency_world_seeds")
    ap.add_argument("--collect-only", action="store_true", help="tabulate finished runs, run nothing")
    a, extra = ap.parse_known_args(argv)
    rows = []
    for seed in a.seeds:
        path = ROOT / f"results/depseed_{seed}/validation/tiny/dependency.json"
        if not a.collect_only:
            path = run_world(seed, a.config, a.cores, extra)
        if not path.exists():
            print(f"world {seed}: no {path} (not run yet)", file=sys.stderr)
            continue
        rows += rows_of(seed, json.loads(path.read_text(encoding="utf-8")))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(COLUMNS)] + ["\t".join(_fmt(r[c]) for c in COLUMNS) for r in rows]
    out.with_suffix(".tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    md = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    md += ["| " + " | ".join(_fmt(r[c]) for c in COLUMNS) + " |" for r in rows]
    for test in ("published", "calibrated"):
        sel = [r for r in rows if r["test"] == test and r["precision"] is not None]
        if sel:
            md.append(f"\n{test}: mean precision {sum(r['precision'] for r in sel) / len(sel):.3f}, mean recall "
                      f"{sum(r['recall'] for r in sel) / len(sel):.3f} over {len(sel)} worlds")
    out.with_suffix(".md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
