"""The rule-estimation table (InstructMining Sec. 3.1): one row per fused dataset, its indicators
(the means over its samples, Table 1) and its fine-tuned model's eval loss (Eq. 1: quality is
proportional to minus the inference loss on a fixed, clean eval set).

The table is the one format every rule fit reads (:func:`sftmix.studies.instructmining.rule.read_indicator_table`):
the study writes it for each base model, the paper's Tables 20-21 ship in it, and a user's own runs
can be dropped in as it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ...scores import load_score_tables
from ...subsets import DEV
from .indicators import dataset_indicators


def eval_loss(rows: Iterable[Mapping[str, Any]], exclude: set[str] = frozenset()) -> tuple[float, int]:
    """The inference loss of one model (Eq. 1's L): the token-weighted mean response NLL over the
    score rows given (one eval split), leaving out ``exclude`` (defective eval items) and rows
    without tokens. Returns ``(loss, n_items)``; NaN when no row counts."""
    nll = tokens = 0.0
    n = 0
    for r in rows:
        if r["id"] in exclude or r["n_tokens"] <= 0 or not math.isfinite(r["nll_sum"]):
            continue
        nll += r["nll_sum"]
        tokens += r["n_tokens"]
        n += 1
    return (nll / tokens if tokens else math.nan), n


def dev_losses(score_paths: Iterable[str], exclude: set[str] = frozenset()) -> dict[str, tuple[float, int]]:
    """``{experiment: (loss, n_items)}``: :func:`eval_loss` on the dev items of each experiment's
    score table (``.../<experiment>/seed_<k>.tsv``); the estimation datasets and the search trials
    are trained once, so an experiment with more than one seed is an error."""
    out = {}
    for exp, seeds in load_score_tables(score_paths, split=DEV).items():
        if len(seeds) != 1:
            raise ValueError(f"{exp}: expected one seed (trained once), got {sorted(seeds)}")
        (rows,) = seeds.values()
        out[exp] = eval_loss(rows, exclude)
    return out


def estimation_table(datasets: Mapping[str, Sequence[str]], record_rows: Sequence[Mapping[str, Any]],
                     losses: Mapping[str, float]) -> list[dict[str, Any]]:
    """One row per fused dataset: ``dataset``, the mean of each indicator over its records, and
    ``loss``. A dataset record without an indicator row (quarantined there) is left out of the
    means and counted in ``n_missing``; ``n`` = the records averaged."""
    have = {r["id"] for r in record_rows}
    out = []
    for name, ids in datasets.items():
        kept = [i for i in ids if i in have]
        row = {"dataset": name, **dataset_indicators(record_rows, kept), "loss": losses[name],
               "n": len(kept), "n_missing": len(ids) - len(kept)}
        out.append(row)
    return out
