"""Beyond IID's effect-equivalence coefficient gamma (Eq. 1), meta-groups, heatmap.

Eq. 1 of the paper, with ``M`` the model fine-tuned on the base set ``D`` (experiment ``base``)
and ``M^{U C~_i}`` the one fine-tuned on ``D U C~_i`` (experiment ``add_<slug(i)>``)::

    gamma_ij = Avg_k ( (rho[M^{U C~_i}](C_eval,jk) - rho[M](C_eval,jk))
                     / (rho[M^{U C~_j}](C_eval,jk) - rho[M](C_eval,jk)) )

``rho`` is "the log-likelihood of the response" of eval item ``k`` of category ``j``. Writing
``Delta_i(jk) = rho[M^{U C~_i}](jk) - rho[M](jk)`` (the effect of adding category i's pool on
item k of category j), gamma_ij compares category i's addition with category j's own addition
**on category j's eval items**: "one instruction of category i equals how many of category j".

Two estimators:

* ``"per_item"`` -- as published: ``Avg_k Delta_i(jk) / Delta_j(jk)``. A mean of ratios: one
  eval item whose own-category effect ``Delta_j(jk)`` is near 0 makes it explode (the authors'
  heatmap is clipped near +-1.2 and its diagonal decodes to 1.0). Kept because it is the paper's
  formula.
* ``"ratio_of_means"`` (default) -- ``mean_k Delta_i(jk) / mean_k Delta_j(jk)``: a ratio of two
  means, finite whenever the mean own-category effect is away from 0.

Design decisions (all reported in :func:`gamma_matrix`'s result):

* **rho**: ``"loglik_mean"`` = ``-nll_mean`` (per response token; not driven by response length,
  the default) or ``"loglik_sum"`` = ``-nll_sum`` (the literal log-likelihood of the response).
* **Seeds**: when an experiment was trained with several seeds, rho is first averaged per item
  over that experiment's seed replicates; Delta uses the seed-averaged values.
* **Items**: per category, the eval items scored (``n_tokens > 0``, finite score) in *every*
  table of ``scores``, so that every mean compares the same items.
* **Near-zero denominators**: the denominator of column j is ``mean_k Delta_j(jk)``. Column j is
  ``unstable`` when the item-bootstrap CI of that mean contains 0 **or** its absolute value is
  below ``min_denominator``. The default ``min_denominator`` is two run-to-run standard errors of
  the denominator: ``2 * sigma_j * sqrt(1/S_add_j + 1/S_base)``, where ``sigma_j`` is the
  seed-to-seed sd of a category-j mean rho of identical experiments
  (:func:`sftmix.scores.run_noise_sd`); with no replicated experiment only the bootstrap
  criterion applies. Unstable cells keep their value
  in ``gamma_raw`` (and their CI) but are NaN in ``gamma``, so no downstream consumer (the EE-CPO
  LP) ever uses an exploding ratio. The diagonal is 1 by definition where stable.
* **Uncertainty**: percentile bootstrap over category j's eval items (the same resample for
  numerator and denominator), seeded. It measures item-sampling uncertainty only; run-to-run
  (seed) noise enters through ``min_denominator``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...experiments import slugify
from ...records import read_typed_tsv, write_typed_tsv
from ...scores import (
    Scores,
    category_items,
    finite_row,
    run_noise_sd,
    seed_matrix,
    seeds_of,
    table_index,
)
from .experiments import add_name

RHO_COLUMNS = {"loglik_mean": "nll_mean", "loglik_sum": "nll_sum"}
ESTIMATORS = ("ratio_of_means", "per_item")


def _rho_column(rho: str) -> str:
    if rho not in RHO_COLUMNS:
        raise ValueError(f"rho: unknown {rho!r}; choose from {sorted(RHO_COLUMNS)}")
    return RHO_COLUMNS[rho]


def item_rho(rows: Sequence[Mapping[str, Any]], rho: str = "loglik_mean") -> dict[str, float]:
    """Per-item rho of one score table (Eq. 1's performance function).

    ``"loglik_sum"`` = ``-nll_sum`` (the paper's "log-likelihood of the response"),
    ``"loglik_mean"`` = ``-nll_mean`` (per token, less driven by response length). Items without
    a response token or with a non-finite score are left out (:func:`sftmix.scores.finite_row`).
    Returns ``{id: rho}``.
    """
    column = _rho_column(rho)
    return {str(r["id"]): -float(r[column]) for r in rows if finite_row(r, column)}


def _percentile_ci(values: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval ignoring NaN (0/0 resamples); +-inf stay and may be the bounds."""
    v = values[~np.isnan(values)]
    if v.size == 0:
        return float("nan"), float("nan")
    q = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.percentile(v, [q, 100.0 - q])
    return float(lo), float(hi)


def gamma_matrix(scores: Scores, categories: Sequence[str], *, rho: str = "loglik_mean",
                 estimator: str = "ratio_of_means", n_boot: int = 1000, seed: int = 0,
                 min_denominator: float | None = None, ci_level: float = 0.95) -> dict[str, Any]:
    """Effect-equivalence coefficients gamma_ij (Beyond IID, Eq. 1) with bootstrap CIs.

    Needs ``scores["base"]`` and ``scores["add_<slug>"]`` (any number of seeds each). Row i of
    every matrix is category i's addition (``add_<slug(i)>``), column j is category j's eval
    items. Returns (arrays are ``N x N`` unless said, NaN where not computable, i.e. a missing
    ``add_`` experiment for row i or column j, or a category without items)::

        categories          list[str], the order of rows and columns
        estimator, rho      the choices used
        gamma               estimate; NaN where unstable; diagonal 1.0 where stable
        gamma_raw           the estimate before the stability mask (diagonal 1.0 where defined)
        ci_low, ci_high     percentile bootstrap CI (ci_level) of gamma_raw over column j's items
        denominator         mean_k Delta_j(jk), the effect of C~_j on its own category, repeated
                            down column j
        unstable            bool, True in every computed cell of a column whose denominator
                            bootstrap CI contains 0 or whose |denominator| < min_denominator
        numerator_effects   the effect matrix Delta_ij = mean_k rho[M+C~_i](jk) - rho[M](jk)
        denominator_ci_low, denominator_ci_high, min_denominator, noise_sd, n_items
                            length-N vectors (column j); noise_sd is the run-to-run sd of a
                            category mean rho (NaN without seed replicates)
        n_seeds             {experiment: number of seed tables used}

    ``min_denominator``: a float applies to every column; ``None`` derives it per column as
    ``2 * noise_sd_j * sqrt(1/S_add_j + 1/S_base)`` (0 when there are no replicates). Bootstrap:
    ``n_boot`` resamples of column j's items with replacement (``numpy`` generator seeded with
    ``seed``; columns drawn in category order), the same resample for numerator and denominator.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator: unknown {estimator!r}; choose from {list(ESTIMATORS)}")
    if "base" not in scores or not seeds_of(scores, "base"):
        raise ValueError("gamma_matrix needs scores['base']")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    column = _rho_column(rho)
    cats = list(categories)
    n = len(cats)
    items = category_items(scores, cats)
    adds = {i: add_name(slugify(c)) for i, c in enumerate(cats)
            if seeds_of(scores, add_name(slugify(c)))}
    index = table_index(scores, column)
    noise = run_noise_sd(scores, cats, column=column, items=items, index=index)
    s_base = len(seeds_of(scores, "base"))

    nan_nn = np.full((n, n), np.nan)
    gamma_raw, ci_low, ci_high, num = (nan_nn.copy() for _ in range(4))
    den = np.full(n, np.nan)
    den_lo, den_hi = np.full(n, np.nan), np.full(n, np.nan)
    min_den = np.full(n, np.nan)
    noise_sd = np.array([noise["sigma"][c] for c in cats], dtype=float)
    unstable = np.zeros((n, n), dtype=bool)
    rng = np.random.default_rng(seed)

    for j, cj in enumerate(cats):
        ids = items[cj]
        if not ids:
            continue
        k = len(ids)
        idx = rng.integers(0, k, size=(n_boot, k))
        base_rho = -seed_matrix(scores, "base", ids, column, index).mean(axis=0)
        deltas = {i: -seed_matrix(scores, e, ids, column, index).mean(axis=0) - base_rho
                  for i, e in adds.items()}
        for i, d in deltas.items():
            num[i, j] = d.mean()
        if j not in adds:
            continue
        dj = deltas[j]
        den[j] = dj.mean()
        boot_den = dj[idx].mean(axis=1)
        den_lo[j], den_hi[j] = _percentile_ci(boot_den, ci_level)
        if min_denominator is not None:
            min_den[j] = float(min_denominator)
        elif math.isfinite(noise_sd[j]):
            s_add = len(seeds_of(scores, adds[j]))
            min_den[j] = 2.0 * noise_sd[j] * math.sqrt(1.0 / s_add + 1.0 / s_base)
        else:
            min_den[j] = 0.0
        col_unstable = bool(den_lo[j] <= 0.0 <= den_hi[j] or abs(den[j]) < min_den[j]
                            or not math.isfinite(den[j]))
        with np.errstate(divide="ignore", invalid="ignore"):
            for i, di in deltas.items():
                if i == j:
                    g, boot = (1.0, np.ones(1)) if den[j] != 0 else (float("nan"), np.full(1, np.nan))
                elif estimator == "ratio_of_means":
                    g = float(di.mean() / den[j])
                    boot = di[idx].mean(axis=1) / boot_den
                else:
                    ratio = di / dj
                    g = float(ratio.mean())
                    boot = ratio[idx].mean(axis=1)
                gamma_raw[i, j] = g
                ci_low[i, j], ci_high[i, j] = _percentile_ci(boot, ci_level)
                unstable[i, j] = col_unstable

    gamma = np.where(unstable, np.nan, gamma_raw)
    return {
        "categories": cats, "estimator": estimator, "rho": rho,
        "gamma": gamma, "gamma_raw": gamma_raw, "ci_low": ci_low, "ci_high": ci_high,
        "denominator": np.tile(den, (n, 1)), "unstable": unstable, "numerator_effects": num,
        "denominator_ci_low": den_lo, "denominator_ci_high": den_hi, "min_denominator": min_den,
        "noise_sd": noise_sd, "n_items": np.array([len(items[c]) for c in cats], dtype=int),
        "n_seeds": {e: len(seeds_of(scores, e)) for e in ["base", *adds.values()]},
    }


# ---------------------------------------------------------------------------------------------
# Meta-groups (hierarchical clustering of gamma)
# ---------------------------------------------------------------------------------------------

def _cluster_features(gamma: np.ndarray, clip: float | None) -> np.ndarray:
    g = np.nan_to_num(np.asarray(gamma, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
    if clip is not None:
        g = np.clip(g, -clip, clip)
    return (g + g.T) / 2.0


def _linkage(gamma: np.ndarray, method: str, clip: float | None) -> np.ndarray:
    from scipy.cluster.hierarchy import linkage

    return linkage(_cluster_features(gamma, clip), method=method, metric="euclidean")


def cluster_order(gamma: np.ndarray, method: str = "average", clip: float | None = 3.0) -> list[int]:
    """Dendrogram leaf order of the categories (same clustering as :func:`meta_groups`)."""
    from scipy.cluster.hierarchy import leaves_list

    n = np.asarray(gamma).shape[0]
    if n < 3:
        return list(range(n))
    return [int(x) for x in leaves_list(_linkage(gamma, method, clip))]


def meta_groups(gamma: np.ndarray | Mapping[str, Any], categories: Sequence[str], n_groups: int = 2,
                method: str = "average", clip: float | None = 3.0) -> dict[str, int]:
    """Meta-groups of categories by hierarchical clustering of gamma (Beyond IID, Sec. "Analysis
    Results": two groups, symbolic reasoning vs commonsense memorization).

    Features: the rows of the symmetrized matrix ``(G + G^T) / 2`` with NaN (not computable or
    unstable cells) -> 0 and values clipped to ``[-clip, clip]`` (so one exploding ratio cannot
    decide the clustering); two categories are close when they interact alike with every
    category, in both directions. ``scipy.cluster.hierarchy.linkage`` with Euclidean distance and
    ``method``; cut into at most ``n_groups`` clusters (``fcluster(..., "maxclust")``). Labels are
    0-based, numbered in order of first appearance in ``categories``. ``gamma`` may be the matrix
    or a :func:`gamma_matrix` result.
    """
    from scipy.cluster.hierarchy import fcluster

    g = np.asarray(gamma["gamma"] if isinstance(gamma, Mapping) else gamma, dtype=float)
    cats = list(categories)
    if g.shape != (len(cats), len(cats)):
        raise ValueError(f"gamma must be {len(cats)} x {len(cats)}, got {g.shape}")
    if n_groups < 1:
        raise ValueError(f"n_groups must be >= 1, got {n_groups}")
    if len(cats) < 2 or n_groups == 1:
        return {c: 0 for c in cats}
    raw = fcluster(_linkage(g, method, clip), t=n_groups, criterion="maxclust")
    renum: dict[int, int] = {}
    return {c: renum.setdefault(int(lab), len(renum)) for c, lab in zip(cats, raw, strict=True)}


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------

def plot_gamma_heatmap(result: Mapping[str, Any], path: str | Path, *, vmax: float | None = None,
                       method: str = "average", title: str | None = None) -> Path:
    """Heatmap of ``result["gamma"]`` (a :func:`gamma_matrix` result) written as PNG.

    Diverging colormap (``RdBu_r``) centred at 0 and clipped to ``[-vmax, vmax]`` (default: the
    95th percentile of |gamma|, at least 1, at most 3; the paper's figure clips near 1.2). Rows
    and columns are in :func:`cluster_order`. Unstable cells (NaN in ``gamma``) are grey and
    hatched ``xx``; cells not computable are light grey. Rows: the added category i; columns: the
    evaluated category j. Uses the Agg canvas directly (headless; pyplot state untouched).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    cats = list(result["categories"])
    gamma = np.asarray(result["gamma"], dtype=float)
    unstable = np.asarray(result["unstable"], dtype=bool)
    n = len(cats)
    order = cluster_order(gamma, method) if n else []
    g = gamma[np.ix_(order, order)]
    u = unstable[np.ix_(order, order)]
    finite = np.abs(g[np.isfinite(g)])
    if vmax is None:
        vmax = float(np.clip(np.percentile(finite, 95), 1.0, 3.0)) if finite.size else 1.0
    size = max(4.0, 0.35 * n + 2.5)
    fig = Figure(figsize=(size + 1.0, size))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_facecolor("#eeeeee")
    im = ax.imshow(np.ma.masked_invalid(np.clip(g, -vmax, vmax)), cmap="RdBu_r", vmin=-vmax,
                   vmax=vmax, interpolation="nearest")
    for a in range(n):
        for b in range(n):
            if u[a, b]:
                ax.add_patch(Rectangle((b - 0.5, a - 0.5), 1, 1, facecolor="#bbbbbb",
                                       edgecolor="#555555", hatch="xx", linewidth=0.0))
            elif n <= 15 and np.isfinite(g[a, b]):  # white on the dark ends of the scale
                ax.text(b, a, f"{g[a, b]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if abs(g[a, b]) > 0.6 * vmax else "black")
    labels = [cats[i] for i in order]
    ax.set_xticks(range(n))
    ax.set_xticklabels(labels, rotation=90, fontsize=8)
    ax.set_yticks(range(n))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("evaluated category j")
    ax.set_ylabel("added category i")
    ax.set_title(title or f"gamma ({result.get('estimator', '')}; hatched = unstable)", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8, extend="both")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, format="png")
    return path


TSV_COLUMNS = ("i", "j", "gamma", "ci_low", "ci_high", "denominator", "unstable", "estimator",
               "gamma_raw", "numerator_effect")
_TSV_FLOATS = frozenset({"gamma", "ci_low", "ci_high", "denominator", "gamma_raw", "numerator_effect"})
# TSV column -> key of the gamma_matrix result it holds (the rest are named alike)
_TSV_MATRIX = {"gamma": "gamma", "ci_low": "ci_low", "ci_high": "ci_high", "denominator": "denominator",
               "gamma_raw": "gamma_raw", "numerator_effect": "numerator_effects"}


def gamma_analysis(scores: Scores, categories: Sequence[str], *, rho: str, estimator: str, n_boot: int,
                   n_groups: int) -> dict[str, Any]:
    """The gamma stage on one model's score tables (Eq. 1): both estimators (``estimator`` is the
    main one; ``per_item`` is the published reading, always reported beside it), the meta-groups
    of the main matrix, and what the log reports.

    Returns ``{"main", "per_item", "groups", "n_unstable", "max_abs_per_item"}``."""
    cats = list(categories)
    results = {est: gamma_matrix(scores, cats, rho=rho, estimator=est, n_boot=n_boot, seed=0) for est in ESTIMATORS}
    main = results[estimator]
    finite = [abs(x) for x in results["per_item"]["gamma_raw"].ravel() if math.isfinite(x)]
    return {"main": main, "per_item": results["per_item"],
            "groups": meta_groups(main, cats, n_groups=min(n_groups, len(cats))),
            "n_unstable": int(main["unstable"].sum()), "max_abs_per_item": max(finite) if finite else float("nan")}


def gamma_vs_pretrained(scores: Scores, pretrained: Sequence[Mapping[str, Any]], categories: Sequence[str], *,
                        rho: str, estimator: str, n_boot: int) -> dict[str, Any]:
    """Eq. 1 read literally, as a sensitivity check: "M is a base model", i.e. the reference of every
    effect is the pretrained model (``pretrained``: its score rows), not M fine-tuned on D. The
    add_* models are the same; each numerator and denominator then also holds what D itself
    contributed. Returns a :func:`gamma_matrix` result (one reference table: no base replicates)."""
    replaced = {**scores, "base": {"pretrained": list(pretrained)}}
    return gamma_matrix(replaced, categories, rho=rho, estimator=estimator, n_boot=n_boot, seed=0)


def sign_agreement(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """How two gamma results agree off the diagonal: cells finite in both, how many have the same
    sign, and the share of negative cells in each (``gamma``; unstable cells are NaN there)."""
    ga, gb = np.asarray(a["gamma"], dtype=float), np.asarray(b["gamma"], dtype=float)
    off = ~np.eye(ga.shape[0], dtype=bool)
    both = off & np.isfinite(ga) & np.isfinite(gb)
    n = int(both.sum())
    same = int((np.sign(ga[both]) == np.sign(gb[both])).sum())
    def share_negative(g: np.ndarray) -> float:
        cells = g[off & np.isfinite(g)]
        return float((cells < 0).mean()) if cells.size else math.nan

    return {"n_cells": n, "same_sign": same, "share_same_sign": same / n if n else math.nan,
            "share_negative": share_negative(ga), "share_negative_other": share_negative(gb)}


def write_gamma_tsv(result: Mapping[str, Any], path: str | Path) -> int:
    """Write a :func:`gamma_matrix` result in long format, one row per ordered pair (i, j).

    Columns: ``i j gamma ci_low ci_high denominator unstable estimator gamma_raw
    numerator_effect`` (i = added category, j = evaluated category; floats as ``repr``, NaN as
    ``nan``; unstable as ``true``/``false``; csv quoting for category names). Read it back with
    :func:`read_gamma_tsv`. Returns the number of rows.
    """
    cats = list(result["categories"])
    rows = ({"i": ci, "j": cj, "unstable": "true" if bool(result["unstable"][a, b]) else "false",
             "estimator": result["estimator"],
             **{col: result[key][a, b] for col, key in _TSV_MATRIX.items()}}
            for a, ci in enumerate(cats) for b, cj in enumerate(cats))
    return write_typed_tsv(path, rows, TSV_COLUMNS, floats=_TSV_FLOATS, quoted=True, what="gamma TSV")


def read_gamma_tsv(path: str | Path) -> dict[str, Any]:
    """Read a gamma TSV written by :func:`write_gamma_tsv` back into matrix form.

    Returns ``{"categories": [...] (order of first appearance), "estimator": str (None without
    rows), "gamma", "ci_low", "ci_high", "denominator", "gamma_raw", "numerator_effects": N x N
    float arrays (NaN for pairs without a row), "unstable": N x N bool}``, the keys of a
    :func:`gamma_matrix` result that the file holds. An unstable column reads back as it was
    written, NaN diagonal included (no error here: EE-CPO floors such a category, see
    :func:`sftmix.studies.beyond_iid.mixture.floored_categories`).
    """
    rows = read_typed_tsv(path, TSV_COLUMNS, floats=_TSV_FLOATS, quoted=True, what="gamma TSV")
    cats = list(dict.fromkeys(c for r in rows for c in (r["i"], r["j"])))
    idx = {c: k for k, c in enumerate(cats)}
    n = len(cats)
    out: dict[str, Any] = {"categories": cats, "estimator": rows[0]["estimator"] if rows else None,
                           **{key: np.full((n, n), np.nan) for key in _TSV_MATRIX.values()},
                           "unstable": np.zeros((n, n), dtype=bool)}
    for r in rows:
        a, b = idx[r["i"]], idx[r["j"]]
        out["unstable"][a, b] = r["unstable"].lower() == "true"
        for col, key in _TSV_MATRIX.items():
            out[key][a, b] = r[col]
    return out
