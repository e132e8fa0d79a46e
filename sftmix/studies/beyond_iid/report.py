"""Beyond IID's report section: the comparison tables of its mixtures and curricula.

``compare_report`` lays out, per base model, every mixture against EE-CPO of the same size and
every schedule against the 3-epoch baseline (held-out NLL with seed noise and item-bootstrap CI,
benchmark columns with standard errors); ``paper_tables_markdown`` puts every model side by side
as the paper does (method x size x model). The verdict machinery is the report engine's
(:mod:`sftmix.report`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...report import (
    add_benchmark_verdicts,
    compare_experiments,
    display_cell,
    markdown_table,
    nll_cell,
    paper_table,
    plot_comparison,
    read_table,
    write_markdown_report,
    write_table,
)
from ...scores import Scores

log = logging.getLogger(__name__)


COMPARE_COLUMNS = ["n_seeds", "n_seeds_reference", "nll_macro", "nll_macro_sd", "nll_seeds", "delta", "ci_low",
                   "ci_high", "seed_noise", "verdict", "welch_t", "welch_df", "welch_p", "run_verdict"]
"""The held-out NLL columns of every comparison table (after the labels, experiment, reference)."""

COMPARE_TABLES = (("mixtures", ["method", "size"], "Mixtures of equal size (reference: EE-CPO)"),
                  ("curriculum", ["schedule"], "Curriculum (reference: 3-epoch baseline)"))
"""The comparison tables: (name, label columns, title); ``mixtures`` rows carry ``method`` and
``size``, ``curriculum`` rows ``schedule``."""

_COMPARE_INTRO = (
    "NLL: held-out response NLL, macro over categories, lower is better; `verdict` needs the item "
    "bootstrap CI of the difference to exclude 0 *and* the difference to exceed the seed noise; "
    "`run_verdict` is the run-level Welch t test over seeds (df in `welch_df`, p < 0.05; n seeds per "
    "side in `n_seeds` / `n_seeds_reference`). "
    "Benchmarks: mean over seeds ± standard error (lm-eval's item stderr combined with the seed "
    "spread); better/worse only beyond two standard errors of the difference, else n.s.\n")



def compare_report(scores: Scores, categories: Sequence[str], benchmarks: Mapping[str, Any], *,
                   mixtures: Sequence[Mapping[str, Any]], schedules: Sequence[Mapping[str, Any]],
                   model: str, judge_configured: bool, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The compare stage of one model: the comparison tables of :data:`COMPARE_TABLES` and the
    lm-eval table, with their markdown.

    ``mixtures`` / ``schedules``: the rows to compare (``{"experiment", "reference", labels}``;
    rows without score tables are left out); ``benchmarks``: a :func:`load_benchmarks` result.
    Returns ``{"tables": {name: {"rows", "columns", "title"}} (mixtures, curriculum, lmeval),
    "markdown": str, "judge_note": str}``; every compared row is logged.
    """
    bench, columns = benchmarks["bench"], benchmarks["columns"]
    judge_note = ("judge: ratings from the configured endpoint" if judge_configured
                  else "judge: skipped (no endpoint configured: benchmarks.judge.base_url is null)")
    log.info(judge_note)
    bench_cols = [x for c in columns for x in (c, f"{c}_se", f"{c}_vs_ref")]

    def shown(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return [{**r, **{c: display_cell(r, c) for c in columns}} for r in rows]

    md = [f"## Model {model}\n", judge_note + "\n", _COMPARE_INTRO]
    tables: dict[str, dict[str, Any]] = {}
    for (name, labels, title), rows in zip(COMPARE_TABLES, (mixtures, schedules), strict=True):
        out = compare_experiments(scores, [r for r in rows if r["experiment"] in scores], categories,
                                  n_boot=n_boot, seed=seed, benchmarks=bench)
        add_benchmark_verdicts(out, columns)
        tables[name] = {"rows": out, "columns": labels + ["experiment", "reference"] + COMPARE_COLUMNS + bench_cols,
                        "title": title}
        md.append(markdown_table(shown(out), labels + COMPARE_COLUMNS + columns, title=title))
        for r in out:
            log.info("%s %s: nll %.4f (sd %.4f) delta %.4f [%.4f, %.4f] noise %.4f -> %s %s", name, r["experiment"],
                     r["nll_macro"], r["nll_macro_sd"], r["delta"], r["ci_low"], r["ci_high"], r["seed_noise"],
                     r["verdict"], {c: display_cell(r, c) for c in columns})
    lm_rows = [{"experiment": e, **bench.get(e, {})} for e in benchmarks["lmeval_experiments"]]
    tables["lmeval"] = {"rows": lm_rows, "columns": ["experiment"] + [x for c in columns for x in (c, f"{c}_se")],
                        "title": "lm-eval, every benchmarked model (mean over seeds ± standard error)"}
    md.append(markdown_table(shown(lm_rows), ["experiment"] + columns, title=tables["lmeval"]["title"]))
    return {"tables": tables, "markdown": "\n".join(md), "judge_note": judge_note}


def write_compare_report(report: Mapping[str, Any], outputs: Mapping[str, str | Path]) -> None:
    """Write a :func:`compare_report`: each table to ``outputs[name]`` (:func:`write_table`), the
    figure of each comparison table to ``outputs[f"{name}_png"]`` (:func:`plot_comparison`), the
    markdown to ``outputs["markdown"]`` and its page to ``outputs["html"]``
    (:func:`write_markdown_report`)."""
    for name, table in report["tables"].items():
        write_table(outputs[name], table["rows"], table["columns"])
        if f"{name}_png" in outputs:
            plot_comparison(table["rows"], outputs[f"{name}_png"], label="experiment", title=table["title"])
    write_markdown_report(report["markdown"], outputs["markdown"], outputs["html"])


_PAPER_INTRO = [
    "# Paper tables: every model side by side\n",
    "NLL: held-out response NLL, macro over categories (mean ± seed sd; lower is better). Benchmarks: "
    "mean ± standard error. Marks: better / worse than the reference beyond noise, n.s. otherwise, "
    "ref = the reference row.\n"]


def paper_tables_markdown(mixtures: Sequence[str | Path], curriculum: Sequence[str | Path],
                          models: Sequence[str]) -> str:
    """The paper_tables stage: the per-model comparison tables (``mixtures.tsv`` and
    ``curriculum.tsv`` of every model, aligned with ``models``) side by side as markdown
    (:func:`paper_table`: the NLL cell and every benchmark column, per model). Each block is logged."""
    md = list(_PAPER_INTRO)
    for name, paths, row_key, group_key, (_, _, title) in [
            ("mixtures", mixtures, "method", "size", COMPARE_TABLES[0]),
            ("curriculum", curriculum, "schedule", None, COMPARE_TABLES[1])]:
        tables = {}
        bench: list[str] = []
        for model, path in zip(models, paths, strict=True):
            rows = read_table(path)
            cols = [c for c in (rows[0].keys() if rows else []) if "/" in c and not c.endswith(("_se", "_vs_ref"))]
            bench += [c for c in cols if c not in bench]
            tables[model] = [{row_key: r[row_key], **({group_key: r[group_key]} if group_key else {}),
                              "NLL": nll_cell(r), **{c: display_cell(r, c) for c in cols}} for r in rows]
        if not any(tables.values()):
            log.info("%s: no rows", name)
            continue
        md.append(f"## {title}\n")
        for block, rows, header in paper_table(tables, row_key=row_key, group_key=group_key, columns=["NLL", *bench]):
            md.append(markdown_table(rows, header, title=block))
            log.info("%s %s: %d rows x %d models", name, block or "-", len(rows), len(tables))
    return "\n".join(md)
