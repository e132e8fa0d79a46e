"""DoIT's report: checkpoint selection per run, the Eq. 2 fits as published and with every run as
a point, Complexity / Transference against sensitivity, and the mixes against the baseline.

Plain functions over plain rows (the per-epoch item scores of :mod:`.items`); the scripts of
``rules/doit.smk`` do the I/O.

Statistical choices, stated where they are made:

* A run's checkpoint is chosen on the **macro dev accuracy** (mean over abilities) among the epochs
  after ``min_epoch`` (:func:`~.analysis.select_checkpoint`) and reported on test: the paper's
  "highest-scoring checkpoint ... using the validation set", one choice per run, never per ability
  (that would pick each ability's best epoch on data it is then not reported on, but still an
  oracle across abilities).
* Eq. 2 **as published** fits one point per x (accuracy averaged over seeds and over the other
  factor); the **sound** variant keeps one point per (x, seed), so the residual variance holds the
  run-to-run noise and the standard error of alpha is honest about it (:func:`fits`).
* The mixes are compared with the uniform baseline run by run (Welch over seeds of the macro test
  accuracy, :func:`sftmix.studies.mixing.report.compare`).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from .analysis import (
    complexity_transference,
    correlation_with_uncertainty,
    fit_log_scaling,
    insensitive_abilities,
    maximum_mix,
    reconstruct_mix,
    scaling_points,
    score_open_ended,
    select_checkpoint,
)

FACTORS = ("params", "data")
VARIANTS = ("published", "sound")
RUN_COLUMNS = ("model", "experiment", "seed", "n_params", "n", "epoch", "ability", "acc", "loss", "n_scored")
SENSITIVITY_COLUMNS = ("ability", "factor", "variant", "alpha", "alpha_se", "ci_low", "ci_high", "p", "r2", "n_points")


_RUN_TYPES = {"ints": frozenset({"seed", "n_params", "n", "epoch", "n_scored"}), "floats": frozenset({"acc", "loss"})}
_SENS_TYPES = {"ints": frozenset({"n_points"}), "floats": frozenset({"alpha", "alpha_se", "ci_low", "ci_high", "p", "r2"})}


# Sec. 4.3.2: the sensitivity each feature explains in the paper (Fig. 7 (i) and (ii))
PAPER_PAIRS = {"complexity": "params", "transference": "data"}


def write_runs(path: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """runs.tsv: one row per (run, ability) at the run's chosen checkpoint (:data:`RUN_COLUMNS`)."""
    from ...records import write_typed_tsv

    return write_typed_tsv(path, rows, RUN_COLUMNS, **_RUN_TYPES, quoted=True, what="DoIT run table")


def read_runs(path: str) -> list[dict[str, Any]]:
    from ...records import read_typed_tsv

    return read_typed_tsv(path, RUN_COLUMNS, **_RUN_TYPES, quoted=True, what="DoIT run table")


def write_sensitivities(path: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """sensitivities.tsv: the Eq. 2 fits of :func:`fits` (:data:`SENSITIVITY_COLUMNS`)."""
    from ...records import write_typed_tsv

    return write_typed_tsv(path, rows, SENSITIVITY_COLUMNS, **_SENS_TYPES, quoted=True, what="DoIT sensitivity table")


def read_sensitivities(path: str) -> list[dict[str, Any]]:
    from ...records import read_typed_tsv

    return read_typed_tsv(path, SENSITIVITY_COLUMNS, **_SENS_TYPES, quoted=True, what="DoIT sensitivity table")


def _mean(values: Sequence[float]) -> float:
    v = [x for x in values if math.isfinite(x)]
    return statistics.fmean(v) if v else math.nan


def epoch_table(rows: Sequence[Mapping[str, Any]]) -> dict[int, dict[str, dict[str, dict[str, float]]]]:
    """``{epoch: {split: {ability: {"acc", "loss", "n_scored"}}}}`` of one run's epoch scores:
    accuracy by :func:`~.analysis.score_open_ended` (unscorable items left out), loss the mean
    gold-response NLL (L_i of Complexity)."""
    groups: dict[tuple[int, str], list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(int(r["epoch"]), r["split"])].append(r)
    out: dict[int, dict[str, dict[str, dict[str, float]]]] = {}
    for (epoch, split), group in sorted(groups.items()):
        scored = score_open_ended([{"ability": r["ability"], "correct": math.nan if r["correct"] is None else r["correct"]}
                                   for r in group])
        losses: dict[str, list[float]] = defaultdict(list)
        for r in group:
            losses[r["ability"]].append(float(r["gold_nll"]))
        out.setdefault(epoch, {})[split] = {a: {"acc": s["acc"], "loss": _mean(losses[a]), "n_scored": s["n_scored"]}
                                            for a, s in sorted(scored.items())}
    return out


def select_run(rows: Sequence[Mapping[str, Any]], *, min_epoch: int, inclusive: bool = False) -> dict[str, Any]:
    """One run: the epoch chosen on macro dev accuracy, its per-ability test scores, the dev
    curve and the base model's test scores (epoch 0)."""
    table = epoch_table(rows)
    dev = {e: _mean([v["acc"] for v in t["dev"].values()]) for e, t in table.items() if e > 0 and "dev" in t}
    epoch = select_checkpoint(dev, min_epoch=min_epoch, inclusive=inclusive)
    return {"epoch": epoch, "test": table[epoch]["test"], "dev_curve": dev, "base": table.get(0, {}).get("test", {}),
            "test_curve": {e: _mean([v["acc"] for v in t["test"].values()]) for e, t in table.items()}}


def run_rows(run: Mapping[str, Any], selected: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows of runs.tsv for one run (``run``: model, experiment, seed, n_params, n)."""
    return [{**run, "epoch": selected["epoch"], "ability": a, **v} for a, v in sorted(selected["test"].items())]


def _fit_row(ability: str, factor: str, variant: str, x: Sequence[float], y: Sequence[float], level: float
             ) -> dict[str, Any]:
    from scipy import stats

    row = {"ability": ability, "factor": factor, "variant": variant, "n_points": len(x)}
    try:
        f = fit_log_scaling(x, y)
    except ValueError:
        return {**row, **dict.fromkeys(("alpha", "alpha_se", "ci_low", "ci_high", "p", "r2"), math.nan)}
    half = stats.t.ppf(1 - level / 2, f["df_resid"]) * f["alpha_se"] if f["df_resid"] > 0 else math.nan
    return {**row, "alpha": f["alpha"], "alpha_se": f["alpha_se"], "ci_low": f["alpha"] - half,
            "ci_high": f["alpha"] + half, "p": f["p"], "r2": f["r2"]}


def fits(runs: Sequence[Mapping[str, Any]], abilities: Sequence[str], *, level: float = 0.05) -> list[dict[str, Any]]:
    """Eq. 2 per ability against model size (``n_params``, accuracy averaged over the data
    volumes) and data volume (``n`` per ability, averaged over the model sizes), published (one
    point per x: also averaged over seeds) and sound (one point per x and seed)."""
    out = []
    keys = {"params": ("n_params", "n"), "data": ("n", "n_params")}
    for a in abilities:
        mine = [r for r in runs if r["ability"] == a]
        for factor in FACTORS:
            f, o = keys[factor]
            pts = [{"x": r[f], "o": r[o], "seed": r["seed"], "acc": r["acc"]} for r in mine if math.isfinite(r["acc"])]
            try:
                x, y = scaling_points(pts, factor="x", other="o")
            except ValueError:
                x, y = [], []
            by_x: dict[float, list[float]] = defaultdict(list)
            for xi, yi in zip(x, y, strict=True):
                by_x[xi].append(yi)
            px = sorted(by_x)
            out.append(_fit_row(a, factor, "published", px, [statistics.fmean(by_x[v]) for v in px], level))
            out.append(_fit_row(a, factor, "sound", x, y, level))
    return out


def alphas(sens: Sequence[Mapping[str, Any]], variant: str = "sound") -> dict[str, dict[str, float]]:
    """``{factor: {ability: alpha}}`` of one variant (finite alphas only)."""
    out: dict[str, dict[str, float]] = {f: {} for f in FACTORS}
    for r in sens:
        if r["variant"] == variant and math.isfinite(float(r["alpha"])):
            out[r["factor"]][r["ability"]] = float(r["alpha"])
    return out


def mix_plan(sens: Sequence[Mapping[str, Any]], supply: Mapping[str, int], section: Mapping[str, Any],
             baseline_n: int) -> dict[str, Any]:
    """The Reconstruct and Maximum counts (Sec. 5.2) from the sound sensitivities: insensitive =
    among the ``insensitive_k`` lowest alphas against both factors."""
    mix = section["mix"]
    if mix["floor"] > baseline_n:
        raise ValueError(f"doit.mix.floor: {mix['floor']} is above the baseline's {baseline_n} records per ability")
    table = alphas(sens)
    common = sorted(set(table["params"]) & set(table["data"]))
    if len(common) < len(supply):
        raise ValueError(f"doit: no finite sensitivity for {sorted(set(supply) - set(common))}")
    both = {f: {a: table[f][a] for a in common} for f in FACTORS}
    low = insensitive_abilities(both, k=mix["insensitive_k"])
    held = [a for a in mix["hold"] if a not in low]
    mixes = {"reconstruct": reconstruct_mix(both, baseline_n, floor=mix["floor"], insensitive=low, hold=held,
                                            supply=supply),
             "maximum": maximum_mix(supply, insensitive=low, hold=held, floor=mix["floor"], base_n=baseline_n)}
    return {"insensitive": low, "hold": held, "baseline_n": baseline_n, "mixes": mixes}


def features(single: Mapping[str, Sequence[Mapping[str, Any]]], ability_of: Mapping[str, str]
             ) -> dict[str, dict[str, float]]:
    """Complexity and Transference (Sec. 4.3.2) from the single-ability runs: ``single[experiment]``
    holds each seed's selection (:func:`select_run`); accuracies and losses are averaged over
    seeds; the base model's accuracy is epoch 0's."""
    acc: dict[str, dict[str, float]] = {}
    loss: dict[str, float] = {}
    base: dict[str, list[float]] = defaultdict(list)
    for exp, runs in single.items():
        j = ability_of[exp]
        abil = sorted(runs[0]["test"])
        acc[j] = {i: _mean([r["test"][i]["acc"] for r in runs]) for i in abil}
        loss[j] = _mean([r["test"][j]["loss"] for r in runs])
        for r in runs:
            for i, v in r["base"].items():
                base[i].append(v["acc"])
    return complexity_transference(acc, {i: _mean(v) for i, v in base.items()}, loss)


def correlations(feats: Mapping[str, Mapping[str, float]], sens: Sequence[Mapping[str, Any]], *, n_boot: int,
                 seed: int, level: float) -> list[dict[str, Any]]:
    """Fig. 7: each feature against each sensitivity (sound alphas), Pearson and Spearman with
    bootstrap CIs over abilities (:func:`~.analysis.correlation_with_uncertainty`); fewer than 3
    abilities give a row that says so."""
    table = alphas(sens)
    out = []
    for feature in ("complexity", "transference"):
        for factor in FACTORS:
            common = sorted(set(feats) & set(table[factor]))
            row: dict[str, Any] = {"feature": feature, "factor": factor, "n": len(common)}
            try:
                c = correlation_with_uncertainty({a: feats[a][feature] for a in common},
                                                 {a: table[factor][a] for a in common},
                                                 n_boot=n_boot, seed=seed, level=1 - level)
            except ValueError as e:
                out.append({**row, "note": str(e)})
                continue
            out.append({**row, "pearson_r": c["pearson_r"], "pearson_p": c["pearson_p"],
                        "pearson_ci_low": c["pearson_ci"][0], "pearson_ci_high": c["pearson_ci"][1],
                        "spearman_rho": c["spearman_rho"], "spearman_p": c["spearman_p"],
                        "spearman_ci_low": c["spearman_ci"][0], "spearman_ci_high": c["spearman_ci"][1], "note": ""})
    return out


def mix_rows(runs: Mapping[str, Sequence[Mapping[str, Any]]], baseline: str, *, level: float) -> list[dict[str, Any]]:
    """Table 3: each mix's macro test accuracy per seed against the baseline's (Welch over seeds);
    ``runs[experiment]`` holds each seed's selection."""
    from ..mixing.report import compare

    def macro(sel: Mapping[str, Any]) -> float:
        return _mean([v["acc"] for v in sel["test"].values()])

    ref = [macro(r) for r in runs[baseline]]
    out = [{"experiment": baseline, "runs": len(ref), "macro_acc": _mean(ref), "delta": 0.0, "welch_p": math.nan,
            "verdict": "baseline"}]
    for exp, sels in runs.items():
        if exp == baseline:
            continue
        vals = [macro(r) for r in sels]
        out.append({"experiment": exp, "runs": len(vals), "macro_acc": _mean(vals),
                    **compare(vals, ref, higher_better=True, level=level)})
    return out


def sweep_rows(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Mean test accuracy (and its seed SD) per model, ability and n: the curves of Fig. 3-5."""
    cells: dict[tuple[str, int, str, int], list[float]] = defaultdict(list)
    for r in runs:
        cells[(r["model"], int(r["n_params"]), r["ability"], int(r["n"]))].append(float(r["acc"]))
    out = []
    for (model, n_params, ability, n), v in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][3])):
        fin = [x for x in v if math.isfinite(x)]
        out.append({"model": model, "n_params": n_params, "ability": ability, "n": n, "runs": len(fin),
                    "acc": _mean(fin), "sd": statistics.stdev(fin) if len(fin) > 1 else math.nan})
    return out


def plot_curves(rows: Sequence[Mapping[str, Any]], path: str) -> None:
    """One panel per ability: test accuracy against n per ability (log axis), a line per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    abilities = sorted({r["ability"] for r in rows})
    cols = min(4, max(1, len(abilities)))
    nrows = math.ceil(len(abilities) / cols)
    # the height leaves room for the two-line y label even with one row of panels
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols + 0.4, 2.6 * nrows + 0.9), squeeze=False)
    for ax, a in zip(axes.flat, abilities, strict=False):
        for model in sorted({r["model"] for r in rows}, key=lambda m: next(r["n_params"] for r in rows if r["model"] == m)):
            pts = sorted((r["n"], r["acc"], r["sd"]) for r in rows if r["ability"] == a and r["model"] == model)
            ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[0 if math.isnan(p[2]) else p[2] for p in pts],
                        marker="o", capsize=2, label=model)
        ax.set_xscale("log", base=4)
        ax.set_title(a, fontsize=9)
        ax.set_ylim(-0.05, 1.05)
    for ax in list(axes.flat)[len(abilities):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.supxlabel("records per ability (n)")
    fig.supylabel("test accuracy\n(checkpoint chosen on dev)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _f(v: Any, digits: int = 3) -> str:
    if isinstance(v, float):
        return "–" if math.isnan(v) else f"{v:.{digits}f}"
    return str(v)


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_f(r.get(c, "")) for c in columns) + " |" for r in rows]
    return lines


def markdown(sweep: Sequence[Mapping[str, Any]], sens: Sequence[Mapping[str, Any]],
             feats: Mapping[str, Mapping[str, float]], corr: Sequence[Mapping[str, Any]], plan: Mapping[str, Any],
             mixes: Mapping[str, Sequence[Mapping[str, Any]]], *, level: float) -> str:
    """The study's report: sweep, sensitivities (both variants, with CIs), features and their
    correlations, the mix plan and Table 3, and which claims the run reproduces."""
    ci = f"{100 * (1 - level):.0f}% CI"
    lines = ["# DoIT: dynamics of instruction tuning", "",
             "Checkpoints chosen on macro dev accuracy after the configured epoch, reported on test.", "",
             "## Quantity sweep (test accuracy, mean over seeds)", ""]
    lines += _table(sweep, ["model", "n_params", "ability", "n", "runs", "acc", "sd"])
    lines += ["", f"## Scaling sensitivity, Eq. 2 (alpha with {ci}; published = one point per x, "
              "sound = one point per x and seed)", ""]
    lines += _table(sens, ["ability", "factor", "variant", "alpha", "ci_low", "ci_high", "p", "r2", "n_points"])
    # abilities whose fit has a spread (a constant accuracy has alpha 0 with no uncertainty)
    sound = [r for r in sens if r["variant"] == "sound" and math.isfinite(float(r["p"]))]
    claims = []
    for factor in FACTORS:
        rows = [r for r in sound if r["factor"] == factor]
        disjoint = any(a["ci_high"] < b["ci_low"] for a in rows for b in rows)
        claims.append((f"abilities differ in {factor} sensitivity (two abilities' {ci}s disjoint)",
                       "reproduces" if disjoint else "not shown by this run" if rows else "not testable"))
    lines += ["", "## Complexity and Transference (Sec. 4.3.2, single-ability runs)", ""]
    lines += _table([{"ability": a, **v} for a, v in sorted(feats.items())],
                    ["ability", "complexity", "transference", "loss", "transfer_in", "transfer_out"])
    lines += ["", f"## Features against sensitivity (Fig. 7; bootstrap {ci} over abilities)", ""]
    lines += _table(corr, ["feature", "factor", "n", "pearson_r", "pearson_ci_low", "pearson_ci_high", "spearman_rho",
                           "spearman_ci_low", "spearman_ci_high", "note"])
    for r in corr:
        if "pearson_ci_low" in r:  # both: a bootstrap over a handful of abilities alone is not enough
            # the paper's Fig. 7: each feature grows with a sensitivity (Sec. 4.3.2 pairs Complexity
            # with model size and Transference with data volume; the other two pairs are shown too)
            paired = PAPER_PAIRS.get(r["feature"]) == r["factor"]
            significant = r["pearson_p"] < level
            verdict = ("reproduces" if significant and r["pearson_ci_low"] > 0 else
                       "opposite sign" if significant and r["pearson_ci_high"] < 0 else "not shown by this run")
            pairing = " (the paper's pairing)" if paired else ""
            claims.append((f"{r['feature']} grows with {r['factor']} sensitivity{pairing} (Pearson r > 0, "
                           f"p < {level}, bootstrap CI above 0)", verdict))
    lines += ["", "## Mixes (Sec. 5.2, Table 3)", "",
              f"Insensitive abilities (cut to the floor): {', '.join(plan['insensitive']) or 'none'}; "
              f"held: {', '.join(plan['hold']) or 'none'}; baseline: {plan['baseline_n']} per ability.", ""]
    lines += _table([{"mix": m, **{"total": sum(c.values())}, **c} for m, c in plan["mixes"].items()],
                    ["mix", "total", *sorted(next(iter(plan["mixes"].values())))])
    for model, rows in mixes.items():
        lines += ["", f"### {model}: macro test accuracy, runs against the baseline (Welch, level {level})", ""]
        lines += _table(rows, ["experiment", "runs", "macro_acc", "delta", "welch_p", "verdict"])
        for r in rows:
            if r["verdict"] != "baseline":
                outcome = {"better": "reproduces", "too_few_runs": "not testable (fewer than 2 runs a side)",
                           "indistinguishable": "not shown by this run"}.get(r["verdict"], "does not reproduce (worse)")
                claims.append((f"{r['experiment']} beats the uniform baseline on {model}", outcome))
    lines += ["", "## Claims", ""] + [f"- {c}: **{v}**" for c, v in claims]
    return "\n".join(lines) + "\n"
