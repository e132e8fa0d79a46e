"""EE-CPO (Beyond IID Eq. 5): coefficients, the PuLP LP against brute force, rounding, mixtures."""

from __future__ import annotations

import numpy as np
import pytest

from sftmix.studies.beyond_iid.mixture import (
    brute_force_eecpo,
    category_importance,
    eecpo_objective_coefficients,
    floored_categories,
    l1_trust_radius,
    quality_mixture,
    random_mixture,
    relative_trust_bounds,
    select_mixture,
    solve_eecpo,
    uniform_mixture,
    weights_to_counts,
)


def rec(i: int, cat: str) -> dict:
    return {"id": f"w-{i:05d}", "source": "w", "messages": [{"role": "user", "content": str(i)}],
            "meta": {"category": cat}}


def check_feasible(res: dict, lower, upper, available=None, total=None) -> None:
    w = res["weights"]
    assert abs(w.sum() - 1) <= 1e-9
    assert (w >= np.asarray(lower) - 1e-9).all()
    assert (w <= np.asarray(upper) + 1e-9).all()
    if available is not None:
        assert (w * total <= np.asarray(available) + 1e-9).all()


# ---------------------------------------------------------------------------- coefficients


def test_coefficients_index_convention() -> None:
    # gamma[i, j]: one instruction of i equals gamma[i, j] of j. Row 0 helps everyone.
    gamma = np.array([[1.0, 2.0, 3.0],
                      [0.0, 1.0, -1.0],
                      [0.5, 0.5, 1.0]])
    alpha = np.array([0.2, 0.3, 0.5])
    c = eecpo_objective_coefficients(gamma, alpha, reading="printed")
    np.testing.assert_allclose(c, [0.2 * 6, 0.3 * 0, 0.5 * 2])
    # the double sum of Eq. 5 as printed equals c . w for any w
    w = np.array([0.1, 0.6, 0.3])
    eq5 = sum(alpha[j] * gamma[j, i] * w[j] for i in range(3) for j in range(3))
    assert c @ w == pytest.approx(eq5)
    # the prose reading: sum_i alpha_i (w_i + sum_{j != i} gamma_ji w_j), c_j = sum_i alpha_i gamma[j, i]
    prose = eecpo_objective_coefficients(gamma, alpha, reading="prose")
    np.testing.assert_allclose(prose, [0.2 + 0.6 + 1.5, 0.3 - 0.5, 0.1 + 0.15 + 0.5])
    eq3 = sum(alpha[i] * (w[i] + sum(gamma[j, i] * w[j] for j in range(3) if j != i)) for i in range(3))
    assert prose @ w == pytest.approx(eq3)
    with pytest.raises(ValueError, match=r"reading must be one of \['prose', 'printed'\].*'source'"):
        eecpo_objective_coefficients(gamma, alpha, reading="source")  # type: ignore[arg-type]


def test_coefficients_nan_counts_zero() -> None:
    gamma = np.array([[1.0, np.nan], [np.inf, 1.0]])
    for reading in ("prose", "printed"):
        np.testing.assert_allclose(eecpo_objective_coefficients(gamma, [1.0, 1.0], reading=reading), [1.0, 1.0])
    with pytest.raises(ValueError, match="square"):
        eecpo_objective_coefficients(np.ones((2, 3)), [1, 1], reading="prose")


def test_category_importance() -> None:
    sel = [rec(0, "a"), rec(1, "a"), rec(2, "b"), rec(3, "zzz")]
    np.testing.assert_allclose(category_importance(sel, ["a", "b", "c"]), [2 / 3, 1 / 3, 0.0])
    with pytest.raises(ValueError):
        category_importance([rec(0, "q")], ["a"])


# ---------------------------------------------------------------------------- the LP


def test_vertex_without_bounds() -> None:
    gamma = np.array([[1.0, 0.2, 0.1], [0.3, 1.0, 0.9], [0.0, 0.1, 1.0]])
    alpha = np.array([1 / 3] * 3)
    res = solve_eecpo(gamma, alpha, reading="printed")
    c = res["coefficients"]
    assert res["status"] == "Optimal"
    np.testing.assert_allclose(res["weights"], np.eye(3)[np.argmax(c)], atol=1e-12)
    assert res["objective"] == pytest.approx(c.max())
    assert sorted(res["binding"]["upper"]) == [int(np.argmax(c))]


def _random_instance(rs: np.random.Generator, n: int, steps: int, aligned: bool):
    gamma = rs.normal(0, 1, (n, n))
    np.fill_diagonal(gamma, 1.0)
    alpha = rs.dirichlet(np.ones(n))
    if aligned:  # bounds on the 1/steps grid: LP vertex optimum is a grid point
        lower = rs.integers(0, steps // (2 * n) + 1, n) / steps
        upper = np.maximum(lower, rs.integers(steps // n, steps + 1, n) / steps)
    else:
        lower = rs.uniform(0, 0.5 / n, n)
        upper = np.maximum(lower, rs.uniform(1.0 / n, 1.0, n))
    if upper.sum() < 1:
        upper[np.argmin(upper)] = 1.0
    return gamma, alpha, lower, upper


@pytest.mark.parametrize("reading", ["prose", "printed"])
@pytest.mark.parametrize("seed", range(6))
def test_lp_matches_brute_force(seed: int, reading: str) -> None:
    rs = np.random.default_rng(seed)
    n, steps = 3 + seed % 2, 40
    gamma, alpha, lower, upper = _random_instance(rs, n, steps, aligned=True)
    res = solve_eecpo(gamma, alpha, reading=reading, lower=lower, upper=upper)
    check_feasible(res, lower, upper)
    bf = brute_force_eecpo(gamma, alpha, reading=reading, lower=lower, upper=upper, steps=steps)
    assert res["objective"] == pytest.approx(bf["objective"], abs=1e-9)

    gamma, alpha, lower, upper = _random_instance(rs, n, steps, aligned=False)
    res = solve_eecpo(gamma, alpha, reading=reading, lower=lower, upper=upper)
    check_feasible(res, lower, upper)
    bf = brute_force_eecpo(gamma, alpha, reading=reading, lower=lower, upper=upper, steps=steps)
    c = res["coefficients"]
    assert bf["objective"] <= res["objective"] + 1e-9  # the LP is exact; the grid is a subset
    assert res["objective"] - bf["objective"] <= np.ptp(c) * n / steps + 1e-9


@pytest.mark.parametrize("reading", ["prose", "printed"])
@pytest.mark.parametrize("seed", range(3))
def test_lp_availability(seed: int, reading: str) -> None:
    rs = np.random.default_rng(100 + seed)
    n, steps, total = 4, 40, 400  # availability multiples of total/steps = 10
    gamma, alpha, _, _ = _random_instance(rs, n, steps, aligned=True)
    available = rs.integers(5, 25, n) * 10
    lower = np.full(n, 0.05)
    res = solve_eecpo(gamma, alpha, reading=reading, lower=0.05, available=available, total=total)
    check_feasible(res, lower, np.ones(n), available, total)
    bf = brute_force_eecpo(gamma, alpha, reading=reading, lower=0.05, available=available, total=total,
                           steps=steps)
    assert res["objective"] == pytest.approx(bf["objective"], abs=1e-9)
    counts = weights_to_counts(res["weights"], total)
    assert sum(counts) == total and all(k <= a for k, a in zip(counts, available, strict=True))


def test_binding_reports_tight_bounds() -> None:
    gamma = np.diag([3.0, 2.0, 1.0])
    res = solve_eecpo(gamma, np.ones(3), reading="printed", lower=[0.1, 0.1, 0.2], upper=[0.5, 1.0, 1.0])
    np.testing.assert_allclose(res["weights"], [0.5, 0.3, 0.2], atol=1e-12)
    assert res["binding"]["upper"] == [0]
    assert res["binding"]["lower"] == [2]


@pytest.mark.parametrize("kwargs, match", [
    ({"lower": [0.5, 0.4, 0.3]}, "sum of lower bounds"),
    ({"upper": 0.3}, "sum of caps"),
    ({"lower": [0.6, 0, 0], "upper": [0.5, 1, 1]}, "lower > upper"),
    ({"available": [10, 10, 10], "total": 100}, "can be filled"),
    ({"lower": [0.2, 0, 0], "available": [10, 100, 100], "total": 100}, "availability below"),
])
def test_infeasible_raises(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        solve_eecpo(np.eye(3), np.ones(3) / 3, reading="prose", **kwargs)


# ---------------------------------------------------------------------------- hand-solved LPs

# Category 0 hurts the others (row sum -3) and is the most important by alpha; 1 helps everyone.
HAND_GAMMA = np.array([[1.0, -2.0, -2.0],
                       [0.5, 1.0, 0.5],
                       [0.0, 0.0, 1.0]])
HAND_ALPHA = np.array([0.6, 0.1, 0.3])
# printed: c = alpha * rowsum = (0.6 * -3, 0.1 * 2, 0.3 * 1) = (-1.8, 0.2, 0.3)  -> best is 2
# prose:   c = gamma @ alpha = (0.6 - 0.2 - 0.6, 0.3 + 0.1 + 0.15, 0.3) = (-0.2, 0.55, 0.3) -> best is 1


@pytest.mark.parametrize("reading, coef, vertex, bounded, objective", [
    ("printed", [-1.8, 0.2, 0.3], [0, 0, 1], [0.1, 0.3, 0.6], -0.18 + 0.06 + 0.18),
    ("prose", [-0.2, 0.55, 0.3], [0, 1, 0], [0.1, 0.6, 0.3], -0.02 + 0.33 + 0.09),
])
def test_the_two_readings_pick_different_vertices(reading, coef, vertex, bounded, objective) -> None:
    res = solve_eecpo(HAND_GAMMA, HAND_ALPHA, reading=reading)
    np.testing.assert_allclose(res["coefficients"], coef, atol=1e-12)
    np.testing.assert_allclose(res["weights"], vertex, atol=1e-12)
    # bounds [0.1, 0.6]: the best category takes its cap, the second the rest, the worst its floor
    res = solve_eecpo(HAND_GAMMA, HAND_ALPHA, reading=reading, lower=0.1, upper=0.6)
    np.testing.assert_allclose(res["weights"], bounded, atol=1e-12)
    assert res["objective"] == pytest.approx(objective, abs=1e-12)
    assert res["binding"]["lower"] == [0] and res["binding"]["upper"] == [int(np.argmax(coef))]
    assert res["trust"] is None and res["binding"]["trust"] == []


def test_relative_trust_region_by_hand() -> None:
    # bands alpha (1 -+ 0.5): [0.3, 0.9], [0.05, 0.15], [0.15, 0.45]; with [0.1, 0.6]: [0.3, 0.6],
    # [0.1, 0.15], [0.15, 0.45]. Prose c = (-0.2, 0.55, 0.3): 1 and 2 take their band tops, 0 the rest.
    trust = {"kind": "relative", "radius": 0.5}
    res = solve_eecpo(HAND_GAMMA, HAND_ALPHA, reading="prose", lower=0.1, upper=0.6, trust_region=trust)
    np.testing.assert_allclose(res["weights"], [0.4, 0.15, 0.45], atol=1e-12)
    assert res["objective"] == pytest.approx(-0.08 + 0.0825 + 0.135, abs=1e-12)
    assert res["binding"] == {"lower": [], "upper": [], "available": [], "trust": [1, 2]}
    assert res["trust"] == {"kind": "relative", "radius": 0.5, "margin": 0.0, "collapsed": []}
    w = res["weights"]
    assert (w >= HAND_ALPHA * 0.5 - 1e-12).all() and (w <= HAND_ALPHA * 1.5 + 1e-12).all()
    # without the region the same LP sits on the bounds' vertex (0.1, 0.6, 0.3), L1 distance 1.0
    free = solve_eecpo(HAND_GAMMA, HAND_ALPHA, reading="prose", lower=0.1, upper=0.6)
    assert np.abs(free["weights"] - HAND_ALPHA).sum() == pytest.approx(1.0)
    assert np.abs(w - HAND_ALPHA).sum() == pytest.approx(0.4)


def test_l1_trust_region_by_hand() -> None:
    # prose c = (-0.2, 0.55, 0.3): moving mass 0 -> 1 gains 0.75 per unit and costs 2 of the L1
    # budget (the best rate); with r = 0.4 exactly 0.2 moves: w = (0.4, 0.3, 0.3)
    trust = {"kind": "l1", "radius": 0.4}
    res = solve_eecpo(HAND_GAMMA, HAND_ALPHA, reading="prose", lower=0.1, upper=0.6, trust_region=trust)
    np.testing.assert_allclose(res["weights"], [0.4, 0.3, 0.3], atol=1e-9)
    assert res["objective"] == pytest.approx(0.175, abs=1e-9)
    assert np.abs(res["weights"] - HAND_ALPHA).sum() <= 0.4 + 1e-9
    assert res["binding"]["trust"] == [0, 1] and res["trust"]["margin"] == 0.0
    # printed c = (-1.8, 0.2, 0.3): 0 -> 2 is the best move: w = (0.4, 0.1, 0.5)
    res = solve_eecpo(HAND_GAMMA, HAND_ALPHA, reading="printed", lower=0.1, upper=0.6, trust_region=trust)
    np.testing.assert_allclose(res["weights"], [0.4, 0.1, 0.5], atol=1e-9)
    # a radius larger than needed leaves the bounded vertex: the region is not binding
    res = solve_eecpo(HAND_GAMMA, HAND_ALPHA, reading="prose", lower=0.1, upper=0.6,
                      trust_region={"kind": "l1", "radius": 1.5})
    np.testing.assert_allclose(res["weights"], [0.1, 0.6, 0.3], atol=1e-9)
    assert res["binding"]["trust"] == []


def test_trust_region_widens_when_it_misses_the_bounds() -> None:
    alpha = np.array([0.8, 0.2, 0.0])  # alpha_0 > upper, alpha_2 = 0 < lower
    lo, cap = np.full(3, 0.1), np.full(3, 0.6)
    # relative r = 0.5: bands [0.4, 0.6], [0.1, 0.3], and [0, 0] collapses onto 0.1; sum of tops = 1
    band_lo, band_up, info = relative_trust_bounds(alpha, lo, cap, 0.5)
    np.testing.assert_allclose(band_lo, [0.4, 0.1, 0.1])
    np.testing.assert_allclose(band_up, [0.6, 0.3, 0.1])
    assert info == {"margin": 0.0, "collapsed": [2]}
    # r = 0.25: bands [0.6, 0.6], [0.15, 0.25], [0.1, 0.1] top out at 0.95; margin 0.05 reaches 1
    band_lo, band_up, info = relative_trust_bounds(alpha, lo, cap, 0.25)
    assert info["margin"] == pytest.approx(0.05, abs=1e-12) and info["collapsed"] == [2]
    np.testing.assert_allclose(band_lo, [0.55, 0.1, 0.1], atol=1e-12)
    np.testing.assert_allclose(band_up, [0.6, 0.3, 0.1], atol=1e-12)
    res = solve_eecpo(np.eye(3), alpha, reading="prose", lower=0.1, upper=0.6,
                      trust_region={"kind": "relative", "radius": 0.25})
    np.testing.assert_allclose(res["weights"], [0.6, 0.3, 0.1], atol=1e-12)
    assert res["trust"]["margin"] == pytest.approx(0.05, abs=1e-12) and res["binding"]["trust"] == [1]
    # the bands' lower edges exceed 1: alpha = (0.5, 0.5, 0), lower 0.2, r = 0 -> 0.5 + 0.5 + 0.2;
    # the margin lowers every band edge by 0.1
    band_lo, _, info = relative_trust_bounds(np.array([0.5, 0.5, 0.0]), np.full(3, 0.2), np.ones(3), 0.0)
    assert info["margin"] == pytest.approx(0.1, abs=1e-12)
    np.testing.assert_allclose(band_lo, [0.4, 0.4, 0.2], atol=1e-12)
    # l1 r = 0.2: the nearest feasible point is 0.2 + 0.1 + 0.1 = 0.4 away (clip to (0.6, 0.2, 0.1),
    # then add the missing 0.1); the radius grows to 0.4 and the 0.1 goes to c_1 = 0.2 > c_2 = 0
    assert l1_trust_radius(alpha, lo, cap, 0.2) == pytest.approx(0.4, abs=1e-12)
    assert l1_trust_radius(alpha, lo, cap, 0.7) == 0.7
    res = solve_eecpo(np.eye(3), alpha, reading="prose", lower=0.1, upper=0.6,
                      trust_region={"kind": "l1", "radius": 0.2})
    np.testing.assert_allclose(res["weights"], [0.6, 0.3, 0.1], atol=1e-9)
    assert res["trust"]["margin"] == pytest.approx(0.2, abs=1e-12)
    assert np.abs(res["weights"] - alpha).sum() <= 0.4 + 1e-9


@pytest.mark.parametrize("seed", range(8))
def test_trust_region_always_solves_and_holds(seed: int) -> None:
    """Random alpha with zeros, bounds and availability: the region (widened when needed) holds,
    the hard constraints hold, and the objective never beats the LP without the region."""
    rs = np.random.default_rng(500 + seed)
    n, total = 4, 100
    gamma = rs.normal(0, 1, (n, n))
    np.fill_diagonal(gamma, 1.0)
    alpha = rs.dirichlet(np.full(n, 0.4))
    alpha[seed % n] = 0.0
    alpha /= alpha.sum()
    available = np.array([100, *rs.integers(5, 60, n - 1)])
    hard = {"lower": 0.05, "upper": 0.6, "available": available, "total": total}
    free = solve_eecpo(gamma, alpha, reading="prose", **hard)
    for kind in ("relative", "l1"):
        r = float(rs.uniform(0, 0.8))
        res = solve_eecpo(gamma, alpha, reading="prose", trust_region={"kind": kind, "radius": r}, **hard)
        check_feasible(res, np.full(n, 0.05), np.full(n, 0.6), available, total)
        w, m = res["weights"], res["trust"]["margin"]
        assert m >= 0 and res["objective"] <= free["objective"] + 1e-9
        if kind == "l1":
            assert np.abs(w - alpha).sum() <= r + m + 1e-7
        else:
            inside = (w >= alpha * (1 - r) - m - 1e-9) & (w <= alpha * (1 + r) + m + 1e-9)
            assert all(inside[j] or j in res["trust"]["collapsed"] for j in range(n))


def test_trust_region_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match=r"trust_region.kind must be one of \['relative', 'l1'\]"):
        solve_eecpo(np.eye(3), np.ones(3) / 3, reading="prose", trust_region={"kind": "box", "radius": 0.5})
    with pytest.raises(ValueError, match="trust_region.radius must be >= 0"):
        solve_eecpo(np.eye(3), np.ones(3) / 3, reading="prose", trust_region={"kind": "l1", "radius": -1})


@pytest.mark.parametrize("reading", ["prose", "printed"])
def test_nan_diagonal_floors_the_category(reading: str) -> None:
    # category 1's column is unstable (NaN, diagonal included): its row and column count 0 and its
    # weight is fixed to its lower bound, even though its row would otherwise win (3.0 on column 0)
    gamma = np.array([[1.0, np.nan, 0.0],
                      [3.0, np.nan, 0.0],
                      [0.0, np.nan, 1.0]])
    alpha = np.array([0.5, 0.3, 0.2])
    assert floored_categories(gamma) == [1]
    c = eecpo_objective_coefficients(gamma, alpha, reading=reading)
    np.testing.assert_allclose(c, [0.5, 0.0, 0.2])  # both readings: diagonal x alpha, row/column 1 gone
    res = solve_eecpo(gamma, alpha, reading=reading, lower=0.1, upper=0.7)
    np.testing.assert_allclose(res["weights"], [0.7, 0.1, 0.2], atol=1e-12)
    assert res["floored"] == [1] and 1 not in res["binding"]["lower"] + res["binding"]["upper"]
    res = solve_eecpo(gamma, alpha, reading=reading)  # lower 0: the floored category is excluded
    np.testing.assert_allclose(res["weights"], [1.0, 0.0, 0.0], atol=1e-12)
    bf = brute_force_eecpo(gamma, alpha, reading=reading, lower=0.1, upper=0.7, steps=20)
    np.testing.assert_allclose(bf["weights"], [0.7, 0.1, 0.2], atol=1e-12)
    with pytest.raises(ValueError, match=r"floored categories at their lower bound"):
        solve_eecpo(gamma, alpha, reading=reading, upper=0.45)  # 0.45 + 0 + 0.45 < 1 once 1 is floored


# ---------------------------------------------------------------------------- counts and sets


@pytest.mark.parametrize("weights, total", [
    ([0.3, 0.3, 0.4], 10), ([1 / 3] * 3, 100), ([0.5, 0.5], 3), ([0.0, 1.0], 7),
    (list(np.random.default_rng(0).dirichlet(np.ones(29))), 10_000),
])
def test_weights_to_counts_exact(weights, total) -> None:
    counts = weights_to_counts(weights, total)
    assert sum(counts) == total
    exact = np.asarray(weights) / np.sum(weights) * total
    assert all(np.floor(e - 1e-9) <= k <= np.ceil(e + 1e-9) for e, k in zip(exact, counts, strict=True))


def test_weights_to_counts_ties_by_index() -> None:
    assert weights_to_counts([0.5, 0.5], 3) == [2, 1]
    assert weights_to_counts([0.25, 0.25, 0.25, 0.25], 2) == [1, 1, 0, 0]


def _pool(n_per: int, cats=("a", "b", "c")):
    by_cat, quality = {}, {}
    i = 0
    for c in cats:
        by_cat[c] = []
        for _ in range(n_per):
            r = rec(i, c)
            by_cat[c].append(r)
            quality[r["id"]] = float((i * 37) % 11)  # many ties
            i += 1
    return by_cat, quality


def test_select_mixture_top_quality() -> None:
    by_cat, quality = _pool(10)
    out = select_mixture(by_cat, quality, {"a": 3, "b": 0, "c": 5}, seed=0)
    assert len(out) == 8
    for c, need in (("a", 3), ("c", 5)):
        got = [r for r in out if r["meta"]["category"] == c]
        ranked = sorted(by_cat[c], key=lambda r: (-quality[r["id"]], r["id"]))
        assert got == ranked[:need]
    with pytest.raises(ValueError, match=r"'b' needs 12, has 10 \(short by 2\)"):
        select_mixture(by_cat, quality, {"a": 1, "b": 12}, seed=0)


def test_baselines_equal_size() -> None:
    by_cat, quality = _pool(10, cats=("a", "b", "c", "d"))
    by_cat["d"] = by_cat["d"][:2]  # a short category: water filling
    flat = [r for rs in by_cat.values() for r in rs]
    total = 20
    rnd = random_mixture(flat, total, seed=1)
    uni = uniform_mixture(by_cat, total, quality, seed=1)
    qs = quality_mixture(flat, quality, total, seed=1)
    assert len(rnd) == len(uni) == len(qs) == total
    for s in (rnd, uni, qs):
        assert len({r["id"] for r in s}) == total
    per = {c: sum(r["meta"]["category"] == c for r in uni) for c in by_cat}
    assert per["d"] == 2 and sorted(per[c] for c in "abc") == [6, 6, 6]
    assert random_mixture(flat, total, seed=1) == rnd
    assert random_mixture(list(reversed(flat)), total, seed=1) == rnd
    worst_kept = min(quality[r["id"]] for r in qs)
    assert all(quality[r["id"]] <= worst_kept for r in flat if r not in qs)
    with pytest.raises(ValueError, match="short by"):
        random_mixture(flat, 100, seed=0)


def test_ties_are_broken_by_a_seeded_draw_not_by_id():
    """Ten candidates with equal quality, pick three: which three depends on the seed, and is not
    the three smallest ids for every seed; the same seed picks the same ones."""
    recs = [{"id": f"s-{i:03d}", "meta": {"category": "a"}} for i in range(10)]
    quality = {r["id"]: 1.0 for r in recs} | {"s-009": 2.0}  # one clear best, nine tied
    picks = {seed: [r["id"] for r in quality_mixture(recs, quality, 3, seed=seed)] for seed in range(6)}
    assert all(p[0] == "s-009" for p in picks.values()), "a better score still wins"
    assert len({tuple(p) for p in picks.values()}) > 1, "ties follow the seed"
    assert any(p[1:] != ["s-000", "s-001"] for p in picks.values()), "ties are not broken by id"
    assert picks[3] == [r["id"] for r in quality_mixture(list(reversed(recs)), quality, 3, seed=3)]
    by_cat = {"a": recs}
    assert [r["id"] for r in select_mixture(by_cat, quality, {"a": 3}, seed=3)] == picks[3]
