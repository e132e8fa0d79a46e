"""Aggregate per-item score tables into per-category means (``scores/<model>/summary.tsv``)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .records import read_typed_tsv, write_typed_tsv
from .scores import finite_row, read_scores, seed_path_key

SUMMARY_COLUMNS = ("experiment", "seed", "category", "n_items", "mean_nll", "sd_nll", "mean_ppl")
_SUMMARY_INTS = frozenset({"n_items"})
_SUMMARY_FLOATS = frozenset({"mean_nll", "sd_nll", "mean_ppl"})


def summary_tables(pretrained: str | Path, score_paths: Iterable[str | Path]
                   ) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The score tables of one model keyed ``(experiment, seed)``: the pretrained model's as
    ``("pretrained", "-")``, then every ``.../<experiment>/seed_<k>.tsv`` in ``score_paths``."""
    tables = {("pretrained", "-"): read_scores(pretrained)}
    for p in score_paths:
        tables[seed_path_key(p)] = read_scores(p)
    return tables


def summarize_scores(tables: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Per (experiment, seed, category): n_items, mean and sd of the items' mean response NLL,
    mean PPL. Items without a response token (NaN) are left out of the means and counts
    (:func:`sftmix.scores.finite_row`)."""
    out = []
    for (experiment, seed), rows in tables.items():
        by_cat: dict[str, list[Mapping[str, Any]]] = {}
        for r in rows:
            if finite_row(r, "nll_mean"):
                by_cat.setdefault(r["category"], []).append(r)
        for cat in sorted(by_cat):
            v = [r["nll_mean"] for r in by_cat[cat]]
            out.append({"experiment": experiment, "seed": seed, "category": cat, "n_items": len(v),
                        "mean_nll": statistics.fmean(v), "sd_nll": statistics.stdev(v) if len(v) > 1 else 0.0,
                        "mean_ppl": statistics.fmean(r["ppl"] for r in by_cat[cat])})
    return out


def write_summary(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write :func:`summarize_scores` rows as TSV with header :data:`SUMMARY_COLUMNS` (floats with
    6 decimals). Read it back with :func:`read_summary`. Returns the number of rows."""
    return write_typed_tsv(path, rows, SUMMARY_COLUMNS, ints=_SUMMARY_INTS, floats=_SUMMARY_FLOATS,
                           float_format=".6f", what="score summary TSV")


def read_summary(path: str | Path) -> list[dict[str, Any]]:
    """Read a TSV written by :func:`write_summary` (``n_items`` int, means and sd float)."""
    return read_typed_tsv(path, SUMMARY_COLUMNS, ints=_SUMMARY_INTS, floats=_SUMMARY_FLOATS,
                          what="score summary TSV")
