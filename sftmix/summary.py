"""Aggregate per-item score tables into per-category means."""

from __future__ import annotations

import math
import statistics
from typing import Any


def summarize_scores(tables: dict[tuple[str, str], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per (experiment, seed, category): n_items, mean and sd of the items' mean response NLL,
    mean PPL. Items without a response token (NaN) are left out of the means and counts."""
    out = []
    for (experiment, seed), rows in tables.items():
        by_cat: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            if r["n_tokens"] and math.isfinite(r["nll_mean"]):
                by_cat.setdefault(r["category"], []).append(r)
        for cat in sorted(by_cat):
            v = [r["nll_mean"] for r in by_cat[cat]]
            out.append({"experiment": experiment, "seed": seed, "category": cat, "n_items": len(v),
                        "mean_nll": statistics.fmean(v), "sd_nll": statistics.stdev(v) if len(v) > 1 else 0.0,
                        "mean_ppl": statistics.fmean(r["ppl"] for r in by_cat[cat])})
    return out


def read_summary(path: str) -> list[dict[str, Any]]:
    import csv

    with open(path, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for r in rows:
        for k in ("mean_nll", "sd_nll", "mean_ppl"):
            r[k] = float(r[k])
        r["n_items"] = int(r["n_items"])
    return rows


def load_score_tables(paths: list[str]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Score TSVs laid out as ``.../<experiment>/seed_<k>.tsv`` -> {experiment: {seed: rows}}."""
    from pathlib import Path

    from .scoring import read_scores

    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for p in paths:
        path = Path(p)
        if not path.stem.startswith("seed_"):
            raise ValueError(f"{p}: expected <experiment>/seed_<k>.tsv")
        out.setdefault(path.parent.name, {})[path.stem.removeprefix("seed_")] = read_scores(path)
    return out
