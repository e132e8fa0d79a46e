"""Effect-equivalence coefficient gamma (Beyond IID Eq. 1), meta-groups, heatmap, TSV."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from sftmix.experiments import slugify
from sftmix.scores import category_items, run_noise_sd
from sftmix.studies.beyond_iid.interaction import (
    gamma_matrix,
    item_rho,
    meta_groups,
    plot_gamma_heatmap,
    write_gamma_tsv,
)

from .synthetic_scores import CATS, EXPERIMENTS, make_scores  # noqa: F401

A, B, C, D, E, F = CATS


def set_rho_delta(scores, experiment, category, delta):
    """Make ``experiment``'s seed-averaged rho (= -nll_mean) on ``category`` exactly
    base + ``delta`` per item (every seed gets the same values)."""
    ids = category_items(scores, CATS)[category]
    base = {i: np.mean([next(r["nll_mean"] for r in scores["base"][s] if r["id"] == i)
                        for s in scores["base"]]) for i in ids}
    want = dict(zip(ids, np.broadcast_to(delta, len(ids)), strict=True))
    for rows in scores[experiment].values():
        for r in rows:
            if r["id"] in want:
                r["nll_mean"] = float(base[r["id"]] - want[r["id"]])
                r["nll_sum"] = r["nll_mean"] * r["n_tokens"]
                r["ppl"] = math.exp(r["nll_mean"])


def block_effects(own=0.6, within=0.4, across=0.2):
    """add_X lowers its own NLL by ``own``, its block's by ``within``, raises the other's."""
    blocks = [CATS[:3], CATS[3:]]
    eff = {}
    for blk in blocks:
        for i in blk:
            for j in CATS:
                eff[(f"add_{slugify(i)}", j)] = -own if j == i else (-within if j in blk else across)
    return eff


@pytest.fixture(scope="module")
def block_scores():
    return make_scores(block_effects(), rng_seed=1)


def test_item_rho_signs_and_unscorable_rows():
    rows = [{"id": "a", "category": "x", "n_tokens": 4, "nll_sum": 8.0, "nll_mean": 2.0, "ppl": 7.4},
            {"id": "b", "category": "x", "n_tokens": 0, "nll_sum": math.nan, "nll_mean": math.nan,
             "ppl": math.nan}]
    assert item_rho(rows) == {"a": -2.0}
    assert item_rho(rows, rho="loglik_sum") == {"a": -8.0}
    with pytest.raises(ValueError):
        item_rho(rows, rho="ppl")


def test_run_noise_recovers_run_sd():
    noise = run_noise_sd(make_scores(run_sd=0.05, item_sd=0.0, rng_seed=3), CATS)
    assert 0.03 < noise["sigma_pooled"] < 0.07
    assert noise["df_pooled"] == len(CATS) * len(EXPERIMENTS)


def test_gamma_diagonal_synergy_antagonism(block_scores):
    res = gamma_matrix(block_scores, CATS, n_boot=200)
    n = len(CATS)
    for key in ("gamma", "gamma_raw", "ci_low", "ci_high", "denominator", "numerator_effects",
                "unstable"):
        assert res[key].shape == (n, n)
    assert not res["unstable"].any()
    assert np.allclose(np.diag(res["gamma"]), 1.0)
    # within-block synergy 0.4 / 0.6, cross-block antagonism -0.2 / 0.6
    assert res["gamma"][0, 1] == pytest.approx(2 / 3, abs=0.15)
    assert res["gamma"][4, 3] == pytest.approx(2 / 3, abs=0.15)
    assert res["gamma"][3, 0] < 0 and res["gamma"][0, 3] < 0
    # effect matrix Delta_ij (rho = -nll: lowering NLL is a positive effect)
    assert res["numerator_effects"][0, 1] == pytest.approx(0.4, abs=0.1)
    assert res["numerator_effects"][0, 0] == pytest.approx(0.6, abs=0.1)
    # denominator: the effect of C~_j on j, repeated down column j
    assert np.allclose(res["denominator"][:, 2], res["numerator_effects"][2, 2])
    assert np.all(res["min_denominator"] > 0) and np.all(res["min_denominator"] < 0.2)


def test_bootstrap_ci_contains_true_value_and_is_seeded():
    scores = make_scores(block_effects(), run_sd=0.0, item_sd=0.05, rng_seed=2)
    res = gamma_matrix(scores, CATS, n_boot=300, seed=5)
    assert res["ci_low"][0, 1] <= 2 / 3 <= res["ci_high"][0, 1]
    again = gamma_matrix(scores, CATS, n_boot=300, seed=5)
    np.testing.assert_array_equal(res["ci_low"], again["ci_low"])
    np.testing.assert_array_equal(res["gamma"], again["gamma"])
    other = gamma_matrix(scores, CATS, n_boot=300, seed=6)
    assert not np.array_equal(res["ci_low"], other["ci_low"])
    np.testing.assert_array_equal(res["gamma"], other["gamma"])  # the estimate is not resampled


def _near_zero_scores():
    """Column E: add_E's own effect averages 0 with one item's effect 1e-5 (the published
    ratio's poison). Column D: stable own effect (mean ~0.3) but again one item at 1e-5."""
    scores = make_scores(block_effects(), rng_seed=4)
    k = 40
    own_e = np.array([0.2 if t % 2 else -0.2 for t in range(k)])
    own_e[0], own_e[-1] = 1e-5, -1e-5
    own_e[-2] = -own_e[1:-2].sum()  # exact zero mean over items
    set_rho_delta(scores, f"add_{slugify(E)}", E, own_e)
    num_fe = np.full(k, 0.1)
    num_fe[-1] = 0.0
    set_rho_delta(scores, f"add_{slugify(F)}", E, num_fe)
    own_d = 0.3 + np.array([0.2 if t % 2 else -0.2 for t in range(k)])
    own_d[0] = 1e-5
    set_rho_delta(scores, f"add_{slugify(D)}", D, own_d)
    set_rho_delta(scores, f"add_{slugify(A)}", D, 0.15)
    return scores


def test_near_zero_denominator_flagged_not_exploding():
    scores = _near_zero_scores()
    e, f = CATS.index(E), CATS.index(F)
    rom = gamma_matrix(scores, CATS, n_boot=200)
    assert abs(rom["denominator"][f, e]) < 1e-9
    assert rom["unstable"][:, e].all() and np.isnan(rom["gamma"][:, e]).all()
    assert not (abs(rom["gamma_raw"][f, e]) < 100)  # the raw ratio is reported: huge or inf
    # the published per-item mean of ratios explodes on the same data (0.1 / 1e-5 on one item)
    pub = gamma_matrix(scores, CATS, estimator="per_item", n_boot=200)
    assert abs(pub["gamma_raw"][f, e]) > 100
    assert pub["unstable"][f, e] and np.isnan(pub["gamma"][f, e])
    # other columns stay usable
    assert not rom["unstable"][:, CATS.index(A)].any()


def test_per_item_explodes_even_where_the_mean_denominator_is_stable():
    scores = _near_zero_scores()
    a, d = CATS.index(A), CATS.index(D)
    rom = gamma_matrix(scores, CATS, n_boot=200)
    pub = gamma_matrix(scores, CATS, estimator="per_item", n_boot=200)
    assert not rom["unstable"][a, d] and not pub["unstable"][a, d]
    assert rom["gamma"][a, d] == pytest.approx(0.15 / 0.3, abs=0.02)
    assert pub["gamma"][a, d] > 100  # 0.15 / 1e-5 on one item of 40


def test_explicit_min_denominator_and_missing_add():
    scores = make_scores(block_effects(), rng_seed=1)
    res = gamma_matrix(scores, CATS, n_boot=100, min_denominator=1.0)
    assert res["unstable"].all() and np.isnan(res["gamma"]).all()
    del scores[f"add_{slugify(F)}"]
    res = gamma_matrix(scores, CATS, n_boot=100)
    f = CATS.index(F)
    assert np.isnan(res["gamma"][f]).all() and np.isnan(res["gamma"][:, f]).all()
    assert not res["unstable"][f].any() and not res["unstable"][:, f].any()
    assert np.isfinite(res["numerator_effects"][0, f])  # add_A's effect on F is still measured
    assert np.isfinite(res["gamma"][0, 1])


def test_loglik_sum_and_single_seed():
    scores = make_scores(block_effects(), seeds=("1",), run_sd=0.01, rng_seed=1)
    res = gamma_matrix(scores, CATS, rho="loglik_sum", n_boot=100)
    assert np.isnan(res["noise_sd"]).all() and np.all(res["min_denominator"] == 0.0)
    assert np.allclose(np.diag(res["gamma"]), 1.0)
    assert res["gamma"][0, 1] == pytest.approx(2 / 3, abs=0.15)


def test_meta_groups_recover_blocks(block_scores):
    res = gamma_matrix(block_scores, CATS, n_boot=50)
    groups = meta_groups(res["gamma"], CATS)
    assert groups == {A: 0, B: 0, C: 0, D: 1, E: 1, F: 1}
    assert meta_groups(res, CATS, n_groups=1) == {c: 0 for c in CATS}
    g = res["gamma"].copy()
    g[0, 4] = np.nan  # NaN cells are treated as 0
    assert meta_groups(g, CATS, method="complete") == groups


def test_heatmap_and_tsv(tmp_path):
    scores = _near_zero_scores()
    res = gamma_matrix(scores, CATS, n_boot=50)
    png = plot_gamma_heatmap(res, tmp_path / "fig" / "gamma.png")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
    n = write_gamma_tsv(res, tmp_path / "gamma.tsv")
    assert n == len(CATS) ** 2
    with open(tmp_path / "gamma.tsv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert list(rows[0])[:8] == ["i", "j", "gamma", "ci_low", "ci_high", "denominator", "unstable",
                                 "estimator"]
    cell = next(r for r in rows if r["i"] == F and r["j"] == E)
    assert cell["unstable"] == "true" and cell["gamma"] == "nan"
    diag = next(r for r in rows if r["i"] == A and r["j"] == A)
    assert float(diag["gamma"]) == 1.0 and diag["estimator"] == "ratio_of_means"


def test_gamma_against_the_pretrained_model_by_hand():
    """Eq. 1 with M = the pretrained model (the sensitivity check) against M = the D-tuned base,
    on constant NLLs where both are computed by hand."""
    from sftmix.studies.beyond_iid.interaction import (
        gamma_matrix,
        gamma_vs_pretrained,
        sign_agreement,
    )

    nll = {"pretrained": (3.0, 3.0), "base": (2.0, 2.0), "add_a": (1.5, 1.9), "add_b": (1.8, 1.6)}

    def rows(exp):
        return [{"id": f"{c}-{k}", "category": c, "split": "dev", "n_tokens": 4, "nll_sum": 4 * v,
                 "nll_mean": v, "ppl": math.exp(v)} for c, v in zip("ab", nll[exp], strict=True) for k in range(4)]

    scores = {e: {"1": rows(e), "2": rows(e)} for e in ("base", "add_a", "add_b")}
    main = gamma_matrix(scores, ["a", "b"], n_boot=50)
    literal = gamma_vs_pretrained(scores, rows("pretrained"), ["a", "b"], rho="loglik_mean",
                                  estimator="ratio_of_means", n_boot=50)
    assert main["gamma"][0, 1] == pytest.approx(0.1 / 0.4) and main["gamma"][1, 0] == pytest.approx(0.2 / 0.5)
    assert literal["gamma"][0, 1] == pytest.approx(1.1 / 1.4) and literal["gamma"][1, 0] == pytest.approx(1.2 / 1.5)
    agree = sign_agreement(main, literal)
    assert agree == {"n_cells": 2, "same_sign": 2, "share_same_sign": 1.0, "share_negative": 0.0,
                     "share_negative_other": 0.0}
