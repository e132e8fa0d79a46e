"""Paper-shaped comparison tables and figures for the optimization experiments.

Rows are experiments (a mixture method at a size, or a schedule); the columns follow the paper's
tables (method x size x model, one column per benchmark) with the held-out response NLL of every
seed, lm-eval metrics and, when configured, judge ratings.

Beyond the paper, every row is compared with a reference experiment (EE-CPO at the same size, or
the 3-epoch baseline for schedules) so that a difference that noise could produce is not read as
a result:

* ``delta``: macro (category-averaged) held-out NLL of the row minus the reference, each item's
  NLL averaged over seeds first; lower NLL is better, so a negative delta means the row wins.
* ``ci_low`` / ``ci_high``: 95% percentile bootstrap over eval items, resampled within each
  category (the item sample is one source of noise).
* ``seed_noise``: two standard errors of the difference from run-to-run variation,
  ``2 * sqrt(sd_row^2 / n_row + sd_ref^2 / n_ref)`` with ``sd`` the seed-to-seed standard deviation
  of the macro NLL (the other source; the paper ignores it).
* ``verdict``: ``better`` / ``worse`` only when the item CI excludes 0 *and* ``|delta|`` exceeds
  ``seed_noise``; otherwise ``indistinguishable``. With one seed the seed term is unknown and the
  verdict says so (``no_seed_replicates``).
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .rng import np_rng

Scores = Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]]  # experiment -> seed -> rows


def _by_item(rows: Sequence[Mapping[str, Any]], column: str = "nll_mean") -> dict[str, tuple[str, float]]:
    out = {}
    for r in rows:
        v = float(r[column])
        if math.isfinite(v):
            out[str(r["id"])] = (str(r["category"]), v)
    return out


def macro_nll(rows: Sequence[Mapping[str, Any]], categories: Sequence[str], column: str = "nll_mean") -> float:
    """Mean over ``categories`` of the per-category mean item NLL (each category weighs the same)."""
    items = _by_item(rows, column)
    means = []
    for c in categories:
        vals = [v for cat, v in items.values() if cat == c]
        if vals:
            means.append(sum(vals) / len(vals))
    return float(np.mean(means)) if means else math.nan


def seed_averaged(scores: Scores, experiment: str, column: str = "nll_mean") -> dict[str, tuple[str, float]]:
    """Item -> (category, NLL averaged over the experiment's seeds); items every seed scored."""
    per_seed = [_by_item(rows, column) for _, rows in sorted(scores[experiment].items())]
    common = set.intersection(*(set(p) for p in per_seed)) if per_seed else set()
    return {i: (per_seed[0][i][0], float(np.mean([p[i][1] for p in per_seed]))) for i in sorted(common)}


def paired_delta(scores: Scores, experiment: str, reference: str, categories: Sequence[str], *,
                 n_boot: int = 1000, seed: int = 0, column: str = "nll_mean") -> dict[str, float]:
    """Macro NLL difference ``experiment - reference`` over the items both scored, with a 95%
    percentile bootstrap CI that resamples items within each category."""
    a, b = seed_averaged(scores, experiment, column), seed_averaged(scores, reference, column)
    diffs: dict[str, np.ndarray] = {}
    for c in categories:
        ids = [i for i in a if i in b and a[i][0] == c]
        if ids:
            diffs[c] = np.array([a[i][1] - b[i][1] for i in ids])
    if not diffs:
        return {"delta": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n_items": 0}
    delta = float(np.mean([d.mean() for d in diffs.values()]))
    g = np_rng(seed, "paired_delta", experiment, reference)
    boots = np.zeros(n_boot)
    for d in diffs.values():
        idx = g.integers(0, d.size, size=(n_boot, d.size))
        boots += d[idx].mean(axis=1)
    boots /= len(diffs)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"delta": delta, "ci_low": float(lo), "ci_high": float(hi), "n_items": int(sum(d.size for d in diffs.values()))}


def _seed_stats(scores: Scores, experiment: str, categories: Sequence[str]) -> tuple[list[float], float, float]:
    vals = [macro_nll(rows, categories) for _, rows in sorted(scores[experiment].items())]
    mean = float(np.mean(vals)) if vals else math.nan
    sd = statistics.stdev(vals) if len(vals) > 1 else math.nan
    return vals, mean, sd


def verdict(delta: float, ci_low: float, ci_high: float, seed_noise: float) -> str:
    """See the module docstring: both noise sources must be beaten."""
    if not math.isfinite(delta):
        return "missing"
    if not math.isfinite(seed_noise):
        return "no_seed_replicates"
    if (ci_low > 0 or ci_high < 0) and abs(delta) > seed_noise:
        return "worse" if delta > 0 else "better"
    return "indistinguishable"


def compare_experiments(scores: Scores, rows: Sequence[Mapping[str, Any]], categories: Sequence[str], *,
                        n_boot: int = 1000, seed: int = 0,
                        benchmarks: Mapping[str, Mapping[str, float]] | None = None) -> list[dict[str, Any]]:
    """One output row per input row (``{"experiment", "reference", **labels}``): seed NLLs, their
    mean and sd, the paired delta against the reference with its CI, the seed-noise bound, the
    verdict, and any benchmark columns (``benchmarks[experiment][column]``)."""
    out = []
    for row in rows:
        exp, ref = row["experiment"], row.get("reference")
        vals, mean, sd = _seed_stats(scores, exp, categories)
        rec: dict[str, Any] = {**row, "n_seeds": len(vals), "nll_macro": mean, "nll_macro_sd": sd,
                               "nll_seeds": vals}
        if ref and ref != exp and ref in scores:
            d = paired_delta(scores, exp, ref, categories, n_boot=n_boot, seed=seed)
            rvals, _, rsd = _seed_stats(scores, ref, categories)
            noise = (2 * math.sqrt(sd ** 2 / len(vals) + rsd ** 2 / len(rvals))
                     if len(vals) > 1 and len(rvals) > 1 else math.nan)
            rec.update(d, seed_noise=noise, verdict=verdict(d["delta"], d["ci_low"], d["ci_high"], noise))
        else:
            rec.update(delta=0.0 if ref == exp else math.nan, ci_low=math.nan, ci_high=math.nan, n_items=0,
                       seed_noise=math.nan, verdict="reference" if ref == exp else "missing")
        for col, v in (benchmarks or {}).get(exp, {}).items():
            rec[col] = v
        out.append(rec)
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if not math.isfinite(v) else f"{v:.4f}"
    if isinstance(v, list):
        return ",".join(_fmt(x) for x in v)
    return str(v)


def write_table(path: str | Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([_fmt(r.get(c, "")) for c in columns])


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, title: str = "") -> str:
    lines = [f"### {title}", ""] if title else []
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "---|" * len(columns))
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c, "")) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def benchmark_means(tables: Mapping[str, Sequence[Mapping[str, Any]]],
                    metrics: Mapping[str, tuple[str, str]]) -> dict[str, float]:
    """Seed-averaged benchmark columns: ``tables`` maps seed -> flattened lm-eval rows
    (task, metric, value); ``metrics`` maps an output column to (task, metric)."""
    out = {}
    for col, (task, metric) in metrics.items():
        vals = [float(r["value"]) for rows in tables.values() for r in rows
                if r["task"] == task and r["metric"] == metric and r["value"] not in ("", None)]
        vals = [v for v in vals if math.isfinite(v)]
        out[col] = float(np.mean(vals)) if vals else math.nan
    return out


def plot_comparison(rows: Sequence[Mapping[str, Any]], path: str | Path, *, label: str = "experiment",
                    title: str = "") -> None:
    """Macro held-out NLL per experiment (bars: seed mean; whiskers: seed sd; dots: seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [str(r[label]) for r in rows]
    means = [r["nll_macro"] for r in rows]
    sds = [0.0 if not math.isfinite(r["nll_macro_sd"]) else r["nll_macro_sd"] for r in rows]
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(rows) + 2), 4))
    x = np.arange(len(rows))
    colors = ["tab:red" if r.get("verdict") == "reference" else "tab:blue" for r in rows]
    ax.bar(x, means, yerr=sds, color=colors, alpha=0.7, capsize=3)
    for k, r in enumerate(rows):
        ax.scatter([k] * len(r["nll_seeds"]), r["nll_seeds"], color="k", s=10, zorder=3)
    finite = [m for m in means if math.isfinite(m)]
    if finite:
        lo, hi = min(finite), max(finite)
        pad = max(0.05, (hi - lo) * 0.5)
        ax.set_ylim(max(0.0, lo - pad), hi + pad)
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("held-out NLL (macro over categories; lower is better)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)
