"""DoIT analysis functions (sftmix.studies.doit.analysis): grid, scoring, fits, features, mixes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm

from sftmix.studies.doit.analysis import (
    UnscorableItem,
    complexity,
    complexity_transference,
    correlation_with_uncertainty,
    distractor_correct,
    fit_log_scaling,
    insensitive_abilities,
    maximum_mix,
    normalize_sensitivity,
    quantity_grid,
    reconstruct_mix,
    scaling_points,
    score_open_ended,
    select_checkpoint,
    sensitivities,
    transference,
    uniform_mix,
)

# Table 1 second-round sizes minus the 100 validation + 100 test items: the training supply.
PAPER_SUPPLY = {
    "biology": 1042,
    "history": 1893,
    "code": 4968,
    "creative_writing": 1000,
    "chinese": 1450,
    "understanding": 4885,
    "role_play": 1000,
    "reasoning": 12751,
    "math": 11501,
    "ethics": 1000,
}


# ---- Sec. 4.1 grid ----------------------------------------------------------------------


def test_grid_powers_of_four_up_to_max_n():
    assert quantity_grid({"a": 5000, "b": 5000}) == [1, 4, 16, 64, 256, 1024]
    assert quantity_grid({"a": 5000}, max_n=300) == [1, 4, 16, 64, 256]
    assert quantity_grid({"a": 5000}, base=2, max_n=8) == [1, 2, 4, 8]


def test_grid_capped_by_scarcest_ability():
    # every ability is trained at the same n: the smallest supply caps the grid
    assert quantity_grid({"a": 5000, "b": 1000}) == [1, 4, 16, 64, 256]
    assert quantity_grid({"a": 5000, "b": 63}) == [1, 4, 16]
    assert quantity_grid({"a": 1}) == [1]
    # the paper's grid ends at the 1,000 available items, not at 4^5
    assert quantity_grid({"a": 5000, "b": 1000}, include_cap=True) == [1, 4, 16, 64, 256, 1000]
    assert quantity_grid({"a": 5000}, include_cap=True) == [1, 4, 16, 64, 256, 1024]


def test_grid_supply_below_one_names_the_abilities():
    with pytest.raises(ValueError, match=r"'ethics' \(0\).*'role_play' \(-1\)"):
        quantity_grid({"code": 100, "role_play": -1, "ethics": 0})
    with pytest.raises(ValueError):
        quantity_grid({})
    with pytest.raises(ValueError):
        quantity_grid({"a": 10}, base=1)


# ---- Sec. 4.2 scoring --------------------------------------------------------------------


def test_distractor_rule_hand_cases():
    assert distractor_correct(1.0, [1.5, 2.0]) is True  # gold lowest -> 1
    assert distractor_correct(1.0, [1.0, 2.0]) is False  # tie with a distractor -> 0
    assert distractor_correct(1.0, [0.9, 2.0]) is False  # one distractor lower -> 0
    assert distractor_correct(1.0, [2.0, 0.99]) is False
    with pytest.raises(UnscorableItem):
        distractor_correct(float("nan"), [1.0, 2.0])
    with pytest.raises(UnscorableItem):
        distractor_correct(1.0, [float("inf"), 2.0])
    with pytest.raises(ValueError):
        distractor_correct(1.0, [])


def test_score_items_counts_unscorable_and_mixes_kinds():
    items = [
        {"ability": "cw", "gold_nll": 1.0, "distractor_nlls": [1.5, 2.0]},  # 1
        {"ability": "cw", "gold_nll": 1.0, "distractor_nlls": [1.0, 2.0]},  # tie -> 0
        {"ability": "cw", "gold_nll": 1.0, "distractor_nlls": [0.5, 2.0]},  # 0
        {"ability": "cw", "gold_nll": float("nan"), "distractor_nlls": [0.5, 2.0]},  # unscorable
        {"ability": "bio", "correct": True},
        {"ability": "bio", "correct": 0},
        {"ability": "bio", "correct": None},  # unscorable
        {"ability": "bio", "correct": 1.0},
    ]
    out = score_open_ended(items)
    assert out["cw"]["n_correct"] == 1
    assert out["cw"]["n_scored"] == 3
    assert out["cw"]["n_unscorable"] == 1
    assert out["cw"]["n_items"] == 4 and out["cw"]["n_open"] == 4
    assert out["cw"]["acc"] == pytest.approx(1 / 3)
    bio = out["bio"]
    assert (bio["n_correct"], bio["n_scored"], bio["n_unscorable"]) == (2, 3, 1)
    assert out["bio"]["acc"] == pytest.approx(2 / 3)
    only_bad = score_open_ended([{"ability": "x", "correct": float("nan")}])
    assert math.isnan(only_bad["x"]["acc"]) and only_bad["x"]["n_unscorable"] == 1
    with pytest.raises(ValueError):
        score_open_ended([{"ability": "x", "answer": "A"}])


# ---- Sec. 4.2 checkpoint selection -------------------------------------------------------


def test_select_checkpoint_after_the_cut():
    val = {1: 0.2, 2: 0.9, 3: 0.5, 4: 0.3, 5: 0.95, 6: 0.4, 7: 0.6, 8: 0.55}
    assert select_checkpoint(val) == 7  # epochs <= 5 are ineligible even though higher
    assert select_checkpoint(val, inclusive=True) == 5


def test_select_checkpoint_ties_and_errors():
    assert select_checkpoint({6: 0.5, 7: 0.7, 8: 0.7, 9: 0.1}) == 7
    with pytest.raises(ValueError, match="no epoch"):
        select_checkpoint({1: 0.1, 5: 0.9})
    with pytest.raises(ValueError, match="non-finite"):
        select_checkpoint({6: float("nan"), 7: 0.3})


# ---- Sec. 4.3.2 Eq. 2 ----------------------------------------------------------------------


def test_fit_log_scaling_recovers_alpha_and_c():
    alpha, c, sd = 0.06, 2.0, 0.01
    grid = [1, 4, 16, 64, 256, 1000]
    rng = np.random.default_rng(7)
    x = np.repeat(grid, 3).astype(float)  # 3 replicate seeds: every run is a point
    acc = alpha * np.log(x) + alpha * c + rng.normal(0, sd, len(x))
    fit = fit_log_scaling(x, acc)
    assert fit["n"] == 18 and fit["df_resid"] == 16
    assert abs(fit["alpha"] - alpha) < 2 * fit["alpha_se"]
    assert abs(fit["intercept"] - alpha * c) < 2 * fit["intercept_se"]
    assert abs(fit["c"] - c) < 2 * fit["c_se"]
    assert fit["c"] == pytest.approx(fit["intercept"] / fit["alpha"])
    direct = sm.OLS(acc, sm.add_constant(np.log(x))).fit()
    assert fit["alpha"] == pytest.approx(direct.params[1], rel=1e-12)
    assert fit["intercept"] == pytest.approx(direct.params[0], rel=1e-12)
    assert fit["alpha_se"] == pytest.approx(direct.bse[1], rel=1e-12)
    assert fit["intercept_se"] == pytest.approx(direct.bse[0], rel=1e-12)
    assert fit["t"] == pytest.approx(direct.tvalues[1], rel=1e-12)
    assert fit["p"] == pytest.approx(direct.pvalues[1], rel=1e-9)
    assert fit["r2"] == pytest.approx(direct.rsquared, rel=1e-12)


@pytest.mark.filterwarnings("error")
def test_fit_flat_ability_has_undefined_c():
    fit = fit_log_scaling([1, 4, 16, 64], [0.5, 0.5, 0.5, 0.5])
    assert abs(fit["alpha"]) < 1e-12 and math.isnan(fit["c"]) and math.isnan(fit["r2"])
    with pytest.raises(ValueError):
        fit_log_scaling([1, 4], [0.1, 0.2])
    with pytest.raises(ValueError):
        fit_log_scaling([0, 4, 16], [0.1, 0.2, 0.3])


def test_scaling_points_average_over_the_other_factor_per_seed():
    runs = [
        {"params": p, "data": d, "seed": s, "acc": 0.1 * p + 0.01 * d + s}
        for p in (7, 13)
        for d in (1, 4)
        for s in (0, 1)
    ]
    x, y = scaling_points(runs, factor="params", other="data")
    assert x == [7.0, 7.0, 13.0, 13.0]
    assert y == pytest.approx([0.725, 1.725, 1.325, 2.325])
    with pytest.raises(ValueError, match="unbalanced"):
        scaling_points(runs[:-1], factor="params", other="data")
    fits = sensitivities({"a": ([1, 4, 16], [0.1, 0.2, 0.3]), "b": ([1, 4, 16], [0.3, 0.3, 0.31])})
    assert fits["a"]["alpha"] > fits["b"]["alpha"]
    assert normalize_sensitivity({"a": 2.0, "b": 1.0, "c": 1.5}) == {"a": 1.0, "b": 0.0, "c": 0.5}


# ---- Sec. 4.3.2 Complexity / Transference ------------------------------------------------

ACC = {  # acc[trained on][evaluated on]
    "A": {"A": 0.6, "B": 0.3, "C": 0.2},
    "B": {"A": 0.4, "B": 0.7, "C": 0.25},
    "C": {"A": 0.35, "B": 0.5, "C": 0.8},
}
BASE = {"A": 0.3, "B": 0.2, "C": 0.1}
LOSS = {"A": 1.0, "B": 2.0, "C": 3.0}


def test_complexity_hand_worked():
    # transfer_in: A (0.4-0.3)+(0.35-0.3)=0.15; B (0.3-0.2)+(0.5-0.2)=0.4; C (0.2-0.1)+(0.25-0.1)=0.25
    assert complexity(ACC, BASE, LOSS) == pytest.approx({"A": 0.85, "B": 1.6, "C": 2.75})
    assert complexity(ACC, BASE, LOSS, w1=2, w2=10) == pytest.approx({"A": 0.5, "B": 0.0, "C": 3.5})


def test_transference_hand_worked():
    # A: (0.3-0.7)+(0.2-0.8); B: (0.4-0.6)+(0.25-0.8); C: (0.35-0.6)+(0.5-0.7)
    assert transference(ACC) == pytest.approx({"A": -1.0, "B": -0.75, "C": -0.45})
    assert transference(ACC, w=2) == pytest.approx({"A": -2.0, "B": -1.5, "C": -0.9})
    both = complexity_transference(ACC, BASE, LOSS)
    assert both["B"]["transfer_in"] == pytest.approx(0.4)
    assert both["C"]["transfer_out"] == pytest.approx(-0.45)
    assert both["A"]["complexity"] == pytest.approx(0.85)
    with pytest.raises(ValueError, match="not evaluated"):
        transference({"A": {"A": 0.5}, "B": {"A": 0.1, "B": 0.2}})


# ---- Fig. 7 correlation --------------------------------------------------------------------


def test_correlation_perfect_monotone():
    a = {f"ab{i}": float(i) for i in range(10)}
    lin = {k: 2 * v + 1 for k, v in a.items()}
    out = correlation_with_uncertainty(a, lin, n_boot=500, seed=3)
    assert out["pearson_r"] == pytest.approx(1.0)
    assert out["spearman_rho"] == pytest.approx(1.0)
    assert out["pearson_p"] < 1e-6 and out["spearman_p"] < 1e-6
    assert out["pearson_ci"] == pytest.approx((1.0, 1.0))
    assert out["spearman_ci"] == pytest.approx((1.0, 1.0))
    assert 0 < out["n_boot_valid"] <= 500
    expo = {k: math.exp(v) for k, v in a.items()}  # monotone, not linear
    out2 = correlation_with_uncertainty(list(a.values()), list(expo.values()), n_boot=500)
    assert out2["spearman_rho"] == pytest.approx(1.0)
    assert out2["spearman_ci"] == pytest.approx((1.0, 1.0))
    assert 0 < out2["pearson_r"] < 1
    assert out2 == correlation_with_uncertainty(list(a.values()), list(expo.values()), n_boot=500)


# ---- Sec. 5.2 mixes -------------------------------------------------------------------------

SENS = {  # per factor; ethics and role_play the two lowest under both
    "params": {a: float(i) for i, a in enumerate(sorted(PAPER_SUPPLY))},
    "data": {a: float(10 - i) for i, a in enumerate(sorted(PAPER_SUPPLY))},
}
SENS["params"].update(ethics=-2.0, role_play=-1.0)
SENS["data"].update(ethics=-1.0, role_play=-2.0)


def test_insensitive_rule():
    assert insensitive_abilities(SENS) == ["ethics", "role_play"]
    assert insensitive_abilities(SENS["params"], k=1) == ["ethics"]
    assert insensitive_abilities(SENS, threshold=-1.5) == []


def test_reconstruct_keeps_total_and_cuts_insensitive():
    mix = reconstruct_mix(SENS, 1000, hold=["creative_writing"], supply=PAPER_SUPPLY)
    assert sum(mix.values()) == 10_000 == sum(uniform_mix(PAPER_SUPPLY, 1000).values())
    assert mix["ethics"] == mix["role_play"] == 64
    assert mix["creative_writing"] == 1000
    assert mix["biology"] == 1042  # capped by its supply; the rest re-split
    others = [mix[a] for a in ("history", "code", "chinese", "understanding", "reasoning", "math")]
    assert others == [1305] * 6  # the released code's 1,305 per ability
    # without supplies or holds: 9,872 over 8, with a largest-remainder split when uneven
    free = reconstruct_mix(SENS, 1000, 10_000)
    assert sum(free.values()) == 10_000 and free["ethics"] == 64
    held = reconstruct_mix(SENS, 1000, hold=["creative_writing"])
    got = [v for a, v in held.items() if a not in ("ethics", "role_play", "creative_writing")]
    assert sum(held.values()) == 10_000 and max(got) - min(got) == 1
    with pytest.raises(ValueError, match="cannot absorb"):
        reconstruct_mix(SENS, 1000, supply=dict.fromkeys(PAPER_SUPPLY, 1000))
    with pytest.raises(ValueError, match="floor"):
        reconstruct_mix(SENS, 16)


def test_maximum_mix():
    assert maximum_mix(PAPER_SUPPLY) == PAPER_SUPPLY
    mx = maximum_mix(
        PAPER_SUPPLY, insensitive=["ethics", "role_play"], hold=["creative_writing"], base_n=1000
    )
    assert mx["ethics"] == mx["role_play"] == 64 and mx["reasoning"] == 12751
    assert sum(mx.values()) == 39_618  # the paper's "40k"
    with pytest.raises(ValueError, match="base_n"):
        maximum_mix(PAPER_SUPPLY, hold=["creative_writing"])
