"""InstructMining's quality rule: an OLS fit of log eval loss on dataset-level indicators.

The paper (Cao et al., "InstructMining") finetunes one model per randomly mixed dataset D_i,
measures its eval loss L_i and the mean natural-language indicators I(D_i) of its examples, and
fits Eq. 3, ``log L = beta_0 + sum_i beta_i I_i(D) + eps``, by ordinary least squares. The fitted
rule (Eq. 4, Table 9: const + Rew, Nat, Coh, Und) then scores single examples: a lower predicted
log loss means a better example (Sec. 2.3).

This module holds

* the indicator table I/O with quarantine (:func:`read_indicator_table`, :func:`screen_rows`);
* the OLS fit (:func:`fit_ols`, Eq. 3) and its tidy TSV (:func:`write_fit_tsv`,
  :func:`read_fit_tsv`);
* indicator selection as published (:func:`select_published`, Appendix E) and a sound variant by
  cross-validation (:func:`select_cv`);
* the one-indicator-out refits of Table 5 (:func:`one_out_ablation`);
* the normality tests of Table 7, as published and sound (:func:`normality_tests`);
* scoring of records with a fitted rule (:func:`rule_scores`, Eq. 4) and :func:`top_k`;
* the paper's own random-experiment results (Tables 20-21) as package data
  (:func:`load_paper_random_experiments`; see ``data/README.md``).

Indicator table format (TSV; read by :func:`read_indicator_table`)
-------------------------------------------------------------------
UTF-8, tab-separated, one header line, one line per finetuning dataset (no quoting, no
comments)::

    dataset   reward  naturalness  coherence  understandability  loss
    mix-0001  1.126   0.829        0.961      0.867              0.980

* Header names are case-insensitive and normalised to lower case (the paper's ``PPL`` becomes
  ``ppl``); two headers equal after lower-casing are an error.
* A ``loss`` column (the eval loss of the model finetuned on that dataset) is required.
* Every other column is an indicator (numeric) or a label (text). A column is a label when it is
  named in ``labels``, or when none of its values is a finite number and at least one is text
  that is neither a number nor a missing-value token (e.g. ``dataset``); every other column is
  numeric, so an indicator that came out all ``nan`` or empty quarantines its rows instead of
  turning into a label. Labels are kept as text and never enter a fit.
* A row is never silently dropped: it is *quarantined* (a :func:`sftmix.records.quarantine_row`
  entry, ``stage="instructmining_rule"``, ``row`` = 0-based data row) with the reason of its first
  bad field: ``missing_value`` (empty, ``NA``, ``null``, ``none``), ``not_a_number``,
  ``non_finite`` (``nan``, ``inf``) or ``loss_not_positive`` (the log of the loss must exist);
  ``detail`` names every bad field.

Fit table format (TSV; :func:`write_fit_tsv`, :func:`read_fit_tsv`)
-------------------------------------------------------------------
One row per term, ``const`` first, then the indicators in fit order; model-level statistics are
repeated on every row so the file is a single tidy table::

    term coef std_err t p r2 adj_r2 f f_p n_obs target

``target`` is ``log(loss)`` for a fit of the natural log of the loss, ``loss`` for a raw fit.
Floats are written with ``repr`` and read back exactly.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.diagnostic import lilliefors

from ...records import (
    StageCounts,
    quarantine_row,
    read_tsv,
    read_typed_tsv,
    write_typed_tsv,
)
from ...rng import derive_seed, np_rng

log = logging.getLogger(__name__)

STAGE = "instructmining_rule"
TARGET = "loss"
MISSING_TOKENS = frozenset({"", "na", "n/a", "null", "none"})
FIT_COLUMNS = ("term", "coef", "std_err", "t", "p", "r2", "adj_r2", "f", "f_p", "n_obs", "target")
FIT_FLOATS = frozenset({"coef", "std_err", "t", "p", "r2", "adj_r2", "f", "f_p"})
SUBSET_COLUMNS = {
    "published": ("indicators", "size", "r2", "adj_r2", "max_p", "within_tol", "chosen"),
    "cv": ("indicators", "size", "cv_mse", "cv_se", "r2", "chosen"),
}
PAPER_DATA = "data/paper_random_experiments.tsv"
PAPER_RULE_INDICATORS = ("reward", "naturalness", "coherence", "understandability")

# Table 9 as published (Eq. 4): log(loss) on const + Rew, Nat, Coh, Und; n = 129 random
# experiments. The paper reports no adjusted R^2 and no F p-value (nan here).
PAPER_TABLE9_FIT: dict[str, Any] = {
    "target": TARGET,
    "log_target": True,
    "indicators": list(PAPER_RULE_INDICATORS),
    "terms": ["const", *PAPER_RULE_INDICATORS],
    "coef": {"const": 0.0274, "reward": -0.0078, "naturalness": -0.3212, "coherence": -0.1520,
             "understandability": 0.4421},
    "std_err": {"const": 0.061, "reward": 0.003, "naturalness": 0.107, "coherence": 0.129,
                "understandability": 0.168},
    "t": {"const": 0.453, "reward": -2.561, "naturalness": -3.005, "coherence": -1.180,
          "understandability": 2.639},
    "p": {"const": 0.651, "reward": 0.012, "naturalness": 0.003, "coherence": 0.240,
          "understandability": 0.009},
    "r2": 0.522,
    "adj_r2": math.nan,
    "f": 33.84,
    "f_p": math.nan,
    "n_obs": 129,
}


# ---- indicator table ----------------------------------------------------------------------


def _parse_number(text: str) -> tuple[float | None, str | None]:
    """``(value, None)`` for a finite number, else ``(None, reason)``."""
    if text.strip().lower() in MISSING_TOKENS:
        return None, "missing_value"
    try:
        value = float(text)
    except ValueError:
        return None, "not_a_number"
    if not math.isfinite(value):
        return None, "non_finite"
    return value, None


def _is_label(values: Iterable[str]) -> bool:
    """A text column: no finite number and some value that is not a number or missing token."""
    reasons = [_parse_number(v)[1] for v in values]
    return None not in reasons and "not_a_number" in reasons


def _field_problem(value: Any) -> str | None:
    """Why ``value`` (from a plain row) cannot enter a fit, or None."""
    if value is None:
        return "missing_value"
    if isinstance(value, str):
        return _parse_number(value)[1]
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return "not_a_number"
    return None if math.isfinite(float(value)) else "non_finite"


def screen_rows(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, target: str = TARGET,
                positive_target: bool = True, source: str = "",
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split rows into those usable for a fit on ``columns`` (+ ``target``) and quarantine entries.

    A row is usable when every one of those fields is a finite number and, with
    ``positive_target``, ``target > 0``. Kept rows are copies with those fields as floats; each
    quarantined row carries the reason of its first bad field and names all of them in ``detail``.
    """
    needed = list(dict.fromkeys([*columns, target]))
    kept: list[dict[str, Any]] = []
    quarantined: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        problems = []
        for name in needed:
            problem = _field_problem(row.get(name))
            if problem is None and name == target and positive_target and float(row[name]) <= 0:
                problem = "loss_not_positive" if target == TARGET else "target_not_positive"
            if problem is not None:
                problems.append((name, problem))
        if problems:
            detail = ", ".join(f"{name}={row.get(name)!r}: {why}" for name, why in problems)
            quarantined.append(quarantine_row(STAGE, problems[0][1], dict(row), source=source,
                                              row=index, detail=detail))
        else:
            kept.append({**row, **{name: float(row[name]) for name in needed}})
    return kept, quarantined


def read_indicator_table(path: str | Path, *, labels: Iterable[str] = (),
                         ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Read an indicator table (format in the module docstring) as ``(rows, quarantined)``.

    ``rows``: one dict per usable line, lower-case keys, numeric columns as floats, label columns
    (``labels``, case-insensitive, or text columns as defined in the module docstring) as text.
    ``quarantined``: one entry per unusable line with its reason; ``len(rows) +
    len(quarantined)`` is the number of data lines (the counts are logged as a
    :class:`sftmix.records.StageCounts` line). Raises ValueError for a malformed file (no
    ``loss`` column, duplicate headers, a line with another number of fields).
    """
    raw = read_tsv(path, what="indicator table")
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
    lower = [h.strip().lower() for h in header]
    if len(set(lower)) != len(lower):
        raise ValueError(f"{path}: header names repeat after lower-casing: {header}")
    if TARGET not in lower:
        raise ValueError(f"{path}: indicator table needs a {TARGET!r} column, got {header}")
    rows = [{low: r[h] for h, low in zip(header, lower, strict=True)} for r in raw]
    forced = {name.lower() for name in labels}
    numeric = [c for c in lower
               if c == TARGET or (c not in forced and not _is_label(r[c] for r in rows))]
    kept, quarantined = screen_rows(rows, numeric, source=str(path))
    counts = StageCounts(STAGE, n_in=len(rows), kept=len(kept))
    for entry in quarantined:
        counts.quarantine(entry["reason"])
    counts.report(log)
    return kept, quarantined


def write_indicator_table(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> int:
    """Write an indicator table (format in the module docstring): the columns of the first row in
    their order (``loss`` required); numbers with ``repr`` (read back exactly), text as is."""
    if not rows:
        raise ValueError(f"{path}: an indicator table needs at least one row")
    columns = tuple(rows[0])
    if TARGET not in columns:
        raise ValueError(f"{path}: indicator table rows need a {TARGET!r} column, got {columns}")
    floats = frozenset(c for c in columns if isinstance(rows[0][c], float))
    ints = frozenset(c for c in columns if isinstance(rows[0][c], int) and c not in floats)
    return write_typed_tsv(path, rows, columns, ints=ints, floats=floats, what="indicator table")


# ---- OLS (Eq. 3) ----------------------------------------------------------------------------


def _matrix(rows: Sequence[Mapping[str, Any]], indicators: Sequence[str], target: str,
            log_target: bool, max_terms: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Design matrix ``[1, I_1 .. I_n]`` and target vector; raises on rows :func:`screen_rows`
    would quarantine (screen first: bad rows must be accounted for, not dropped here) and when
    the rows leave no residual degree of freedom for ``max_terms`` indicators (default: all; a
    selection fits subsets of at most ``max_size``)."""
    if not indicators:
        raise ValueError("fit: need at least one indicator")
    if len(set(indicators)) != len(indicators) or target in indicators:
        raise ValueError(f"fit: indicators must be distinct and differ from the target: "
                         f"{list(indicators)}")
    kept, bad = screen_rows(rows, indicators, target=target, positive_target=log_target)
    if bad:
        reasons = sorted({b["reason"] for b in bad})
        raise ValueError(f"fit: {len(bad)} of {len(rows)} rows unusable ({', '.join(reasons)}); "
                         f"screen them with screen_rows/read_indicator_table first")
    x = np.array([[r[c] for c in indicators] for r in kept], dtype=float).reshape(len(kept), -1)
    y = np.array([r[target] for r in kept], dtype=float)
    n_terms = len(indicators) if max_terms is None else max_terms
    if len(y) <= n_terms + 1:
        raise ValueError(f"fit: {len(y)} rows leave no residual degree of freedom for "
                         f"{n_terms} indicators + const")
    return sm.add_constant(x, has_constant="add"), (np.log(y) if log_target else y)


def fit_ols(rows: Sequence[Mapping[str, Any]], indicators: Sequence[str], target: str = TARGET,
            log_target: bool = True) -> dict[str, Any]:
    """OLS of ``log(target)`` (natural log; raw ``target`` with ``log_target=False``) on a constant
    and ``indicators`` (Eq. 3; Table 9 is this fit for Rew, Nat, Coh, Und), by statsmodels.

    Returns a plain dict: ``target``, ``log_target``, ``indicators``, ``terms`` (``const`` first,
    then the indicators in the order given), per-term dicts ``coef``, ``std_err``, ``t``, ``p``
    (two-sided t-test), and ``r2``, ``adj_r2``, ``f``, ``f_p`` (overall F-test), ``n_obs``.
    """
    x, y = _matrix(rows, indicators, target, log_target)
    res = sm.OLS(y, x).fit()
    terms = ["const", *indicators]

    def per_term(values: np.ndarray) -> dict[str, float]:
        return {term: float(v) for term, v in zip(terms, values, strict=True)}

    return {"target": target, "log_target": log_target, "indicators": list(indicators),
            "terms": terms, "coef": per_term(res.params), "std_err": per_term(res.bse),
            "t": per_term(res.tvalues), "p": per_term(res.pvalues),
            "r2": float(res.rsquared), "adj_r2": float(res.rsquared_adj),
            "f": float(res.fvalue), "f_p": float(res.f_pvalue), "n_obs": int(res.nobs)}


def _target_label(fit: Mapping[str, Any]) -> str:
    return f"log({fit['target']})" if fit["log_target"] else fit["target"]


def fit_rows(fit: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows of the tidy fit TSV (:data:`FIT_COLUMNS`) of a fit from :func:`fit_ols`."""
    model = {k: fit[k] for k in ("r2", "adj_r2", "f", "f_p", "n_obs")}
    return [{"term": term, "coef": fit["coef"][term], "std_err": fit["std_err"][term],
             "t": fit["t"][term], "p": fit["p"][term], **model, "target": _target_label(fit)}
            for term in fit["terms"]]


def write_fit_tsv(path: str | Path, fit: Mapping[str, Any], *, label: tuple[str, str] | None = None) -> int:
    """Write a fit (from :func:`fit_ols`) as the tidy fit TSV (format in the module docstring);
    ``label = (column, value)`` puts a first column naming the fit."""
    return write_fits_tsv(path, [fit], label=None if label is None else (label[0], [label[1]]))


def write_fits_tsv(path: str | Path, fits: Sequence[Mapping[str, Any]], *,
                   label: tuple[str, Sequence[str]] | None = None) -> int:
    """Several fits in one tidy fit TSV, each fit's rows after the other; ``label = (column,
    values)`` puts a first column naming each fit (Table 5's ``removed`` indicator)."""
    rows, columns = [], FIT_COLUMNS
    for i, fit in enumerate(fits):
        rows += [{label[0]: label[1][i], **r} if label else r for r in fit_rows(fit)]
    if label:
        columns = (label[0], *FIT_COLUMNS)
    return write_typed_tsv(path, rows, columns, ints=frozenset({"n_obs"}), floats=FIT_FLOATS,
                           what="OLS fit table")


def read_fit_tsv(path: str | Path) -> dict[str, Any]:
    """Read a fit TSV written by :func:`write_fit_tsv` back into the dict :func:`fit_ols` gives.

    Raises ValueError when ``const`` is not the first term or the model-level columns differ
    between rows.
    """
    rows = read_typed_tsv(path, FIT_COLUMNS, ints=frozenset({"n_obs"}), floats=FIT_FLOATS,
                          what="OLS fit table")
    if not rows or rows[0]["term"] != "const":
        raise ValueError(f"{path}: an OLS fit table starts with the 'const' term")
    model_cols = ("r2", "adj_r2", "f", "f_p", "n_obs", "target")
    first = tuple(repr(rows[0][c]) for c in model_cols)
    if any(tuple(repr(r[c]) for c in model_cols) != first for r in rows):
        raise ValueError(f"{path}: model-level columns {model_cols} differ between rows")
    label = rows[0]["target"]
    log_target = label.startswith("log(") and label.endswith(")")
    terms = [r["term"] for r in rows]
    return {"target": label[4:-1] if log_target else label, "log_target": log_target,
            "indicators": terms[1:], "terms": terms,
            **{k: {r["term"]: r[k] for r in rows} for k in ("coef", "std_err", "t", "p")},
            **{k: rows[0][k] for k in ("r2", "adj_r2", "f", "f_p", "n_obs")}}


# ---- indicator selection (Appendix E) --------------------------------------------------------


def _subsets(n: int, max_size: int | None) -> list[tuple[int, ...]]:
    """All non-empty index subsets of ``range(n)`` up to ``max_size``: by size, then lexically."""
    top = n if max_size is None else min(max_size, n)
    if top < 1:
        raise ValueError(f"selection: max_size must be >= 1, got {max_size}")
    return [c for k in range(1, top + 1) for c in itertools.combinations(range(n), k)]


def _check_candidates(candidates: Sequence[str]) -> None:
    if not candidates or len(set(candidates)) != len(candidates):
        raise ValueError(f"selection: need distinct candidate indicators, got {list(candidates)}")


def select_published(rows: Sequence[Mapping[str, Any]], candidates: Sequence[str], *,
                     target: str = TARGET, log_target: bool = True, max_size: int | None = None,
                     r2_tol: float = 0.01) -> dict[str, Any]:
    """Indicator selection as published (Sec. 4.1 / Appendix E): "first choose regression results
    with the highest R^2, and then prioritize the rule with the most significant p values".

    Every non-empty subset of ``candidates`` (up to ``max_size`` indicators) is fitted by OLS.
    Read literally, "highest R^2" always picks the full model (R^2 never falls when a regressor
    is added), and the p-value step would never act. This reading keeps the subsets whose R^2 is
    within ``r2_tol`` of the best one and, among them, chooses the subset whose *largest*
    indicator p-value (const excluded) is smallest; ties go to fewer indicators, then higher
    R^2, then enumeration order (by size, then candidate order). A nan p-value (singular design)
    counts as 1. The choice uses in-sample statistics only, so it rewards overfitting; see
    :func:`select_cv` for the sound variant.

    Returns ``{"method": "published", "candidates", "chosen", "fit" (fit_ols of chosen),
    "subsets"}`` with one ``subsets`` row per subset: ``indicators`` (tuple), ``size``, ``r2``,
    ``adj_r2``, ``max_p``, ``within_tol``, ``chosen``.
    """
    _check_candidates(candidates)
    x, y = _matrix(rows, candidates, target, log_target, max_terms=max_size)
    table: list[dict[str, Any]] = []
    for subset in _subsets(len(candidates), max_size):
        res = sm.OLS(y, x[:, [0, *(i + 1 for i in subset)]]).fit()
        pvals = np.nan_to_num(np.asarray(res.pvalues[1:], dtype=float), nan=1.0)
        table.append({"indicators": tuple(candidates[i] for i in subset), "size": len(subset),
                      "r2": float(res.rsquared), "adj_r2": float(res.rsquared_adj),
                      "max_p": float(pvals.max()), "within_tol": False, "chosen": False})
    best_r2 = max(row["r2"] for row in table)
    for row in table:
        row["within_tol"] = row["r2"] >= best_r2 - r2_tol
    eligible = [i for i, row in enumerate(table) if row["within_tol"]]
    pick = min(eligible, key=lambda i: (table[i]["max_p"], table[i]["size"], -table[i]["r2"], i))
    table[pick]["chosen"] = True
    chosen = list(table[pick]["indicators"])
    return {"method": "published", "candidates": list(candidates), "chosen": chosen,
            "fit": fit_ols(rows, chosen, target, log_target), "subsets": table}


def select_cv(rows: Sequence[Mapping[str, Any]], candidates: Sequence[str], *,
              target: str = TARGET, log_target: bool = True, max_size: int | None = None,
              folds: int = 5, seed: int = 0, one_se: bool = False) -> dict[str, Any]:
    """Indicator selection, sound variant (replaces Appendix E's in-sample R^2/p-value rule):
    k-fold cross-validated mean squared error of the (log) loss.

    The rows are split into ``folds`` folds by a seeded permutation
    (:func:`sftmix.rng.np_rng` with ``seed``, names ``instructmining``, ``cv_folds``); for every
    subset each fold is predicted by an OLS fit (numpy least squares, const included) on the other
    folds, and ``cv_mse`` is the pooled mean of the squared held-out errors (``cv_se``: the
    standard error of the mean of the per-fold MSEs). The subset with the smallest ``cv_mse`` is
    chosen; exact ties go to fewer indicators, then enumeration order. Out-of-sample error
    penalises indicators that only fit noise, which in-sample R^2 cannot.

    The minimum is prediction-optimal, not selection-consistent: like AIC it keeps a pure-noise
    indicator with a fixed probability whatever the sample size (each noise indicator beats the
    penalty about 1 time in 6). With ``one_se`` the one-standard-error rule (Hastie, Tibshirani &
    Friedman, ESL Sec. 7.10) is used instead: the fewest indicators among the subsets with
    ``cv_mse <= min cv_mse + its cv_se``, then the lowest ``cv_mse``, then enumeration order.

    Returns ``{"method": "cv", "candidates", "chosen", "fit" (fit_ols of chosen), "subsets",
    "folds", "seed", "one_se"}``; ``subsets`` rows: ``indicators``, ``size``, ``cv_mse``,
    ``cv_se``, ``r2`` (in-sample), ``chosen``.
    """
    _check_candidates(candidates)
    x, y = _matrix(rows, candidates, target, log_target, max_terms=max_size)
    n = len(y)
    if not 2 <= folds <= n:
        raise ValueError(f"select_cv: folds must be in [2, {n}], got {folds}")
    parts = np.array_split(np_rng(seed, "instructmining", "cv_folds").permutation(n), folds)
    train_masks = []
    for part in parts:
        mask = np.ones(n, dtype=bool)
        mask[part] = False
        train_masks.append(mask)
    tss = float(np.sum((y - y.mean()) ** 2))
    table: list[dict[str, Any]] = []
    for subset in _subsets(len(candidates), max_size):
        cols = [0, *(i + 1 for i in subset)]
        xs = x[:, cols]
        if min(int(m.sum()) for m in train_masks) <= len(cols):
            raise ValueError(f"select_cv: a training fold has too few rows for {len(cols)} terms")
        sse, fold_mse = 0.0, []
        for part, mask in zip(parts, train_masks, strict=True):
            beta = np.linalg.lstsq(xs[mask], y[mask], rcond=None)[0]
            err = float(np.sum((y[part] - xs[part] @ beta) ** 2))
            sse += err
            fold_mse.append(err / len(part))
        beta_all = np.linalg.lstsq(xs, y, rcond=None)[0]
        rss = float(np.sum((y - xs @ beta_all) ** 2))
        table.append({"indicators": tuple(candidates[i] for i in subset), "size": len(subset),
                      "cv_mse": sse / n,
                      "cv_se": float(np.std(fold_mse, ddof=1) / math.sqrt(folds)),
                      "r2": 1.0 - rss / tss if tss > 0 else math.nan, "chosen": False})
    best = min(range(len(table)), key=lambda i: (table[i]["cv_mse"], table[i]["size"], i))
    pick = best
    if one_se:
        bound = table[best]["cv_mse"] + table[best]["cv_se"]
        pick = min((i for i, row in enumerate(table) if row["cv_mse"] <= bound),
                   key=lambda i: (table[i]["size"], table[i]["cv_mse"], i))
    table[pick]["chosen"] = True
    chosen = list(table[pick]["indicators"])
    return {"method": "cv", "candidates": list(candidates), "chosen": chosen,
            "fit": fit_ols(rows, chosen, target, log_target), "subsets": table,
            "folds": folds, "seed": seed, "one_se": one_se}


def write_subsets_tsv(path: str | Path, selection: Mapping[str, Any]) -> int:
    """Write the ``subsets`` table of a selection as TSV (columns :data:`SUBSET_COLUMNS` of its
    method; ``indicators`` joined by ``,``; booleans as 0/1)."""
    columns = SUBSET_COLUMNS[selection["method"]]
    rows = [{**row, "indicators": ",".join(row["indicators"]),
             **{k: int(row[k]) for k in ("within_tol", "chosen") if k in row}}
            for row in selection["subsets"]]
    return write_typed_tsv(path, rows, columns,
                           ints=frozenset({"size", "within_tol", "chosen"}),
                           floats=frozenset({"r2", "adj_r2", "max_p", "cv_mse", "cv_se"}),
                           what="indicator subsets")


# ---- ablation (Table 5) -------------------------------------------------------------------------


def one_out_ablation(rows: Sequence[Mapping[str, Any]], indicators: Sequence[str],
                     target: str = TARGET, log_target: bool = True) -> list[dict[str, Any]]:
    """The rule-estimation step of Table 5's ablation: for each indicator, refit the rule without
    it on the same rows. Returns ``[{"removed": name, "fit": fit_ols(rows, others)}]`` in the
    order of ``indicators``. (Selecting and finetuning with each rule is the workflow's job.)"""
    if len(indicators) < 2:
        raise ValueError("one_out_ablation: need at least two indicators")
    return [{"removed": name,
             "fit": fit_ols(rows, [i for i in indicators if i != name], target, log_target)}
            for name in indicators]


# ---- normality tests (Table 7) -------------------------------------------------------------------


def _verdict(p: float, alpha: float) -> str:
    return f"normality {'rejected' if p <= alpha else 'not rejected'} at {alpha:g}"


def _test_rows(name: str, values: np.ndarray, alpha: float, published: bool,
               ) -> list[dict[str, Any]]:
    out = []
    if published:
        res = stats.kstest(values, "norm")
        out.append(("ks_standard_normal", "published", float(res.statistic), float(res.pvalue)))
    stat, p = lilliefors(values, dist="norm")
    out.append(("lilliefors", "sound", float(stat), float(p)))
    res = stats.shapiro(values)
    out.append(("shapiro_wilk", "sound", float(res.statistic), float(res.pvalue)))
    return [{"column": name, "test": test, "variant": variant, "n": len(values),
             "statistic": stat, "p": p, "verdict": _verdict(p, alpha)}
            for test, variant, stat, p in out]


def normality_tests(rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
                    residuals: Sequence[float] | None = None, alpha: float = 0.05,
                    ) -> list[dict[str, Any]]:
    """Normality tests of Table 7, as published and sound.

    Published (``test="ks_standard_normal"``): ``scipy.stats.kstest(values, "norm")`` on each
    column's raw values, i.e. against N(0, 1), as the paper did. Its Table 7 reads a small p as
    "the variable follows a normal distribution"; that is backwards: a small KS p-value *rejects*
    the null hypothesis that the values come from N(0, 1). Moreover no indicator is centred at 0
    with unit spread (lengths are in the hundreds), so this test rejects for every column and
    says nothing about normality of shape.

    Sound (``variant="sound"``): the Lilliefors test (KS with mean and sd estimated,
    ``statsmodels.stats.diagnostic.lilliefors``, its default tabulated p-values, bounded to
    [0.001, 0.99])
    and Shapiro-Wilk (``scipy.stats.shapiro``) on each column; and, when ``residuals`` are given
    (e.g. :func:`fit_residuals`), the same two tests on them (``column="residuals"``). OLS
    inference assumes normal *errors*; the regressors need not be normal at all.

    Returns rows ``column``, ``test``, ``variant``, ``n``, ``statistic``, ``p``, ``verdict``
    (``"normality rejected at <alpha>"`` when ``p <= alpha``, else ``"normality not rejected at
    <alpha>"``). Rows must be screened (finite values).
    """
    out: list[dict[str, Any]] = []
    for name in columns:
        values = np.array([float(r[name]) for r in rows], dtype=float)
        if not np.all(np.isfinite(values)):
            raise ValueError(f"normality_tests: column {name!r} has non-finite values")
        out.extend(_test_rows(name, values, alpha, published=True))
    if residuals is not None:
        out.extend(_test_rows("residuals", np.asarray(residuals, dtype=float), alpha,
                              published=False))
    return out


# ---- rule scores (Eq. 4) -------------------------------------------------------------------------


def rule_scores(records: Mapping[str, Mapping[str, Any]], fit: Mapping[str, Any],
                ) -> dict[str, float]:
    """The fitted rule applied to single records (Eq. 4; Sec. 2.3's selector ranks by it):
    ``const + sum_i beta_i * I_i(record)``, the predicted log loss (raw loss for a fit with
    ``log_target=False``). Lower means better quality.

    ``records``: id -> {indicator: value}; extra keys are ignored. Raises ValueError (naming the
    count and the first ids) when a record lacks an indicator of the fit or has a non-finite one:
    quarantine those before scoring.
    """
    coef = fit["coef"]
    names = list(fit["indicators"])
    bad = [rid for rid, rec in records.items() if any(_field_problem(rec.get(n)) for n in names)]
    if bad:
        raise ValueError(f"rule_scores: {len(bad)} records lack a finite value for one of {names}: "
                         f"{bad[:5]}")
    return {rid: float(coef["const"] + sum(coef[n] * float(rec[n]) for n in names))
            for rid, rec in records.items()}


def fit_residuals(rows: Sequence[Mapping[str, Any]], fit: Mapping[str, Any]) -> list[float]:
    """Observed minus predicted (log) target for each row under ``fit`` (the OLS residuals when
    ``rows`` are the rows it was fitted on)."""
    predicted = rule_scores({str(i): r for i, r in enumerate(rows)}, fit)
    observed = [float(r[fit["target"]]) for r in rows]
    return [(math.log(y) if fit["log_target"] else y) - predicted[str(i)]
            for i, y in enumerate(observed)]


def top_k(scores: Mapping[str, float], k: int, seed: int) -> list[str]:
    """The ``k`` ids with the lowest score (predicted loss), best first (Sec. 2.3's selection of
    the top-k examples by the rule). Ties are broken by a seeded key per id
    (``derive_seed(seed, "instructmining_top_k", id)``), so the result depends only on the
    scores and the seed, not on the order of ``scores``. ``k`` larger than the number of ids
    gives all of them. Raises ValueError for a negative ``k`` or a non-finite score."""
    if k < 0:
        raise ValueError(f"top_k: k must be >= 0, got {k}")
    bad = [rid for rid, s in scores.items() if not math.isfinite(s)]
    if bad:
        raise ValueError(f"top_k: {len(bad)} non-finite scores, e.g. {bad[:5]}")
    order = sorted(scores,
                   key=lambda rid: (scores[rid], derive_seed(seed, "instructmining_top_k", rid)))
    return order[:k]


# ---- the paper's random-experiment data (Tables 20-21) -------------------------------------------


def load_paper_random_experiments() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The paper's 129-row random-experiment results (Tables 20-21) as far as the text extraction
    allows: the packaged ``data/paper_random_experiments.tsv`` read by
    :func:`read_indicator_table` (``table`` and ``row`` kept as labels). See ``data/README.md``
    for the rows left out and the refit against Table 9."""
    with ExitStack() as stack:
        path = stack.enter_context(resources.as_file(resources.files(__package__) / PAPER_DATA))
        return read_indicator_table(path, labels=("table", "row"))
