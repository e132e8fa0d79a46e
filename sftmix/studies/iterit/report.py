"""IterIT's report section: the methods table (the paper's Table 1 layout, held-out NLL per
category with run-level verdicts against IterIT), the ablations (Table 4), the overlap of the
epochs' selections (Table 5) and with Longest, the selections' response lengths (Fig. 3) and
their precision against a generated world's planted defects.

The verdict machinery is the report engine's (:mod:`sftmix.report`): every row is compared with
IterIT (``iterit_full``) at the same share of N over seeds (the run is the unit of replication).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...report import display_cell, markdown_table, nll_cell
from ...report import method_table as _method_table
from ...scores import Scores
from .select import jaccard

METHOD_COLUMNS = ["kind", "method", "share", "n_seeds", "nll_macro", "nll_macro_sd", "delta", "ci_low", "ci_high",
                  "welch_p", "run_verdict"]
"""The methods table's columns before the per-category NLL and benchmark columns."""

def method_table(scores: Scores, rows: Sequence[Mapping[str, Any]], categories: Sequence[str], *,
                 benchmarks: Mapping[str, Any] | None = None, n_boot: int = 1000, seed: int = 0
                 ) -> tuple[list[dict[str, Any]], list[str]]:
    """Every method against IterIT at its share (:func:`sftmix.report.method_table`)."""
    return _method_table(scores, rows, categories, METHOD_COLUMNS, benchmarks=benchmarks, n_boot=n_boot,
                         seed=seed)


OVERLAP_COLUMNS = ["experiment", "pair", "n_seeds", "jaccard", "jaccard_sd"]
SELECTION_COLUMNS = ["experiment", "method", "seed", "epoch", "n", "length_mean", "length_median", "n_defective",
                     "precision"]


def epoch_overlap(epochs: Mapping[str, Mapping[str, Sequence[Sequence[str]]]],
                  longest: Mapping[str, Sequence[str]] | None = None) -> list[dict[str, Any]]:
    """Jaccard similarity of the selections of an iterative run's epochs (Table 5: consecutive
    epochs and first-last), and of each epoch with Longest's selection of the same seed, as mean
    and sd over seeds. ``epochs``: ``{experiment: {seed: [ids of epoch 0, epoch 1, ...]}}``."""
    out = []
    for exp, by_seed in epochs.items():
        n_epochs = min(len(v) for v in by_seed.values())
        pairs = [(k, k + 1) for k in range(n_epochs - 1)] + ([(0, n_epochs - 1)] if n_epochs > 2 else [])
        cells: list[tuple[str, list[float]]] = [
            (f"epoch {i} / epoch {j}", [jaccard(v[i], v[j]) for v in by_seed.values()]) for i, j in pairs]
        if longest:
            for k in range(n_epochs):
                vals = [jaccard(v[k], longest[s]) for s, v in by_seed.items() if s in longest]
                if vals:
                    cells.append((f"epoch {k} / longest", vals))
        for pair, vals in cells:
            out.append({"experiment": exp, "pair": pair, "n_seeds": len(vals), "jaccard": statistics.fmean(vals),
                        "jaccard_sd": statistics.stdev(vals) if len(vals) > 1 else math.nan})
    return out


def selection_rows(selections: Sequence[Mapping[str, Any]], lengths: Mapping[str, int],
                   defect: Mapping[str, str | None] | None) -> list[dict[str, Any]]:
    """One row per selection (``{"experiment", "method", "seed", "epoch", "ids"}``; epoch "" for a
    one-shot selection): its size, the response length (characters, :func:`sftmix.quality.length_scores`)
    mean and median, and with a generated world's truth (``defect``: id -> kind or None) the
    defective records it took and its precision (the share of clean ones)."""
    out = []
    for s in selections:
        ids = list(s["ids"])
        lens = [lengths[i] for i in ids]
        row = {k: s[k] for k in ("experiment", "method", "seed", "epoch")}
        row.update(n=len(ids), length_mean=statistics.fmean(lens) if lens else math.nan,
                   length_median=statistics.median(lens) if lens else math.nan)
        if defect is not None:
            bad = sum(1 for i in ids if defect.get(i) is not None)
            row.update(n_defective=bad, precision=(len(ids) - bad) / len(ids) if ids else math.nan)
        else:
            row.update(n_defective="", precision="")
        out.append(row)
    return out


def selection_summary(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per experiment (and epoch): the selections' length and precision, mean over seeds."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["experiment"], str(r["epoch"])), []).append(r)
    out = []
    for (exp, epoch), rs in groups.items():
        prec = [r["precision"] for r in rs if isinstance(r["precision"], float) and math.isfinite(r["precision"])]
        out.append({"experiment": exp, "method": rs[0]["method"], "epoch": epoch, "n_seeds": len(rs),
                    "n": statistics.fmean(r["n"] for r in rs),
                    "length_mean": statistics.fmean(r["length_mean"] for r in rs),
                    "precision": statistics.fmean(prec) if prec else ""})
    return out


def plot_lengths(rows: Sequence[Mapping[str, Any]], selections: Sequence[Mapping[str, Any]],
                 lengths: Mapping[str, int], pool_ids: Sequence[str], path: str | Path) -> None:
    """Fig. 3: the response-length distribution of each method's selection (seeds pooled; an
    iterative run's epochs pooled), the whole pool first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, data = ["pool (N)"], [[lengths[i] for i in pool_ids]]
    for r in rows:
        vals = [lengths[i] for s in selections if s["experiment"] == r["experiment"] for i in s["ids"]]
        if vals:
            labels.append(str(r["experiment"]))
            data.append(vals)
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(labels) + 2), 4))
    ax.boxplot(data, showfliers=False)
    ax.set_xticks(range(1, len(labels) + 1))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("response length (characters)")
    ax.set_title("Response lengths of the selections (IterIT Fig. 3)")
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


SENSITIVITY_METHODS = ("full", "random")
"""The methods of the M sweep (Fig. 4a): IterIT and random selection at every share."""


def sensitivity_rows(methods: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Fig. 4(a) as a table: IterIT's and random's macro NLL (mean and SD over seeds) at each share
    of N, with IterIT's run-level verdict against random at that share; sorted by share."""
    by = {(r["method"], r["share"]): r for r in methods if r["method"] in SENSITIVITY_METHODS}
    out = []
    for share in sorted({s for _, s in by}):
        it, rnd = by.get(("full", share)), by.get(("random", share))
        out.append({"share": share,
                    "iterit_nll": it["nll_macro"] if it else math.nan,
                    "iterit_sd": it["nll_macro_sd"] if it else math.nan,
                    "random_nll": rnd["nll_macro"] if rnd else math.nan,
                    "random_sd": rnd["nll_macro_sd"] if rnd else math.nan,
                    # random's row is compared against IterIT at its share: delta = random - IterIT
                    "random_minus_iterit": rnd["delta"] if rnd else math.nan,
                    "welch_p": rnd["welch_p"] if rnd else math.nan,
                    "run_verdict": rnd["run_verdict"] if rnd else ""})
    return out


SENSITIVITY_COLUMNS = ["share", "iterit_nll", "iterit_sd", "random_nll", "random_sd", "random_minus_iterit",
                       "welch_p", "run_verdict"]


def plot_sensitivity(rows: Sequence[Mapping[str, Any]], path: str | Path) -> None:
    """Fig. 4(a): held-out macro NLL against M as a share of N, IterIT and random (error bars: SD
    over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    x = [100 * r["share"] for r in rows]
    for key, label in (("iterit", "IterIT"), ("random", "random")):
        y = [r[f"{key}_nll"] for r in rows]
        sd = [0.0 if not math.isfinite(r[f"{key}_sd"]) else r[f"{key}_sd"] for r in rows]
        ax.errorbar(x, y, yerr=sd, marker="o", capsize=3, label=label)
    ax.set_xlabel("M (% of N)")
    ax.set_ylabel("held-out NLL (macro, lower is better)")
    ax.set_title("Sensitivity to the selection size (IterIT Fig. 4a)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


_INTRO = (
    "Every method trains the same optimizer steps (iterit.epochs passes over M samples; vanilla "
    "samples all N within them). NLL: held-out response NLL of the clean test items, macro over "
    "categories, lower is better, mean over seeds; `delta` against IterIT (`iterit_full`) at the same "
    "share with its paired item-bootstrap CI; `run_verdict`: run-level Welch t test over seeds "
    "(p < 0.05), the verdict that counts.\n")


def iterit_markdown(model: str, methods: Sequence[Mapping[str, Any]], method_columns: Sequence[str],
                    overlap: Sequence[Mapping[str, Any]], selections: Sequence[Mapping[str, Any]],
                    bench_columns: Sequence[str], sensitivity: Sequence[Mapping[str, Any]] = ()) -> str:
    """The study's report page for one base model."""
    short = ["experiment", "kind", "n_seeds", "nll_macro", "delta", "welch_p", "run_verdict", *bench_columns]

    def shown(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for r in rows:
            d = dict(r)
            d["nll_macro"] = nll_cell(r)
            for c in bench_columns:
                d[c] = display_cell(r, c)
            out.append(d)
        return out

    parts = [f"# IterIT: {model}\n", _INTRO]
    main = [r for r in methods if r["kind"] != "ablation"]
    ablations = [r for r in methods if r["kind"] in ("ablation", "iterit")]
    parts.append(markdown_table(shown(main), short, title="Methods (Table 1 layout)"))
    parts.append(markdown_table(shown(ablations), short, title="Ablations (Table 4 layout)"))
    cats = [c for c in method_columns if c.startswith("nll:")]
    parts.append(markdown_table(methods, ["experiment", *cats], title="Held-out NLL per category"))
    parts.append(markdown_table(overlap, OVERLAP_COLUMNS, title="Overlap of the selections (Jaccard; Table 5)"))
    if sensitivity:
        parts.append(markdown_table(sensitivity, SENSITIVITY_COLUMNS,
                                    title="Sensitivity to M, the share of N (Fig. 4a; iterit.sensitivity)"))
    parts.append(markdown_table(selections, ["experiment", "epoch", "n_seeds", "n", "length_mean", "precision"],
                                title="Selections: size, response length, precision against the planted defects"))
    return "\n".join(parts)
