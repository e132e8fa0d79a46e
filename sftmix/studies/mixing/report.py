"""The instruction-mixing study's report: every model evaluated per instruction type.

A type's score of one run (replicate seed) is the macro mean over the type's categories of the
mean held-out item NLL (lower is better; :func:`sftmix.report.macro_nll`), and, where lm-eval ran,
the n-weighted multiple-choice accuracy over the type's per-category subtasks (higher is better;
:func:`lmeval_type_accuracy`). The run is the unit of replication: every comparison is a Welch
test over runs (:func:`sftmix.report.welch`), and a verdict needs its p below the study's level.

* Table 1 shape (:func:`combination_rows`): the eight combinations (None = the base model, one
  deterministic run) by type; each trained combination against its *own-type reference* on every
  type (the single-type combination of that type: does mixing in other types help or hurt it?).
  Once per design: as published (``per_type`` records of each type, so a mixture of k types has k
  times the records and steps) and at equal size (every combination the same total in equal
  parts: :func:`sftmix.studies.mixing.sets.equal_combination_set`).
* The paper's claims (:func:`claim_rows`, :data:`CLAIMS`): specialized data helps its type (AP vs
  A on NLP, AC vs A on code), general data helps code (AC vs C), code data helps and NLP-task data
  hurts general ability (AC, AP vs A on general; the paper measures it as FLASK alignment, here
  as the general type's held-out NLL), ACP vs AP on NLP. Evaluated in every design of
  :mod:`sftmix.studies.mixing.claims` (:func:`claim_rows_from_runs`: as published, at equal
  size, and with the reference trained for the experiment's steps) and set side by side
  (:func:`claim_comparison`): a claim that holds only as published may be the mixture's extra
  records and steps, not its other type.
* The design effect (:func:`design_rows`): each mixture as published against the same mixture at
  equal size, per type: what the published design's extra records do.
* The ratio and size curves (:func:`curve_rows`): per type, the mean over runs at every x, the best
  x (lowest NLL) and whether each other x is distinguishable from it (the paper: both specialized
  types peak at ratio 1.5; sizes plateau past ~10K per type).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ...experiments import slugify
from ...records import source_of_id
from ...report import macro_nll, markdown_table, welch
from ...scores import Scores
from .claims import CLAIMS
from .experiments import DESIGNS, design_experiments
from .sets import COMBINATIONS, LETTERS, TYPES, TypeKey, combo_label, combo_types, equal_total

NONE = "none"
DESIGN_NOTES = {"additive": "as published", "equal": "equal size"}
"""How the report describes each design of :data:`sftmix.studies.mixing.experiments.DESIGNS`."""
COMBINATION_COLUMNS = ["design", "combo", "label", "type", "metric", "n_runs", "mean", "sd", "reference", "delta",
                       "welch_p", "verdict"]
CLAIM_COLUMNS = ["design", "claim", "type", "metric", "experiment", "reference", "mean", "reference_mean", "delta",
                 "welch_p", "verdict", "reproduces"]
CURVE_COLUMNS = ["sweep", "x", "type", "metric", "n_runs", "mean", "sd", "best_x", "vs_best_p", "verdict"]
METRICS = {"nll": False, "acc": True}
"""Metric -> higher is better."""


def type_categories(category_types: Mapping[str, str], present: Iterable[str]) -> dict[str, list[str]]:
    """Each type's categories among ``present`` (the categories the eval items carry), sorted."""
    have = set(present)
    return {t: sorted(c for c, tt in category_types.items() if tt == t and c in have) for t in TYPES}


def item_type(row: Mapping[str, Any], key: TypeKey, types: Mapping[str, str]) -> str | None:
    """An eval item's type: its category's (``key="category"``) or its source's (the source of
    its id, :func:`sftmix.records.source_of_id`), None when unmapped."""
    label = row["category"] if key == "category" else source_of_id(row["id"])
    return types.get(str(label))


def type_nll(scores: Scores, experiment: str, key: TypeKey, types: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """``{type: {seed: NLL}}`` of one experiment's runs: per run, the macro mean over the
    categories of the type's eval items of their mean item NLL."""
    out: dict[str, dict[str, float]] = {}
    for seed, rows in sorted(scores.get(experiment, {}).items()):
        by_type: dict[str, list[Mapping[str, Any]]] = {}
        for r in rows:
            t = item_type(r, key, types)
            if t is not None:
                by_type.setdefault(t, []).append(r)
        for t, items in by_type.items():
            out.setdefault(t, {})[seed] = macro_nll(items, sorted({str(r["category"]) for r in items}))
    return {t: out[t] for t in TYPES if t in out}


def lmeval_type_accuracy(rows: Sequence[Mapping[str, Any]], categories: Sequence[str], *,
                         prefix: str = "sftmix_mc_", metric: str = "acc,none") -> float:
    """One run's accuracy on a type: the n-weighted mean of ``metric`` over the per-category subtasks
    ``<prefix><category slug>`` of ``categories`` (an lm-eval TSV's rows). NaN when none ran."""
    want = {f"{prefix}{slugify(c)}" for c in categories}
    hits = [(float(r["value"]), int(float(r["n"]))) for r in rows if r["task"] in want and r["metric"] == metric]
    total = sum(n for _, n in hits)
    return sum(v * n for v, n in hits) / total if total else math.nan


def type_accuracy(lmeval: Mapping[str, Sequence[Mapping[str, Any]]], type_cats: Mapping[str, Sequence[str]]
                  ) -> dict[str, dict[str, float]]:
    """``{type: {seed: accuracy}}`` from one experiment's lm-eval tables ``{seed: rows}``."""
    return {t: {seed: lmeval_type_accuracy(rows, cats) for seed, rows in sorted(lmeval.items())}
            for t, cats in type_cats.items() if cats}


def _finite(values: Iterable[float]) -> list[float]:
    return [float(v) for v in values if math.isfinite(v)]


def _stats(values: Iterable[float]) -> tuple[int, float, float]:
    v = _finite(values)
    return len(v), (statistics.fmean(v) if v else math.nan), (statistics.stdev(v) if len(v) > 1 else math.nan)


def verdict_of(delta: float, p: float, *, higher_better: bool, level: float, runs: tuple[int, int] = (0, 0)
               ) -> str:
    """``better`` / ``worse`` when Welch's p < level, ``indistinguishable`` otherwise. Without a p:
    ``too_few_runs`` when a side has fewer than two runs (``runs``: the runs of each side); with
    two or more a side, no spread on either: ``indistinguishable`` when the means are equal (every
    run gave the same value), ``no_spread`` when they differ (a test needs variance: the runs are
    deterministic, and more seeds would not change that)."""
    if not math.isfinite(p):
        if min(runs) < 2:
            return "too_few_runs"
        return "indistinguishable" if delta == 0 else "no_spread"
    if p < level:
        return "better" if (delta > 0) == higher_better else "worse"
    return "indistinguishable"


def compare(values: Iterable[float], reference: Iterable[float], *, higher_better: bool, level: float
            ) -> dict[str, Any]:
    """Runs against runs: the mean difference, Welch's p and :func:`verdict_of`."""
    a, b = _finite(values), _finite(reference)
    delta = (statistics.fmean(a) - statistics.fmean(b)) if a and b else math.nan
    p = welch(a, b)["welch_p"]
    return {"delta": delta, "welch_p": p,
            "verdict": verdict_of(delta, p, higher_better=higher_better, level=level, runs=(len(a), len(b)))}


def combination_rows(values: Mapping[str, Mapping[str, Mapping[str, Mapping[str, float]]]],
                     base: Mapping[str, Mapping[str, float]], combos: Sequence[str], *, level: float,
                     design: str = "additive") -> list[dict[str, Any]]:
    """Table 1 in long form for one ``design``. ``values[metric][combo][type]`` = ``{seed: value}``
    of the trained combinations, ``base[metric][type]`` = the base model's value (None: one run,
    no verdict). Every trained combination is compared, on every type, with that type's
    single-type combination of the same design when it was trained (its own row is the
    reference)."""
    out = []
    for metric, higher in METRICS.items():
        if metric not in values:
            continue
        for t in TYPES:
            if t in base.get(metric, {}):
                out.append({"design": design, "combo": NONE, "label": combo_label(NONE), "type": t, "metric": metric, "n_runs": 1,
                            "mean": base[metric][t], "sd": math.nan, "reference": "", "delta": math.nan,
                            "welch_p": math.nan, "verdict": "base_model"})
            ref = LETTERS[t].lower()
            for c in combos:
                runs = values[metric].get(c, {}).get(t)
                if runs is None:
                    continue
                n, mean, sd = _stats(runs.values())
                row = {"design": design, "combo": c, "label": combo_label(c), "type": t, "metric": metric, "n_runs": n, "mean": mean,
                       "sd": sd, "reference": ref if ref in values[metric] else ""}
                if c == ref:
                    row.update(delta=0.0, welch_p=math.nan, verdict="reference")
                elif row["reference"]:
                    row.update(compare(runs.values(), values[metric][ref][t].values(), higher_better=higher,
                                       level=level))
                else:
                    row.update(delta=math.nan, welch_p=math.nan, verdict="no_reference")
                out.append(row)
    return out


def _claim_row(design: str, claim: tuple[str, str, str, str, str], metric: str, runs: Iterable[float],
               reference: Iterable[float], experiment: str, reference_name: str, level: float) -> dict[str, Any]:
    name, t, _, _, expected = claim
    a, b = list(runs), list(reference)
    c = compare(a, b, higher_better=METRICS[metric], level=level)
    verdict = c["verdict"]
    reproduces = "yes" if verdict == expected else ("no" if verdict in ("better", "worse") else "undecided")
    return {"design": design, "claim": name, "type": t, "metric": metric, "experiment": experiment,
            "reference": reference_name, "mean": _stats(a)[1], "reference_mean": _stats(b)[1], **c,
            "reproduces": reproduces}


def claim_rows(values: Mapping[str, Mapping[str, Mapping[str, Mapping[str, float]]]], *, level: float,
               design: str = "additive") -> list[dict[str, Any]]:
    """Each claim of :data:`CLAIMS` whose two combinations were trained in ``design``
    (``values[metric][combo][type]`` = ``{seed: value}``), per metric: ``reproduces`` is ``yes``
    when the verdict is the paper's, ``no`` when it is the opposite, ``undecided`` when the runs
    cannot tell (``indistinguishable`` / ``too_few_runs`` / ``no_spread``)."""
    combos = {c for table in values.values() for c in table}
    per_combo = {c: {m: table[c] for m, table in values.items() if c in table} for c in combos}
    return claim_rows_from_runs(per_combo, {claim[0]: (claim[2], claim[3]) for claim in CLAIMS}, level=level,
                                design=design)


def claim_rows_from_runs(per_experiment: Mapping[str, Mapping[str, Mapping[str, Mapping[str, float]]]],
                         runs: Mapping[str, tuple[str, str]], *, level: float, design: str) -> list[dict[str, Any]]:
    """:func:`claim_rows` with the runs named per claim (``runs``: claim -> (experiment run,
    reference run), one design of :func:`sftmix.studies.mixing.experiments.claim_runs`;
    ``per_experiment[run][metric][type]`` = ``{seed: value}``): the ``steps`` design's reference
    is a run of its own for each claim. ``experiment`` / ``reference`` are the run names."""
    out = []
    for metric in METRICS:
        for claim in CLAIMS:
            if claim[0] not in runs:
                continue
            exp, ref = runs[claim[0]]
            a = per_experiment.get(exp, {}).get(metric, {}).get(claim[1])
            b = per_experiment.get(ref, {}).get(metric, {}).get(claim[1])
            if a is not None and b is not None:
                out.append(_claim_row(design, claim, metric, a.values(), b.values(), exp, ref, level))
    return out


COMPARISON_COLUMNS = ["claim", "type", "metric",
                      *[f"{d}{suffix}" for d in DESIGNS for suffix in ("_delta", "_p", "")], "agree"]


def claim_comparison(claims: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The claims of every design side by side (``claims``: claim rows of each design), one row per
    claim and metric evaluated in at least one: each design's delta, p and ``reproduces`` (empty
    where the design did not evaluate it); ``agree`` is ``yes`` when every design that evaluated
    it reaches the same ``reproduces``, ``no`` when they differ, empty when fewer than two did."""
    by_key: dict[tuple[str, str], dict[str, Any]] = {}
    for c in claims:
        row = by_key.setdefault((c["claim"], c["metric"]), {
            "claim": c["claim"], "type": c["type"], "metric": c["metric"],
            **{k: (math.nan if k.endswith(("_delta", "_p")) else "") for k in COMPARISON_COLUMNS[3:-1]}})
        row.update({f"{c['design']}_delta": c["delta"], f"{c['design']}_p": c["welch_p"], c["design"]: c["reproduces"]})
    for row in by_key.values():
        got = {row[d] for d in DESIGNS if row[d]}
        row["agree"] = "" if sum(bool(row[d]) for d in DESIGNS) < 2 else ("yes" if len(got) == 1 else "no")
    order = {(claim, metric): i for i, (claim, metric) in enumerate((c[0], m) for m in METRICS for c in CLAIMS)}
    return sorted(by_key.values(), key=lambda r: order[(r["claim"], r["metric"])])


DESIGN_COLUMNS = ["combo", "label", "type", "metric", "additive_records", "equal_records", "additive_mean",
                  "equal_mean", "delta", "welch_p", "verdict"]


def design_rows(values: Mapping[str, Mapping[str, Mapping[str, Mapping[str, Mapping[str, float]]]]],
                sizes: Mapping[str, Mapping[str, int]], *, level: float) -> list[dict[str, Any]]:
    """The published design's extra records, per mixture, type and metric: the mixture as
    published against the same mixture at equal size (``values[design][metric][combo][type]`` =
    ``{seed: value}``; ``sizes[design][combo]`` = its records). ``verdict`` is the published
    set's against the equal-size one (``better`` = the extra records help this type). Single-type
    combinations are left out: at ``equal_size.total = per_type`` they are the same runs."""
    out = []
    add, eq = values.get("additive", {}), values.get("equal", {})
    for metric, higher in METRICS.items():
        for c in COMBINATIONS:
            if len(combo_types(c)) < 2 or c not in add.get(metric, {}) or c not in eq.get(metric, {}):
                continue
            for t in TYPES:
                if t not in add[metric][c] or t not in eq[metric][c]:
                    continue
                a, e = add[metric][c][t].values(), eq[metric][c][t].values()
                out.append({"combo": c, "label": combo_label(c), "type": t, "metric": metric,
                            "additive_records": sizes["additive"][c], "equal_records": sizes["equal"][c],
                            "additive_mean": _stats(a)[1], "equal_mean": _stats(e)[1],
                            **compare(a, e, higher_better=higher, level=level)})
    return out


def design_values(per_experiment: Mapping[str, Mapping[str, Mapping[str, Mapping[str, float]]]],
                  section: Mapping[str, Any]) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, dict[str, int]]]:
    """Each design's values from the runs (``per_experiment[experiment][metric][type]`` = ``{seed:
    value}``; ``section``: the ``mixing`` config): ``values[design][metric][combo][type]`` through
    :func:`sftmix.studies.mixing.experiments.design_experiments` (the equal design's single types
    may be the published runs), and ``sizes[design][combo]`` = the records of its set. Metrics
    without a run are left out."""
    runs = design_experiments(section, combos_of(section["combinations"]))
    total = equal_total(section) if runs["equal"] else 0
    sizes = {"additive": {c: int(section["per_type"]) * len(combo_types(c)) for c in runs["additive"]},
             "equal": dict.fromkeys(runs["equal"], total)}
    values: dict[str, dict[str, dict[str, Any]]] = {}
    for design, by_combo in runs.items():
        for m in METRICS:
            got = {c: per_experiment[e][m] for c, e in by_combo.items() if m in per_experiment.get(e, {})}
            if got:
                values.setdefault(design, {})[m] = got
    return values, sizes


def design_sizes_in_words(section: Mapping[str, Any]) -> dict[str, str]:
    """How many records each design's combinations hold, for the report's table titles."""
    return {"additive": f"{section['per_type']} records of each type",
            "equal": f"{equal_total(section)} records in all, equal parts of its types"}


def curve_rows(sweep: str, values: Mapping[str, Mapping[float, Mapping[str, Mapping[str, float]]]], *,
               level: float) -> list[dict[str, Any]]:
    """One sweep's curve, per metric and type: ``values[metric][x][type]`` = ``{seed: value}``. The
    best x has the best mean; every other x is compared with it (``indistinguishable`` from the best
    = on its plateau)."""
    out = []
    for metric, higher in METRICS.items():
        by_x = values.get(metric, {})
        for t in TYPES:
            pts = {x: by_x[x][t] for x in sorted(by_x) if t in by_x[x]}
            means = {x: _stats(v.values())[1] for x, v in pts.items()}
            finite = {x: m for x, m in means.items() if math.isfinite(m)}
            if not finite:
                continue
            best = (max if higher else min)(finite, key=lambda x: finite[x])
            for x, runs in pts.items():
                n, mean, sd = _stats(runs.values())
                row = {"sweep": sweep, "x": x, "type": t, "metric": metric, "n_runs": n, "mean": mean, "sd": sd,
                       "best_x": best}
                if x == best:
                    row.update(vs_best_p=math.nan, verdict="best")
                else:
                    c = compare(runs.values(), pts[best].values(), higher_better=higher, level=level)
                    row.update(vs_best_p=c["welch_p"],
                               verdict={"worse": "below_best", "better": "above_best"}.get(c["verdict"], c["verdict"]))
                out.append(row)
    return out


def plot_curves(curves: Sequence[Mapping[str, Any]], path: str | Path) -> None:
    """The ratio and size curves (Fig. 2): one panel per sweep and metric, one line per type, mean
    over runs with +-1 sd bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(r["sweep"], r["metric"]) for r in curves})
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(4.2 * max(1, len(panels)), 3.4), squeeze=False)
    for ax, (sweep, metric) in zip(axes[0], panels, strict=False):
        for t in TYPES:
            pts = sorted((r["x"], r["mean"], r["sd"]) for r in curves
                         if r["sweep"] == sweep and r["metric"] == metric and r["type"] == t)
            if pts:
                xs, ys, sds = zip(*pts, strict=True)
                ax.errorbar(xs, ys, yerr=[s if math.isfinite(s) else 0.0 for s in sds], marker="o", capsize=3,
                            label=f"{t} ({LETTERS[t]})")
        ax.set_xlabel("specialized / general" if sweep == "ratio" else "records (equal parts per type)")
        ax.set_ylabel("held-out NLL (nats/token)" if metric == "nll" else "lm-eval accuracy")
        ax.set_title(f"{sweep} sweep")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _cell(mean: float, sd: float) -> str:
    if not math.isfinite(mean):
        return ""
    return f"{mean:.3f}" + (f" ± {sd:.3f}" if math.isfinite(sd) else "")


def table1(rows: Sequence[Mapping[str, Any]], metric: str = "nll", design: str = "additive") -> list[dict[str, Any]]:
    """Table 1's shape for one design: one row per combination (None first), one column per type:
    mean ± sd over runs, with the verdict against the type's own single-type combination."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["metric"] != metric or r.get("design", "additive") != design:
            continue
        row = out.setdefault(r["combo"], {"combination": r["label"]})
        mark = {"better": " (+)", "worse": " (-)"}.get(r["verdict"], "")
        row[r["type"]] = _cell(r["mean"], r["sd"]) + mark
    return list(out.values())


def markdown(combos: Sequence[Mapping[str, Any]], claims: Sequence[Mapping[str, Any]],
             curves: Sequence[Mapping[str, Any]], *, model: str, level: float, types: Mapping[str, Sequence[str]],
             designs: Sequence[Mapping[str, Any]] = (), sizes: Mapping[str, str] | None = None) -> str:
    """The study's report section for one base model (``types``: type -> the categories or sources
    mapped to it; ``designs``: :func:`design_rows`; ``sizes``: design -> how many records its
    combinations hold, in words)."""
    parts = [f"# Instruction mixing: {model}", "",
             "Types: " + "; ".join(f"{t} ({LETTERS[t]}) = {', '.join(c) or '(none mapped)'}"
                                   for t, c in types.items()), "",
             f"Run-level Welch tests at level {level}; (+)/(-) = better/worse than the type's own "
             "single-type combination. NLL: lower is better."]
    for design in DESIGN_NOTES:
        for metric in METRICS:
            t1 = table1(combos, metric, design)
            if t1:
                what = DESIGN_NOTES[design] + (f", {sizes[design]}" if sizes and design in sizes else "")
                parts += ["", markdown_table(t1, ["combination", *[t for t in TYPES if any(t in r for r in t1)]],
                                             title=f"Table 1 shape ({metric}; {what})")]
    if claims:
        parts += ["", markdown_table(claims, CLAIM_COLUMNS, title="The paper's claims, run against run")]
        if len({c["design"] for c in claims}) > 1:
            parts += ["", markdown_table(claim_comparison(claims), COMPARISON_COLUMNS,
                                         title="The claims in every design (reproduces: yes / no / undecided)")]
    if designs:
        parts += ["", markdown_table(designs, DESIGN_COLUMNS,
                                     title="Design effect: each mixture as published against it at equal size")]
    for sweep in ("ratio", "size"):
        rows = [r for r in curves if r["sweep"] == sweep]
        if rows:
            parts += ["", markdown_table(rows, CURVE_COLUMNS, title=f"The {sweep} sweep")]
    return "\n".join(parts) + "\n"


def combos_of(names: Iterable[str]) -> list[str]:
    """Combination names in the paper's order."""
    given = set(names)
    return [c for c in COMBINATIONS if c in given and combo_types(c)]


SCALE_COLUMNS = ["design", "combo", "label", "type", "metric", "model", "n_runs", "mean", "sd", "reference_model",
                 "delta", "welch_p", "verdict"]


def welch_from_stats(mean: float, sd: float, n: int, ref_mean: float, ref_sd: float, ref_n: int) -> float:
    """Welch's p from run-level summary statistics (``scipy.stats.ttest_ind_from_stats``); NaN with
    fewer than two runs a side or no spread."""
    from scipy import stats

    if n < 2 or ref_n < 2 or not (math.isfinite(sd) and math.isfinite(ref_sd)) or sd + ref_sd == 0:
        return math.nan
    return float(stats.ttest_ind_from_stats(mean, sd, n, ref_mean, ref_sd, ref_n, equal_var=False).pvalue)


def scale_rows(tables: Mapping[str, Sequence[Mapping[str, Any]]], *, level: float) -> list[dict[str, Any]]:
    """The size effect (the paper's 7B vs 13B): each model's :func:`combination_rows` (``tables``:
    model -> rows, the first model the reference, normally the smallest) side by side; every other
    model's combination against the reference model's on the same type and metric, by Welch's test
    from the run-level means and standard deviations."""
    models = list(tables)
    if not models:
        return []
    ref_model = models[0]
    index = {(m, r.get("design", "additive"), r["combo"], r["type"], r["metric"]): r
             for m in models for r in tables[m]}
    out = []
    for r in tables[ref_model]:
        key = (r.get("design", "additive"), r["combo"], r["type"], r["metric"])
        for m in models:
            row = index.get((m, *key))
            if row is None:
                continue
            n, mean, sd = int(float(row["n_runs"])), float(row["mean"]), float(row["sd"])
            rec = {"design": key[0], "combo": r["combo"], "label": r["label"], "type": r["type"], "metric": r["metric"], "model": m,
                   "n_runs": n, "mean": mean, "sd": sd, "reference_model": ref_model}
            if m == ref_model:
                rec.update(delta=0.0, welch_p=math.nan, verdict="reference")
            else:
                ref = index[(ref_model, *key)]
                p = welch_from_stats(mean, sd, n, float(ref["mean"]), float(ref["sd"]), int(float(ref["n_runs"])))
                delta = mean - float(ref["mean"])
                rec.update(delta=delta, welch_p=p,
                           verdict=verdict_of(delta, p, higher_better=METRICS[r["metric"]], level=level,
                                              runs=(n, int(float(ref["n_runs"])))))
            out.append(rec)
    return out


def scale_markdown(rows: Sequence[Mapping[str, Any]], *, level: float) -> str:
    models = list(dict.fromkeys(r["model"] for r in rows))
    return (f"# Instruction mixing across base-model sizes\n\nModels {', '.join(models)}; each against "
            f"{models[0] if models else ''} (run-level Welch from means and sds, level {level}).\n\n"
            + markdown_table(rows, SCALE_COLUMNS, title="Combinations by size") + "\n")
