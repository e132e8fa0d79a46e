"""Optimization experiments as data: category mixtures (EE-CPO and baselines) and schedules.

This module turns the analyses into training sets; the math lives in :mod:`sftmix.studies.beyond_iid.mixture`
(Eq. 5's LP and the selection rules) and :mod:`sftmix.studies.beyond_iid.curriculum` (DT-CSFT, Mix+, baseline).

* **Candidate pool** (:func:`candidate_pool`): every categorized record of the analysed
  categories that is not an eval item. Mixtures of every method draw from the same pool, so
  equal-size sets differ only in *which* records they hold.
* **alpha** (Eq. 5): category shares of the quality-score selection D_qs = the top-``size``
  candidates by the configured quality score (``optimize.quality``).
* **EE-CPO** (Eq. 5): ``w*`` from the LP with per-category bounds and availability (a category
  cannot contribute more than its candidates); counts ``= weights_to_counts(w*, size)``; inside a
  category the highest-quality candidates are taken.
* Baselines of the same size: ``random`` (uniform draw from the pool), ``uniform`` (equal
  category shares, top quality inside each), and the quality-only selections ``deita``,
  ``instag``, ``ifd`` and ``length`` (top-``size`` by that score regardless of category).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...records import Record
from .curriculum import baseline_schedule, dt_csft_schedule, mixplus_schedule
from .mixture import (
    category_importance,
    quality_mixture,
    random_mixture,
    record_category,
    select_mixture,
    solve_eecpo,
    uniform_mixture,
    weights_to_counts,
)

log = logging.getLogger(__name__)

QUALITY_METHODS = ("deita", "instag", "ifd", "length")


def eecpo_gamma(gamma: Mapping[str, Any], categories: Sequence[str]) -> np.ndarray:
    """The gamma matrix EE-CPO uses, for ``categories`` (rows = added category i, columns =
    measured j), from a :func:`sftmix.studies.beyond_iid.interaction.read_gamma_tsv` result (or any
    :func:`sftmix.studies.beyond_iid.interaction.gamma_matrix` result): cells flagged ``unstable`` or absent become NaN
    (EE-CPO counts them as 0, see :func:`sftmix.studies.beyond_iid.mixture.eecpo_objective_coefficients`). A category
    without its diagonal entry raises ValueError."""
    src = {c: k for k, c in enumerate(gamma["categories"])}
    values = np.where(np.asarray(gamma["unstable"], dtype=bool), np.nan, np.asarray(gamma["gamma"], dtype=float))
    g = np.full((len(categories), len(categories)), np.nan)
    for a, ci in enumerate(categories):
        for b, cj in enumerate(categories):
            if ci in src and cj in src:
                g[a, b] = values[src[ci], src[cj]]
    missing = [(categories[i], categories[j]) for i, j in zip(*np.where(np.isnan(g)), strict=True) if i == j]
    if missing:
        raise ValueError(f"gamma has no diagonal entry for {[m[0] for m in missing]}")
    return g


def candidate_pool(records: Iterable[Record], eval_ids: Iterable[str], categories: Iterable[str]
                   ) -> tuple[list[Record], dict[str, Any]]:
    """The candidate pool of the optimization experiments: the categorized ``records`` of
    ``categories`` that are not eval items (``eval_ids``), sorted by id.

    Returns ``(pool, counts)`` with ``counts = {"in", "kept", "eval_items" (records that are eval
    items), "other_or_no_category", "per_category": {category: n} (sorted)}``.
    """
    cats, evals = set(categories), set(eval_ids)
    n_in = n_eval = n_other = 0
    kept = []
    for r in records:
        n_in += 1
        if r["id"] in evals:
            n_eval += 1
        elif r.get("meta", {}).get("category") not in cats:
            n_other += 1
        else:
            kept.append(r)
    per_cat = dict(sorted(Counter(r["meta"]["category"] for r in kept).items()))
    return sorted(kept, key=lambda r: r["id"]), {"in": n_in, "kept": len(kept), "eval_items": n_eval,
                                                  "other_or_no_category": n_other, "per_category": per_cat}


def pool_by_category(pool: Sequence[Record], categories: Sequence[str]) -> dict[str, list[Record]]:
    """Candidates grouped by ``meta.category`` in the order of ``categories`` (others ignored)."""
    out: dict[str, list[Record]] = {c: [] for c in categories}
    for r in pool:
        c = record_category(r)
        if c in out:
            out[c].append(r)
    return out


def eligible(records: Sequence[Record], quality: Mapping[str, float]) -> list[Record]:
    """Records with a finite quality score (others cannot be ranked; the caller logs the count)."""
    return [r for r in records if r["id"] in quality and math.isfinite(float(quality[r["id"]]))]


def eecpo_plan(gamma: np.ndarray, categories: Sequence[str], pool: Sequence[Record],
               quality: Mapping[str, float], sizes: Sequence[int], *, lower: float | Sequence[float] = 0.0,
               upper: float | Sequence[float] = 1.0, importance: str = "source",
               alpha_size: int | None = None) -> dict[str, Any]:
    """EE-CPO (Beyond IID Eq. 5) for every mixture size.

    alpha = category shares of D_qs, the ``alpha_size`` (default: the largest size) best
    candidates by ``quality``. For each size, the LP runs with availability = the number of
    rankable candidates per category, so every planned count can be filled. Returns a JSON-ready
    dict with alpha, the objective coefficients, and per size the weights, counts, objective and
    binding constraints, plus the objective of the uniform and alpha mixtures for comparison.
    """
    cats = list(categories)
    by_cat = pool_by_category(eligible(pool, quality), cats)
    flat = [r for c in cats for r in by_cat[c]]
    n_qs = int(alpha_size or max(sizes))
    alpha = category_importance(quality_mixture(flat, quality, min(n_qs, len(flat))), cats)
    available = np.array([len(by_cat[c]) for c in cats], dtype=float)
    out: dict[str, Any] = {"categories": cats, "alpha": alpha.tolist(), "alpha_size": n_qs,
                           "available": available.astype(int).tolist(), "importance": importance,
                           "lower": lower, "upper": upper, "sizes": {}}
    for size in sizes:
        # A category with fewer rankable candidates than its floor (e.g. IFD excludes every record
        # whose IFD >= 1) cannot be held to it: its floor drops to what it has, logged.
        lo = np.minimum(np.broadcast_to(np.asarray(lower, dtype=float), (len(cats),)), available / int(size))
        clipped = [c for c, a, b in zip(cats, lo, np.broadcast_to(lower, (len(cats),)), strict=True) if a < b]
        if clipped:
            log.warning("EE-CPO n=%d: lower bound reduced to the available candidates for %s", int(size), clipped)
        sol = solve_eecpo(gamma, alpha, lower=lo, upper=upper, available=available, total=int(size),
                          importance=importance, names=cats)  # type: ignore[arg-type]
        c = sol["coefficients"]
        uniform = np.full(len(cats), 1.0 / len(cats))
        out["sizes"][str(int(size))] = {
            "weights": sol["weights"].tolist(),
            "counts": weights_to_counts(sol["weights"], int(size)),
            "objective": sol["objective"], "objective_uniform": float(c @ uniform),
            "objective_alpha": float(c @ alpha),
            "binding": {k: [cats[j] for j in v] for k, v in sol["binding"].items()},
            "lower_clipped": clipped,
        }
        out["coefficients"] = c.tolist()
    return out


def build_mixture(method: str, size: int, pool: Sequence[Record], categories: Sequence[str],
                  quality: Mapping[str, Mapping[str, float]], *, rank_by: str, seed: int,
                  plan: Mapping[str, Any] | None = None) -> list[Record]:
    """One mixture of ``size`` records from the candidate ``pool`` (see the module docstring).

    ``quality`` maps a score name (deita, instag, ifd, length) to ``{id: score}`` (higher =
    better); ``rank_by`` is the score that ranks candidates inside a category (uniform, eecpo).
    Returned sorted by id (the trainer owns the order).
    """
    cats = list(categories)
    in_cats = [r for r in pool if record_category(r) in set(cats)]
    if method == "random":
        chosen = random_mixture(in_cats, size, seed)
    elif method in QUALITY_METHODS:
        q = quality[method]
        chosen = quality_mixture(eligible(in_cats, q), q, size)
    elif method == "uniform":
        q = quality[rank_by]
        chosen = uniform_mixture(pool_by_category(eligible(in_cats, q), cats), size, q, seed)
    elif method == "eecpo":
        if plan is None or str(int(size)) not in plan["sizes"]:
            raise ValueError(f"mixture eecpo: no EE-CPO plan for size {size}")
        q = quality[rank_by]
        counts = dict(zip(plan["categories"], plan["sizes"][str(int(size))]["counts"], strict=True))
        chosen = select_mixture(pool_by_category(eligible(in_cats, q), cats), q, counts, seed=seed)
    else:
        raise ValueError(f"unknown mixture method {method!r}")
    if len(chosen) != size:
        raise ValueError(f"mixture {method}: built {len(chosen)} records, wanted {size}")
    return sorted(chosen, key=lambda r: r["id"])


def mixture_composition(records: Sequence[Record], categories: Sequence[str]) -> dict[str, int]:
    counts = {c: 0 for c in categories}
    for r in records:
        c = record_category(r)
        if c in counts:
            counts[c] += 1
    return counts


def build_schedule(name: str, d: Sequence[Record], layers: Mapping[str, str], pool: Sequence[Record], *,
                   seed: int, epochs: int = 3, k: int | None = None) -> list[Record]:
    """A DT-CSFT / Mix+ / baseline schedule over D (records carry ``meta.stage``).

    Mix+ draws its 2|D| extra preliminary instructions from the candidate pool minus D.
    """
    if name == "dtcsft":
        return dt_csft_schedule(d, layers, seed=seed, k=k, on_empty="baseline")
    if name == "mixplus":
        d_ids = {r["id"] for r in d}
        extra = [r for r in pool if r["id"] not in d_ids and layers.get(record_category(r)) == "preliminary"]
        if not extra:
            log.warning("mixplus: the taxonomy has no preliminary category with instructions outside D; "
                        "Mix+ is undefined and falls back to the %d-epoch baseline", epochs)
            return baseline_schedule(d, epochs=epochs)
        return mixplus_schedule(d, extra, seed=seed, epochs=epochs, layers=layers)
    if name == "baseline":
        return baseline_schedule(d, epochs=epochs)
    raise ValueError(f"unknown schedule {name!r}")


def plot_weights(plan: Mapping[str, Any], path: str | Path, *, title: str = "EE-CPO category weights") -> None:
    """The LP weight changes: alpha (quality-selection shares) next to EE-CPO's w* per size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cats = list(plan["categories"])
    series = [("alpha (D_qs)", plan["alpha"])] + [
        (f"EE-CPO w*, n={s}", v["weights"]) for s, v in sorted(plan["sizes"].items(), key=lambda x: int(x[0]))]
    x = np.arange(len(cats))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(cats) + 2), 4))
    for k, (label, vals) in enumerate(series):
        ax.bar(x + (k - (len(series) - 1) / 2) * width, vals, width, label=label)
    ax.set_xticks(x)
    ax.set_xticklabels(cats, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("share of the mixture")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)
