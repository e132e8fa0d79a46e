"""EE-CPO (Beyond IID Eq. 5): coefficients, the PuLP LP against brute force, rounding, mixtures."""

from __future__ import annotations

import numpy as np
import pytest

from sftmix.studies.beyond_iid.mixture import (
    brute_force_eecpo,
    category_importance,
    eecpo_objective_coefficients,
    quality_mixture,
    random_mixture,
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
    c = eecpo_objective_coefficients(gamma, alpha)
    np.testing.assert_allclose(c, [0.2 * 6, 0.3 * 0, 0.5 * 2])
    # the double sum of Eq. 5 equals c . w for any w
    w = np.array([0.1, 0.6, 0.3])
    eq5 = sum(alpha[j] * gamma[j, i] * w[j] for i in range(3) for j in range(3))
    assert c @ w == pytest.approx(eq5)
    # the "target" reading: c_j = sum_i alpha_i gamma[j, i]
    np.testing.assert_allclose(eecpo_objective_coefficients(gamma, alpha, importance="target"),
                               gamma @ alpha)


def test_coefficients_nan_counts_zero() -> None:
    gamma = np.array([[1.0, np.nan], [np.inf, 1.0]])
    np.testing.assert_allclose(eecpo_objective_coefficients(gamma, [1.0, 1.0]), [1.0, 1.0])
    with pytest.raises(ValueError, match="square"):
        eecpo_objective_coefficients(np.ones((2, 3)), [1, 1])


def test_category_importance() -> None:
    sel = [rec(0, "a"), rec(1, "a"), rec(2, "b"), rec(3, "zzz")]
    np.testing.assert_allclose(category_importance(sel, ["a", "b", "c"]), [2 / 3, 1 / 3, 0.0])
    with pytest.raises(ValueError):
        category_importance([rec(0, "q")], ["a"])


# ---------------------------------------------------------------------------- the LP


def test_vertex_without_bounds() -> None:
    gamma = np.array([[1.0, 0.2, 0.1], [0.3, 1.0, 0.9], [0.0, 0.1, 1.0]])
    alpha = np.array([1 / 3] * 3)
    res = solve_eecpo(gamma, alpha)
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


@pytest.mark.parametrize("seed", range(6))
def test_lp_matches_brute_force(seed: int) -> None:
    rs = np.random.default_rng(seed)
    n, steps = 3 + seed % 2, 40
    gamma, alpha, lower, upper = _random_instance(rs, n, steps, aligned=True)
    res = solve_eecpo(gamma, alpha, lower=lower, upper=upper)
    check_feasible(res, lower, upper)
    bf = brute_force_eecpo(gamma, alpha, lower=lower, upper=upper, steps=steps)
    assert res["objective"] == pytest.approx(bf["objective"], abs=1e-9)

    gamma, alpha, lower, upper = _random_instance(rs, n, steps, aligned=False)
    res = solve_eecpo(gamma, alpha, lower=lower, upper=upper)
    check_feasible(res, lower, upper)
    bf = brute_force_eecpo(gamma, alpha, lower=lower, upper=upper, steps=steps)
    c = res["coefficients"]
    assert bf["objective"] <= res["objective"] + 1e-9  # the LP is exact; the grid is a subset
    assert res["objective"] - bf["objective"] <= np.ptp(c) * n / steps + 1e-9


@pytest.mark.parametrize("seed", range(3))
def test_lp_availability(seed: int) -> None:
    rs = np.random.default_rng(100 + seed)
    n, steps, total = 4, 40, 400  # availability multiples of total/steps = 10
    gamma, alpha, _, _ = _random_instance(rs, n, steps, aligned=True)
    available = rs.integers(5, 25, n) * 10
    lower = np.full(n, 0.05)
    res = solve_eecpo(gamma, alpha, lower=0.05, available=available, total=total)
    check_feasible(res, lower, np.ones(n), available, total)
    bf = brute_force_eecpo(gamma, alpha, lower=0.05, available=available, total=total, steps=steps)
    assert res["objective"] == pytest.approx(bf["objective"], abs=1e-9)
    counts = weights_to_counts(res["weights"], total)
    assert sum(counts) == total and all(k <= a for k, a in zip(counts, available, strict=True))


def test_binding_reports_tight_bounds() -> None:
    gamma = np.diag([3.0, 2.0, 1.0])
    res = solve_eecpo(gamma, np.ones(3), lower=[0.1, 0.1, 0.2], upper=[0.5, 1.0, 1.0])
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
        solve_eecpo(np.eye(3), np.ones(3) / 3, **kwargs)


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
    qs = quality_mixture(flat, quality, total)
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
