"""InstructMining's rule (sftmix.studies.instructmining.rule): the OLS fit of Eq. 3, its TSV, the
quarantine of unusable rows, indicator selection (Appendix E, as published and by CV), the
one-out ablation (Table 5), the normality tests (Table 7), rule scores (Eq. 4) and the refit of
the paper's own random-experiment data (Tables 20-21) against Table 9."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import statsmodels.api as sm

from sftmix.studies.instructmining import rule

DATA = Path(rule.__file__).parent / "data"
NAMES = ["a", "b", "c", "d", "e"]


def synthetic_rows(seed: int, n: int, beta: dict[str, float], const: float, sd: float,
                   names: list[str] = NAMES) -> list[dict[str, float]]:
    """Rows whose log loss is ``const + sum beta_i x_i + N(0, sd)``, x_i ~ N(0, 1) i.i.d."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, len(names)))
    log_loss = const + sum(beta.get(m, 0.0) * x[:, j] for j, m in enumerate(names))
    log_loss = log_loss + g.normal(scale=sd, size=n)
    return [{**{m: float(v) for m, v in zip(names, xi, strict=True)}, "loss": float(math.exp(y))}
            for xi, y in zip(x, log_loss, strict=True)]


# ---- OLS (Eq. 3) ---------------------------------------------------------------------------------


def test_fit_ols_recovers_known_coefficients_and_equals_statsmodels():
    beta = {"a": 0.3, "b": -0.2, "c": 0.05}
    rows = synthetic_rows(7, 300, beta, const=0.1, sd=0.02, names=["a", "b", "c"])
    fit = rule.fit_ols(rows, ["a", "b", "c"])
    assert fit["terms"] == ["const", "a", "b", "c"] and fit["n_obs"] == 300
    assert fit["target"] == "loss" and fit["log_target"] is True
    truth = {"const": 0.1, **beta}
    for term, value in truth.items():
        assert fit["coef"][term] == pytest.approx(value, abs=0.005)
    # exactly what a direct statsmodels call gives
    x = sm.add_constant(np.array([[r[c] for c in "abc"] for r in rows]))
    res = sm.OLS(np.log([r["loss"] for r in rows]), x).fit()
    assert [fit["coef"][t] for t in fit["terms"]] == list(res.params)
    assert [fit["std_err"][t] for t in fit["terms"]] == list(res.bse)
    assert [fit["t"][t] for t in fit["terms"]] == list(res.tvalues)
    assert [fit["p"][t] for t in fit["terms"]] == list(res.pvalues)
    assert (fit["r2"], fit["adj_r2"], fit["f"], fit["f_p"]) == (
        res.rsquared, res.rsquared_adj, res.fvalue, res.f_pvalue)
    assert fit["r2"] > 0.99 and fit["f_p"] < 1e-100
    # raw target: regress the loss itself
    raw = rule.fit_ols(rows, ["a"], log_target=False)
    res_raw = sm.OLS([r["loss"] for r in rows], x[:, :2]).fit()
    assert raw["coef"] == {"const": res_raw.params[0], "a": res_raw.params[1]}


def test_fit_ols_refuses_unscreened_rows_and_degenerate_fits():
    rows = synthetic_rows(1, 20, {"a": 0.1}, const=0.0, sd=0.01)
    with pytest.raises(ValueError, match="unusable"):
        rule.fit_ols([*rows, {**rows[0], "a": math.nan}], ["a"])
    with pytest.raises(ValueError, match="unusable"):
        rule.fit_ols([*rows, {**rows[0], "loss": 0.0}], ["a"])
    with pytest.raises(ValueError, match="degree of freedom"):
        rule.fit_ols(rows[:3], ["a", "b"])
    with pytest.raises(ValueError, match="at least one"):
        rule.fit_ols(rows, [])


def test_fit_tsv_round_trip(tmp_path):
    rows = synthetic_rows(3, 80, {"a": 0.2, "c": -0.1}, const=0.05, sd=0.05)
    for log_target in (True, False):
        fit = rule.fit_ols(rows, ["c", "a", "e"], log_target=log_target)
        path = tmp_path / f"fit_{log_target}.tsv"
        assert rule.write_fit_tsv(path, fit) == 4
        lines = path.read_text().splitlines()
        assert lines[0].split("\t") == list(rule.FIT_COLUMNS)
        assert lines[1].startswith("const\t") and lines[1].endswith(
            "\tlog(loss)" if log_target else "\tloss")
        assert rule.read_fit_tsv(path) == fit
    # the published Table 9 rule is a fit too (nan where the paper reports nothing)
    rule.write_fit_tsv(tmp_path / "t9.tsv", rule.PAPER_TABLE9_FIT)
    back = rule.read_fit_tsv(tmp_path / "t9.tsv")
    assert back["coef"] == rule.PAPER_TABLE9_FIT["coef"] and math.isnan(back["adj_r2"])


# ---- indicator table and quarantine --------------------------------------------------------------


def test_read_indicator_table_quarantines_and_counts(tmp_path):
    path = tmp_path / "ind.tsv"
    path.write_text(
        "Dataset\tReward\tNaturalness\tPPL\tLOSS\n"
        "d0\t1.5\t0.80\t3.1\t0.98\n"
        "d1\t\t0.81\t3.2\t0.99\n"        # missing reward
        "d2\tNA\t0.82\t3.3\t1.00\n"      # missing reward
        "d3\t1.1\tnan\t3.4\t1.01\n"      # non-finite naturalness
        "d4\t1.2\t0.83\tinf\t1.02\n"     # non-finite ppl
        "d5\t1.3\t0.84\t3.5\t0\n"        # loss <= 0
        "d6\t1.4\t0.85\t3.6\t-0.5\n"     # loss <= 0
        "d7\tabc\t0.86\t3.7\t0.97\n"     # not a number
        "d8\t2.0\t0.90\t2.9\t0.95\n",
        encoding="utf-8")
    rows, quarantined = rule.read_indicator_table(path)
    assert len(rows) + len(quarantined) == 9
    assert [r["dataset"] for r in rows] == ["d0", "d8"]
    assert rows[0] == {"dataset": "d0", "reward": 1.5, "naturalness": 0.8, "ppl": 3.1, "loss": 0.98}
    assert Counter(q["reason"] for q in quarantined) == {
        "missing_value": 2, "non_finite": 2, "loss_not_positive": 2, "not_a_number": 1}
    assert [q["row"] for q in quarantined] == [1, 2, 3, 4, 5, 6, 7]
    assert all(q["stage"] == rule.STAGE and q["source"] == str(path) for q in quarantined)
    assert "reward=''" in quarantined[0]["detail"] and "d1" in quarantined[0]["raw"]
    # a row with two problems: the first is the reason, both are in the detail
    path.write_text("dataset\treward\tloss\nx\tinf\t-1\n", encoding="utf-8")
    _, (q,) = rule.read_indicator_table(path)
    assert q["reason"] == "non_finite" and "loss_not_positive" in q["detail"]
    # an indicator with no finite value at all stays numeric (its rows are quarantined)
    path.write_text("dataset\treward\tloss\nx\t\t0.9\ny\tnan\t0.8\n", encoding="utf-8")
    rows, bad = rule.read_indicator_table(path)
    assert rows == [] and [q["reason"] for q in bad] == ["missing_value", "non_finite"]
    # labels: a numeric-looking column can be kept as text
    path.write_text("run\treward\tloss\n7\t1.0\t0.9\n", encoding="utf-8")
    (row,), _ = rule.read_indicator_table(path, labels=["RUN"])
    assert row == {"run": "7", "reward": 1.0, "loss": 0.9}


def test_read_indicator_table_rejects_malformed_files(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("reward\tnaturalness\n1\t2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="'loss' column"):
        rule.read_indicator_table(path)
    path.write_text("Reward\treward\tloss\n1\t2\t0.9\n", encoding="utf-8")
    with pytest.raises(ValueError, match="repeat"):
        rule.read_indicator_table(path)


# ---- selection (Appendix E) ----------------------------------------------------------------------


def test_selection_recovers_the_two_real_indicators(tmp_path):
    # Only b and d move the log loss; a, c, e are noise. Robustness, measured over data seeds
    # 0..99 with this design: published 97/100 exact; CV minimum 100/100 keeps b and d but only
    # 48/100 exact (like AIC it keeps a noise indicator about 1 time in 6 each); CV one-SE rule
    # 100/100 exact. This data seed is not special.
    rows = synthetic_rows(11, 100, {"b": 0.04, "d": -0.03}, const=0.05, sd=0.02)
    pub = rule.select_published(rows, NAMES)
    assert pub["chosen"] == ["b", "d"] and pub["fit"]["indicators"] == ["b", "d"]
    assert pub["fit"] == rule.fit_ols(rows, ["b", "d"])
    assert len(pub["subsets"]) == 31 and sum(r["chosen"] for r in pub["subsets"]) == 1
    # the literal "highest R^2" would pick all five indicators: that is why r2_tol exists
    assert max(pub["subsets"], key=lambda r: r["r2"])["indicators"] == tuple(NAMES)
    one_se = rule.select_cv(rows, NAMES, seed=0, one_se=True)
    assert one_se["chosen"] == ["b", "d"]
    cv = rule.select_cv(rows, NAMES, seed=0)
    assert {"b", "d"} <= set(cv["chosen"])
    best = min(cv["subsets"], key=lambda r: r["cv_mse"])
    assert best["chosen"] and cv["chosen"] == list(best["indicators"])
    pair = next(r for r in cv["subsets"] if r["indicators"] == ("b", "d"))
    assert pair["cv_mse"] <= best["cv_mse"] + best["cv_se"]
    # seeded folds: same seed, same table
    assert rule.select_cv(rows, NAMES, seed=0)["subsets"] == cv["subsets"]
    assert len(rule.select_published(rows, NAMES, max_size=2)["subsets"]) == 15
    # the subset tables are writable
    assert rule.write_subsets_tsv(tmp_path / "pub.tsv", pub) == 31
    assert rule.write_subsets_tsv(tmp_path / "cv.tsv", cv) == 31
    header = (tmp_path / "cv.tsv").read_text().splitlines()[0].split("\t")
    assert header == list(rule.SUBSET_COLUMNS["cv"])


# ---- ablation (Table 5) --------------------------------------------------------------------------


def test_one_out_ablation_refits_without_each_indicator():
    rows = synthetic_rows(5, 60, {"a": 0.1, "b": -0.1}, const=0.0, sd=0.05)
    out = rule.one_out_ablation(rows, ["a", "b", "c", "d"])
    assert [o["removed"] for o in out] == ["a", "b", "c", "d"]
    assert [o["fit"]["indicators"] for o in out] == [
        ["b", "c", "d"], ["a", "c", "d"], ["a", "b", "d"], ["a", "b", "c"]]
    assert out[1]["fit"] == rule.fit_ols(rows, ["a", "c", "d"])
    with pytest.raises(ValueError):
        rule.one_out_ablation(rows, ["a"])


# ---- normality tests (Table 7) -------------------------------------------------------------------


def test_normality_tests_published_and_sound():
    g = np.random.default_rng(2024)
    rows = [{"normal": float(v), "uniform": float(u)}
            for v, u in zip(g.normal(5.0, 2.0, 200), g.uniform(0.0, 100.0, 200), strict=True)]
    out = rule.normality_tests(rows, ["normal", "uniform"], residuals=g.normal(size=200))
    by = {(r["column"], r["test"]): r for r in out}
    assert set(by) == {(c, t) for c in ("normal", "uniform")
                       for t in ("ks_standard_normal", "lilliefors", "shapiro_wilk")} | {
        ("residuals", "lilliefors"), ("residuals", "shapiro_wilk")}
    assert by[("normal", "lilliefors")]["verdict"] == "normality not rejected at 0.05"
    assert by[("residuals", "lilliefors")]["verdict"] == "normality not rejected at 0.05"
    # The published test compares raw values with N(0, 1). Values uniform on [0, 100] sit almost
    # all far above N(0, 1)'s mass (Phi(x) ~ 1), so D ~ 1 and p ~ 0: rejected, but for location
    # and scale, not shape. (Table 7 read its equally tiny p-values as "normal".)
    ks = by[("uniform", "ks_standard_normal")]
    assert ks["statistic"] > 0.9 and ks["p"] < 1e-50
    assert ks["verdict"] == "normality rejected at 0.05" and ks["variant"] == "published"
    # the same flaw hits perfectly normal data with mean 5, sd 2
    assert by[("normal", "ks_standard_normal")]["verdict"] == "normality rejected at 0.05"
    # the sound tests see the uniform shape
    assert by[("uniform", "shapiro_wilk")]["verdict"] == "normality rejected at 0.05"


# ---- rule scores (Eq. 4) -------------------------------------------------------------------------


def test_rule_scores_and_top_k_by_hand():
    fit = {"target": "loss", "log_target": True, "indicators": ["a", "b"],
           "coef": {"const": 0.5, "a": -0.25, "b": 0.5}}
    records = {"r1": {"a": 1.0, "b": 0.0}, "r2": {"a": 0.0, "b": 1.0, "extra": 9.0},
               "r3": {"a": 2.0, "b": 0.5}, "r4": {"a": 2.0, "b": 0.0}}
    scores = rule.rule_scores(records, fit)
    # 0.5 - 0.25*1 = 0.25; 0.5 + 0.5 = 1.0; 0.5 - 0.5 + 0.25 = 0.25; 0.5 - 0.5 = 0.0
    assert scores == {"r1": 0.25, "r2": 1.0, "r3": 0.25, "r4": 0.0}
    first = rule.top_k(scores, 2, seed=0)
    assert first[0] == "r4" and first[1] in {"r1", "r3"}
    assert rule.top_k(dict(reversed(list(scores.items()))), 2, seed=0) == first
    assert rule.top_k(scores, 2, seed=0) == first
    assert {tuple(rule.top_k(scores, 3, seed=s)) for s in range(20)} == {
        ("r4", "r1", "r3"), ("r4", "r3", "r1")}  # the seed, not the input order, breaks ties
    assert rule.top_k(scores, 10, seed=0)[-1] == "r2" and rule.top_k(scores, 0, seed=0) == []
    with pytest.raises(ValueError, match="lack"):
        rule.rule_scores({**records, "r5": {"a": 1.0}}, fit)
    with pytest.raises(ValueError, match="non-finite"):
        rule.top_k({"x": math.nan}, 1, seed=0)


def test_fit_residuals_are_the_ols_residuals():
    rows = synthetic_rows(9, 50, {"a": 0.1}, const=0.2, sd=0.05)
    fit = rule.fit_ols(rows, ["a", "b"])
    x = sm.add_constant(np.array([[r["a"], r["b"]] for r in rows]))
    res = sm.OLS(np.log([r["loss"] for r in rows]), x).fit()
    assert np.allclose(rule.fit_residuals(rows, fit), res.resid, atol=1e-12)


# ---- the paper's data (Tables 20-21) against Table 9 ---------------------------------------------


def test_paper_random_experiments_refit_against_table9():
    rows, quarantined = rule.load_paper_random_experiments()
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    parsed = int(re.search(r"\*\*(\d+) rows parsed\*\*", readme).group(1))
    assert len(rows) == parsed == 112 and quarantined == []
    assert Counter(r["table"] for r in rows) == {"20": 58, "21": 54}
    assert set(rows[0]) == {"table", "row", "input_length", "output_length", "understandability",
                            "naturalness", "coherence", "reward", "mtld", "knn_6", "ppl", "loss"}
    fit = rule.fit_ols(rows, list(rule.PAPER_RULE_INDICATORS))
    # Measured on the 112 parsed rows (natural log of the loss). Table 9 (n = 129) is NOT
    # reproduced exactly: 17 of the 129 experiments are lost or merged in the text extraction.
    # The signs match Table 9 and every coefficient lies within one Table 9 standard error of
    # the published value, but R^2 is 0.508 (Table 9: 0.522) and F 27.62 (33.84).
    assert fit["n_obs"] == 112
    assert [math.copysign(1, fit["coef"][t]) for t in rule.PAPER_RULE_INDICATORS] == [-1, -1, -1, 1]
    assert fit["r2"] == pytest.approx(0.5080, abs=5e-4)
    assert fit["f"] == pytest.approx(27.62, abs=0.01)
    measured = {"const": -0.0144, "reward": -0.0105, "naturalness": -0.2856, "coherence": -0.0311,
                "understandability": 0.3246}
    for term, value in measured.items():
        assert fit["coef"][term] == pytest.approx(value, abs=1e-4)
        published = rule.PAPER_TABLE9_FIT
        assert abs(fit["coef"][term] - published["coef"][term]) < published["std_err"][term]
    assert abs(fit["r2"] - rule.PAPER_TABLE9_FIT["r2"]) > 0.01  # not a reproduction
    # Raw loss instead of log loss: same signs and nearly the same slopes (loss ~ 1), but the
    # constant is ~0.985, far from Table 9's 0.0274: Table 9 regressed log loss.
    raw = rule.fit_ols(rows, list(rule.PAPER_RULE_INDICATORS), log_target=False)
    assert raw["coef"]["const"] == pytest.approx(0.9852, abs=1e-4)
    assert raw["r2"] == pytest.approx(0.5042, abs=5e-4)
