"""Optimization experiments as data (sftmix.studies.beyond_iid.optimize) and the comparison report (sftmix.report)."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest

from sftmix.experiments import experiment_family
from sftmix.records import write_json
from sftmix.report import (
    add_benchmark_verdicts,
    agresti_coull_se,
    benchmark_summary,
    benchmark_verdict,
    compare_experiments,
    display_cell,
    higher_is_better,
    load_benchmarks,
    macro_nll,
    nll_cell,
    paired_delta,
    paper_table,
    read_table,
    table_page,
    verdict,
)
from sftmix.studies.beyond_iid.experiments import (
    EECPO_METHODS,
    mixture_experiments,
    parse_mixture,
    schedule_experiments,
)
from sftmix.studies.beyond_iid.interaction import TSV_COLUMNS as GAMMA_TSV_COLUMNS
from sftmix.studies.beyond_iid.interaction import read_gamma_tsv
from sftmix.studies.beyond_iid.optimize import (
    build_mixture,
    build_schedule,
    eecpo_gamma,
    eecpo_plan,
    eecpo_variant,
    mixture_composition,
    weight_alpha_correlation,
)
from sftmix.studies.beyond_iid.report import (
    compare_report,
    paper_tables_markdown,
    write_compare_report,
)

CATS = ["A", "B", "C"]


def rec(i: int, cat: str) -> dict:
    return {"id": f"p-{i:05d}", "source": "p", "meta": {"category": cat},
            "messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}


@pytest.fixture
def pool() -> list[dict]:
    return [rec(i, CATS[i % 3]) for i in range(90)]


@pytest.fixture
def quality(pool) -> dict[str, dict[str, float]]:
    # category A has the best scores by construction; one B record is unscorable (NaN)
    q = {r["id"]: (10.0 if r["meta"]["category"] == "A" else 1.0) + int(r["id"][-5:]) / 1000 for r in pool}
    q["p-00001"] = math.nan
    return {"deita": q, "ifd": dict(q), "instag": dict(q), "length": dict(q)}


def test_experiment_names() -> None:
    assert mixture_experiments(["random", "eecpo"], [10, 20]) == ["mix_random_10", "mix_eecpo_10",
                                                                   "mix_random_20", "mix_eecpo_20"]
    assert schedule_experiments(["dtcsft"]) == ["sched_dtcsft"]
    assert parse_mixture("mix_eecpo_440") == ("eecpo", 440)
    assert [experiment_family(e) for e in ("base", "add_x", "drop_x", "mix_ifd_5", "sched_mixplus")] == \
        ["interaction"] * 3 + ["mixture", "schedule"]
    with pytest.raises(ValueError, match="unknown"):
        mixture_experiments(["best"], [10])
    with pytest.raises(ValueError):
        parse_mixture("mix_best_10")


BOUNDS = {"lower": 0.1, "upper": 0.6, "trust_region": {"kind": "relative", "radius": 0.5}}


def _gamma_tsv(path, cats, gamma: dict, unstable_columns=()) -> None:
    lines = ["\t".join(GAMMA_TSV_COLUMNS)]
    for i in cats:
        for j in cats:
            bad = j in unstable_columns
            g = "nan" if bad else gamma.get((i, j), 1.0 if i == j else 0.5)
            lines.append(f"{i}\t{j}\t{g}\tnan\tnan\tnan\t{'true' if bad else 'false'}\tratio_of_means\t{g}\t0.1")
    path.write_text("\n".join(lines) + "\n")


def test_eecpo_gamma_marks_unstable(tmp_path) -> None:
    p = tmp_path / "gamma.tsv"
    lines = ["\t".join(GAMMA_TSV_COLUMNS)]
    for i in [*CATS, "Z"]:  # a category EE-CPO does not use
        for j in [*CATS, "Z"]:
            unstable = "true" if (i, j) == ("A", "C") else "false"
            lines.append(f"{i}\t{j}\t{1.0 if i == j else 0.5}\tnan\tnan\tnan\t{unstable}\tratio_of_means\t0.5\t0.1")
    p.write_text("\n".join(lines) + "\n")
    g = eecpo_gamma(read_gamma_tsv(p), CATS)
    assert g.shape == (3, 3)
    assert np.isnan(g[0, 2]) and g[0, 1] == 0.5 and (np.diag(g) == 1).all()
    g = eecpo_gamma(read_gamma_tsv(p), ["C", "A"])  # reindexed to the requested order
    assert g[0, 1] == 0.5 and np.isnan(g[1, 0]) and (np.diag(g) == 1).all()
    with pytest.raises(ValueError, match=r"gamma has no rows for categories \['missing'\]"):
        eecpo_gamma(read_gamma_tsv(p), ["A", "missing"])


@pytest.mark.parametrize("method", ["random", "uniform", "deita", "ifd", *EECPO_METHODS])
def test_mixtures_have_equal_size_and_are_deterministic(pool, quality, method) -> None:
    gamma = np.array([[1.0, 0.2, 0.2], [0.1, 1.0, 0.1], [3.0, 3.0, 1.0]])  # C helps everyone
    plan = eecpo_plan(gamma, CATS, pool, quality["deita"], [30], seed=0, alpha_size=None, **BOUNDS)
    a = build_mixture(method, 30, pool, CATS, quality, rank_by="deita", seed=3, plan=plan)
    b = build_mixture(method, 30, list(reversed(pool)), CATS, quality, rank_by="deita", seed=3, plan=plan)
    assert len(a) == 30 and a == b
    assert len({r["id"] for r in a}) == 30
    assert "p-00001" not in {r["id"] for r in a} or method == "random"
    if method in EECPO_METHODS:  # each variant takes its own counts
        counts = plan["sizes"]["30"]["variants"][method]["counts"]
        assert mixture_composition(a, CATS) == dict(zip(CATS, counts, strict=True))


def test_eecpo_variants_from_names() -> None:
    assert [eecpo_variant(m) for m in EECPO_METHODS] == [
        ("prose", False), ("printed", False), ("prose", True), ("printed", True)]
    with pytest.raises(ValueError, match="not an EE-CPO method"):
        eecpo_variant("eecpo_source")


def test_eecpo_plan_follows_the_lp(pool, quality) -> None:
    gamma = np.array([[1.0, 0.2, 0.2], [0.1, 1.0, 0.1], [3.0, 3.0, 1.0]])
    plan = eecpo_plan(gamma, CATS, pool, quality["deita"], [30, 60], seed=0, alpha_size=30, **BOUNDS)
    for size in ("30", "60"):
        s = plan["sizes"][size]
        # alpha: the top-30 quality selection is all category A (A has the best scores)
        assert s["alpha"] == [1.0, 0.0, 0.0] and s["alpha_size"] == 30
        assert set(s["variants"]) == set(EECPO_METHODS)
        for m, v in s["variants"].items():
            assert sum(v["counts"]) == int(size)
            assert abs(sum(v["weights"]) - 1) < 1e-9
            assert all(0.1 - 1e-9 <= w <= 0.6 + 1e-9 for w in v["weights"])
            r = s["readings"][v["reading"]]
            assert r["unconstrained"]["objective"] >= v["objective"] - 1e-12, m
            if v["trust"] is None:  # the bounded LP optimum beats the uniform point (a trust region need not)
                assert v["objective"] >= r["objective_uniform"] - 1e-12, m
    s = plan["sizes"]["30"]
    # alpha = (1, 0, 0). printed: c = alpha * rowsum = (1.4, 0, 0): A takes its cap, B and C tie
    # at 0 (the LP may split them). prose: c = gamma[:, 0] = (1, 0.1, 3): C takes its cap, A the rest.
    assert s["readings"]["printed"]["coefficients"] == pytest.approx([1.4, 0.0, 0.0])
    assert s["readings"]["prose"]["coefficients"] == pytest.approx([1.0, 0.1, 3.0])
    assert s["variants"]["eecpo_printed"]["weights"][0] == pytest.approx(0.6)
    assert s["variants"]["eecpo"]["weights"] == pytest.approx([0.3, 0.1, 0.6])
    assert s["variants"]["eecpo"]["counts"] == [9, 3, 18]
    assert s["variants"]["eecpo"]["binding"] == {"lower": ["B"], "upper": ["C"], "available": [], "trust": []}
    # unconstrained: the vertex within availability (30 candidates of C = all of size 30)
    assert s["readings"]["prose"]["unconstrained"]["counts"] == [0, 0, 30]
    assert s["variants"]["eecpo"]["l1_to_unconstrained"] == pytest.approx(0.8)
    # trust (relative, r = 0.5) around alpha = (1, 0, 0): A's band [0.5, 0.6]; B's and C's [0, 0]
    # collapse onto their floor 0.1, so the tops sum to 0.8 < 1. Widened by m, the tops are
    # 0.6 + 2 max(0.1, m) = 1 at m = 0.2: the only feasible point left is (0.6, 0.2, 0.2)
    t = s["variants"]["eecpo_trust"]
    assert t["trust"] == {"kind": "relative", "radius": 0.5, "margin": pytest.approx(0.2), "collapsed": ["B", "C"]}
    assert t["weights"] == pytest.approx([0.6, 0.2, 0.2]) and t["counts"] == [18, 6, 6]
    mix = build_mixture("eecpo", 30, pool, CATS, quality, rank_by="deita", seed=0, plan=plan)
    assert mixture_composition(mix, CATS) == {"A": 9, "B": 3, "C": 18}


def test_alpha_per_size(pool, quality) -> None:
    gamma = np.array([[1.0, 0.0, 0.0], [0.4, 1.0, 0.0], [0.2, 0.0, 2.0]])
    per_size = eecpo_plan(gamma, CATS, pool, quality["deita"], [30, 60], seed=0, alpha_size=None, **BOUNDS)
    # top-30 = the 30 A records; top-60 = those plus the 30 best of B and C (ids 89, 88, 86, 85, ...:
    # 15 each; the unscorable B record is not among them)
    assert per_size["alpha_size"] is None
    assert per_size["sizes"]["30"]["alpha"] == [1.0, 0.0, 0.0] and per_size["sizes"]["30"]["alpha_size"] == 30
    assert per_size["sizes"]["60"]["alpha"] == [0.5, 0.25, 0.25] and per_size["sizes"]["60"]["alpha_size"] == 60
    fixed = eecpo_plan(gamma, CATS, pool, quality["deita"], [30, 60], seed=0, alpha_size=60, **BOUNDS)
    assert fixed["alpha_size"] == 60
    assert [fixed["sizes"][n]["alpha"] for n in ("30", "60")] == [[0.5, 0.25, 0.25]] * 2
    # the weights follow each size's own alpha. Prose c = gamma @ alpha: (1, 0.4, 0.2) for alpha
    # (1, 0, 0) -> A, B, C in that order; (0.5, 0.45, 0.6) for (0.5, 0.25, 0.25) -> C, A, B
    assert per_size["sizes"]["30"]["variants"]["eecpo"]["weights"] == pytest.approx([0.6, 0.3, 0.1])
    assert fixed["sizes"]["30"]["variants"]["eecpo"]["weights"] == pytest.approx([0.3, 0.1, 0.6])
    # at n = 60 C has only 30 candidates: availability caps it at 0.5 and A takes the rest
    big = per_size["sizes"]["60"]["variants"]["eecpo"]
    assert big["weights"] == pytest.approx([0.4, 0.1, 0.5]) and big["binding"]["available"] == ["C"]


REVIEW_CATS = ["A", "B", "C", "D"]
# A and B, the most important by alpha, hurt C and D (negative row sums -2); C and D barely touch A, B
REVIEW_GAMMA = np.array([[1.0, 0.0, -1.5, -1.5],
                         [0.0, 1.0, -1.5, -1.5],
                         [-0.1, -0.1, 1.0, 0.0],
                         [-0.1, -0.1, 0.0, 1.0]])


def _review_pool() -> tuple[list[dict], dict[str, float]]:
    """4 x 20 candidates whose top 20 by quality are 9 A, 7 B, 3 C, 1 D: alpha = (.45, .35, .15, .05)."""
    pool, q = [], {}
    for k, (cat, best) in enumerate(zip(REVIEW_CATS, (9, 7, 3, 1), strict=True)):
        for i in range(20):
            r = rec(100 * k + i, cat)
            pool.append(r)
            q[r["id"]] = 100.0 - k - i if i < best else 1.0 - i / 100
    return pool, q


def test_corr_w_alpha_sign_per_reading() -> None:
    pool, q = _review_pool()
    plan = eecpo_plan(REVIEW_GAMMA, REVIEW_CATS, pool, q, [20], lower=0.1, upper=0.4,
                      trust_region={"kind": "relative", "radius": 0.5}, seed=0, alpha_size=None)
    assert plan["negative_rows"] == ["A", "B"] and plan["row_sum_signs"] == [-1, -1, 1, 1]
    assert plan["row_sums"] == pytest.approx([-2.0, -2.0, 0.8, 0.8])
    s = plan["sizes"]["20"]
    assert s["alpha"] == pytest.approx([0.45, 0.35, 0.15, 0.05])
    # printed c = alpha * rowsum = (-0.9, -0.7, 0.12, 0.04); prose c = gamma @ alpha = (0.15, 0.05, 0.07, -0.03)
    assert s["readings"]["printed"]["coefficients"] == pytest.approx([-0.9, -0.7, 0.12, 0.04])
    assert s["readings"]["prose"]["coefficients"] == pytest.approx([0.15, 0.05, 0.07, -0.03])
    assert s["column_weighted_sum_signs"] == [1, 1, 1, -1] and s["negative_column_weighted"] == ["D"]
    v = s["variants"]
    # bounds [0.1, 0.4]: the two best categories of each reading take 0.4, the others 0.1
    assert v["eecpo_printed"]["counts"] == [2, 2, 8, 8] and v["eecpo"]["counts"] == [8, 2, 8, 2]
    assert v["eecpo_printed"]["corr_alpha"] == pytest.approx(-3 / math.sqrt(10))
    assert v["eecpo"]["corr_alpha"] == pytest.approx(1 / math.sqrt(10))
    # trust bands: A [.225, .4], B [.175, .4], C [.1, .225], D collapses onto 0.1
    assert v["eecpo_printed_trust"]["weights"] == pytest.approx([0.275, 0.4, 0.225, 0.1])
    assert v["eecpo_trust"]["weights"] == pytest.approx([0.4, 0.275, 0.225, 0.1])
    assert v["eecpo_printed_trust"]["corr_alpha"] == pytest.approx(0.0525 / math.sqrt(0.04625 * 0.1))
    assert v["eecpo_printed_trust"]["trust"]["collapsed"] == ["D"]
    # unconstrained vertices: printed puts everything on C, prose on A
    assert s["readings"]["printed"]["unconstrained"]["counts"] == [0, 0, 20, 0]
    assert s["readings"]["prose"]["unconstrained"]["counts"] == [20, 0, 0, 0]
    assert s["readings"]["prose"]["unconstrained"]["corr_alpha"] == pytest.approx(
        np.corrcoef([1, 0, 0, 0], [0.45, 0.35, 0.15, 0.05])[0, 1])


def test_corr_undefined_is_none() -> None:
    assert weight_alpha_correlation([0.5, 0.5], [0.7, 0.3]) is None
    assert weight_alpha_correlation([0.2, 0.8], [0.5, 0.5]) is None
    assert weight_alpha_correlation([0.2, 0.8], [0.3, 0.7]) == pytest.approx(1.0)


def test_nan_gamma_diagonal_floors_the_category(tmp_path, pool, quality, caplog) -> None:
    p = tmp_path / "gamma.tsv"
    _gamma_tsv(p, CATS, {("C", "A"): 5.0, ("A", "C"): 5.0}, unstable_columns=["C"])
    g = eecpo_gamma(read_gamma_tsv(p), CATS)  # reading a NaN diagonal does not raise
    assert np.isnan(g[2, 2]) and np.isnan(g[0, 2]) and g[2, 0] == 5.0
    with caplog.at_level(logging.WARNING, logger="sftmix.studies.beyond_iid.optimize"):
        plan = eecpo_plan(g, CATS, pool, quality["deita"], [30], seed=0, alpha_size=60, **BOUNDS)
    assert plan["floored"] == ["C"] and "unstable column" in caplog.text and "['C']" in caplog.text
    # C's row (5.0 on A) would make it the best source in both readings; floored, it keeps its 0.1
    assert plan["row_sums"] == pytest.approx([1.5, 1.5, 0.0])
    s = plan["sizes"]["30"]
    for v in s["variants"].values():
        assert v["counts"][2] == 3 and v["weights"][2] == pytest.approx(0.1)
    assert s["readings"]["prose"]["coefficients"][2] == 0.0
    assert s["readings"]["prose"]["unconstrained"]["counts"][2] == 0  # lower 0: excluded
    lower0 = eecpo_plan(g, CATS, pool, quality["deita"], [30], seed=0, alpha_size=60, lower=0.0, upper=0.6,
                        trust_region={"kind": "l1", "radius": 0.5})
    assert all(v["counts"][2] == 0 for v in lower0["sizes"]["30"]["variants"].values())


def test_eecpo_plan_bytes_are_deterministic(tmp_path, pool, quality) -> None:
    gamma = np.array([[1.0, -0.7, 0.2], [0.1, 1.0, np.nan], [0.4, 3.0, 1.0]])
    paths = []
    for k, order in enumerate((pool, list(reversed(pool)), pool)):
        plan = eecpo_plan(gamma, CATS, order, quality["deita"], [30, 60], seed=0, alpha_size=None, **BOUNDS)
        json.dumps(plan, allow_nan=False)  # strict JSON: no NaN anywhere
        paths.append(tmp_path / f"plan{k}.json")
        write_json(paths[-1], plan)
    assert paths[0].read_bytes() == paths[1].read_bytes() == paths[2].read_bytes()


def test_eecpo_respects_availability(pool, quality) -> None:
    gamma = np.eye(3)
    plan = eecpo_plan(gamma, CATS, pool, quality["deita"], [80], seed=0, alpha_size=None, lower=0.0, upper=1.0,
                      trust_region={"kind": "l1", "radius": 0.5})
    avail = plan["available"]
    assert avail == [30, 29, 30]  # one B record has no usable score
    s = plan["sizes"]["80"]
    for v in [*s["variants"].values(), *(r["unconstrained"] for r in s["readings"].values())]:
        assert all(c <= a for c, a in zip(v["counts"], avail, strict=True))


def test_eecpo_floor_drops_for_a_category_without_rankable_candidates(pool, quality) -> None:
    q = {i: (math.nan if r["meta"]["category"] == "C" else v) for r in pool for i, v in [(r["id"], quality["ifd"][r["id"]])]}
    plan = eecpo_plan(np.eye(3), CATS, pool, q, [30], seed=0, alpha_size=None, lower=0.1, upper=0.8,
                      trust_region={"kind": "relative", "radius": 0.5})
    s = plan["sizes"]["30"]
    assert plan["available"][2] == 0 and s["lower_clipped"] == ["C"] and s["lower"] == [0.1, 0.1, 0.0]
    for v in s["variants"].values():
        assert v["counts"][2] == 0 and sum(v["counts"]) == 30


def test_build_schedule_kinds(pool) -> None:
    d = pool[:30]
    layers = {"A": "preliminary", "B": "intermediary", "C": "subsequential"}
    base = build_schedule("baseline", d, layers, pool, seed=1)
    assert len(base) == 90 and {r["meta"]["stage"] for r in base} == {1, 2, 3}
    cur = build_schedule("dtcsft", d, layers, pool, seed=1)
    assert len(cur) == 90
    from collections import Counter
    assert set(Counter(r["id"] for r in cur).values()) == {3}
    mp = build_schedule("mixplus", d, layers, pool, seed=1)
    assert len(mp) == 90 + 60
    extras = [r for r in mp if r["id"] not in {x["id"] for x in d}]
    assert extras and all(r["meta"]["category"] == "A" for r in extras)
    with pytest.raises(ValueError):
        build_schedule("spiral", d, layers, pool, seed=1)
    flat = {"A": "independent", "B": "independent", "C": "independent"}
    assert build_schedule("mixplus", d, flat, pool, seed=1) == build_schedule("baseline", d, flat, pool, seed=1)


# ------------------------------------------------------------------------------- report


def _scores(shift: float, noise: float, seeds=("1", "2"), n=40) -> dict:
    g = np.random.default_rng(int(abs(shift) * 1000) + int(noise * 1000) + 7)
    out = {}
    for s in seeds:
        sd = g.normal(0, noise)
        out[s] = [{"id": f"i{k}", "category": CATS[k % 3], "n_tokens": 5, "nll_mean": 1.0 + k % 5 * 0.1 + shift + sd
                   + g.normal(0, 0.01)} for k in range(n)]
    return out


def test_macro_nll_weighs_categories_equally() -> None:
    rows = [{"id": "a", "category": "A", "n_tokens": 3, "nll_mean": 1.0},
            {"id": "b", "category": "A", "n_tokens": 3, "nll_mean": 1.0},
            {"id": "c", "category": "B", "n_tokens": 3, "nll_mean": 3.0},
            {"id": "d", "category": "B", "n_tokens": 0, "nll_mean": math.nan}]  # no response token
    assert macro_nll(rows, ["A", "B"]) == pytest.approx(2.0)


def test_verdicts_need_both_noise_sources() -> None:
    assert verdict(-0.2, -0.3, -0.1, 0.05) == "better"
    assert verdict(0.2, 0.1, 0.3, 0.05) == "worse"
    assert verdict(-0.2, -0.3, 0.1, 0.05) == "indistinguishable"  # item CI covers 0
    assert verdict(-0.02, -0.03, -0.01, 0.05) == "indistinguishable"  # inside seed noise
    assert verdict(-0.2, -0.3, -0.1, math.nan) == "no_seed_replicates"


def test_compare_experiments_detects_real_and_ignores_seed_noise() -> None:
    scores = {"ref": _scores(0.0, 0.001), "good": _scores(-0.3, 0.001), "same": _scores(0.0, 0.001),
              "noisy": _scores(-0.05, 0.2)}
    rows = compare_experiments(scores, [{"experiment": e, "reference": "ref"} for e in scores], CATS, n_boot=200)
    by = {r["experiment"]: r for r in rows}
    assert by["ref"]["verdict"] == "reference"
    assert by["good"]["verdict"] == "better" and by["good"]["delta"] == pytest.approx(-0.3, abs=0.02)
    assert by["same"]["verdict"] == "indistinguishable"
    assert by["noisy"]["verdict"] == "indistinguishable"  # the seed shift dwarfs the effect
    d = paired_delta(scores, "good", "ref", CATS, n_boot=200)
    assert d["ci_low"] < d["delta"] < d["ci_high"] < 0


def test_benchmark_summary_combines_item_stderr_and_seed_spread() -> None:
    by_seed = {"1": [{"task": "t", "metric": "acc,none", "value": "0.50", "stderr": "0.03"},
                     {"task": "t", "metric": "acc_stderr,none", "value": "0.03", "stderr": ""},
                     {"task": "other", "metric": "acc,none", "value": "0.9", "stderr": "0.01"}],
               "2": [{"task": "t", "metric": "acc,none", "value": "0.60", "stderr": "0.04"}]}
    s = benchmark_summary(by_seed, ["t"])
    assert set(s) == {"t/acc", "t/acc_se"}
    assert s["t/acc"] == pytest.approx(0.55)
    # item error (shared by seeds, not divided) + seed error of the mean: var(0.5, 0.6) / 2
    assert s["t/acc_se"] == pytest.approx(math.sqrt((0.03 ** 2 + 0.04 ** 2) / 2 + 0.005 / 2))
    one = benchmark_summary({"1": by_seed["1"]}, ["t"])
    assert one["t/acc_se"] == pytest.approx(0.03)


def test_benchmark_verdicts_need_two_standard_errors() -> None:
    assert benchmark_verdict(0.60, 0.02, 0.50, 0.02) == "better"  # 0.10 > 2 * 0.028
    assert benchmark_verdict(0.53, 0.02, 0.50, 0.02) == "indistinguishable"
    assert benchmark_verdict(0.40, 0.02, 0.50, 0.02) == "worse"
    assert benchmark_verdict(9.0, 0.1, 10.0, 0.1, higher_better=False) == "better"
    assert benchmark_verdict(0.6, math.nan, 0.5, 0.01) == "no_stderr"
    assert not higher_is_better("wikitext/word_perplexity") and higher_is_better("mmlu/acc")
    rows = [{"experiment": "a", "reference": "r", "t/acc": 0.7, "t/acc_se": 0.01},
            {"experiment": "r", "reference": "r", "t/acc": 0.5, "t/acc_se": 0.01},
            {"experiment": "b", "reference": "missing_ref", "t/acc": 0.5, "t/acc_se": 0.01}]
    add_benchmark_verdicts(rows, ["t/acc"])
    assert [r["t/acc_vs_ref"] for r in rows] == ["better", "reference", "missing"]
    assert display_cell(rows[0], "t/acc") == "0.7000 ± 0.0100 better"
    assert display_cell(rows[1], "t/acc") == "0.5000 ± 0.0100 ref"


def test_paper_table_puts_models_side_by_side_per_size() -> None:
    def row(method, size, nll, verdict):
        r = {"method": method, "size": size, "nll_macro": nll, "nll_macro_sd": 0.01, "verdict": verdict}
        return {"method": method, "size": size, "NLL": nll_cell(r), "bench": f"{nll / 10:.2f}"}

    tables = {"qwen": [row("random", 10, 2.0, "worse"), row("eecpo", 10, 1.9, "reference"),
                       row("random", 20, 1.8, "indistinguishable"), row("eecpo", 20, 1.8, "reference")],
              "llama": [row("random", 10, 2.5, "better"), row("eecpo", 10, 2.6, "reference")]}
    blocks = paper_table(tables, row_key="method", group_key="size", columns=["NLL", "bench"])
    assert [b[0] for b in blocks] == ["size 10", "size 20"]
    title, rows, header = blocks[0]
    assert header == ["method", "qwen: NLL", "qwen: bench", "llama: NLL", "llama: bench"]
    assert rows[0] == {"method": "random", "qwen: NLL": "2.0000 ± 0.0100 worse", "qwen: bench": "0.20",
                       "llama: NLL": "2.5000 ± 0.0100 better", "llama: bench": "0.25"}
    assert rows[1]["qwen: NLL"] == "1.9000 ± 0.0100 ref"
    # a model without that size leaves its cells empty rather than shifting columns
    assert "llama: NLL" not in blocks[1][1][0] and blocks[1][1][0]["qwen: NLL"] == "1.8000 ± 0.0100 n.s."
    (_, rows_one, _), = paper_table({"m": [{"schedule": "dtcsft", "NLL": "x"}]}, row_key="schedule",
                                    group_key=None, columns=["NLL"])
    assert rows_one == [{"schedule": "dtcsft", "m: NLL": "x"}]


def test_benchmark_stderr_is_not_zero_at_zero_accuracy() -> None:
    assert agresti_coull_se(0.3, 10_000) == pytest.approx(math.sqrt(0.3 * 0.7 / 10_000), rel=0.01)
    zero = benchmark_summary({"1": [{"task": "g", "metric": "exact_match,none", "value": "0", "stderr": "0", "n": 110}]},
                             ["g"])
    some = benchmark_summary({"1": [{"task": "g", "metric": "exact_match,none", "value": "0.0364", "stderr": "0.0179",
                                     "n": 110}]}, ["g"])
    assert zero["g/exact_match_se"] == pytest.approx(agresti_coull_se(0.0, 110)) and zero["g/exact_match_se"] > 0.01
    # 0/110 against 4/110 is not a result
    assert benchmark_verdict(zero["g/exact_match"], zero["g/exact_match_se"], some["g/exact_match"],
                             some["g/exact_match_se"]) == "indistinguishable"


def test_compare_report_and_paper_tables(tmp_path) -> None:
    from sftmix.records import write_json, write_tsv

    scores = {"mix_eecpo_4": _scores(0.0, 0.001), "mix_random_4": _scores(0.2, 0.001),
              "sched_baseline": _scores(0.0, 0.001)}
    lm_paths, judge_paths = [], []
    for exp, acc in (("mix_eecpo_4", "0.5"), ("mix_random_4", "0.4")):
        for seed in ("1", "2"):
            p = tmp_path / "lmeval" / exp / f"seed_{seed}.tsv"
            write_tsv(p, [["t", "acc,none", acc, "0.01", "100"], ["x", "acc,none", "0.9", "", ""]],
                      ("task", "metric", "value", "stderr", "n"))
            lm_paths.append(p)
            j = tmp_path / "judge" / exp / f"seed_{seed}.json"
            write_json(j, {"summary": {"overall": 4.0 if exp == "mix_eecpo_4" else 3.0}})
            judge_paths.append(j)
    bench = load_benchmarks(lm_paths, judge_paths, ["t"])
    assert bench["columns"] == ["t/acc", "judge"] and bench["lmeval_experiments"] == ["mix_eecpo_4", "mix_random_4"]
    assert bench["bench"]["mix_eecpo_4"]["t/acc"] == pytest.approx(0.5)
    assert bench["bench"]["mix_random_4"]["judge"] == 3.0
    mixtures = [{"experiment": e, "reference": "mix_eecpo_4", "method": e.split("_")[1], "size": 4}
                for e in ("mix_eecpo_4", "mix_random_4", "mix_missing_4")]
    schedules = [{"experiment": "sched_baseline", "reference": "sched_baseline", "schedule": "baseline"}]
    rep = compare_report(scores, CATS, bench, mixtures=mixtures, schedules=schedules, model="tiny",
                         judge_configured=False, n_boot=50)
    mix = rep["tables"]["mixtures"]
    assert [r["experiment"] for r in mix["rows"]] == ["mix_eecpo_4", "mix_random_4"]  # no scores: left out
    assert mix["rows"][1]["verdict"] == "worse" and mix["columns"][:4] == ["method", "size", "experiment", "reference"]
    assert "t/acc_vs_ref" in mix["columns"] and rep["tables"]["lmeval"]["columns"] == \
        ["experiment", "t/acc", "t/acc_se", "judge", "judge_se"]
    assert rep["markdown"].startswith("## Model tiny\n") and "judge: skipped" in rep["judge_note"]
    outputs = {name: tmp_path / "report" / f"{name}.tsv" for name in ("mixtures", "curriculum", "lmeval")}
    outputs.update({"markdown": tmp_path / "report" / "tables.md", "html": tmp_path / "report" / "tables.html",
                    "mixtures_png": tmp_path / "report" / "m.png",
                    "curriculum_png": tmp_path / "report" / "c.png"})
    write_compare_report(rep, outputs)
    back = read_table(outputs["mixtures"])
    assert back[1]["verdict"] == "worse" and back[1]["nll_macro"] == pytest.approx(mix["rows"][1]["nll_macro"], abs=1e-4)
    assert outputs["markdown"].read_text(encoding="utf-8") == rep["markdown"]
    assert outputs["html"].read_text(encoding="utf-8") == table_page(rep["markdown"], "Model tiny")
    assert outputs["mixtures_png"].read_bytes()[:4] == b"\x89PNG"
    md = paper_tables_markdown([outputs["mixtures"]], [outputs["curriculum"]], ["tiny"])
    assert md.startswith("# Paper tables") and "## Mixtures of equal size" in md and "tiny: t/acc" in md
    assert "## Curriculum" in md
