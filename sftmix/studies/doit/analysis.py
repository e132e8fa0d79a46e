"""DoIT's analysis as plain functions over plain data (no Snakemake, no I/O).

Paper: Song, Zhou, Yan, Fei, Lan, Zhang, "Dynamics of Instruction Fine-Tuning for Chinese Large
Language Models" (DoIT). Section by section:

* **Sec. 4.1, quantity sweep** -- :func:`quantity_grid`. "We increment the sample size from n = 1
  logarithmically (base 4) to n = 1000 (totaling 10k instances)": every ability is trained at the
  same n per run.
* **Sec. 4.2, evaluation** -- :func:`distractor_correct`, :func:`score_open_ended`. Exact-match
  items by accuracy; open-ended items by *comparison with distractors*: "Score = 1 if
  min_j(PPL(d_j|i)) > PPL(g|i), 0 otherwise".
* **Sec. 4.2, checkpoint selection** -- :func:`select_checkpoint`. "We select the highest-scoring
  checkpoint after 5 epochs using the validation set".
* **Sec. 4.3.2, Eq. 1-2, scaling sensitivity** -- :func:`scaling_points`,
  :func:`fit_log_scaling`, :func:`sensitivities`, :func:`normalize_sensitivity`.
  ``exp(ACC_i) = (exp(c_i) N)^alpha_i`` (Eq. 1), i.e. ``ACC_i = alpha_i log N + alpha_i c_i``
  (Eq. 2); "the exponent alpha_i ... indicating the *scaling sensitivity*".
* **Sec. 4.3.2, Complexity and Transference** -- :func:`complexity`, :func:`transference`,
  :func:`complexity_transference`; their relation with sensitivity (Fig. 7) --
  :func:`correlation_with_uncertainty`.
* **Sec. 5.2, Table 3, mixes** -- :func:`insensitive_abilities`, :func:`uniform_mix`,
  :func:`reconstruct_mix`, :func:`maximum_mix`.

Conventions: accuracies are whatever unit the caller uses (fractions here; the paper plots %),
and a fitted alpha carries that unit. Abilities are keyed by name everywhere. Every ambiguity in
the paper and the choice made is stated in the function that meets it. The authors' released
code (``ChiyuSONG/dynamics-of-instruction-tuning``) was read for two facts the text leaves
open: PPL there is ``exp`` of the *mean* token cross-entropy of the response, and their
Reconstruct / Maximum data (``make_data.py``) keep Ethics and Role-play at 64, Creative Writing
at 1,000, and spread the rest uniformly (capped by supply, remainder to one ability) or take
every remaining record.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from ...rng import np_rng

# Sec. 4.3.2: Complexity and Transference come from separate 7b runs on 64 items per ability
# (Fig. 7); Appendix Fig. 8 repeats them with 1,000 items.
FEATURE_RUN_N = 64
# Sec. 5.2: insensitive abilities are "reduced to 64 instances each".
RECONSTRUCT_FLOOR = 64


# ---- Sec. 4.1: the quantity sweep --------------------------------------------------------


def quantity_grid(
    supply: Mapping[str, int], *, base: int = 4, max_n: int = 1024, include_cap: bool = False
) -> list[int]:
    """Per-ability sample sizes of the quantity sweep (Sec. 4.1): ``n = 1, base, base^2, ...``.

    Every run trains *every* ability at the same n ("we uniformly sample data d_i of size n from
    each ability a_i"), so the grid is capped by the scarcest ability: it holds the powers
    ``base^k <= min(max_n, min_i supply[i])``, ``supply[i]`` being the training records available
    for ability i.

    ``include_cap``: the paper's sweep ends at n = 1,000, not at a power of 4 (its 4^5 = 1,024
    cut to the 1,000 first-round training items per ability; the released code's totals are
    10, 40, 160, 640, 2,560, 10,000). With ``include_cap=True`` the cap
    ``min(max_n, min supply)`` is appended as the last point when it is not itself a power
    (supplies of 1,000 then give ``[1, 4, 16, 64, 256, 1000]``, the paper's grid). Default
    False: powers only.

    Errors: an empty ``supply``; ``base < 2``; ``max_n < 1``; any ability whose supply is below
    1 (ValueError naming every such ability: no common n >= 1 exists, so no sweep can include
    it -- drop the ability or add records).
    """
    if not supply:
        raise ValueError("quantity_grid: empty supply (no abilities)")
    if isinstance(base, bool) or not isinstance(base, int) or base < 2:
        raise ValueError(f"quantity_grid: base must be an integer >= 2, got {base!r}")
    if isinstance(max_n, bool) or not isinstance(max_n, int) or max_n < 1:
        raise ValueError(f"quantity_grid: max_n must be an integer >= 1, got {max_n!r}")
    for ability, s in supply.items():
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise ValueError(f"quantity_grid: supply of {ability!r} is not an integer: {s!r}")
    short = sorted(a for a, s in supply.items() if s < 1)
    if short:
        detail = ", ".join(f"{a!r} ({supply[a]})" for a in short)
        raise ValueError(
            f"quantity_grid: supply below 1 for {detail}; every ability is trained at the same "
            "n >= 1, so these abilities cannot enter the sweep"
        )
    cap = min(max_n, *(int(s) for s in supply.values()))
    grid = [1]
    while grid[-1] * base <= cap:
        grid.append(grid[-1] * base)
    if include_cap and grid[-1] < cap:
        grid.append(cap)
    return grid


# ---- Sec. 4.2: scoring ------------------------------------------------------------------


class UnscorableItem(ValueError):
    """An item whose score cannot be computed (a non-finite NLL): counted, never scored."""


def distractor_correct(gold_nll: float, distractor_nlls: Sequence[float]) -> bool:
    """Sec. 4.2, *comparison with distractors*: ``min_j PPL(d_j|i) > PPL(g|i)``.

    Arguments are the response NLLs given the instruction; ``PPL = exp(NLL)`` is monotone, so
    comparing NLLs is comparing PPLs. Pass the **mean token NLL** of each response (the authors'
    code takes ``exp`` of the mean cross-entropy over the response tokens); the paper's printed
    formula exponentiates the *summed* log-probability, which would favour shorter responses --
    both reductions go through this function unchanged, the caller picks one for all.
    ``distractor_nlls`` holds every distractor of the item (the fine-grained and the
    coarse-grained corruption).

    Ties: the inequality is strict, so a gold response tied with any distractor scores **0**
    (the paper's formula; the released scorer, ``min(ppl) == ppl[0]``, would score it 1).

    Raises :class:`UnscorableItem` when any NLL is non-finite (nan or inf: a failed or
    overflowed evaluation, not a verdict), ValueError when there is no distractor.
    """
    values = [float(gold_nll), *(float(d) for d in distractor_nlls)]
    if len(values) < 2:
        raise ValueError("distractor_correct: an open-ended item needs at least one distractor")
    if not all(math.isfinite(v) for v in values):
        raise UnscorableItem(f"distractor_correct: non-finite NLL in {values!r}")
    return min(values[1:]) > values[0]


def _exact_correct(value: Any) -> bool:
    if value is None:
        raise UnscorableItem("exact-match item without a verdict (None)")
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    v = float(value)
    if not math.isfinite(v):
        raise UnscorableItem(f"exact-match verdict is non-finite: {value!r}")
    if v not in (0.0, 1.0):
        raise ValueError(f"exact-match verdict must be 0/1 or a bool, got {value!r}")
    return v == 1.0


def score_open_ended(items: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-ability accuracy over a checkpoint's evaluation items (Sec. 4.2).

    Each item is a mapping with ``"ability"`` and either

    * ``"gold_nll"`` and ``"distractor_nlls"`` -- an open-ended item, scored by
      :func:`distractor_correct` (ties wrong), or
    * ``"correct"`` -- an exact-match item (multiple-choice, true/false, fill-in-the-blank)
      already judged against its gold answer: a bool or 0/1; ``None``/nan = no verdict.

    An item with a non-finite value is **unscorable**: counted in ``n_unscorable`` and left out
    of the accuracy (not scored 0, not scored 1). A malformed item (neither kind, no
    distractors, an exact verdict other than 0/1) raises ValueError.

    Returns ``{ability: {"acc", "n_correct", "n_scored", "n_unscorable", "n_items", "n_open",
    "n_exact"}}`` with ``acc = n_correct / n_scored`` (nan when nothing was scorable).
    """
    out: dict[str, dict[str, Any]] = {}
    for k, item in enumerate(items):
        if "ability" not in item:
            raise ValueError(f"score_open_ended: item {k} has no 'ability'")
        row = out.setdefault(
            str(item["ability"]),
            {
                "n_correct": 0,
                "n_scored": 0,
                "n_unscorable": 0,
                "n_items": 0,
                "n_open": 0,
                "n_exact": 0,
            },
        )
        row["n_items"] += 1
        try:
            if "gold_nll" in item:
                row["n_open"] += 1
                if "distractor_nlls" not in item:
                    raise ValueError(f"score_open_ended: open item {k} has no 'distractor_nlls'")
                ok = distractor_correct(item["gold_nll"], item["distractor_nlls"])
            elif "correct" in item:
                row["n_exact"] += 1
                ok = _exact_correct(item["correct"])
            else:
                raise ValueError(
                    f"score_open_ended: item {k} is neither open-ended ('gold_nll') nor "
                    "exact-match ('correct')"
                )
        except UnscorableItem:
            row["n_unscorable"] += 1
            continue
        row["n_scored"] += 1
        row["n_correct"] += int(ok)
    for row in out.values():
        row["acc"] = row["n_correct"] / row["n_scored"] if row["n_scored"] else math.nan
    return out


# ---- Sec. 4.2: checkpoint selection -----------------------------------------------------


def select_checkpoint(
    val_scores: Mapping[int, float], *, min_epoch: int = 5, inclusive: bool = False
) -> int:
    """The epoch whose checkpoint has the highest validation score after the cut (Sec. 4.2).

    Paper: "We select the highest-scoring checkpoint after 5 epochs using the validation set and
    then demonstrate its performance on the test set." Epochs are 1-based (epoch k = the
    checkpoint saved at the end of the k-th epoch). The text does not say whether the epoch-5
    checkpoint itself is eligible; the default reads "after 5 epochs" as **strictly after**:
    eligible epochs are ``epoch > min_epoch`` (6..15 of the paper's 15). ``inclusive=True`` makes
    it ``epoch >= min_epoch``.

    Ties in the best score go to the **earliest** epoch. Errors: a non-finite score on an
    eligible epoch (a broken evaluation, never skipped silently), or no eligible epoch.
    """
    eligible = sorted(e for e in val_scores if (e >= min_epoch if inclusive else e > min_epoch))
    if not eligible:
        op = ">=" if inclusive else ">"
        raise ValueError(f"select_checkpoint: no epoch {op} {min_epoch} among {sorted(val_scores)}")
    bad = [e for e in eligible if not math.isfinite(float(val_scores[e]))]
    if bad:
        raise ValueError(f"select_checkpoint: non-finite validation score at epochs {bad}")
    best = eligible[0]
    for e in eligible[1:]:
        if float(val_scores[e]) > float(val_scores[best]):
            best = e
    return best


# ---- Sec. 4.3.2, Eq. 1-2: scaling sensitivity --------------------------------------------


def scaling_points(
    runs: Sequence[Mapping[str, Any]],
    *,
    factor: str,
    other: str,
    acc_key: str = "acc",
    seed_key: str = "seed",
) -> tuple[list[float], list[float]]:
    """The ``(x, ACC)`` points of one ability's Eq. 2 fit against ``factor`` (Sec. 4.3.2).

    Paper: "we model the task score ACC (averaged across varying data volume) as a function of
    model size N"; for data sensitivity N is replaced by the data volume D, and ACC is then
    averaged across model sizes. ``runs`` are one ability's test accuracies, one mapping per
    trained run with keys ``factor``, ``other``, ``acc_key`` and optionally ``seed_key``
    (e.g. ``{"params": 7e9, "data": 64, "seed": 0, "acc": 0.41}``).

    Each point is the mean ACC over ``other`` within one ``(factor, seed)`` cell, so replicate
    seeds stay separate points (the run is the unit of replication; see
    :func:`fit_log_scaling`). The mean is only comparable across cells when every cell averages
    the same ``other`` levels: an unbalanced design raises ValueError. Points are returned
    sorted by ``(x, seed)``.
    """
    cells: dict[tuple[float, Any], dict[Any, float]] = {}
    for k, run in enumerate(runs):
        for key in (factor, other, acc_key):
            if key not in run:
                raise ValueError(f"scaling_points: run {k} has no {key!r}")
        cell = cells.setdefault((float(run[factor]), run.get(seed_key)), {})
        level = run[other]
        if level in cell:
            raise ValueError(
                f"scaling_points: duplicate run {factor}={run[factor]}, {other}={level}, "
                f"{seed_key}={run.get(seed_key)}"
            )
        cell[level] = float(run[acc_key])
    if not cells:
        raise ValueError("scaling_points: no runs")
    levels = {frozenset(c) for c in cells.values()}
    if len(levels) != 1:
        raise ValueError(
            f"scaling_points: unbalanced design: the {other!r} levels differ across "
            f"({factor}, seed) cells: {sorted(sorted(map(str, s)) for s in levels)}"
        )
    keys = sorted(cells, key=lambda c: (c[0], str(c[1])))
    return [c[0] for c in keys], [float(np.mean(list(cells[c].values()))) for c in keys]


def fit_log_scaling(
    x: Sequence[float], acc: Sequence[float], *, alpha_tol: float = 1e-12
) -> dict[str, float | int]:
    """Eq. 2 by OLS: ``ACC = alpha * log(x) + alpha * c`` (Sec. 4.3.2), statsmodels.

    Eq. 1, ``exp(ACC) = (exp(c) x)^alpha``, fixes the log as the **natural** log. ``x`` is the
    parameter count N or the data volume D. The OLS is ``ACC = b0 + alpha * ln(x)``; then
    ``intercept = b0 = alpha * c`` and ``c = intercept / alpha`` as the paper writes it.

    * alpha (the slope) does not depend on the unit of x (7e9 vs 7 "billion", n per ability vs
      total 10 n): only the intercept and c shift. alpha carries the unit of ACC.
    * ``|alpha| <= alpha_tol``: c is undefined -> nan (an ability with no scaling has no
      "constant" c in Eq. 1). For small but non-zero alpha c is finite but very uncertain;
      ``c_se`` is its delta-method standard error from the fit's covariance,
      ``Var(c) = Var(b0)/a^2 + b0^2 Var(a)/a^4 - 2 b0 Cov(a, b0)/a^3``.
    * Replicates: pass **every** (x, acc) point -- with replicate seeds each run is one point
      (the run is the unit of replication) rather than a seed mean, so the residual variance
      includes run-to-run noise and the SEs are honest about it.

    Requires at least 3 finite points (1 residual degree of freedom), all ``x > 0``, and at
    least 2 distinct x. Returns ``alpha, intercept, c, alpha_se, intercept_se, c_se, t, p``
    (``t``, ``p``: the two-sided test of alpha = 0), ``r2, n, df_resid``; a degenerate fit
    (constant acc, or a perfect one) returns its nan/inf statistics without warnings.
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(acc, dtype=float)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"fit_log_scaling: x and acc differ in shape: {xs.shape} vs {ys.shape}")
    if len(xs) < 3:
        raise ValueError(f"fit_log_scaling: need >= 3 points, got {len(xs)}")
    if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(ys))):
        raise ValueError("fit_log_scaling: non-finite x or acc")
    if np.any(xs <= 0):
        raise ValueError("fit_log_scaling: x must be > 0 (log scale)")
    if len(np.unique(xs)) < 2:
        raise ValueError("fit_log_scaling: need at least 2 distinct x values")
    import statsmodels.api as sm  # here: the items' scoring (in every DoIT fine-tune) needs none of it

    design = sm.add_constant(np.log(xs), has_constant="add")
    res = sm.OLS(ys, design).fit()
    with warnings.catch_warnings():
        # degenerate fits (constant acc, zero residual) give nan/inf, reported as such
        warnings.simplefilter("ignore", RuntimeWarning)
        b0, alpha = (float(v) for v in res.params)
        se0, se1 = (float(v) for v in res.bse)
        cov = np.asarray(res.cov_params())
        t, p = float(res.tvalues[1]), float(res.pvalues[1])
        r2 = float(res.rsquared) if float(res.centered_tss) > 0 else math.nan
    if abs(alpha) <= alpha_tol:
        c = c_se = math.nan
    else:
        c = b0 / alpha
        var_c = cov[0, 0] / alpha**2 + b0**2 * cov[1, 1] / alpha**4 - 2 * b0 * cov[0, 1] / alpha**3
        c_se = math.sqrt(var_c) if var_c >= 0 else math.nan
    return {
        "alpha": alpha,
        "intercept": b0,
        "c": c,
        "alpha_se": se1,
        "intercept_se": se0,
        "c_se": c_se,
        "t": t,
        "p": p,
        "r2": r2,
        "n": int(res.nobs),
        "df_resid": int(res.df_resid),
    }


def sensitivities(
    points: Mapping[str, tuple[Sequence[float], Sequence[float]]],
) -> dict[str, dict[str, float | int]]:
    """Scaling sensitivity per ability: the Eq. 2 fit of each ability (Sec. 4.3.2).

    "the exponent alpha_i represents the rate of accuracy improvement ..., indicating the
    *scaling sensitivity*": sensitivity = the fitted ``alpha`` itself, unnormalised. ``points``
    maps ability -> ``(x, acc)`` (see :func:`scaling_points`); the result maps ability -> the
    :func:`fit_log_scaling` dict (read ``["alpha"]``).
    """
    return {a: fit_log_scaling(x, y) for a, (x, y) in points.items()}


def normalize_sensitivity(values: Mapping[str, float]) -> dict[str, float]:
    """Min-max scale sensitivities to [0, 1] -- **for display only** (Fig. 7/8 captions).

    The paper normalises sensitivity only "for visualization"; analysis uses raw alpha. Pearson
    and Spearman correlations are invariant to this affine map. All-equal values map to 0.5.
    (Sec. 5.1 quotes normalised values too -- Novel Generation at 0.92 parameter / 0.54 data
    sensitivity -- without saying over which set of abilities the min and max were taken.)
    """
    if not values:
        return {}
    v = np.array([float(x) for x in values.values()])
    lo, hi = float(v.min()), float(v.max())
    if hi == lo:
        return dict.fromkeys(values, 0.5)
    return {a: (float(x) - lo) / (hi - lo) for a, x in values.items()}


# ---- Sec. 4.3.2: Complexity and Transference ---------------------------------------------


def _check_square(acc: Mapping[str, Mapping[str, float]]) -> list[str]:
    abilities = sorted(acc)
    if len(abilities) < 2:
        raise ValueError("need single-ability runs for at least 2 abilities")
    for i in abilities:
        missing = sorted(set(abilities) - set(acc[i]))
        if missing:
            raise ValueError(f"the run trained on {i!r} was not evaluated on {missing}")
        bad = [j for j in abilities if not math.isfinite(float(acc[i][j]))]
        if bad:
            raise ValueError(f"non-finite accuracy of the run trained on {i!r} on {bad}")
    return abilities


def _transfer_in(
    acc: Mapping[str, Mapping[str, float]],
    base_acc: Mapping[str, float],
    abilities: Sequence[str],
    i: str,
) -> float:
    """``sum_{j != i} (Acc(j, i) - Acc(f, i))``: what the other abilities' runs gain on i."""
    return sum(float(acc[j][i]) - float(base_acc[i]) for j in abilities if j != i)


def _transfer_out(
    acc: Mapping[str, Mapping[str, float]], abilities: Sequence[str], i: str
) -> float:
    """``sum_{j != i} (Acc(i, j) - Acc(j, j))``: i's run on j against j's own run."""
    return sum(float(acc[i][j]) - float(acc[j][j]) for j in abilities if j != i)


def complexity(
    acc: Mapping[str, Mapping[str, float]],
    base_acc: Mapping[str, float],
    test_loss: Mapping[str, float],
    *,
    w1: float = 1.0,
    w2: float = 1.0,
) -> dict[str, float]:
    """Complexity per ability (Sec. 4.3.2)::

        Complexity_i = w1 * L_i - w2 * sum_{j != i} (Acc(j, i) - Acc(f, i))

    from single-ability runs (7b, :data:`FEATURE_RUN_N` = 64 items each in the paper):
    ``acc[j][i]`` = Acc(j, i), the accuracy on ability i of the model trained only on ability
    j's data; ``base_acc[i]`` = Acc(f, i), the foundation model's accuracy on i; ``test_loss[i]``
    = L_i, "the test loss ... for each model trained individually on ability i" (its loss on
    ability i's test set). High Complexity = "more challenging for language modeling" (large
    L_i) and "benefit less from the training of other abilities" (small summed gain).

    The paper gives no values for w1, w2; defaults 1, 1 (L in nats, Acc in the caller's unit).
    The two terms are returned separately by :func:`complexity_transference` so the weights can
    be chosen later.
    """
    abilities = _check_square(acc)
    for name, table in (("base_acc", base_acc), ("test_loss", test_loss)):
        missing = sorted(set(abilities) - set(table))
        if missing:
            raise ValueError(f"complexity: {name} lacks {missing}")
    return {
        i: w1 * float(test_loss[i]) - w2 * _transfer_in(acc, base_acc, abilities, i)
        for i in abilities
    }


def transference(acc: Mapping[str, Mapping[str, float]], *, w: float = 1.0) -> dict[str, float]:
    """Transference per ability (Sec. 4.3.2)::

        Transference_i = w * sum_{j != i} (Acc(i, j) - Acc(j, j))

    "how well ability i data enhances other abilities j": the accuracy on ability j of the
    model trained on ability i, *relative to the model trained on j itself* (``acc[j][j]``; not
    to the foundation model as in Complexity -- the formula is followed as printed). Values are
    usually <= 0; closer to 0 = better transfer. ``w`` (unspecified in the paper, default 1)
    only rescales.
    """
    abilities = _check_square(acc)
    return {i: w * _transfer_out(acc, abilities, i) for i in abilities}


def complexity_transference(
    acc: Mapping[str, Mapping[str, float]],
    base_acc: Mapping[str, float],
    test_loss: Mapping[str, float],
    *,
    w1: float = 1.0,
    w2: float = 1.0,
    w: float = 1.0,
) -> dict[str, dict[str, float]]:
    """Both Sec. 4.3.2 features per ability, with their unweighted terms.

    ``{ability: {"complexity", "transference", "loss", "transfer_in", "transfer_out"}}`` where
    ``loss = L_i``, ``transfer_in = sum_{j != i} (Acc(j, i) - Acc(f, i))`` (so
    ``complexity = w1 * loss - w2 * transfer_in``) and
    ``transfer_out = sum_{j != i} (Acc(i, j) - Acc(j, j))`` (``transference = w * transfer_out``).
    See :func:`complexity` and :func:`transference` for the table layout.
    """
    comp = complexity(acc, base_acc, test_loss, w1=w1, w2=w2)
    trans = transference(acc, w=w)
    abilities = sorted(acc)
    return {
        i: {
            "complexity": comp[i],
            "transference": trans[i],
            "loss": float(test_loss[i]),
            "transfer_in": _transfer_in(acc, base_acc, abilities, i),
            "transfer_out": _transfer_out(acc, abilities, i),
        }
        for i in abilities
    }


# ---- Fig. 7: feature vs. sensitivity ----------------------------------------------------


def _paired(
    a: Mapping[str, float] | Sequence[float], b: Mapping[str, float] | Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(a, Mapping) != isinstance(b, Mapping):
        raise ValueError("correlation: pass two mappings (keyed by ability) or two sequences")
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if set(a) != set(b):
            raise ValueError(
                f"correlation: abilities differ: {sorted(set(a) ^ set(b))} in only one input"
            )
        keys = sorted(a)
        xa = np.array([float(a[k]) for k in keys])
        xb = np.array([float(b[k]) for k in keys])
    else:
        xa = np.asarray(a, dtype=float)
        xb = np.asarray(b, dtype=float)
        if xa.shape != xb.shape:
            raise ValueError(f"correlation: lengths differ: {len(xa)} vs {len(xb)}")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(xb))):
        raise ValueError("correlation: non-finite value")
    if len(xa) < 3:
        raise ValueError(f"correlation: need >= 3 abilities, got {len(xa)}")
    return xa, xb


def _rowwise_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    num = (xc * yc).sum(axis=1)
    den = np.sqrt((xc**2).sum(axis=1) * (yc**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, num / den, np.nan)
    return np.clip(r, -1.0, 1.0)


def correlation_with_uncertainty(
    a: Mapping[str, float] | Sequence[float],
    b: Mapping[str, float] | Sequence[float],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Pearson and Spearman correlation of a feature with a sensitivity (Fig. 7), with CIs.

    Fig. 7 claims "linear relationships" from ten abilities; with so few points the p values
    (scipy ``pearsonr`` / ``spearmanr``) are complemented by a percentile bootstrap over
    abilities: ``n_boot`` resamples of the abilities with replacement (RNG
    ``np_rng(seed, "doit", "correlation_bootstrap")``); a resample in which either variable is
    constant has no correlation and is dropped (``n_boot_valid`` counts the kept ones).

    ``a`` and ``b`` are two mappings keyed by ability (paired by key; the key sets must match)
    or two equal-length sequences. At least 3 abilities. Returns ``n, pearson_r, pearson_p,
    pearson_ci, spearman_rho, spearman_p, spearman_ci, n_boot_valid, level``.
    """
    from scipy import stats

    xa, xb = _paired(a, b)
    if not 0 < level < 1:
        raise ValueError(f"correlation: level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"correlation: n_boot must be >= 1, got {n_boot}")
    pr = stats.pearsonr(xa, xb)
    sr = stats.spearmanr(xa, xb)
    n = len(xa)
    idx = np_rng(seed, "doit", "correlation_bootstrap").integers(0, n, size=(n_boot, n))
    ba, bb = xa[idx], xb[idx]
    boot_p = _rowwise_pearson(ba, bb)
    boot_s = _rowwise_pearson(stats.rankdata(ba, axis=1), stats.rankdata(bb, axis=1))
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]

    def ci(v: np.ndarray) -> tuple[float, float]:
        v = v[np.isfinite(v)]
        if len(v) == 0:
            return (math.nan, math.nan)
        lo, hi = np.percentile(v, q)
        return (float(lo), float(hi))

    valid = np.isfinite(boot_p) & np.isfinite(boot_s)
    return {
        "n": n,
        "pearson_r": float(pr[0]),
        "pearson_p": float(pr[1]),
        "pearson_ci": ci(boot_p[valid]),
        "spearman_rho": float(sr[0]),
        "spearman_p": float(sr[1]),
        "spearman_ci": ci(boot_s[valid]),
        "n_boot_valid": int(valid.sum()),
        "level": level,
    }


# ---- Sec. 5.2, Table 3: data mixes --------------------------------------------------------


def _factor_tables(
    sensitivity: Mapping[str, float] | Mapping[str, Mapping[str, float]],
) -> dict[str, dict[str, float]]:
    """``{factor: {ability: alpha}}`` from a flat ``{ability: alpha}`` or per-factor table."""
    if not sensitivity:
        raise ValueError("sensitivity: empty")
    values = list(sensitivity.values())
    if all(isinstance(v, Mapping) for v in values):
        tables = {str(f): {str(a): float(x) for a, x in t.items()} for f, t in sensitivity.items()}
        names = {frozenset(t) for t in tables.values()}
        if len(names) != 1:
            raise ValueError("sensitivity: the factors cover different abilities")
    elif any(isinstance(v, Mapping) for v in values):
        raise ValueError("sensitivity: mix of flat and per-factor entries")
    else:
        tables = {"alpha": {str(a): float(x) for a, x in sensitivity.items()}}
    for f, t in tables.items():
        bad = sorted(a for a, x in t.items() if not math.isfinite(x))
        if bad:
            raise ValueError(f"sensitivity: non-finite {f} sensitivity for {bad}")
    return tables


def insensitive_abilities(
    sensitivity: Mapping[str, float] | Mapping[str, Mapping[str, float]],
    *,
    k: int = 2,
    threshold: float | Mapping[str, float] | None = None,
) -> list[str]:
    """The abilities Reconstruct cuts (Sec. 5.2): low sensitivity to **all** factors.

    Paper: "Ethics and Role-play Chat, which show low sensitivity to all factor changes in
    Section 4.3, are reduced to 64 instances each" -- it names the abilities from the curves,
    with no numeric rule. Made explicit here:

    * ``sensitivity`` is ``{ability: alpha}`` (one factor) or ``{factor: {ability: alpha}}``
      (e.g. ``{"params": ..., "data": ...}``, the Eq. 2 alphas).
    * Rank rule (default, ``threshold=None``): under each factor the ``k`` lowest alphas
      (ties broken by ability name) are low; the paper cut k = 2 of 10.
    * Threshold rule: ``alpha <= threshold`` is low (one number for every factor, or a mapping
      factor -> threshold).
    * An ability is insensitive when it is low under **every** factor, so with several factors
      fewer than k may qualify (possibly none: then Reconstruct equals the baseline).

    Returns the names, sorted.
    """
    tables = _factor_tables(sensitivity)
    low_sets = []
    for f, t in tables.items():
        if threshold is None:
            if k < 0:
                raise ValueError(f"insensitive_abilities: k must be >= 0, got {k}")
            low = {a for a, _ in sorted(t.items(), key=lambda kv: (kv[1], kv[0]))[:k]}
        else:
            thr = threshold[f] if isinstance(threshold, Mapping) else threshold
            low = {a for a, x in t.items() if x <= float(thr)}
        low_sets.append(low)
    return sorted(set.intersection(*low_sets))


def uniform_mix(abilities: Collection[str], n: int) -> dict[str, int]:
    """Sec. 5.2 Baseline: ``n`` records of every ability (the paper's 1,000 x 10 = 10k)."""
    return dict.fromkeys(sorted(abilities), int(n))


def _water_fill(names: Sequence[str], budget: int, caps: Mapping[str, float]) -> dict[str, int]:
    """Split ``budget`` as evenly as possible over ``names`` within ``caps``.

    Uniform shares; an ability whose cap is below the share gets its cap and the leftover is
    re-split over the rest; the final fractional shares are rounded by largest remainder (all
    remainders equal, so the extra units go to the first abilities by name). Raises
    ValueError when the caps cannot absorb the budget.
    """
    alloc: dict[str, int] = {}
    active = sorted(names)
    rem = budget
    while active:
        share = rem / len(active)
        capped = [a for a in active if caps[a] <= share]
        if not capped:
            break
        for a in capped:
            alloc[a] = int(caps[a])
            rem -= int(caps[a])
        active = [a for a in active if a not in capped]
    if not active:
        if rem > 0:
            raise ValueError(
                f"the supplies cannot absorb the budget: {rem} records left over once every "
                "receiving ability is at its full supply"
            )
        return alloc
    base = rem // len(active)
    extra = rem - base * len(active)
    for r, a in enumerate(active):
        alloc[a] = base + (1 if r < extra else 0)
    return alloc


def reconstruct_mix(
    sensitivity: Mapping[str, float] | Mapping[str, Mapping[str, float]],
    base_n: int,
    total: int | None = None,
    *,
    floor: int = RECONSTRUCT_FLOOR,
    k: int = 2,
    threshold: float | Mapping[str, float] | None = None,
    insensitive: Collection[str] | None = None,
    hold: Collection[str] = (),
    supply: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Sec. 5.2 "Reconstruct": per-ability record counts at the uniform baseline's total.

    Paper: Ethics and Role-play Chat "are reduced to 64 instances each ... The total number of
    instances is maintained at 10,000 by uniformly increasing the data volume of other
    categories. Creative Writing remains at 1,000 instances" (it had reached its plateau).

    * Cut: ``insensitive`` if given, else :func:`insensitive_abilities` (``k`` /
      ``threshold`` rule) -> ``min(floor, supply)`` each.
    * Held: ``hold`` (the paper's Creative Writing, a judgement from Fig. 3) ->
      ``min(base_n, supply)`` each.
    * Everything else receives the rest of ``total`` uniformly: largest-remainder rounding,
      capped by ``supply``, what a capped ability cannot take re-split over the others
      (the released code does the same: 1,305 each, Biology all it has, +1 to one ability).

    ``total`` defaults to the uniform baseline ``base_n * len(abilities)`` (10,000 in the paper)
    and the result always sums to it exactly. Abilities are the keys of ``sensitivity``.
    Errors: ``floor > base_n`` (not a cut), names outside the abilities, an ability both cut and
    held, a missing supply, or a total the supplies cannot reach.
    """
    tables = _factor_tables(sensitivity)
    abilities = sorted(next(iter(tables.values())))
    if isinstance(base_n, bool) or int(base_n) != base_n or base_n < 1:
        raise ValueError(f"reconstruct_mix: base_n must be a positive integer, got {base_n!r}")
    if floor < 0 or floor > base_n:
        raise ValueError(f"reconstruct_mix: floor {floor} must be within [0, base_n={base_n}]")
    total = base_n * len(abilities) if total is None else int(total)
    cut = (
        set(insensitive)
        if insensitive is not None
        else set(insensitive_abilities(sensitivity, k=k, threshold=threshold))
    )
    held = set(hold)
    unknown = sorted((cut | held) - set(abilities))
    if unknown:
        raise ValueError(f"reconstruct_mix: unknown abilities {unknown}")
    both = sorted(cut & held)
    if both:
        raise ValueError(f"reconstruct_mix: abilities both cut and held: {both}")
    if supply is not None:
        missing = sorted(set(abilities) - set(supply))
        if missing:
            raise ValueError(f"reconstruct_mix: no supply for {missing}")
    caps: dict[str, float] = {
        a: (float(supply[a]) if supply is not None else math.inf) for a in abilities
    }
    counts: dict[str, int] = {}
    for a in cut:
        counts[a] = int(min(floor, caps[a]))
    for a in held:
        counts[a] = int(min(base_n, caps[a]))
    receivers = [a for a in abilities if a not in counts]
    budget = total - sum(counts.values())
    if budget < 0:
        raise ValueError(
            f"reconstruct_mix: total {total} is below the cut and held abilities' "
            f"{sum(counts.values())}"
        )
    if not receivers:
        if budget:
            raise ValueError("reconstruct_mix: no ability left to receive the freed budget")
    else:
        counts.update(_water_fill(receivers, budget, caps))
    assert sum(counts.values()) == total
    return {a: counts[a] for a in abilities}


def maximum_mix(
    supply: Mapping[str, int],
    *,
    insensitive: Collection[str] = (),
    hold: Collection[str] = (),
    floor: int = RECONSTRUCT_FLOOR,
    base_n: int | None = None,
) -> dict[str, int]:
    """Sec. 5.2 "Maximum": every ability at its full supply, except the Reconstruct exceptions.

    Paper: "keeping Ethics and Role-play Chat at 64 instances each and Creative Writing at 1,000
    instances. Other abilities are scaled up ... with specific quantities detailed in Table 1"
    (all their records; an unbalanced ~40k set). So ``insensitive`` abilities get
    ``min(floor, supply)``, ``hold`` abilities ``min(base_n, supply)``, the rest their whole
    ``supply``. With no exceptions (the defaults) it is literally every ability at full supply;
    pass the Reconstruct ``insensitive`` / ``hold`` sets for the paper's mix. ``supply`` is the
    *training* supply (Table 1's sizes include the 100 validation + 100 test items).
    """
    if not supply:
        raise ValueError("maximum_mix: empty supply")
    bad = sorted(a for a, s in supply.items() if int(s) != s or s < 0)
    if bad:
        raise ValueError(f"maximum_mix: supply must be non-negative integers: {bad}")
    cut, held = set(insensitive), set(hold)
    unknown = sorted((cut | held) - set(supply))
    if unknown:
        raise ValueError(f"maximum_mix: unknown abilities {unknown}")
    if cut & held:
        raise ValueError(f"maximum_mix: abilities both cut and held: {sorted(cut & held)}")
    if held and base_n is None:
        raise ValueError("maximum_mix: hold needs base_n (the count held abilities keep)")
    out = {}
    for a in sorted(supply):
        s = int(supply[a])
        if a in cut:
            out[a] = min(floor, s)
        elif a in held:
            assert base_n is not None
            out[a] = min(int(base_n), s)
        else:
            out[a] = s
    return out
