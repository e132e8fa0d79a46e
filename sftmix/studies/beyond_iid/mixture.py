"""Effect-Equivalence-based Category Proportion Optimization (EE-CPO, Beyond IID Eqs. 2-5).

Index convention (used everywhere in this module)
-------------------------------------------------
``gamma[i, j]`` is the effect equivalence coefficient gamma_ij of Eq. 1: *one instruction of
category i "equals" how many instructions of category j*. Its numerator is the effect of adding
C~_i (instructions of category **i**) on the eval items of category **j**, its denominator the
effect of adding C~_j on the same items, so ``gamma[i, i] == 1`` by construction. Row i = the
category that is added (the *source*), column j = the category whose performance is measured
(the *target*).

From Eq. 3 to the LP: the two readings of alpha
-----------------------------------------------
Eq. 3: the equivalent total amount of category i is ``|C_i| + sum_{j != i} gamma_ji |C_j|``;
with ``gamma_ii = 1`` this is ``sum_j gamma_ji |C_j|`` (column i of gamma weighted by the sizes).
Dividing by |D| and setting ``w_j = |C_j| / |D|`` (Eq. 4), then weighting by the category
importance alpha (Eq. 5; alpha = category shares of a quality-score selection D_qs) gives a
linear objective ``obj(w) = sum_j c_j w_j``, maximised subject to ``sum_j w_j = 1, w_j > 0``.
The paper admits two readings of where alpha sits (:func:`eecpo_objective_coefficients`):

* ``reading="prose"``: the text defines alpha_i as the importance of category i, the category
  whose equivalent amount (Eq. 3) is maximised, so alpha weights the *target* index::

      obj(w) = sum_i alpha_i (w_i + sum_{j != i} gamma_ji w_j) = sum_j w_j sum_i alpha_i gamma[j, i]
      c_j    = sum_i alpha_i gamma[j, i]          (row j of gamma weighted by the targets' alpha)

  A category is worth what one of its instructions adds to the important categories.
* ``reading="printed"``: Eq. 5 as printed puts alpha_j on the *source* index j (the category
  whose share w_j is chosen)::

      obj(w) = sum_i sum_j alpha_j gamma_{j,i} w_j,      c_j = alpha_j * rowsum_j(gamma)

  With negative row sums (a category that hurts the others more than it helps itself) this
  reading penalises a category in proportion to its importance, so the categories the quality
  selection rated most important can end up with the smallest shares.

The workflow runs both; its variants (``eecpo`` = prose, ``eecpo_printed`` = printed, ``_trust``
= plus the trust region) are named in :mod:`.experiments` and planned in :mod:`.optimize`.

Vertices, bounds and the trust region
-------------------------------------
A linear objective over the simplex attains its maximum at a vertex: with only
``sum w = 1, w >= 0`` the optimum puts all weight on ``argmax_j c_j`` (ties: any convex
combination of the tied categories). That is a property of Eq. 5 itself, not of the solver, and
it is why :func:`solve_eecpo` takes per-category lower/upper bounds and candidate availability.
The strict ``w_j > 0`` of Eq. 5 is not representable in an LP; give ``lower > 0`` for a floor.

gamma is measured around one operating point (small additions to D, whose category shares are
close to alpha); far from it the linear objective extrapolates. The optional trust region
(``trust_region={"kind", "radius"}``, config ``beyond_iid.optimize.trust_region``) keeps w near
alpha, on top of the bounds (:func:`relative_trust_bounds`, :func:`l1_trust_radius`):

* ``relative``: ``alpha_j (1 - r) <= w_j <= alpha_j (1 + r)``, intersected with the hard
  bounds (lower, upper, availability).
* ``l1``: ``sum_j |w_j - alpha_j| <= r``, linear with auxiliary ``t_j >= +-(w_j - alpha_j)``.

When the region and the hard bounds have no point in common (e.g. alpha_j = 0 and lower > 0, or
alpha far outside the bounds), the region is widened symmetrically by the least amount that makes
the LP feasible, logged, and returned as ``margin`` (never an error: the hard bounds decide).

Unstable categories
-------------------
A category whose gamma diagonal is not finite (its column's denominator, Eq. 1, was unstable) has
no measured interactions: EE-CPO counts its row and column as 0 in the objective and *floors* it,
fixing its weight to its lower bound (0 when the lower bound is 0); see
:func:`floored_categories`.

The authors' released script maximizes ``-(alpha^T Gamma w) / sum(w)`` by gradient steps and then
moves only a fixed 3% of the data; it does not run as released. Here Eq. 5 is solved exactly as
the paper says, as a linear programme (PuLP + CBC).
"""

from __future__ import annotations

import itertools
import logging
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, TypedDict

import numpy as np
import pulp

from ...ranking import rank_key
from ...records import Record
from ...rng import rng

log = logging.getLogger(__name__)

TOL = 1e-9

Reading = Literal["prose", "printed"]
READINGS: tuple[Reading, ...] = ("prose", "printed")
TrustKind = Literal["relative", "l1"]
TRUST_KINDS: tuple[TrustKind, ...] = ("relative", "l1")


class TrustRegion(TypedDict):
    """The trust region around alpha (config ``beyond_iid.optimize.trust_region``; its defaults
    live in the config schema)."""

    kind: TrustKind
    radius: float


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


def _square(gamma: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    g = np.asarray(gamma, dtype=float)
    if g.ndim != 2 or g.shape[0] != g.shape[1]:
        raise ValueError(f"gamma must be a square matrix, got shape {g.shape}")
    return g


def check_reading(reading: str) -> Reading:
    """``reading`` if it is one of :data:`READINGS` (ValueError naming the choices otherwise)."""
    if reading not in READINGS:
        raise ValueError(f"EE-CPO reading must be one of {list(READINGS)} (prose = alpha on the "
                         f"target, printed = Eq. 5 as printed), got {reading!r}")
    return reading  # type: ignore[return-value]


def floored_categories(gamma: np.ndarray | Sequence[Sequence[float]]) -> list[int]:
    """Indices of the categories EE-CPO floors: those whose diagonal gamma[j, j] is not finite.

    Eq. 1 makes the diagonal 1 wherever the category's own effect (the denominator of its column)
    is stable; a NaN diagonal means that column was unstable and the category has no usable
    interactions. Such a category is left out of Eq. 5's objective (its row and column count 0,
    :func:`objective_gamma`) and its weight is fixed to its lower bound (:func:`solve_eecpo`).
    """
    g = _square(gamma)
    return [j for j in range(g.shape[0]) if not np.isfinite(g[j, j])]


def objective_gamma(gamma: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """gamma as Eq. 5's objective uses it: NaN/inf cells (an unstable gamma_ij) count 0 (no effect
    credited either way) and the rows and columns of :func:`floored_categories` are 0. The
    remaining diagonal is used as given (Eq. 1 makes it 1)."""
    g = _square(gamma).copy()
    floored = floored_categories(g)
    bad = ~np.isfinite(g)
    if bad.any():
        log.debug("EE-CPO: %d NaN/inf gamma cell(s) counted as 0", int(bad.sum()))
    g[bad] = 0.0
    g[floored, :] = 0.0
    g[:, floored] = 0.0
    return g


def eecpo_objective_coefficients(gamma: np.ndarray | Sequence[Sequence[float]],
                                 alpha: np.ndarray | Sequence[float], *,
                                 reading: Reading) -> np.ndarray:
    """The linear coefficients c of Eq. 5 (Beyond IID), ``obj(w) = sum_j c_j w_j``, in either
    reading of alpha (module docstring)::

        reading="prose"     c_j = sum_i alpha_i gamma[j, i]     (alpha on the target: the text)
        reading="printed"   c_j = alpha_j * sum_i gamma[j, i]   (alpha on the source: Eq. 5 as printed)

    ``gamma[i, j]`` = "one instruction of category i equals how many of category j" (Eq. 1;
    row = added/source category, column = measured/target category). gamma passes through
    :func:`objective_gamma` first: NaN/inf cells count 0, floored categories' rows and columns are
    0. An unknown ``reading`` raises ValueError.
    """
    check_reading(reading)
    g = objective_gamma(gamma)
    a = np.asarray(alpha, dtype=float)
    if a.shape != (g.shape[0],):
        raise ValueError(f"alpha has shape {a.shape}, gamma has {g.shape[0]} categories")
    if np.isnan(a).any():
        raise ValueError("alpha contains NaN")
    return g @ a if reading == "prose" else a * g.sum(axis=1)


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
                      names: Sequence[str] | None, floored: Sequence[int] = ()
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Check feasibility up front and return (lower, upper, availability cap or None).

    The feasible set is ``{w : lo <= w <= min(up, avail/total), sum w = 1}`` with ``w_j = lo_j``
    for the ``floored`` categories: it is non-empty iff every lo_j <= cap_j and
    sum lo <= 1 <= sum cap. Each violated condition is named.
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
    cap = np.where(np.isin(np.arange(n), list(floored)), np.minimum(lo, cap), cap)
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
        if floored:
            what += " (floored categories at their lower bound)"
        extra = "" if av_cap is None else (
            f": at most {int(np.floor(cap.sum() * total + TOL))} of total {total} instructions "
            "can be filled")
        problems.append(f"sum of caps from {what} {cap.sum():.6g} < 1{extra}")
    if problems:
        raise ValueError("EE-CPO infeasible: " + "; ".join(problems))
    return lo, up, av_cap


def _least_margin(f: Callable[[float], float], knots: Iterable[float]) -> float:
    """The least m >= 0 with ``f(m) <= 0`` for a non-increasing piecewise-linear f whose kinks
    are among ``knots`` and which is <= 0 at the largest knot: linear interpolation between the
    last knot where f > 0 and the first where f <= 0."""
    prev, f_prev = 0.0, f(0.0)
    if f_prev <= 0:
        return 0.0
    for k in sorted({float(k) for k in knots if k > 0}):
        fk = f(k)
        if fk <= 0:
            return prev + f_prev * (k - prev) / (f_prev - fk)
        prev, f_prev = k, fk
    if f_prev <= TOL:  # round-off at the last knot (the hard bounds alone are feasible)
        return prev
    raise ValueError("EE-CPO: the trust region cannot be widened to a feasible one")  # pragma: no cover


def relative_trust_bounds(alpha: np.ndarray, lo: np.ndarray, cap: np.ndarray, radius: float
                          ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Per-category bounds of the relative trust region (``kind: relative``), for Eq. 5's LP.

    The band of category j is ``[alpha_j (1 - r) - m, alpha_j (1 + r) + m]`` intersected with its
    hard interval ``[lo_j, cap_j]`` (lower bound; upper bound and availability), where a band that
    misses the interval is moved onto its nearest point (the least symmetric widening that makes
    it touch the interval: *collapsed*). The margin ``m`` is 0 unless the bands then cannot hold
    ``sum w = 1``; it is the least ``m >= 0`` for which they can (exact: the band sums are
    piecewise linear in m). Requires ``sum lo <= 1 <= sum cap`` (the hard bounds are feasible),
    so a margin always exists (at the latest, the bands are the hard intervals).

    Returns ``(band_lo, band_up, {"margin": m, "collapsed": [j...]})``.
    """
    a_lo, a_up = alpha * (1.0 - radius), alpha * (1.0 + radius)
    collapsed = [j for j in range(alpha.size) if a_up[j] < lo[j] - TOL or a_lo[j] > cap[j] + TOL]

    def bands(m: float) -> tuple[np.ndarray, np.ndarray]:
        return np.clip(a_lo - m, lo, cap), np.clip(a_up + m, lo, cap)

    over = bands(0.0)[0].sum() - 1.0
    if over > TOL:  # the lower band edges alone exceed 1: lower them
        margin = _least_margin(lambda m: bands(m)[0].sum() - 1.0, [*(a_lo - cap), *(a_lo - lo)])
    else:  # the upper band edges may not reach 1: raise them
        margin = _least_margin(lambda m: 1.0 - bands(m)[1].sum(), [*(lo - a_up), *(cap - a_up)])
    if margin <= TOL:
        margin = 0.0
    band_lo, band_up = bands(margin)
    return band_lo, band_up, {"margin": float(margin), "collapsed": collapsed}


def l1_trust_radius(alpha: np.ndarray, lo: np.ndarray, cap: np.ndarray, radius: float) -> float:
    """The radius the L1 trust region (``kind: l1``, ``sum_j |w_j - alpha_j| <= r``) is solved
    with: ``r``, or the least L1 distance from alpha to the hard feasible set when that is larger.

    That distance is ``sum_j |p_j - alpha_j| + |1 - sum_j p_j|`` with p = alpha clipped into
    ``[lo, cap]``: every w of the box is at least ``|p_j - alpha_j|`` further from alpha_j than
    from p_j, and moving p to sum 1 inside the box costs ``|1 - sum p|`` (requires
    ``sum lo <= 1 <= sum cap``).
    """
    p = np.clip(alpha, lo, cap)
    least = float(np.abs(p - alpha).sum() + abs(1.0 - p.sum()))
    return max(float(radius), least)


def _solve_lp(c: np.ndarray, var_lo: np.ndarray, var_up: np.ndarray, *, solver_msg: bool,
              l1_center: np.ndarray | None = None, l1_radius: float | None = None) -> tuple[str, np.ndarray]:
    """max c.w s.t. sum w = 1, var_lo <= w <= var_up (and the L1 ball when given), with CBC."""
    n = c.size
    prob = pulp.LpProblem("eecpo", pulp.LpMaximize)

    def var(name: str, low: float, up: float | None) -> pulp.LpVariable:
        if hasattr(prob, "add_variable"):  # PuLP >= 3.3 attaches variables to the model
            return prob.add_variable(name, low, up)
        return pulp.LpVariable(name, lowBound=low, upBound=up)  # pragma: no cover - older PuLP

    w = [var(f"w_{j}", float(var_lo[j]), float(var_up[j])) for j in range(n)]
    prob += pulp.lpSum(float(c[j]) * w[j] for j in range(n)), "equivalent_amount"
    prob += pulp.lpSum(w) == 1, "simplex"
    if l1_center is not None and l1_radius is not None:
        t = [var(f"t_{j}", 0.0, None) for j in range(n)]
        for j in range(n):
            prob += t[j] >= w[j] - float(l1_center[j]), f"trust_above_{j}"
            prob += t[j] >= float(l1_center[j]) - w[j], f"trust_below_{j}"
        prob += pulp.lpSum(t) <= float(l1_radius), "trust_l1"
    with warnings.catch_warnings():
        # PuLP 3.x flags its bundled CBC as deprecated for 4.0; it is the solver we ship with.
        warnings.simplefilter("ignore", DeprecationWarning)
        solver = pulp.PULP_CBC_CMD(msg=bool(solver_msg))
    prob.solve(solver)
    return pulp.LpStatus[prob.status], np.array([v.value() or 0.0 for v in w], dtype=float)


def solve_eecpo(gamma: np.ndarray | Sequence[Sequence[float]], alpha: np.ndarray | Sequence[float],
                *, reading: Reading, lower: float | Sequence[float] | np.ndarray | None = None,
                upper: float | Sequence[float] | np.ndarray | None = None,
                available: Sequence[float] | np.ndarray | None = None,
                total: int | None = None, trust_region: TrustRegion | None = None,
                names: Sequence[str] | None = None, solver_msg: bool = False) -> dict[str, Any]:
    """Solve Eq. 5 (Beyond IID) in the given ``reading`` of alpha as a linear programme with
    PuLP (CBC)::

        max_w  sum_j c_j w_j        c = eecpo_objective_coefficients(gamma, alpha, reading=reading)
        s.t.   sum_j w_j = 1
               lower_j <= w_j <= upper_j     (defaults 0 and 1; scalars or per-category arrays)
               w_j * total <= available_j    (only when both ``available`` and ``total`` given)
               w_j = lower_j                 for the floored categories (NaN gamma diagonal)
               the trust region around alpha (``trust_region``, see the module docstring)

    Without bounds the optimum is a vertex of the simplex: all weight on ``argmax_j c_j``; bounds,
    availability and the trust region are what make Eq. 5 a useful mixture. ``w_j > 0`` of Eq. 5
    becomes ``w_j >= lower_j``.

    Returns ``{"weights": ndarray, "objective": float, "status": str, "coefficients": ndarray,
    "binding": {"lower", "upper", "available", "trust": [j...]}, "floored": [j...],
    "trust": None | {"kind", "radius", "margin", "collapsed": [j...]}}``. ``binding`` lists the
    categories whose bound is tight (within 1e-9; floored categories are listed only in
    ``floored``): ``trust`` = at the edge of its relative band where that edge is not a hard
    bound, or (l1) moved away from alpha while the L1 ball is tight. ``margin`` is how much the
    trust region was widened to meet the hard bounds (0 = as configured; logged when > 0).
    Raises ``ValueError`` naming the problem when the hard constraints admit no solution (lower >
    upper, sum of lower bounds > 1, caps summing below 1, the solver reporting a non-optimal
    status), for an unknown reading or trust-region kind, and for a negative radius.
    ``names`` (optional) labels categories in messages.
    """
    c = eecpo_objective_coefficients(gamma, alpha, reading=reading)
    a = np.asarray(alpha, dtype=float)
    n = c.size
    if names is not None and len(names) != n:
        raise ValueError(f"names has {len(names)} entries, gamma has {n} categories")
    label = (lambda j: str(names[j])) if names is not None else (lambda j: f"#{j}")
    floored = floored_categories(gamma)
    lo, up, av_cap = _effective_bounds(n, lower, upper, available, total, names, floored)
    cap = up if av_cap is None else np.minimum(up, av_cap)
    cap = np.where(np.isin(np.arange(n), floored), lo, cap)
    var_lo, var_up = lo, cap
    trust: dict[str, Any] | None = None
    l1_radius = None
    if trust_region is not None:
        kind, radius = trust_region["kind"], float(trust_region["radius"])
        if radius < 0:
            raise ValueError(f"trust_region.radius must be >= 0, got {radius}")
        if kind == "relative":
            var_lo, var_up, info = relative_trust_bounds(a, lo, cap, radius)
            info["collapsed"] = [j for j in info["collapsed"] if j not in set(floored)]  # fixed anyway
            trust = {"kind": kind, "radius": radius, **info}
            if info["collapsed"]:
                log.info("EE-CPO trust region (relative, r=%g): the band of %s misses the hard "
                         "bounds; moved onto the nearest bound", radius,
                         [label(j) for j in info["collapsed"]])
        elif kind == "l1":
            l1_radius = l1_trust_radius(a, lo, cap, radius)
            trust = {"kind": kind, "radius": radius, "margin": l1_radius - radius, "collapsed": []}
        else:
            raise ValueError(f"trust_region.kind must be one of {list(TRUST_KINDS)}, got {kind!r}")
        if trust["margin"] > 0:
            log.warning("EE-CPO trust region (%s, r=%g) has no point within the bounds; widened "
                        "by %.6g", kind, radius, trust["margin"])

    status, raw = _solve_lp(c, var_lo, var_up, solver_msg=solver_msg, l1_center=a, l1_radius=l1_radius)
    if status != "Optimal":
        raise ValueError(f"EE-CPO: the LP solver returned status {status!r} (expected Optimal)")
    weights = _polish(raw, var_lo, var_up)
    free = [j for j in range(n) if j not in set(floored)]
    binding: dict[str, list[int]] = {
        "lower": [j for j in free if abs(weights[j] - lo[j]) <= TOL],
        "upper": [j for j in free if abs(weights[j] - up[j]) <= TOL],
        "available": [] if av_cap is None else [j for j in free if abs(weights[j] - av_cap[j]) <= TOL],
        "trust": [],
    }
    if trust is not None and l1_radius is None:
        binding["trust"] = [j for j in free if any(
            abs(weights[j] - edge) <= TOL and abs(edge - lo[j]) > TOL and abs(edge - cap[j]) > TOL
            for edge in (var_lo[j], var_up[j]))]
    elif l1_radius is not None and abs(np.abs(weights - a).sum() - l1_radius) <= 1e-7:
        binding["trust"] = [j for j in free if abs(weights[j] - a[j]) > TOL]
    return {"weights": weights, "objective": float(c @ weights), "status": status,
            "coefficients": c, "binding": binding, "floored": floored, "trust": trust}


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
                      alpha: np.ndarray | Sequence[float], *, reading: Reading,
                      lower: float | Sequence[float] | np.ndarray | None = None,
                      upper: float | Sequence[float] | np.ndarray | None = None,
                      available: Sequence[float] | np.ndarray | None = None,
                      total: int | None = None, steps: int = 40) -> dict[str, Any]:
    """Reference optimum of Eq. 5 (in ``reading``) for tests: enumerate the simplex grid
    ``w = m / steps`` (m a composition of ``steps`` into N non-negative parts) that honours the
    same bounds (floored categories at their lower bound), keep the best objective.

    Exponential in N (``C(steps + N - 1, N - 1)`` points): for N <= 5 or so. When every bound is a
    multiple of 1/steps the LP optimum (a vertex: all but one w_j on a bound) lies on the grid and
    the two optima coincide; otherwise they differ by at most about ``max|c| * N / steps``.
    Returns ``{"weights", "objective"}``; raises ValueError when no grid point is feasible.
    """
    c = eecpo_objective_coefficients(gamma, alpha, reading=reading)
    n = c.size
    lo = _as_vector(lower, n, 0.0, "lower")
    cap = _as_vector(upper, n, 1.0, "upper")
    if available is not None and total is not None:
        cap = np.minimum(cap, _as_vector(available, n, 0.0, "available") / float(total))
    cap = np.where(np.isin(np.arange(n), floored_categories(gamma)), lo, cap)
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


def _check_quality(records: Iterable[Record], quality: Mapping[str, float], where: str) -> None:
    missing = [r["id"] for r in records if r["id"] not in quality]
    if missing:
        raise ValueError(f"{where}: {len(missing)} candidate(s) have no quality score "
                         f"(e.g. {missing[:3]})")


def select_mixture(candidates_by_category: Mapping[str, Sequence[Record]],
                   quality: Mapping[str, float], counts: Mapping[str, int], *,
                   seed: int) -> list[Record]:
    """The paper's EE-CPO set construction: per category, the ``counts[c]`` candidates with the
    highest quality score (ties broken by a draw seeded with ``seed``, see :func:`sftmix.ranking.rank_key`).

    Raises ``ValueError`` naming every category that is short (``have``/``need``/shortfall) and
    every category with a positive count but no candidates. Output order: categories in the order
    of ``counts``, each best first. The same seed gives the same selection.
    """
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
        out.extend(sorted(cands, key=rank_key(quality, seed))[:need])
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
                    total: int, *, seed: int) -> list[Record]:
    """Quality-score baseline (DEITA-like): the ``total`` best candidates by quality regardless of
    category, ties broken by a draw seeded with ``seed``. This is also D_qs, whose category shares
    are Eq. 5's alpha."""
    if total > len(candidates):
        raise ValueError(f"quality_mixture: needs {total} candidates, has {len(candidates)} "
                         f"(short by {total - len(candidates)})")
    _check_quality(candidates, quality, "quality_mixture")
    return sorted(candidates, key=rank_key(quality, seed))[: int(total)]
