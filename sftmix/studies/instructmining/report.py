"""InstructMining's report section: the fitted rule (Table 9 layout) next to the paper's refit
Tables 20-21, the indicator selection as published and sound, the one-out ablation (Table 5), the
normality tests (Table 7), rule vs random at equal size and steps with run-level verdicts, the
double-descent curve (Fig. 1 / Fig. 4), the BlendSearch trace (Fig. 2) and, on a generated world,
whether the rule recovers the planted quality.

The verdict machinery is the report engine's (:mod:`sftmix.report`): the run (seed) is the unit of
replication; methods are compared on the clean test items, which neither the rule nor the search
saw.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scipy import stats

from ...report import markdown_table, method_table, nll_cell
from ...scores import Scores

LABEL_COLUMNS = ["kind", "method", "k", "n_seeds", "nll_macro", "nll_macro_sd", "delta", "ci_low", "ci_high",
                 "welch_p", "run_verdict"]
CURVE_COLUMNS = ["k", "rule_nll", "rule_sd", "sound_nll", "sound_sd", "random_nll", "random_sd",
                 "rule_minus_random", "welch_p", "run_verdict", "sound_minus_random", "sound_welch_p",
                 "sound_run_verdict"]
SEARCH_COLUMNS = ["trial", "k", "dev_loss", "best_so_far", "exhausted"]
PLANTED_COLUMNS = ["what", "n", "clean", "defective", "value", "p", "note"]


def methods(scores: Scores, rows: Sequence[Mapping[str, Any]], categories: Sequence[str], *,
            benchmarks: Mapping[str, Any] | None = None, n_boot: int = 1000
            ) -> tuple[list[dict[str, Any]], list[str]]:
    """Every selection against its reference (rule vs random at its k, an ablated rule vs the
    rule) on the test items."""
    return method_table(scores, rows, categories, LABEL_COLUMNS, benchmarks=benchmarks, n_boot=n_boot)


def curve_rows(method_rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The double-descent curve: the rule's, the sound rule's and random's held-out NLL (mean and
    SD over seeds) at every size, with each rule's run-level verdict against random at that
    size; sorted by k."""
    methods = ("rule", "sound", "random")
    by = {(r["method"], r["k"]): r for r in method_rows if r["method"] in methods}
    nan = math.nan
    out = []
    for k in sorted({k for _, k in by}):
        row: dict[str, Any] = {"k": k}
        for m in methods:
            r = by.get((m, k))
            row[f"{m}_nll"] = r["nll_macro"] if r else nan
            row[f"{m}_sd"] = r["nll_macro_sd"] if r else nan
        for m, prefix in (("rule", ""), ("sound", "sound_")):
            r = by.get((m, k))
            row[f"{m}_minus_random"] = r["delta"] if r else nan
            row[f"{prefix}welch_p"] = r["welch_p"] if r else nan
            row[f"{prefix}run_verdict"] = r["run_verdict"] if r else ""
        out.append(row)
    return out


def plot_curve(rows: Sequence[Mapping[str, Any]], search: Sequence[Mapping[str, Any]], path: str | Path) -> None:
    """Fig. 1 / Fig. 4: held-out NLL against the selection size (log scale), rule and random
    (error bars: SD over seeds); the BlendSearch trials' dev losses on a second panel (Fig. 2)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9, 3.6))
    x = [r["k"] for r in rows]
    for key, label in (("rule", "rule top-k"), ("sound", "sound rule top-k"), ("random", "random")):
        sd = [0.0 if not math.isfinite(r[f"{key}_sd"]) else r[f"{key}_sd"] for r in rows]
        ax.errorbar(x, [r[f"{key}_nll"] for r in rows], yerr=sd, marker="o", capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("selected samples k")
    ax.set_ylabel("held-out NLL (test, macro)")
    ax.set_title("Rule vs random over size")
    ax.legend()
    trials = [r for r in search if math.isfinite(r["dev_loss"])]
    if trials:
        bx.scatter([r["k"] for r in trials], [r["dev_loss"] for r in trials], c=[r["trial"] for r in trials],
                   cmap="viridis")
        for r in trials:
            bx.annotate(str(r["trial"]), (r["k"], r["dev_loss"]), fontsize=7)
        bx.set_xscale("log")
    bx.set_xlabel("k (BlendSearch trial, number = order)")
    bx.set_ylabel("dev loss")
    bx.set_title("BlendSearch over k")
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


def search_rows(trials: Sequence[Mapping[str, Any]], losses: Mapping[int, float]) -> list[dict[str, Any]]:
    """The search trace: each trial's k, its model's dev loss and the best so far."""
    out, best = [], math.inf
    for tr in sorted(trials, key=lambda r: r["trial"]):
        loss = losses.get(tr["trial"], math.nan)
        if math.isfinite(loss):
            best = min(best, loss)
        out.append({"trial": tr["trial"], "k": tr["k"], "dev_loss": loss, "best_so_far": best,
                    "exhausted": bool(tr.get("exhausted"))})
    return out


def planted_rows(scores: Mapping[str, float], defect: Mapping[str, Any],
                 selections: Mapping[str, Sequence[Sequence[str]]],
                 source: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Whether the rule recovers a generated world's planted quality: the rule's predicted loss of
    the defective vs the clean selection candidates (their difference; one-sided Mann-Whitney p
    that defective records are predicted worse: the rule's signs must make a defect raise the
    predicted loss); per source (``source``: id -> source), its defect rate and mean predicted
    loss, with the Spearman correlation across sources (a source of more defects must be
    predicted worse); and each method's precision (the share of clean records it selected, mean
    over seeds) against the candidates' base rate."""
    clean = [v for i, v in scores.items() if not defect.get(i)]
    bad = [v for i, v in scores.items() if defect.get(i)]
    out = []
    if source:
        by: dict[str, list[str]] = {}
        for i in scores:
            by.setdefault(source[i], []).append(i)
        rates, means = [], []
        for name in sorted(by):
            ids = by[name]
            rate = sum(1 for i in ids if defect.get(i)) / len(ids)
            mean = statistics.fmean(scores[i] for i in ids)
            rates.append(rate)
            means.append(mean)
            out.append({"what": f"source {name}: mean predicted loss", "n": len(ids),
                        "clean": sum(1 for i in ids if not defect.get(i)),
                        "defective": sum(1 for i in ids if defect.get(i)), "value": mean, "p": math.nan,
                        "note": f"defect rate {rate:.3f}"})
        if len(by) >= 3:
            rho = stats.spearmanr(rates, means)
            out.append({"what": "sources: Spearman(defect rate, mean predicted loss)", "n": len(by),
                        "clean": math.nan, "defective": math.nan, "value": float(rho.statistic),
                        "p": float(rho.pvalue), "note": "> 0: sources with more defects predicted worse"})
    if clean and bad:
        test = stats.mannwhitneyu(bad, clean, alternative="greater")
        out.append({"what": "predicted loss: defective - clean", "n": len(clean) + len(bad), "clean": len(clean),
                    "defective": len(bad), "value": statistics.fmean(bad) - statistics.fmean(clean),
                    "p": float(test.pvalue), "note": "> 0: the rule ranks defective records worse"})
    n = len(clean) + len(bad)
    if n:
        out.append({"what": "precision: all candidates", "n": n, "clean": len(clean), "defective": len(bad),
                    "value": len(clean) / n, "p": math.nan, "note": "base rate"})
    for method, draws in selections.items():
        precs = [sum(1 for i in ids if not defect.get(i)) / len(ids) for ids in draws if ids]
        if precs:
            out.append({"what": f"precision: {method}", "n": len(draws[0]), "clean": math.nan, "defective": math.nan,
                        "value": statistics.fmean(precs), "p": math.nan, "note": f"mean over {len(precs)} seeds"})
    return out


def _fit_rows(fit: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"term": t, "coef": fit["coef"][t], "std_err": fit["std_err"][t], "t": fit["t"][t], "p": fit["p"][t]}
            for t in fit["terms"]]


def _stats_title(what: str, fit: Mapping[str, Any]) -> str:
    return (f"{what}: n = {fit['n_obs']}, R^2 = {fit['r2']:.3f}, adj. R^2 = {fit['adj_r2']:.3f}, "
            f"F = {fit['f']:.2f}, p(F) = {fit['f_p']:.3g}")


def _fit_title(what: str, fit_json: Mapping[str, Any]) -> str:
    fit = fit_json["rule"]
    return (f"{what}: log(loss) on {', '.join(fit['indicators'])} ({fit_json['selection']}; "
            f"n = {fit['n_obs']}, R^2 = {fit['r2']:.3f}, adj. R^2 = {fit['adj_r2']:.3f}, "
            f"F = {fit['f']:.2f}, p(F) = {fit['f_p']:.3g}; published selection: {', '.join(fit_json['published'])}; "
            f"sound (CV, one-SE): {', '.join(fit_json['sound'])})")


def instructmining_markdown(model: str, fit_json: Mapping[str, Any], paper_json: Mapping[str, Any] | None,
                            method_rows: Sequence[Mapping[str, Any]], curve: Sequence[Mapping[str, Any]],
                            search: Sequence[Mapping[str, Any]], planted: Sequence[Mapping[str, Any]]) -> str:
    """The study's report page for one base model."""
    shown = []
    for r in method_rows:
        d = dict(r)
        d["nll_macro"] = nll_cell(r)
        shown.append(d)
    parts = [f"# InstructMining: {model}\n",
             "The rule: OLS of the log dev loss of models fine-tuned on randomly fused datasets on the "
             "datasets' mean indicators (Eq. 3). Selections are compared on the clean test items (held-out "
             "NLL, macro over categories, mean over seeds; `run_verdict`: run-level Welch t test, p < 0.05).\n",
             markdown_table(_fit_rows(fit_json["rule"]), ["term", "coef", "std_err", "t", "p"],
                            title=_fit_title("Fitted rule (Table 9 layout)", fit_json))]
    if fit_json.get("table9"):
        parts.append(markdown_table(_fit_rows(fit_json["table9"]), ["term", "coef", "std_err", "t", "p"],
                                    title=_stats_title("Eq. 4's indicators (Table 9's form) on this table",
                                                       fit_json["table9"])))
    if paper_json is not None:
        parts.append(markdown_table(_fit_rows(paper_json["rule"]), ["term", "coef", "std_err", "t", "p"],
                                    title=_fit_title("The paper's Tables 20-21 refit", paper_json)))
        if paper_json.get("table9"):
            parts.append(markdown_table(_fit_rows(paper_json["table9"]), ["term", "coef", "std_err", "t", "p"],
                                        title=_stats_title("The paper's Tables 20-21 refit with Table 9's "
                                                           "indicators (Table 9: const 0.0274, Rew -0.0078, Nat "
                                                           "-0.3212, Coh -0.1520, Und 0.4421; R^2 0.522, F 33.84)",
                                                           paper_json["table9"])))
    parts.append(markdown_table(shown, ["experiment", "kind", "k", "n_seeds", "nll_macro", "delta", "welch_p",
                                        "run_verdict"],
                                title="Rule (as configured) and sound rule vs random, ablations vs the rule (Table 5)"))
    parts.append(markdown_table(curve, CURVE_COLUMNS, title="Over size (double descent; Fig. 1 / Fig. 4)"))
    parts.append(markdown_table(search, SEARCH_COLUMNS, title="BlendSearch over k (dev loss; Fig. 2)"))
    if planted:
        parts.append(markdown_table(planted, PLANTED_COLUMNS, title="Against the planted defects"))
    return "\n".join(parts)
