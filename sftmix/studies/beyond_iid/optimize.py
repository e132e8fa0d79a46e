"""Optimization experiments as data: category mixtures (EE-CPO and baselines) and schedules.

This module turns the analyses into training sets; the math lives in :mod:`sftmix.studies.beyond_iid.mixture`
(Eq. 5's LP and the selection rules) and :mod:`sftmix.studies.beyond_iid.curriculum` (DT-CSFT, Mix+, baseline).

* **Candidate pool** (:func:`sftmix.quality.candidate_pool`, shared with the other selection
  studies): every categorized record of the analysed categories that is not an eval item.
  Mixtures of every method draw from the same pool, so equal-size sets differ only in *which*
  records they hold.
* **alpha** (Eq. 5): category shares of the quality-score selection D_qs = the top-n candidates by
  the configured quality score (``optimize.quality``), n = the mixture size (``alpha_size: null``)
  or a fixed ``alpha_size``.
* **EE-CPO** (Eq. 5): ``w*`` from the LP with per-category bounds and availability (a category
  cannot contribute more than its candidates); counts ``= weights_to_counts(w*, size)``; inside a
  category the highest-quality candidates are taken. Four variants
  (:data:`~sftmix.studies.beyond_iid.experiments.EECPO_METHODS`, :func:`eecpo_variant`): the
  reading of alpha (``eecpo`` = prose, ``eecpo_printed`` = Eq. 5 as printed) and, with
  ``_trust``, the trust region around alpha (``optimize.trust_region``). One plan
  (:func:`eecpo_plan`) holds all four.
* Baselines of the same size: ``random`` (uniform draw from the pool), ``uniform`` (equal
  category shares, top quality inside each), and the quality-only selections ``deita``,
  ``instag``, ``ifd`` and ``length`` (top-``size`` by that score regardless of category).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...records import Record
from .curriculum import baseline_schedule, dt_csft_schedule, mixplus_schedule
from .experiments import EECPO_METHODS
from .mixture import (
    READINGS,
    TOL,
    Reading,
    TrustRegion,
    category_importance,
    check_reading,
    eecpo_objective_coefficients,
    floored_categories,
    objective_gamma,
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
    """The gamma matrix EE-CPO (Eq. 5) uses, for ``categories`` (rows = added category i, columns
    = measured j), from a :func:`sftmix.studies.beyond_iid.interaction.read_gamma_tsv` result (or
    any :func:`sftmix.studies.beyond_iid.interaction.gamma_matrix` result): cells flagged
    ``unstable`` or absent become NaN. EE-CPO counts NaN cells as 0, and a NaN *diagonal* (an
    unstable column) floors that category
    (:func:`sftmix.studies.beyond_iid.mixture.floored_categories`). A category the gamma result
    does not hold at all raises ValueError (the analysis and the optimization disagree on the
    categories)."""
    src = {c: k for k, c in enumerate(gamma["categories"])}
    absent = [c for c in categories if c not in src]
    if absent:
        raise ValueError(f"gamma has no rows for categories {absent} (it holds {list(src)})")
    values = np.where(np.asarray(gamma["unstable"], dtype=bool), np.nan, np.asarray(gamma["gamma"], dtype=float))
    idx = [src[c] for c in categories]
    return values[np.ix_(idx, idx)].astype(float)


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


def eecpo_variant(method: str) -> tuple[Reading, bool]:
    """The reading of alpha and whether the trust region applies, from an EE-CPO method name:
    ``eecpo`` -> ("prose", False), ``eecpo_printed_trust`` -> ("printed", True). ValueError for a
    name outside :data:`~sftmix.studies.beyond_iid.experiments.EECPO_METHODS`."""
    if method not in EECPO_METHODS:
        raise ValueError(f"{method!r} is not an EE-CPO method; choose from {list(EECPO_METHODS)}")
    parts = method.split("_")[1:]
    return check_reading("printed" if "printed" in parts else "prose"), "trust" in parts


def weight_alpha_correlation(weights: Sequence[float] | np.ndarray,
                             alpha: Sequence[float] | np.ndarray) -> float | None:
    """Pearson's r between a mixture's weights and alpha over the categories; None when it is
    undefined (fewer than two categories, or either vector constant within 1e-9)."""
    w, a = np.asarray(weights, dtype=float), np.asarray(alpha, dtype=float)
    if w.size < 2 or np.std(w) <= TOL or np.std(a) <= TOL:
        return None
    return float(np.corrcoef(w, a)[0, 1])


def _signs(values: np.ndarray) -> list[int]:
    """-1, 0 or 1 per value (|value| <= 1e-9 counts 0)."""
    return [0 if abs(v) <= TOL else int(np.sign(v)) for v in values]


def _solution(sol: Mapping[str, Any], size: int, alpha: np.ndarray) -> dict[str, Any]:
    w = sol["weights"]
    return {"weights": w.tolist(), "counts": weights_to_counts(w, size), "objective": sol["objective"],
            "corr_alpha": weight_alpha_correlation(w, alpha),
            "l1_to_alpha": float(np.abs(w - alpha).sum())}


def eecpo_plan(gamma: np.ndarray, categories: Sequence[str], pool: Sequence[Record],
               quality: Mapping[str, float], sizes: Sequence[int], *, lower: float | Sequence[float],
               upper: float | Sequence[float], trust_region: TrustRegion,
               alpha_size: int | None, seed: int) -> dict[str, Any]:
    """EE-CPO (Beyond IID Eq. 5) for every mixture size and every variant of
    :data:`~sftmix.studies.beyond_iid.experiments.EECPO_METHODS` (:func:`eecpo_variant`: the prose
    or the printed reading of alpha, with or without ``trust_region``).

    alpha for size n = category shares of D_qs, the top-n candidates by ``quality``
    (``alpha_size=None``; or the top-``alpha_size`` for every size; ties broken by a draw seeded
    with ``seed``). For each size the LPs run
    with availability = the number of rankable candidates per category, so every planned count can
    be filled; a category with fewer candidates than its floor gets the floor it can fill
    (``lower_clipped``). Categories with a NaN gamma diagonal are floored (``floored``, logged).
    Beside each reading's bounded variants, the plan holds that reading's *unconstrained* solution
    (only ``sum w = 1, w >= 0`` and availability: the vertex), so a report can show how much the
    bounds and the trust region decide. The layout (JSON-ready, deterministic)::

        {"categories", "available", "lower", "upper", "trust_region", "alpha_size",
         "floored": [category...],
         "row_sums": [...], "row_sum_signs": [-1|0|1...], "negative_rows": [category...],
         "sizes": {"<n>": {
             "alpha": [...], "alpha_size": n_qs, "lower": [effective floor...], "lower_clipped": [...],
             "column_weighted_sum_signs": [...], "negative_column_weighted": [category...],
             "readings": {"prose" | "printed": {"coefficients": [...], "objective_uniform",
                          "objective_alpha", "unconstrained": {solution}}},
             "variants": {"<method>": {"reading", "trust": null | {"kind", "radius", "margin",
                          "collapsed": [category...]}, **solution, "binding": {"lower", "upper",
                          "available", "trust": [category...]}, "l1_to_unconstrained"}}}}}

    where a solution is ``{"weights", "counts", "objective", "corr_alpha" (Pearson r of weights
    and alpha; null if undefined), "l1_to_alpha"}``. ``row_sums`` are gamma's row sums as the
    objective uses them (NaN cells and floored categories 0; a negative row hurts the others
    more than it helps itself); the column-weighted sums ``sum_i alpha_i gamma[j, i]`` (row j
    weighted by the targets' alpha, = the prose coefficients) depend on alpha, hence per size.
    """
    cats = list(categories)
    if len(cats) != np.asarray(gamma).shape[0]:
        raise ValueError(f"gamma has {np.asarray(gamma).shape[0]} categories, {len(cats)} given")
    by_cat = pool_by_category(eligible(pool, quality), cats)
    flat = [r for c in cats for r in by_cat[c]]
    available = np.array([len(by_cat[c]) for c in cats], dtype=float)
    floored = [cats[j] for j in floored_categories(gamma)]
    if floored:
        log.warning("EE-CPO: gamma has no finite diagonal for %s (an unstable column, Eq. 1): their "
                    "interactions are skipped (row and column count 0) and each is floored to its "
                    "lower bound", floored)
    n_nan = int((~np.isfinite(np.asarray(gamma, dtype=float))).sum())
    if n_nan:
        log.info("EE-CPO: %d NaN/inf gamma cell(s) (unstable or absent) count as 0", n_nan)
    row_sums = objective_gamma(gamma).sum(axis=1)
    out: dict[str, Any] = {
        "categories": cats, "available": available.astype(int).tolist(),
        "lower": np.asarray(lower, dtype=float).tolist(), "upper": np.asarray(upper, dtype=float).tolist(),
        "trust_region": dict(trust_region), "alpha_size": alpha_size, "floored": floored,
        "row_sums": row_sums.tolist(), "row_sum_signs": _signs(row_sums),
        "negative_rows": [c for c, v in zip(cats, row_sums, strict=True) if v < -TOL], "sizes": {}}
    for size in (int(s) for s in sizes):
        n_qs = int(alpha_size) if alpha_size is not None else size
        if n_qs > len(flat):
            log.warning("EE-CPO n=%d: D_qs wants the top %d but only %d candidates are rankable; "
                        "alpha uses all of them", size, n_qs, len(flat))
        n_qs = min(n_qs, len(flat))
        alpha = category_importance(quality_mixture(flat, quality, n_qs, seed=seed), cats)
        # A category with fewer rankable candidates than its floor (e.g. IFD excludes every record
        # whose IFD >= 1) cannot be held to it: its floor drops to what it has, logged.
        want = np.broadcast_to(np.asarray(lower, dtype=float), (len(cats),))
        lo = np.minimum(want, available / size)
        clipped = [c for c, a, b in zip(cats, lo, want, strict=True) if a < b]
        if clipped:
            log.warning("EE-CPO n=%d: lower bound reduced to the available candidates for %s", size, clipped)
        uniform = np.full(len(cats), 1.0 / len(cats))
        readings: dict[str, Any] = {}
        unconstrained: dict[str, np.ndarray] = {}
        for reading in READINGS:
            c = eecpo_objective_coefficients(gamma, alpha, reading=reading)
            free = solve_eecpo(gamma, alpha, reading=reading, available=available, total=size, names=cats)
            unconstrained[reading] = free["weights"]
            readings[reading] = {"coefficients": c.tolist(), "objective_uniform": float(c @ uniform),
                                 "objective_alpha": float(c @ alpha),
                                 "unconstrained": _solution(free, size, alpha)}
        variants: dict[str, Any] = {}
        for method in EECPO_METHODS:
            reading, trusted = eecpo_variant(method)
            sol = solve_eecpo(gamma, alpha, reading=reading, lower=lo, upper=upper, available=available,
                              total=size, trust_region=trust_region if trusted else None, names=cats)
            trust = sol["trust"]
            variants[method] = {
                "reading": reading,
                "trust": None if trust is None else {**trust, "collapsed": [cats[j] for j in trust["collapsed"]]},
                **_solution(sol, size, alpha),
                "binding": {k: [cats[j] for j in v] for k, v in sol["binding"].items()},
                "l1_to_unconstrained": float(np.abs(sol["weights"] - unconstrained[reading]).sum()),
            }
        prose = np.asarray(readings["prose"]["coefficients"])
        out["sizes"][str(size)] = {
            "alpha": alpha.tolist(), "alpha_size": n_qs, "lower": lo.tolist(), "lower_clipped": clipped,
            "column_weighted_sum_signs": _signs(prose),
            "negative_column_weighted": [c for c, v in zip(cats, prose, strict=True) if v < -TOL],
            "readings": readings, "variants": variants,
        }
    return out


def build_mixture(method: str, size: int, pool: Sequence[Record], categories: Sequence[str],
                  quality: Mapping[str, Mapping[str, float]], *, rank_by: str, seed: int,
                  plan: Mapping[str, Any] | None = None) -> list[Record]:
    """One mixture of ``size`` records from the candidate ``pool`` (see the module docstring).

    ``quality`` maps a score name (deita, instag, ifd, length) to ``{id: score}`` (higher =
    better); ``rank_by`` is the score that ranks candidates inside a category (uniform, EE-CPO).
    An EE-CPO method (any of :data:`~sftmix.studies.beyond_iid.experiments.EECPO_METHODS`) takes
    the counts of its variant in ``plan`` (:func:`eecpo_plan`).
    Returned sorted by id (the trainer owns the order).
    """
    cats = list(categories)
    in_cats = [r for r in pool if record_category(r) in set(cats)]
    if method == "random":
        chosen = random_mixture(in_cats, size, seed)
    elif method in QUALITY_METHODS:
        q = quality[method]
        chosen = quality_mixture(eligible(in_cats, q), q, size, seed=seed)
    elif method == "uniform":
        q = quality[rank_by]
        chosen = uniform_mixture(pool_by_category(eligible(in_cats, q), cats), size, q, seed)
    elif method in EECPO_METHODS:
        if plan is None or str(int(size)) not in plan["sizes"]:
            raise ValueError(f"mixture {method}: no EE-CPO plan for size {size}")
        variants = plan["sizes"][str(int(size))]["variants"]
        if method not in variants:
            raise ValueError(f"mixture {method}: the EE-CPO plan has no variant {method!r} (has {sorted(variants)})")
        q = quality[rank_by]
        counts = dict(zip(plan["categories"], variants[method]["counts"], strict=True))
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
    """The LP's weights against alpha (Eq. 5): one panel per mixture size, with alpha (the D_qs
    shares of that size) next to the weights of every EE-CPO variant in the plan, and each
    reading's unconstrained vertex as a marker (what the objective alone would pick)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cats = list(plan["categories"])
    sizes = sorted(plan["sizes"].items(), key=lambda x: int(x[0]))
    x = np.arange(len(cats))
    fig, axes = plt.subplots(len(sizes), 1, figsize=(max(7, 0.8 * len(cats) + 5), 3.2 * len(sizes)),
                             squeeze=False, sharex=True)
    for ax, (size, s) in zip(axes[:, 0], sizes, strict=True):
        series = [("alpha (D_qs)", s["alpha"], None)] + [
            (f"{m} ({v['reading']}{', trust' if v['trust'] else ''})", v["weights"], v["reading"])
            for m in EECPO_METHODS if (v := s["variants"].get(m))]
        width = 0.8 / len(series)
        offset = {}
        for k, (label, vals, reading) in enumerate(series):
            dx = (k - (len(series) - 1) / 2) * width
            offset.setdefault(reading, dx)  # a reading's vertex marker sits over its first variant
            ax.bar(x + dx, vals, width, label=label, color="0.6" if k == 0 else None)
        for reading, marker in zip(READINGS, ("v", "^"), strict=True):
            vertex = np.asarray(s["readings"][reading]["unconstrained"]["weights"])
            on = vertex > 0
            ax.plot(x[on] + offset.get(reading, 0.0), vertex[on], marker, linestyle="none", color="black",
                    markersize=5, label=f"unconstrained vertex ({reading})")
        ax.set_ylim(0, 1.08)
        ax.set_ylabel("share of the mixture")
        ax.set_title(f"n = {size} (alpha from the top {s['alpha_size']})", fontsize=9)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes[-1, 0].set_xticks(x)
    axes[-1, 0].set_xticklabels(cats, rotation=45, ha="right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)
