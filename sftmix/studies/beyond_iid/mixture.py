"""Effect-Equivalence-based Category Proportion Optimization (EE-CPO, Beyond IID Eqs. 2-5).

Index convention (used everywhere in this module)
-------------------------------------------------
``gamma[i, j]`` is the effect equivalence coefficient gamma_ij of Eq. 1: *one instruction of
category i "equals" how many instructions of category j*. Its numerator is the effect of adding
C~_i (instructions of category **i**) on the eval items of category **j**, its denominator the
effect of adding C~_j on the same items, so ``gamma[i, i] == 1`` by construction. Row i = the
category that is added (the *source*), column j = the category whose performance is measured
(the *target*).

From Eq. 3 to the LP
--------------------
Eq. 3: the equivalent total amount of category i is ``|C_i| + sum_{j != i} gamma_ji |C_j|``;
with ``gamma_ii = 1`` this is ``sum_j gamma_ji |C_j|`` (column i of gamma weighted by the sizes).
Dividing by |D| and setting ``w_j = |C_j| / |D|`` (Eq. 4), then weighting by the category
importance alpha (Eq. 5, alpha_j = share of category j in a quality-score selection D_qs)::

    obj(w) = sum_i sum_j alpha_j * gamma_{j,i} * w_j = sum_j w_j * c_j,
    c_j    = alpha_j * sum_i gamma[j, i]          (alpha times the row sum of gamma)

    max_w  sum_j c_j w_j   s.t.  sum_j w_j = 1,  w_j > 0                      (Eq. 5)

Eq. 5 as printed puts alpha on the *source* index j (the category whose share w_j is chosen);
``eecpo_objective_coefficients(..., importance="target")`` offers the other reading,
``c_j = sum_i alpha_i gamma[j, i]`` (a source is worth what it adds to important targets).

A linear objective over the simplex attains its maximum at a vertex: with only
``sum w = 1, w >= 0`` the optimum puts all weight on ``argmax_j c_j`` (ties: any convex
combination of the tied categories). That is a property of Eq. 5 itself, not of the solver, and
it is why :func:`solve_eecpo` takes per-category lower/upper bounds and candidate availability:
without them EE-CPO degenerates to "train on one category". The strict ``w_j > 0`` of Eq. 5 is
not representable in an LP; give ``lower > 0`` to enforce a floor.

The authors' released script maximizes ``-(alpha^T Gamma w) / sum(w)`` by gradient steps and then
moves only a fixed 3% of the data; it does not run as released. Here Eq. 5 is solved exactly as
the paper says, as a linear programme (PuLP + CBC).
"""

from __future__ import annotations

import itertools
import logging
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pulp

from ...records import Record
from ...rng import rng

log = logging.getLogger(__name__)

TOL = 1e-9


# --------------------------------------------------------------------------------------------
# Eq. 5 ingredients
# --------------------------------------------------------------------------------------------

def record_category(record: Record) -> str | None:
    """The category name a record carries in ``meta["category"]`` (None if it has none)."""
    return record.get("meta", {}).get("category")


def category_importance(selected_records: Iterable[Record], categories: Sequence[str]) -> np.ndarray:
    """Eq. 5's category importance: ``alpha_i = |C_qs,i| / |D_qs|``.

    ``selected_records`` is a quality-score selection D_qs (e.g. :func:`quality_mixture`).
    The denominator counts only records whose category is in ``categories``, so alpha sums to 1;
    records of other (or no) categories are ignored and logged. Categories absent from D_qs get 0.
    A positive rescaling of alpha does not change the LP's optimum, only its objective value.
    """
    counts = Counter(record_category(r) for r in selected_records)
    order = list(categories)
    if len(set(order)) != len(order):
        raise ValueError("category_importance: duplicate category names")
    known = set(order)
    ignored = sum(n for c, n in counts.items() if c not in known)
    if ignored:
        log.warning("category_importance: %d selected record(s) have a category outside the %d "
                    "analysed ones; ignored", ignored, len(order))
    n = sum(counts[c] for c in order)
    if n == 0:
        raise ValueError("category_importance: no selected record belongs to any of the "
                         f"{len(order)} categories")
    return np.array([counts[c] / n for c in order], dtype=float)


def eecpo_objective_coefficients(gamma: np.ndarray | Sequence[Sequence[float]],
                                 alpha: np.ndarray | Sequence[float], *,
                                 importance: Literal["source", "target"] = "source") -> np.ndarray:
    """The linear coefficients c of Eq. 5, ``obj(w) = sum_j c_j w_j``.

    ``gamma[i, j]`` = "one instruction of category i equals how many of category j" (Eq. 1;
    row = added/source category, column = measured/target category; see the module docstring).
    Eq. 3's equivalent amount of category i is ``sum_j gamma[j, i] |C_j|`` (diagonal = 1), so
    summing over i and weighting by alpha as Eq. 5 prints it::

        sum_i sum_j alpha_j gamma[j, i] w_j = sum_j w_j * (alpha_j * sum_i gamma[j, i])
        c_j = alpha_j * rowsum_j(gamma)                              (importance="source")

    ``importance="target"`` weights the target instead: ``c_j = sum_i alpha_i gamma[j, i]``.

    NaN cells (an unstable gamma_ij, e.g. Eq. 1's denominator near zero) count as 0: no effect is
    credited either way. The diagonal is used as given (Eq. 1 makes it 1).
    """
    g = np.asarray(gamma, dtype=float)
    a = np.asarray(alpha, dtype=float)
    if g.ndim != 2 or g.shape[0] != g.shape[1]:
        raise ValueError(f"gamma must be a square matrix, got shape {g.shape}")
    if a.shape != (g.shape[0],):
        raise ValueError(f"alpha has shape {a.shape}, gamma has {g.shape[0]} categories")
    if np.isnan(a).any():
        raise ValueError("alpha contains NaN")
    g = np.where(np.isfinite(g), g, np.nan)
    if np.isnan(g).any():
        log.info("EE-CPO: %d NaN/inf gamma cell(s) counted as 0", int(np.isnan(g).sum()))
    g = np.nan_to_num(g, nan=0.0)
    if importance == "source":
        return a * g.sum(axis=1)
    if importance == "target":
        return g @ a
    raise ValueError(f"importance must be 'source' or 'target', got {importance!r}")


# --------------------------------------------------------------------------------------------
# The LP
# --------------------------------------------------------------------------------------------

def _as_vector(value: float | Sequence[float] | np.ndarray | None, n: int, default: float,
               name: str) -> np.ndarray:
    if value is None:
        return np.full(n, float(default))
    v = np.asarray(value, dtype=float)
    if v.ndim == 0:
        return np.full(n, float(v))
    if v.shape != (n,):
        raise ValueError(f"{name} has shape {v.shape}, expected a scalar or ({n},)")
    if np.isnan(v).any():
        raise ValueError(f"{name} contains NaN")
    return v


def _effective_bounds(n: int, lower: Any, upper: Any, available: Any, total: Any,
                      names: Sequence[str] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Check feasibility up front and return (lower, upper, availability cap or None).

    The feasible set is ``{w : lo <= w <= min(up, avail/total), sum w = 1}``: it is non-empty
    iff every lo_j <= cap_j and sum lo <= 1 <= sum cap. Each violated condition is named.
    """
    label = (lambda j: repr(names[j])) if names is not None else (lambda j: f"#{j}")
    lo = _as_vector(lower, n, 0.0, "lower")
    up = _as_vector(upper, n, 1.0, "upper")
    if (lo < 0).any():
        raise ValueError("EE-CPO infeasible: negative lower bound for "
                         + ", ".join(label(j) for j in np.flatnonzero(lo < 0)))
    av_cap = None
    if (available is None) != (total is None):
        log.warning("EE-CPO: availability needs both `available` and `total`; ignoring it")
    elif available is not None:
        if total <= 0:
            raise ValueError(f"EE-CPO: total must be positive, got {total}")
        av = _as_vector(available, n, 0.0, "available")
        if (av < 0).any():
            raise ValueError("EE-CPO: negative availability")
        av_cap = av / float(total)
    cap = up if av_cap is None else np.minimum(up, av_cap)
    problems: list[str] = []
    bad = np.flatnonzero(lo > up + TOL)
    if bad.size:
        problems.append("lower > upper for " + ", ".join(
            f"{label(j)} ({lo[j]:g} > {up[j]:g})" for j in bad))
    if av_cap is not None:
        bad = np.flatnonzero((lo > av_cap + TOL) & (lo <= up + TOL))
        if bad.size:
            problems.append("availability below the lower bound for " + ", ".join(
                f"{label(j)} (needs {lo[j] * total:g} of {total}, has {av_cap[j] * total:g})"
                for j in bad))
    if lo.sum() > 1 + TOL:
        problems.append(f"sum of lower bounds {lo.sum():.6g} > 1")
    if cap.sum() < 1 - TOL:
        what = "upper bounds" if av_cap is None else "upper bounds and availability"
        extra = "" if av_cap is None else (
            f": at most {int(np.floor(np.minimum(up * total, av_cap * total).sum() + TOL))} "
            f"of total {total} instructions can be filled")
        problems.append(f"sum of caps from {what} {cap.sum():.6g} < 1{extra}")
    if problems:
        raise ValueError("EE-CPO infeasible: " + "; ".join(problems))
    return lo, up, av_cap


def solve_eecpo(gamma: np.ndarray | Sequence[Sequence[float]], alpha: np.ndarray | Sequence[float],
                *, lower: float | Sequence[float] | np.ndarray | None = None,
                upper: float | Sequence[float] | np.ndarray | None = None,
                available: Sequence[float] | np.ndarray | None = None,
                total: int | None = None, solver_msg: bool = False,
                importance: Literal["source", "target"] = "source",
                names: Sequence[str] | None = None) -> dict[str, Any]:
    """Solve Eq. 5 as a linear programme with PuLP (CBC)::

        max_w  sum_j c_j w_j                 c = eecpo_objective_coefficients(gamma, alpha)
        s.t.   sum_j w_j = 1
               lower_j <= w_j <= upper_j     (defaults 0 and 1; scalars or per-category arrays)
               w_j * total <= available_j    (only when both ``available`` and ``total`` given)

    Without bounds the optimum is a vertex of the simplex: all weight on ``argmax_j c_j`` (see the
    module docstring); bounds and availability are what make Eq. 5 a useful mixture. ``w_j > 0``
    of Eq. 5 becomes ``w_j >= lower_j``.

    Returns ``{"weights": ndarray, "objective": float, "status": str, "coefficients": ndarray,
    "binding": {"lower": [j...], "upper": [j...], "available": [j...]}}`` where ``binding`` lists
    the categories whose bound is tight (within 1e-9). Raises ``ValueError`` naming the problem
    when the constraints admit no solution (lower > upper, sum of lower bounds > 1, caps from
    upper bounds and availability summing below 1, or the solver reporting a non-optimal status).
    ``names`` (optional) labels categories in error messages.
    """
    c = eecpo_objective_coefficients(gamma, alpha, importance=importance)
    n = c.size
    if names is not None and len(names) != n:
        raise ValueError(f"names has {len(names)} entries, gamma has {n} categories")
    lo, up, av_cap = _effective_bounds(n, lower, upper, available, total, names)

    prob = pulp.LpProblem("eecpo", pulp.LpMaximize)
    if hasattr(prob, "add_variable"):  # PuLP >= 3.3 attaches variables to the model
        w = [prob.add_variable(f"w_{j}", float(lo[j]), float(up[j])) for j in range(n)]
    else:  # pragma: no cover - older PuLP
        w = [pulp.LpVariable(f"w_{j}", lowBound=float(lo[j]), upBound=float(up[j]))
             for j in range(n)]
    prob += pulp.lpSum(float(c[j]) * w[j] for j in range(n)), "equivalent_amount"
    prob += pulp.lpSum(w) == 1, "simplex"
    if av_cap is not None:
        for j in range(n):
            prob += float(total) * w[j] <= float(av_cap[j] * total), f"available_{j}"
    with warnings.catch_warnings():
        # PuLP 3.x flags its bundled CBC as deprecated for 4.0; it is the solver we ship with.
        warnings.simplefilter("ignore", DeprecationWarning)
        solver = pulp.PULP_CBC_CMD(msg=bool(solver_msg))
    prob.solve(solver)
    status = pulp.LpStatus[prob.status]
    if status != "Optimal":
        raise ValueError(f"EE-CPO: the LP solver returned status {status!r} (expected Optimal)")
    weights = _polish(np.array([v.value() or 0.0 for v in w], dtype=float), lo,
                      up if av_cap is None else np.minimum(up, av_cap))
    binding = {
        "lower": [j for j in range(n) if abs(weights[j] - lo[j]) <= TOL],
        "upper": [j for j in range(n) if abs(weights[j] - up[j]) <= TOL],
        "available": [] if av_cap is None else
        [j for j in range(n) if abs(weights[j] - av_cap[j]) <= TOL],
    }
    return {"weights": weights, "objective": float(c @ weights), "status": status,
            "coefficients": c, "binding": binding}


def _polish(w: np.ndarray, lo: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Remove solver round-off: clip into [lo, cap], snap near-bound values onto the bound, and
    put the residual of ``sum w - 1`` on the categories with room (largest slack first)."""
    w = np.clip(w, lo, cap)
    snap_lo = np.abs(w - lo) <= 1e-7
    snap_up = np.abs(w - cap) <= 1e-7
    w = np.where(snap_lo, lo, np.where(snap_up, cap, w))
    resid = 1.0 - w.sum()
    if resid != 0.0:
        room = (cap - w) if resid > 0 else (w - lo)
        for j in np.argsort(-room, kind="stable"):
            step = min(abs(resid), room[j])
            w[j] += step if resid > 0 else -step
            resid -= step if resid > 0 else -step
            if abs(resid) <= 0.0:
                break
    return w


def brute_force_eecpo(gamma: np.ndarray | Sequence[Sequence[float]],
                      alpha: np.ndarray | Sequence[float], *,
                      lower: float | Sequence[float] | np.ndarray | None = None,
                      upper: float | Sequence[float] | np.ndarray | None = None,
                      available: Sequence[float] | np.ndarray | None = None,
                      total: int | None = None, steps: int = 40,
                      importance: Literal["source", "target"] = "source") -> dict[str, Any]:
    """Reference optimum for tests: enumerate the simplex grid ``w = m / steps`` (m a composition
    of ``steps`` into N non-negative parts) that honours the same bounds, keep the best objective.

    Exponential in N (``C(steps + N - 1, N - 1)`` points): for N <= 5 or so. When every bound is a
    multiple of 1/steps the LP optimum (a vertex: all but one w_j on a bound) lies on the grid and
    the two optima coincide; otherwise they differ by at most about ``max|c| * N / steps``.
    Returns ``{"weights", "objective"}``; raises ValueError when no grid point is feasible.
    """
    c = eecpo_objective_coefficients(gamma, alpha, importance=importance)
    n = c.size
    lo = _as_vector(lower, n, 0.0, "lower")
    cap = _as_vector(upper, n, 1.0, "upper")
    if available is not None and total is not None:
        cap = np.minimum(cap, _as_vector(available, n, 0.0, "available") / float(total))
    best_obj, best_w = -np.inf, None
    for bars in itertools.combinations(range(steps + n - 1), n - 1):
        edges = (-1, *bars, steps + n - 1)
        m = np.diff(edges) - 1
        wv = m / steps
        if (wv < lo - TOL).any() or (wv > cap + TOL).any():
            continue
        obj = float(c @ wv)
        if obj > best_obj:
            best_obj, best_w = obj, wv
    if best_w is None:
        raise ValueError(f"brute_force_eecpo: no point of the 1/{steps} grid satisfies the bounds")
    return {"weights": best_w, "objective": best_obj}


# --------------------------------------------------------------------------------------------
# From weights to a training set
# --------------------------------------------------------------------------------------------

def weights_to_counts(weights: Sequence[float] | np.ndarray, total: int) -> list[int]:
    """Integer counts summing exactly to ``total`` (largest-remainder / Hamilton rounding).

    Each category first gets ``floor(w_j * total)``; the remaining units go to the largest
    fractional remainders, ties broken by lower index (remainders are compared after rounding to
    12 decimals so float noise does not decide ties). Weights are normalized by their sum (a
    warning is logged if it is not 1 within 1e-6). A count never exceeds ``ceil(w_j * total)``,
    so an availability bound ``w_j * total <= available_j`` from the LP survives the rounding.
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1 or w.size == 0:
        raise ValueError("weights_to_counts: weights must be a non-empty vector")
    if total < 0 or int(total) != total:
        raise ValueError(f"weights_to_counts: total must be a non-negative integer, got {total}")
    if (w < 0).any() or not np.isfinite(w).all():
        raise ValueError("weights_to_counts: weights must be finite and non-negative")
    s = w.sum()
    if s <= 0:
        raise ValueError("weights_to_counts: weights sum to 0")
    if abs(s - 1) > 1e-6:
        log.warning("weights_to_counts: weights sum to %.6g; normalizing", s)
    exact = w / s * int(total)
    base = np.floor(exact + 1e-12).astype(int)
    base = np.minimum(base, np.ceil(exact - 1e-12).astype(int))  # floor(x+eps) never passes ceil
    rem = np.round(exact - base, 12)
    left = int(total) - int(base.sum())
    order = sorted(range(w.size), key=lambda j: (-rem[j], j))
    counts = base.copy()
    for j in order[:left]:
        counts[j] += 1
    return [int(x) for x in counts]


def _rank_key(quality: Mapping[str, float]):
    def key(r: Record) -> tuple[float, str]:
        return (-float(quality[r["id"]]), r["id"])
    return key


def _check_quality(records: Iterable[Record], quality: Mapping[str, float], where: str) -> None:
    missing = [r["id"] for r in records if r["id"] not in quality]
    if missing:
        raise ValueError(f"{where}: {len(missing)} candidate(s) have no quality score "
                         f"(e.g. {missing[:3]})")


def select_mixture(candidates_by_category: Mapping[str, Sequence[Record]],
                   quality: Mapping[str, float], counts: Mapping[str, int], *,
                   seed: int) -> list[Record]:
    """The paper's EE-CPO set construction: per category, the ``counts[c]`` candidates with the
    highest quality score (ties broken by id, ascending).

    Raises ``ValueError`` naming every category that is short (``have``/``need``/shortfall) and
    every category with a positive count but no candidates. Output order: categories in the order
    of ``counts``, each best first. The selection is deterministic; ``seed`` is accepted for a
    uniform signature with the other mixtures and is not used.
    """
    del seed
    short: list[str] = []
    for cat, need in counts.items():
        if need < 0:
            raise ValueError(f"select_mixture: negative count {need} for category {cat!r}")
        have = len(candidates_by_category.get(cat, ()))
        if need > have:
            short.append(f"{cat!r} needs {need}, has {have} (short by {need - have})")
    if short:
        raise ValueError("select_mixture: not enough candidates: " + "; ".join(short))
    out: list[Record] = []
    for cat, need in counts.items():
        if need == 0:
            continue
        cands = candidates_by_category[cat]
        _check_quality(cands, quality, f"select_mixture[{cat!r}]")
        out.extend(sorted(cands, key=_rank_key(quality))[:need])
    return out


def random_mixture(candidates: Sequence[Record], total: int, seed: int) -> list[Record]:
    """Random Selection baseline: ``total`` candidates drawn uniformly without replacement
    (seeded; the draw depends on the candidates' ids, not on their input order)."""
    if total > len(candidates):
        raise ValueError(f"random_mixture: needs {total} candidates, has {len(candidates)} "
                         f"(short by {total - len(candidates)})")
    pool = sorted(candidates, key=lambda r: r["id"])
    return rng(seed, "random_mixture").sample(pool, int(total))


def uniform_mixture(candidates_by_category: Mapping[str, Sequence[Record]], total: int,
                    quality: Mapping[str, float], seed: int) -> list[Record]:
    """Equal category proportions baseline: ``total`` split as evenly as possible over the
    categories, top quality inside each category.

    A category with fewer candidates than its share gives it all it has and the shortfall is
    re-split over the others (water filling), so the set still has exactly ``total`` records.
    Which categories get the one-record remainder of an uneven split is chosen with ``seed``.
    """
    cats = [c for c in candidates_by_category if len(candidates_by_category[c]) > 0]
    have = {c: len(candidates_by_category[c]) for c in cats}
    if total > sum(have.values()):
        raise ValueError(f"uniform_mixture: needs {total} candidates, has {sum(have.values())} "
                         f"over {len(cats)} categories (short by {total - sum(have.values())})")
    counts = {c: 0 for c in cats}
    open_ = sorted(cats)
    rng(seed, "uniform_mixture").shuffle(open_)  # seeded order for the remainder units
    left = int(total)
    while left > 0:
        share, rem = divmod(left, len(open_))
        nxt = []
        for k, c in enumerate(open_):
            give = min(share + (1 if k < rem else 0), have[c] - counts[c])
            counts[c] += give
            left -= give
            if counts[c] < have[c]:
                nxt.append(c)
        open_ = nxt
    ordered = {c: counts[c] for c in candidates_by_category if c in counts}
    return select_mixture(candidates_by_category, quality, ordered, seed=seed)


def quality_mixture(candidates: Sequence[Record], quality: Mapping[str, float],
                    total: int) -> list[Record]:
    """Quality-score baseline (DEITA-like): the ``total`` best candidates by quality regardless of
    category, ties by id. This is also D_qs, whose category shares are Eq. 5's alpha."""
    if total > len(candidates):
        raise ValueError(f"quality_mixture: needs {total} candidates, has {len(candidates)} "
                         f"(short by {total - len(candidates)})")
    _check_quality(candidates, quality, "quality_mixture")
    return sorted(candidates, key=_rank_key(quality))[: int(total)]
