"""Run-level statistics of the comparison tables: Welch's t test over seeds, the run verdict and
the table cell that reports both verdicts and the number of seeds."""

import math

import pytest
from scipy import stats

from sftmix.report import compare_experiments, nll_cell, run_verdict, welch


def test_welch_by_hand():
    # a: mean 2, var 1, n 3 -> 1/3; b: mean 5, var 20/3, n 4 -> 5/3; t = -3 / sqrt(2)
    w = welch([1, 2, 3], [2, 4, 6, 8])
    assert w["welch_t"] == pytest.approx(-3 / math.sqrt(2))
    df = 4 / ((1 / 3) ** 2 / 2 + (5 / 3) ** 2 / 3)  # Welch-Satterthwaite
    assert w["welch_df"] == pytest.approx(df) and df == pytest.approx(4.0755, abs=1e-4)
    assert w["welch_p"] == pytest.approx(2 * stats.t.sf(3 / math.sqrt(2), df))
    assert run_verdict(w, delta=-3) == "indistinguishable"  # p = 0.10
    assert math.isnan(welch([1.0], [2.0, 3.0])["welch_p"]) and math.isnan(welch([1, 1], [1, 1])["welch_t"])
    assert run_verdict(welch([1.0], [2.0, 3.0]), delta=1) == "no_seed_replicates"


def _rows(values, n_items=4):
    return [{"id": f"i{k}", "category": "c", "n_tokens": 5, "nll_mean": v} for k, v in enumerate([values] * n_items)]


def test_compare_reports_runs_as_the_unit():
    """Three seeds each, clearly separated: both verdicts say worse; with two seeds on one side the
    Welch df is stated and smaller; one seed: no run-level verdict."""
    scores = {"ref": {str(s): _rows(1.0 + 0.01 * s) for s in (1, 2, 3)},
              "row": {str(s): _rows(1.5 + 0.01 * s) for s in (1, 2, 3)},
              "two": {str(s): _rows(1.5 + 0.01 * s) for s in (1, 2)},
              "one": {"1": _rows(1.5)}}
    rows = [{"experiment": e, "reference": "ref"} for e in ("ref", "row", "two", "one")]
    out = {r["experiment"]: r for r in compare_experiments(scores, rows, ["c"], n_boot=200)}
    assert out["ref"]["run_verdict"] == "reference" and out["ref"]["n_seeds_reference"] == 3
    assert out["row"]["run_verdict"] == "worse" and out["row"]["welch_df"] == pytest.approx(4.0)
    assert out["row"]["welch_p"] < 1e-4 and out["row"]["n_seeds"] == 3 == out["row"]["n_seeds_reference"]
    assert out["two"]["welch_df"] < 4.0 and out["two"]["run_verdict"] == "worse"
    assert out["one"]["run_verdict"] == "no_seed_replicates" and math.isnan(out["one"]["welch_p"])
    assert nll_cell(out["row"]).endswith("; runs: worse, n=3") and "worse" in nll_cell(out["row"]).split(";")[0]
    assert "|" not in nll_cell(out["row"]) and nll_cell({**out["row"], "n_seeds": 3.0}).endswith("n=3")
