"""Per-item score tables: the one home of their format, loading and shared per-seed helpers.

A score table is what the ``score`` rule writes for one fine-tuned model (one experiment, one
seed): one row per eval item, columns :data:`SCORE_COLUMNS` = ``id category split n_tokens nll_sum
nll_mean ppl`` (``split`` = the item's eval split, ``dev`` or ``test``, see :mod:`sftmix.subsets`;
``n_tokens`` = response tokens scored; ``nll_sum``/``nll_mean`` = summed / mean
response NLL; ``ppl = exp(nll_mean)``; an item without a response token has NaN scores). The
writer and the reader (:func:`write_scores`, :func:`read_scores`) are the scorer's, in
:mod:`sftmix.scoring`, and are re-exported here so that analyses need no torch-side module.

Tables are laid out as ``.../scores/<model>/<experiment>/seed_<k>.tsv``; :func:`load_score_tables`
turns a list of such paths into :data:`Scores`, ``{experiment: {seed: rows}}``, the input of the
interaction (:mod:`sftmix.studies.beyond_iid.interaction`), dependency (:mod:`sftmix.studies.beyond_iid.dependency`), comparison
(:mod:`sftmix.report`) and summary (:mod:`sftmix.summary`) analyses. The helpers below are the
pieces those analyses share: which rows count (:func:`finite_row`), which seeds and items every
table has (:func:`seeds_of`, :func:`category_items`), per-seed item matrices
(:func:`seed_matrix`) and the run-to-run noise of a category mean (:func:`run_noise_sd`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .records import read_typed_tsv, write_typed_tsv

SCORE_COLUMNS = ("id", "category", "split", "n_tokens", "nll_sum", "nll_mean", "ppl")

__all__ = [
    "SCORE_COLUMNS", "Scores", "TableIndex", "category_items", "column_by_id", "finite_row",
    "load_score_tables", "load_seed_tables", "read_scores", "read_split_scores", "run_noise_sd", "seed_category_means",
    "seed_matrix", "seed_path_key", "seeds_of", "table_index", "write_scores",
]

Scores = Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]]
"""Score tables by experiment and seed: ``{experiment: {seed: rows}}`` (seeds are strings)."""

TableIndex = dict[tuple[str, str], dict[str, float]]
"""``{(experiment, seed): {id: value}}``, see :func:`table_index`."""

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


_SCORE_INTS = frozenset({"n_tokens"})
_SCORE_FLOATS = frozenset({"nll_sum", "nll_mean", "ppl"})


def write_scores(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write score rows as UTF-8 TSV with header ``id category split n_tokens nll_sum nll_mean ppl``.

    Floats are written with ``repr`` (shortest round-trip form; ``nan``/``inf`` as such), so
    :func:`read_scores` gives back the same floats bit for bit and the same rows give the same
    bytes (:func:`sftmix.records.write_typed_tsv`). Returns the number of rows.
    """
    return write_typed_tsv(path, rows, SCORE_COLUMNS, ints=_SCORE_INTS, floats=_SCORE_FLOATS, what="scores TSV")


def read_scores(path: str | Path) -> list[dict[str, Any]]:
    """Read a TSV written by :func:`write_scores` (typed: ``n_tokens`` int, scores float)."""
    return read_typed_tsv(path, SCORE_COLUMNS, ints=_SCORE_INTS, floats=_SCORE_FLOATS, what="scores TSV")


def seed_path_key(path: str | Path) -> tuple[str, str]:
    """``(experiment, seed)`` of a per-seed result path ``.../<experiment>/seed_<k>.<ext>``
    (score tables, lm-eval tables, judge ratings). ValueError for any other file name."""
    p = Path(path)
    if not p.stem.startswith("seed_"):
        raise ValueError(f"{path}: expected <experiment>/seed_<k>.tsv")
    return p.parent.name, p.stem.removeprefix("seed_")


def load_seed_tables(paths: Iterable[str | Path], reader: Callable[[Path], T]) -> dict[str, dict[str, T]]:
    """``{experiment: {seed: reader(path)}}`` for per-seed result paths (see :func:`seed_path_key`),
    in the order of ``paths``."""
    out: dict[str, dict[str, T]] = {}
    for p in paths:
        experiment, seed = seed_path_key(p)
        out.setdefault(experiment, {})[seed] = reader(Path(p))
    return out


def read_split_scores(path: str | Path, split: str | None) -> list[dict[str, Any]]:
    """A score table's rows of one eval split (``dev`` / ``test``; None = every row). ValueError if
    the table has none: scores written before the split existed must be recomputed."""
    rows = read_scores(path)
    if split is None:
        return rows
    kept = [r for r in rows if r["split"] == split]
    if not kept:
        raise ValueError(f"{path}: no {split!r} rows (column split holds {sorted({r['split'] for r in rows})})")
    return kept


def load_score_tables(paths: Iterable[str | Path], split: str | None = None
                      ) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Score TSVs laid out as ``.../<experiment>/seed_<k>.tsv`` -> ``{experiment: {seed: rows}}``;
    with ``split`` only the rows of that eval split (:func:`read_split_scores`)."""
    return load_seed_tables(paths, lambda path: read_split_scores(path, split))


# ---------------------------------------------------------------------------------------------
# Rows and tables
# ---------------------------------------------------------------------------------------------

def finite_row(row: Mapping[str, Any], column: str = "nll_mean") -> bool:
    """Whether a score row counts: at least one response token and a finite ``column``."""
    return int(row["n_tokens"]) > 0 and math.isfinite(float(row[column]))


def column_by_id(rows: Iterable[Mapping[str, Any]], column: str) -> dict[str, float]:
    """``{id: float(row[column])}`` of one table (every row, finite or not)."""
    return {str(r["id"]): float(r[column]) for r in rows}


def seeds_of(scores: Scores, experiment: str) -> list[str]:
    """The seeds of ``experiment`` that have a table, in a stable order (numeric when possible)."""
    tables = scores.get(experiment) or {}
    return sorted((s for s, rows in tables.items() if rows),
                  key=lambda s: (0, int(s), s) if str(s).isdigit() else (1, 0, str(s)))


def category_items(scores: Scores, categories: Sequence[str]) -> dict[str, list[str]]:
    """Per category, the sorted ids of the eval items scored in every table of ``scores``.

    An item counts when its row has ``n_tokens > 0`` and a finite ``nll_mean`` in every
    (experiment, seed) table, so all comparisons use the same items. Rows of categories not in
    ``categories`` are ignored.
    """
    wanted = set(categories)
    cat_of: dict[str, str] = {}
    good: set[str] | None = None
    for experiment in sorted(scores):
        for seed in seeds_of(scores, experiment):
            ok = set()
            for r in scores[experiment][seed]:
                if r["category"] in wanted and finite_row(r, "nll_mean"):
                    rid = str(r["id"])
                    cat_of.setdefault(rid, r["category"])
                    ok.add(rid)
            good = ok if good is None else good & ok
    out: dict[str, list[str]] = {c: [] for c in categories}
    for rid in sorted(good or ()):
        out[cat_of[rid]].append(rid)
    return out


def table_index(scores: Scores, column: str) -> TableIndex:
    """``{(experiment, seed): {id: float(row[column])}}`` for every table, built once so that
    repeated :func:`seed_matrix` calls do not re-scan the rows."""
    return {(e, s): column_by_id(scores[e][s], column) for e in scores for s in seeds_of(scores, e)}


def seed_matrix(scores: Scores, experiment: str, ids: Sequence[str], column: str,
                index: TableIndex | None = None) -> np.ndarray:
    """``(n_seeds, len(ids))`` array of ``column`` for ``ids`` in each seed table of ``experiment``
    (seeds in :func:`seeds_of` order). Every id must be present (see :func:`category_items`).
    ``index``: a :func:`table_index` of the same ``column`` to reuse."""
    seeds = seeds_of(scores, experiment)
    out = np.empty((len(seeds), len(ids)), dtype=float)
    for a, seed in enumerate(seeds):
        if index is not None:
            table = index[(experiment, seed)]
        else:
            table = column_by_id(scores[experiment][seed], column)
        out[a] = [table[i] for i in ids]
    return out


def seed_category_means(scores: Scores, experiment: str, ids: Sequence[str], column: str,
                        index: TableIndex | None = None) -> np.ndarray:
    """Per-seed means of ``column`` over the items ``ids`` (one category's items) for
    ``experiment``: a length-``n_seeds`` array in :func:`seeds_of` order."""
    return seed_matrix(scores, experiment, ids, column, index).mean(axis=1)


def run_noise_sd(scores: Scores, categories: Sequence[str], *, column: str = "nll_mean",
                 items: Mapping[str, Sequence[str]] | None = None,
                 index: TableIndex | None = None) -> dict[str, Any]:
    """Run-to-run (seed) sd of a category mean, from replicates of identical experiments.

    For every experiment with ``S_e >= 2`` seed tables and every category j, the category means
    ``m_es = mean_k column(e, s, jk)`` differ only by training randomness. The pooled within-
    experiment variance ``sigma_j^2 = sum_e sum_s (m_es - mean_s m_es)^2 / sum_e (S_e - 1)`` is
    the variance of one run's category mean around its expectation (for two seeds it is
    ``d^2 / 2`` with ``d`` the seed-2 minus seed-1 difference). Returns ``{"sigma": {cat: sd or
    NaN}, "df": {cat: int}, "sigma_pooled": sd over all categories (NaN without replicates),
    "df_pooled": int, "replicated": [experiments with >= 2 seeds]}``. The sd is the same for
    rho = -column (a sign flip).
    """
    items = category_items(scores, categories) if items is None else items
    index = table_index(scores, column) if index is None else index
    replicated = [e for e in sorted(scores) if len(seeds_of(scores, e)) >= 2]
    sigma: dict[str, float] = {}
    dfs: dict[str, int] = {}
    ss_all, df_all = 0.0, 0
    for c in categories:
        ids = list(items.get(c, []))
        ss, df = 0.0, 0
        if ids:
            for e in replicated:
                means = seed_category_means(scores, e, ids, column, index)
                ss += float(((means - means.mean()) ** 2).sum())
                df += len(means) - 1
        sigma[c] = math.sqrt(ss / df) if df > 0 else float("nan")
        dfs[c] = df
        ss_all += ss
        df_all += df
    return {"sigma": sigma, "df": dfs,
            "sigma_pooled": math.sqrt(ss_all / df_all) if df_all > 0 else float("nan"),
            "df_pooled": df_all, "replicated": replicated}
