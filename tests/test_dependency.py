"""Beyond IID's dependency taxonomy: published Wilcoxon + BH test, the seed-calibrated test,
the seed false-positive rate, layers, edge scores and the graph plot."""

from __future__ import annotations

import math

import pytest

from sftmix.experiments import slugify
from sftmix.studies.beyond_iid.dependency import (
    calibrated_dependency,
    calibrated_seed_false_positive_rate,
    dependency_analysis,
    dependency_json,
    edge_scores,
    plot_dependency_graph,
    published_dependency,
    seed_false_positive_rate,
    taxonomy_layers,
    validate_dependency,
)

from .synthetic_scores import CATS, EXPERIMENTS, make_scores  # noqa: F401

A, B, C, D, E, F = CATS


def drop(c: str) -> str:
    return f"drop_{slugify(c)}"


PLANTED = {(drop(A), B): 0.3,                        # B depends on A
           (drop(C), D): 0.3, (drop(D), C): 0.3}     # two-way: synergy, not dependency


def test_published_finds_edge_asymmetry_and_bh():
    res = published_dependency(make_scores(PLANTED, run_sd=0.0, rng_seed=1), CATS)
    assert res["hurts"][A][B] and res["hurts"][C][D] and res["hurts"][D][C]
    assert res["edges"] == [(A, B)]
    assert res["mutual"] == [(C, D)]
    assert len(res["tests"]) == len(CATS) * (len(CATS) - 1)
    assert all(t["p_adj"] >= t["p"] for t in res["tests"])
    assert any(t["p_adj"] > t["p"] for t in res["tests"])
    ab = next(t for t in res["tests"] if (t["i"], t["j"]) == (A, B))
    assert ab["median_diff"] > 0 and ab["n"] == 40 and ab["p_adj"] < 1e-6
    assert res["untested_reverse"] == [] and res["not_tested"] == []


def test_published_missing_drop_counts_reverse_as_untested():
    scores = make_scores(PLANTED, run_sd=0.0, rng_seed=1)
    del scores[drop(B)]
    res = published_dependency(scores, CATS)
    assert (A, B) in res["edges"] and res["untested_reverse"] == [(A, B)]
    assert res["not_tested"] == [B] and B not in res["hurts"]
    with pytest.raises(ValueError):
        published_dependency(scores, CATS, seed="7")


def _run_noise_case():
    """Category E: run-level offsets of 0.1 that hit one seed of every experiment (all items move
    together). At seed 1 only drop_A is shifted, so one run of drop_A vs one run of base shows a
    perfectly consistent +0.1 on E; seed-averaged, drop_A and base are identical on E."""
    c = 0.1
    offsets = {}
    for e in EXPERIMENTS:
        s_hi = "1" if e == drop(A) else "2"
        offsets[(e, s_hi, E)] = c
        offsets[(e, "1" if s_hi == "2" else "2", E)] = 0.0
    return make_scores({(drop(A), B): 0.3}, run_sd=0.03, rng_seed=2, offsets=offsets), c


def test_calibrated_keeps_planted_edge_and_rejects_run_noise():
    scores, c = _run_noise_case()
    pub = published_dependency(scores, CATS)
    assert pub["hurts"][A][B]
    assert pub["hurts"][A][E] and (A, E) in pub["edges"]  # seed noise taken for a dependency
    # with run noise (sd 0.03) every one-run comparison is a consistent shift: many pairs
    # "hurt", and a spurious reverse hurts(B, A) can even hide the planted edge as "mutual"
    assert sum(t["hurts"] for t in pub["tests"]) >= 5
    cal = calibrated_dependency(scores, CATS)
    assert cal["edges"] == [(A, B)]
    assert not cal["hurts"][A][E]
    ae = next(t for t in cal["tests"] if (t["i"], t["j"]) == (A, E))
    assert abs(ae["delta"]) < 0.03 and ae["p"] > 0.2
    assert cal["sigma"][E] == pytest.approx(c / math.sqrt(2), rel=0.15)
    ab = next(t for t in cal["tests"] if (t["i"], t["j"]) == (A, B))
    assert ab["delta"] == pytest.approx(0.3, abs=0.06) and ab["p_adj"] < 1e-4
    assert ab["df"] == len(EXPERIMENTS) and cal["noise"]["replicated"] == sorted(EXPERIMENTS)
    assert all(t["p_adj"] >= t["p"] for t in cal["tests"])
    pooled = calibrated_dependency(scores, CATS, pool="all")
    assert (A, B) in pooled["edges"] and not pooled["hurts"][A][E]


def test_calibrated_asymmetry_min_effect_and_needs_replicates():
    scores = make_scores(PLANTED, rng_seed=3)
    cal = calibrated_dependency(scores, CATS)
    assert cal["edges"] == [(A, B)] and cal["mutual"] == [(C, D)]
    assert calibrated_dependency(scores, CATS, min_effect=0.5)["edges"] == []
    with pytest.raises(ValueError, match="2 seeds"):
        calibrated_dependency(make_scores(PLANTED, seeds=("1",)), CATS)


def test_calibrated_orients_a_mutual_pair_only_when_one_side_is_clearly_stronger():
    # A -> B strongly, B -> A weakly (shared content): published asymmetry drops the pair
    lopsided = {(drop(A), B): 0.3, (drop(B), A): 0.06, (drop(C), D): 0.3, (drop(D), C): 0.3}
    scores = make_scores(lopsided, run_sd=0.005, rng_seed=5)
    strict = calibrated_dependency(scores, CATS, orient_mutual=False)
    assert (A, B) not in strict["edges"] and (A, B) in strict["mutual"]
    cal = calibrated_dependency(scores, CATS)
    assert (A, B) in cal["edges"] and (B, A) not in cal["edges"]
    assert cal["mutual"] == [(C, D)]  # equal effects both ways stay mutual (synergy)
    decided = {(d["i"], d["j"]): d for d in cal["oriented_mutual"]}
    assert decided[(A, B)]["oriented"] == (A, B) and decided[(C, D)]["oriented"] is None


def test_orientation_uses_student_t_with_welch_df():
    """One mutual pair, t = 3 between the two directions: a normal quantile (1.96) would orient it,
    Student's t with the Welch-Satterthwaite df of two 2-df variance estimates (df 4, crit 2.78)
    does too, and with 1-df estimates (df 2, crit 4.30) it does not."""
    from sftmix.studies.beyond_iid.dependency import _orient_mutual, welch_df

    assert welch_df(1.0, 1.0, 2, 2) == pytest.approx(4.0) and welch_df(1.0, 0.0, 3, 5) == pytest.approx(3.0)
    assert welch_df(0.0, 0.0, 2, 2) == math.inf

    def result(df):
        se = 1 / math.sqrt(2)  # sqrt(se^2 + se^2) = 1, so t = delta_ab - delta_ba = 3
        return {"tests": [{"i": A, "j": B, "delta": 3.5, "se": se, "df": df},
                          {"i": B, "j": A, "delta": 0.5, "se": se, "df": df}],
                "mutual": [(A, B)], "edges": []}

    wide = result(2)
    [d] = _orient_mutual(wide, 0.05)
    assert d["t"] == pytest.approx(3.0) and d["df"] == pytest.approx(4.0) and d["crit"] == pytest.approx(2.776, abs=1e-3)
    assert d["oriented"] == (A, B) and wide["edges"] == [(A, B)] and wide["mutual"] == []
    narrow = result(1)
    [d] = _orient_mutual(narrow, 0.05)
    assert d["df"] == pytest.approx(2.0) and d["crit"] == pytest.approx(4.303, abs=1e-3)
    assert d["oriented"] is None and narrow["edges"] == [] and narrow["mutual"] == [(A, B)]


def test_layers_with_and_without_orientation():
    lopsided = {(drop(A), B): 0.3, (drop(B), A): 0.06}
    res = dependency_analysis(make_scores(lopsided, run_sd=0.005, rng_seed=5), CATS, alpha=0.05)
    assert (A, B) in res["calibrated"]["edges"]
    assert res["layers"] == taxonomy_layers(res["calibrated"]["edges"], CATS)
    assert res["layers_unoriented"] == taxonomy_layers([e for e in res["calibrated"]["edges"] if e != (A, B)], CATS)
    assert res["layers"] != res["layers_unoriented"]


def test_seed_false_positive_rate():
    noisy = seed_false_positive_rate(make_scores(run_sd=0.1, rng_seed=4), CATS)
    assert noisy["n_tests"] == len(EXPERIMENTS) * len(CATS)
    assert noisy["rate"] > 0.2 and noisy["n_false_positives"] == sum(noisy["by_experiment"].values())
    assert all(t["p_adj"] >= t["p"] for t in noisy["tests"])
    quiet = seed_false_positive_rate(make_scores(run_sd=0.0, rng_seed=4), CATS)
    assert quiet["rate"] <= 0.05
    none = seed_false_positive_rate(make_scores(seeds=("1",)), CATS)
    assert none["n_tests"] == 0 and math.isnan(none["rate"])


def test_calibrated_seed_false_positive_rate():
    """The calibrated test on seed-only differences: near alpha where the published one fires on
    run noise, and it still flags one run that really differs."""
    noisy = make_scores(run_sd=0.1, rng_seed=4)
    pub, cal = seed_false_positive_rate(noisy, CATS), calibrated_seed_false_positive_rate(noisy, CATS)
    assert cal["n_tests"] == pub["n_tests"] == len(EXPERIMENTS) * len(CATS)
    assert pub["rate"] > 0.2 and cal["rate"] <= 0.05
    assert all(t["df"] > 0 and t["p_adj"] >= t["p"] for t in cal["tests"])
    e = EXPERIMENTS[1]
    odd = make_scores(run_sd=0.03, rng_seed=4, offsets={(e, "2", CATS[0]): 1.0})
    flagged = [(t["experiment"], t["category"]) for t in calibrated_seed_false_positive_rate(odd, CATS)["tests"]
               if t["significant"]]
    assert flagged == [(e, CATS[0])]
    assert calibrated_seed_false_positive_rate(make_scores(seeds=("1",)), CATS)["n_tests"] == 0


def test_taxonomy_layers_and_edge_scores():
    edges = [(A, B), (B, C), (A, D)]
    layers = taxonomy_layers(edges, CATS)
    assert layers == {A: "preliminary", B: "intermediary", C: "subsequential", D: "subsequential",
                      E: "independent", F: "independent"}
    sc = edge_scores([(A, B), (B, C), (E, F)], edges)
    assert sc["tp"] == [(A, B), (B, C)] and sc["fp"] == [(E, F)] and sc["fn"] == [(A, D)]
    assert sc["precision"] == pytest.approx(2 / 3) and sc["recall"] == pytest.approx(2 / 3)
    assert sc["f1"] == pytest.approx(2 / 3)
    assert edge_scores([(E, F)], edges)["f1"] == 0.0
    assert math.isnan(edge_scores([], edges)["precision"])


def test_plot_dependency_graph(tmp_path):
    edges = [(A, B), (B, C), (A, D), (B, D)]
    path = plot_dependency_graph(edges, taxonomy_layers(edges, CATS), CATS,
                                 tmp_path / "g" / "dep.png", title="test")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
    empty = plot_dependency_graph([], taxonomy_layers([], CATS), CATS, tmp_path / "e.png")
    assert empty.stat().st_size > 1000


def test_dependency_analysis_json_and_validation():
    scores, _ = _run_noise_case()
    res = dependency_analysis(scores, CATS, alpha=0.05, published_seed=1)
    assert res["main"] == "calibrated" and res["calibrated"]["edges"] == [(A, B)]
    assert res["layers"] == taxonomy_layers([(A, B)], CATS)
    assert res["seed_false_positive_rate"]["seeds"] == ("1", "2")
    js = dependency_json(res, {"base": "epochs", "add": "epochs", "drop": "matched"})
    assert set(js) == {"published", "calibrated", "seed_false_positive_rate", "calibrated_seed_false_positive_rate",
                       "layers", "layers_unoriented", "main", "budget"}
    assert js["budget"]["drop"] == "matched"
    assert "hurts" not in js["published"] and js["published"]["seed"] == "1"
    truth = {"edges": [{"prerequisite": A, "dependent": B}, {"prerequisite": "untested", "dependent": C}]}
    val = validate_dependency(js, truth, CATS)
    assert val["true_edges"] == [(A, B)] and val["calibrated"]["recall"] == 1.0
    assert val["calibrated"]["edges"] == [(A, B)] and "seed_false_positive_rate" in val
    assert 0 <= val["calibrated_seed_false_positive_rate"] <= 1

    one = {e: {"1": t["1"]} for e, t in scores.items()}
    res1 = dependency_analysis(one, CATS)
    assert res1["main"] == "published" and res1["calibrated"] is None
    js1 = dependency_json(res1)
    assert js1["calibrated"] is None and js1["seed_false_positive_rate"] is None
    assert js1["calibrated_seed_false_positive_rate"] is None
    assert "calibrated" not in validate_dependency(js1, truth, [A])
