"""Paper-shaped comparison tables and figures for the optimization experiments.

Rows are experiments (a mixture method at a size, or a schedule); the columns follow the paper's
tables (method x size x model, one column per benchmark) with the held-out response NLL of every
seed, lm-eval metrics and, when configured, judge ratings. :func:`compare_report` (with
:func:`load_benchmarks` and :func:`write_compare_report`) is the ``compare`` stage of one model,
:func:`paper_tables_markdown` the ``paper_tables`` stage over all models.

Beyond the paper, every row is compared with a reference experiment (EE-CPO at the same size, or
the 3-epoch baseline for schedules) so that a difference that noise could produce is not read as
a result:

* ``delta``: macro (category-averaged) held-out NLL of the row minus the reference, each item's
  NLL averaged over seeds first; lower NLL is better, so a negative delta means the row wins.
* ``ci_low`` / ``ci_high``: 95% percentile bootstrap over eval items, resampled within each
  category (the item sample is one source of noise).
* ``seed_noise``: two standard errors of the difference from run-to-run variation,
  ``2 * sqrt(sd_row^2 / n_row + sd_ref^2 / n_ref)`` with ``sd`` the seed-to-seed standard deviation
  of the macro NLL (the other source; the paper ignores it).
* ``verdict``: ``better`` / ``worse`` only when the item CI excludes 0 *and* ``|delta|`` exceeds
  ``seed_noise``; otherwise ``indistinguishable``. With one seed the seed term is unknown and the
  verdict says so (``no_seed_replicates``).
* ``welch_t`` / ``welch_df`` / ``welch_p`` / ``run_verdict``: the run-level test. The run (seed)
  is the unit of replication: Welch's unequal-variance t test of the row's per-seed macro NLLs
  against the reference's (Welch-Satterthwaite df, stated; two-sided), ``better`` / ``worse`` at
  p < 0.05, else ``indistinguishable``; ``no_seed_replicates`` below 2 seeds on either side.
"""

from __future__ import annotations

import html
import logging
import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import markdown
import numpy as np
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

from .records import read_json, read_tsv, write_tsv
from .rng import np_rng
from .scores import Scores, finite_row, load_seed_tables

log = logging.getLogger(__name__)


def _by_item(rows: Sequence[Mapping[str, Any]], column: str = "nll_mean") -> dict[str, tuple[str, float]]:
    """``{id: (category, value)}`` of the rows that count (:func:`sftmix.scores.finite_row`)."""
    return {str(r["id"]): (str(r["category"]), float(r[column])) for r in rows if finite_row(r, column)}


def macro_nll(rows: Sequence[Mapping[str, Any]], categories: Sequence[str], column: str = "nll_mean") -> float:
    """Mean over ``categories`` of the per-category mean item NLL (each category weighs the same)."""
    items = _by_item(rows, column)
    means = []
    for c in categories:
        vals = [v for cat, v in items.values() if cat == c]
        if vals:
            means.append(sum(vals) / len(vals))
    return float(np.mean(means)) if means else math.nan


def seed_averaged(scores: Scores, experiment: str, column: str = "nll_mean") -> dict[str, tuple[str, float]]:
    """Item -> (category, NLL averaged over the experiment's seeds); items every seed scored."""
    per_seed = [_by_item(rows, column) for _, rows in sorted(scores[experiment].items())]
    common = set.intersection(*(set(p) for p in per_seed)) if per_seed else set()
    return {i: (per_seed[0][i][0], float(np.mean([p[i][1] for p in per_seed]))) for i in sorted(common)}


def paired_delta(scores: Scores, experiment: str, reference: str, categories: Sequence[str], *,
                 n_boot: int = 1000, seed: int = 0, column: str = "nll_mean") -> dict[str, float]:
    """Macro NLL difference ``experiment - reference`` over the items both scored, with a 95%
    percentile bootstrap CI that resamples items within each category."""
    a, b = seed_averaged(scores, experiment, column), seed_averaged(scores, reference, column)
    diffs: dict[str, np.ndarray] = {}
    for c in categories:
        ids = [i for i in a if i in b and a[i][0] == c]
        if ids:
            diffs[c] = np.array([a[i][1] - b[i][1] for i in ids])
    if not diffs:
        return {"delta": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n_items": 0}
    delta = float(np.mean([d.mean() for d in diffs.values()]))
    g = np_rng(seed, "paired_delta", experiment, reference)
    boots = np.zeros(n_boot)
    for d in diffs.values():
        idx = g.integers(0, d.size, size=(n_boot, d.size))
        boots += d[idx].mean(axis=1)
    boots /= len(diffs)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"delta": delta, "ci_low": float(lo), "ci_high": float(hi), "n_items": int(sum(d.size for d in diffs.values()))}


def _seed_stats(scores: Scores, experiment: str, categories: Sequence[str]) -> tuple[list[float], float, float]:
    vals = [macro_nll(rows, categories) for _, rows in sorted(scores[experiment].items())]
    mean = float(np.mean(vals)) if vals else math.nan
    sd = statistics.stdev(vals) if len(vals) > 1 else math.nan
    return vals, mean, sd


def verdict(delta: float, ci_low: float, ci_high: float, seed_noise: float) -> str:
    """See the module docstring: both noise sources must be beaten."""
    if not math.isfinite(delta):
        return "missing"
    if not math.isfinite(seed_noise):
        return "no_seed_replicates"
    if (ci_low > 0 or ci_high < 0) and abs(delta) > seed_noise:
        return "worse" if delta > 0 else "better"
    return "indistinguishable"


def welch(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """Welch's t test of mean(a) - mean(b) over runs (``scipy.stats.ttest_ind(equal_var=False)``):
    ``{"welch_t", "welch_df", "welch_p"}`` (NaN with fewer than 2 values on a side, or no spread)."""
    from scipy import stats

    a, b = [float(x) for x in a if math.isfinite(x)], [float(x) for x in b if math.isfinite(x)]
    if len(a) < 2 or len(b) < 2:
        return {"welch_t": math.nan, "welch_df": math.nan, "welch_p": math.nan}
    if statistics.variance(a) + statistics.variance(b) == 0:
        return {"welch_t": math.nan, "welch_df": math.nan, "welch_p": math.nan}
    res = stats.ttest_ind(a, b, equal_var=False)  # its df is Welch-Satterthwaite's
    return {"welch_t": float(res.statistic), "welch_df": float(res.df), "welch_p": float(res.pvalue)}


def run_verdict(test: Mapping[str, float], delta: float, level: float = 0.05) -> str:
    """``better`` / ``worse`` when the run-level Welch test rejects at ``level`` (lower NLL wins)."""
    if not math.isfinite(test["welch_p"]):
        return "no_seed_replicates"
    if test["welch_p"] < level:
        return "worse" if delta > 0 else "better"
    return "indistinguishable"


def compare_experiments(scores: Scores, rows: Sequence[Mapping[str, Any]], categories: Sequence[str], *,
                        n_boot: int = 1000, seed: int = 0,
                        benchmarks: Mapping[str, Mapping[str, float]] | None = None) -> list[dict[str, Any]]:
    """One output row per input row (``{"experiment", "reference", **labels}``): seed NLLs, their
    mean and sd, the paired delta against the reference with its CI, the seed-noise bound, the
    verdict, and any benchmark columns (``benchmarks[experiment][column]``)."""
    out = []
    for row in rows:
        exp, ref = row["experiment"], row.get("reference")
        vals, mean, sd = _seed_stats(scores, exp, categories)
        rec: dict[str, Any] = {**row, "n_seeds": len(vals), "nll_macro": mean, "nll_macro_sd": sd,
                               "nll_seeds": vals}
        if ref and ref != exp and ref in scores:
            d = paired_delta(scores, exp, ref, categories, n_boot=n_boot, seed=seed)
            rvals, _, rsd = _seed_stats(scores, ref, categories)
            noise = (2 * math.sqrt(sd ** 2 / len(vals) + rsd ** 2 / len(rvals))
                     if len(vals) > 1 and len(rvals) > 1 else math.nan)
            rec.update(d, seed_noise=noise, verdict=verdict(d["delta"], d["ci_low"], d["ci_high"], noise))
            w = welch(vals, rvals)
            rec.update(w, n_seeds_reference=len(rvals),
                       run_verdict=run_verdict(w, mean - float(np.mean(rvals)) if rvals else math.nan))
        else:
            rec.update(delta=0.0 if ref == exp else math.nan, ci_low=math.nan, ci_high=math.nan, n_items=0,
                       seed_noise=math.nan, verdict="reference" if ref == exp else "missing",
                       welch_t=math.nan, welch_df=math.nan, welch_p=math.nan,
                       n_seeds_reference=len(vals) if ref == exp else 0,
                       run_verdict="reference" if ref == exp else "missing")
        for col, v in (benchmarks or {}).get(exp, {}).items():
            rec[col] = v
        out.append(rec)
    return out


def category_means(scores: Scores, experiment: str, categories: Sequence[str]) -> dict[str, float]:
    """Per category: the mean over seeds of each seed's mean item NLL (NaN when unscored)."""
    out = {}
    for cat in categories:
        per_seed = []
        for rows in scores.get(experiment, {}).values():
            vals = [r["nll_mean"] for r in rows if r["category"] == cat and r["n_tokens"] > 0
                    and math.isfinite(r["nll_mean"])]
            if vals:
                per_seed.append(sum(vals) / len(vals))
        out[cat] = sum(per_seed) / len(per_seed) if per_seed else math.nan
    return out


def method_table(scores: Scores, rows: Sequence[Mapping[str, Any]], categories: Sequence[str],
                 label_columns: Sequence[str], *, benchmarks: Mapping[str, Any] | None = None,
                 n_boot: int = 1000, seed: int = 0) -> tuple[list[dict[str, Any]], list[str]]:
    """A study's methods table: every row against its ``reference`` by :func:`compare_experiments`
    (macro NLL over seeds, paired item-bootstrap CI, run-level Welch test), the per-category NLL
    (``nll:<category>``) and the benchmark columns. Rows without score tables are left out.
    Returns (rows, columns): ``experiment``, ``label_columns``, the categories, the benchmarks."""
    present = [r for r in rows if r["experiment"] in scores]
    bench = (benchmarks or {}).get("bench", {})
    out = compare_experiments(scores, present, categories, n_boot=n_boot, seed=seed, benchmarks=bench)
    bench_cols = list((benchmarks or {}).get("columns", []))
    if bench_cols:
        out = add_benchmark_verdicts(out, bench_cols)
    for r in out:
        for cat, v in category_means(scores, r["experiment"], categories).items():
            r[f"nll:{cat}"] = v
    columns = ["experiment", *label_columns, *[f"nll:{c}" for c in categories],
               *[x for c in bench_cols for x in (c, f"{c}_se", f"{c}_vs_ref")]]
    return out, columns


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if not math.isfinite(v) else f"{v:.4f}"
    if isinstance(v, list):
        return ",".join(_fmt(x) for x in v)
    return str(v)


def write_table(path: str | Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Write comparison rows as TSV with header ``columns`` (floats with 4 decimals, lists joined
    by commas, a missing cell empty; csv quoting). Read it back with :func:`read_table`."""
    write_tsv(path, ([_fmt(r.get(c, "")) for c in columns] for r in rows), columns, quoted=True,
              what="comparison TSV")


# columns of the compare tables that stay text when read back (labels, verdicts, seed lists)
TEXT_COLUMNS = frozenset({"verdict", "run_verdict", "method", "size", "schedule", "experiment", "reference",
                          "nll_seeds"})


def read_table(path: str | Path) -> list[dict[str, Any]]:
    """Read a :func:`write_table` TSV back with its numbers as floats (``nan`` stays a float);
    labels, verdicts (``*_vs_ref``) and the seed list stay text."""
    rows: list[dict[str, Any]] = list(read_tsv(path, quoted=True, what="comparison TSV"))
    for r in rows:
        for k, v in r.items():
            if k in TEXT_COLUMNS or k.endswith("_vs_ref"):
                continue
            try:
                r[k] = float(v)
            except (TypeError, ValueError):
                pass
    return rows


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, title: str = "") -> str:
    lines = [f"### {title}", ""] if title else []
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "---|" * len(columns))
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c, "")) for c in columns) + " |")
    return "\n".join(lines) + "\n"


# The report's pages: a Markdown table file rendered as a self-contained HTML page, which
# Snakemake's report shows inline (an iframe) where it only offers a .md file as a download.
TABLE_PAGE_CSS = """\
body { font: 14px/1.45 "DejaVu Sans", system-ui, sans-serif; color: #1a1a1a; margin: 16px 20px; }
h1, h2, h3, h4 { line-height: 1.25; margin: 1.1em 0 0.45em; }
h1 { font-size: 1.45em; } h2 { font-size: 1.25em; } h3 { font-size: 1.1em; } h4 { font-size: 1em; }
p, ul, ol { max-width: 110ch; }
table { border-collapse: collapse; margin: 0.4em 0 1.2em; font-size: 13px; display: block; max-width: 100%;
        overflow-x: auto; }  /* a wide table scrolls on its own; the text beside it stays put */
th, td { border: 1px solid #c5cad3; padding: 2px 7px; text-align: left; vertical-align: top; }
th { background: #eaeef4; font-weight: 600; white-space: nowrap; }
tbody tr:nth-child(even) { background: #f6f7f9; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code { font: 12.5px "DejaVu Sans Mono", monospace; background: #f1f2f4; padding: 0 3px; border-radius: 3px; }
"""
_MISSING_CELL = frozenset({"", "-", "\u2013", "\u2014"})  # an empty cell or a dash: no value
_NUMBER_CELL = re.compile(r"[-+\u2212]?(?:\d|\.\d|nan\b|inf\b)", re.IGNORECASE)


def _number_columns(root: Any) -> None:
    """Mark each table column whose filled body cells (not empty, not a dash) all start with a
    number (``nan`` counts) ``class="num"`` (right-aligned, tabular figures), header included; a
    column with an explicit Markdown alignment (``|--:|``) keeps it."""
    for table in root.iter("table"):
        rows = [[cell for cell in tr if cell.tag in ("th", "td")] for tr in table.iter("tr")]
        body = [r for r in rows if r and r[0].tag == "td"]
        for j in range(max((len(r) for r in rows), default=0)):
            texts = ["".join(r[j].itertext()).strip() for r in body if j < len(r)]
            filled = [t for t in texts if t not in _MISSING_CELL]
            if not filled or not all(_NUMBER_CELL.match(t) for t in filled):
                continue
            for r in rows:
                if j < len(r) and "style" not in r[j].attrib and "align" not in r[j].attrib:
                    r[j].set("class", "num")


class _NumberColumnsProcessor(Treeprocessor):
    def run(self, root: Any) -> None:
        _number_columns(root)


class _NumberColumns(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 (Python-Markdown's name)
        # after the inline processor (priority 20): cells hold their final text
        md.treeprocessors.register(_NumberColumnsProcessor(md), "sftmix_number_columns", 5)


def table_page(markdown_text: str, title: str) -> str:
    """A Markdown report file (tables, headings, lists, emphasis, links) as one self-contained HTML
    page (:data:`TABLE_PAGE_CSS`; number columns right-aligned), rendered by Python-Markdown with its
    ``tables`` extension. Raw HTML in the text is shown as text, not interpreted: a table's cells
    are data. The same text and title give the same bytes."""
    md = markdown.Markdown(extensions=["tables", _NumberColumns()], output_format="html")
    md.preprocessors.deregister("html_block")  # raw HTML stays text (escaped once, by the renderer)
    md.inlinePatterns.deregister("html")
    body = md.convert(markdown_text)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<base target=\"_blank\">\n<style>\n{TABLE_PAGE_CSS}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


def markdown_title(markdown_text: str, fallback: str) -> str:
    """The text of the first Markdown heading (``#`` to ``######``), else ``fallback``."""
    m = re.search(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", markdown_text, re.MULTILINE)
    return m.group(1) if m else fallback


def write_markdown_report(markdown_text: str, markdown_path: str | Path, html_path: str | Path,
                          title: str | None = None) -> None:
    """Write a report's Markdown text to ``markdown_path`` (the file to read and diff) and its
    :func:`table_page` rendering to ``html_path`` (the page the Snakemake report shows), titled
    ``title`` or the text's first heading or the Markdown file's name."""
    Path(markdown_path).write_text(markdown_text, encoding="utf-8")
    title = title or markdown_title(markdown_text, Path(markdown_path).stem)
    Path(html_path).write_text(table_page(markdown_text, title), encoding="utf-8")


LOWER_IS_BETTER = ("perplexity", "bits_per_byte", "byte_perplexity", "word_perplexity")


def higher_is_better(column: str) -> bool:
    """lm-eval's accuracy-like metrics grow with quality; perplexities and bits per byte shrink."""
    return not any(column.split("/")[-1].startswith(m) for m in LOWER_IS_BETTER)


PROPORTION_METRICS = ("acc", "acc_norm", "exact_match", "mc1", "pass@1", "pass_at_1")


def agresti_coull_se(p: float, n: int) -> float:
    """Standard error of a proportion ``p`` of ``n`` items from the Agresti-Coull estimate
    ``(x + 2) / (n + 4)``: close to the binomial ``sqrt(p(1-p)/n)`` inside (0, 1), not 0 at the ends."""
    pt = (p * n + 2) / (n + 4)
    return math.sqrt(pt * (1 - pt) / (n + 4))


def benchmark_summary(by_seed: Mapping[str, Sequence[Mapping[str, Any]]], tasks: Sequence[str]) -> dict[str, float]:
    """Seed-averaged lm-eval metrics of one experiment, each with a standard error.

    ``by_seed`` maps seed -> flattened lm-eval rows (``task``, ``metric`` as ``"acc,none"``,
    ``value``, ``stderr``); only ``tasks`` are kept. Returns ``{"task/metric": mean,
    "task/metric_se": se}`` with ``se = sqrt(mean_s stderr_s^2 + var_s(value) / n_seeds)``: the
    harness's item-sampling error (every seed answers the *same* items, so averaging seeds does
    not shrink it) plus the seed-to-seed error of the mean (0 with one seed: unknown, understated).
    For proportions (accuracy, exact match) with the item count ``n`` known, the item error is at
    least the Agresti-Coull standard error, so a score of 0 or 1 is not taken as exact.
    """
    vals: dict[str, list[float]] = {}
    errs: dict[str, list[float]] = {}
    for rows in by_seed.values():
        for r in rows:
            metric = str(r["metric"]).split(",")[0]
            if r["task"] not in tasks or "stderr" in metric or r["value"] in ("", None, "nan"):
                continue
            v = float(r["value"])
            if not math.isfinite(v):
                continue
            col = f"{r['task']}/{metric}"
            vals.setdefault(col, []).append(v)
            e = r.get("stderr")
            e = float(e) if e not in ("", None, "nan") else math.nan
            n = r.get("n")
            n = int(float(n)) if n not in ("", None, "nan") else 0
            if metric in PROPORTION_METRICS and n > 0 and 0.0 <= v <= 1.0:
                # the binomial stderr is 0 at 0% or 100%: a floor keeps "0 of 110 right" uncertain
                e = max(e, agresti_coull_se(v, n)) if math.isfinite(e) else agresti_coull_se(v, n)
            errs.setdefault(col, []).append(e)
    out: dict[str, float] = {}
    for col, v in sorted(vals.items()):
        e = [x for x in errs[col] if math.isfinite(x)]
        item_var = float(np.mean(np.square(e))) if e else math.nan
        seed_var = statistics.variance(v) / len(v) if len(v) > 1 else 0.0
        out[col] = float(np.mean(v))
        out[f"{col}_se"] = math.sqrt(item_var + seed_var) if math.isfinite(item_var) else math.nan
    return out


def benchmark_verdict(value: float, se: float, ref_value: float, ref_se: float, *, higher_better: bool = True) -> str:
    """``better`` / ``worse`` than the reference when the difference exceeds two standard errors
    of a difference of independent estimates, ``sqrt(se^2 + ref_se^2)``; else ``indistinguishable``.

    Treating the two runs as independent is conservative: both answer the same items, and a
    paired test would be tighter, but the harness's aggregate output has no per-item answers.
    """
    if not all(math.isfinite(x) for x in (value, ref_value)):
        return "missing"
    if not (math.isfinite(se) and math.isfinite(ref_se)):
        return "no_stderr"
    diff = value - ref_value
    if abs(diff) <= 2 * math.sqrt(se ** 2 + ref_se ** 2):
        return "indistinguishable"
    return "better" if (diff > 0) == higher_better else "worse"


def add_benchmark_verdicts(rows: list[dict[str, Any]], columns: Sequence[str]) -> list[dict[str, Any]]:
    """Add ``<column>_vs_ref`` to every row of ``compare_experiments`` output that has a reference
    row in ``rows`` (same ``reference`` experiment)."""
    by_exp = {r["experiment"]: r for r in rows}
    for r in rows:
        ref = by_exp.get(r.get("reference"))
        for c in columns:
            if ref is None:
                r[f"{c}_vs_ref"] = "missing"
            elif ref is r:
                r[f"{c}_vs_ref"] = "reference"
            else:
                r[f"{c}_vs_ref"] = benchmark_verdict(
                    r.get(c, math.nan), r.get(f"{c}_se", math.nan), ref.get(c, math.nan),
                    ref.get(f"{c}_se", math.nan), higher_better=higher_is_better(c))
    return rows


_SHORT = {"better": "better", "worse": "worse", "indistinguishable": "n.s.", "reference": "ref"}


def _cell(value: Any, se: Any, verdict: str) -> str:
    """``value ± se`` and the shortened verdict; ``nan`` when there is no value."""
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "nan"
    cell = f"{value:.4f}" + (f" ± {se:.4f}" if isinstance(se, float) and math.isfinite(se) else "")
    return f"{cell} {_SHORT.get(verdict, verdict)}".strip()


def display_cell(row: Mapping[str, Any], column: str) -> str:
    """``mean ± se`` and, against a reference, ``better``/``worse``/``n.s.``, for a markdown table."""
    mark = str(row.get(f"{column}_vs_ref", ""))
    return _cell(row.get(column, math.nan), row.get(f"{column}_se", math.nan), mark if mark in _SHORT else "")


def nll_cell(row: Mapping[str, Any]) -> str:
    """``nll_macro ± nll_macro_sd`` with the row's item-level verdict against its reference, then
    the run-level (Welch) verdict and the number of seeds, shortened: ``1.2 ± 0.1 n.s.; runs: worse,
    n=3`` (no ``|``: the cell sits in a markdown table)."""
    cell = _cell(row.get("nll_macro", math.nan), row.get("nll_macro_sd", math.nan), str(row.get("verdict", "")))
    run = str(row.get("run_verdict", ""))
    if run and run != "reference":
        cell += f"; runs: {_SHORT.get(run, run)}"
    n = row.get("n_seeds")
    if n in (None, "") or (isinstance(n, float) and math.isnan(n)):
        return cell
    return f"{cell}, n={int(float(n))}"


def paper_table(tables: Mapping[str, Sequence[Mapping[str, Any]]], *, row_key: str, group_key: str | None,
                columns: Sequence[str]) -> list[tuple[str, list[dict[str, Any]], list[str]]]:
    """Pivot per-model comparison rows into the paper's layout: one block per ``group_key`` value
    (a mixture size; a single block when None), one row per ``row_key`` value (method or schedule),
    and for every model its ``columns`` side by side (``"<model>: <column>"``).

    ``tables`` maps model -> rows as written by the compare rule (strings from the TSV are fine;
    cells are copied as given). Returns ``[(block title, rows, header)]``.
    """
    groups: list[str] = []
    for rows in tables.values():
        for r in rows:
            g = str(r[group_key]) if group_key else ""
            if g not in groups:
                groups.append(g)
    blocks = []
    for g in groups:
        keys: list[str] = []
        cells: dict[str, dict[str, Any]] = {}
        for model, rows in tables.items():
            for r in rows:
                if group_key and str(r[group_key]) != g:
                    continue
                k = str(r[row_key])
                if k not in keys:
                    keys.append(k)
                for c in columns:
                    cells.setdefault(k, {row_key: k})[f"{model}: {c}"] = r.get(c, "")
        header = [row_key] + [f"{m}: {c}" for m in tables for c in columns]
        blocks.append((f"{group_key} {g}" if group_key else "", [cells[k] for k in keys], header))
    return blocks


def plot_comparison(rows: Sequence[Mapping[str, Any]], path: str | Path, *, label: str = "experiment",
                    title: str = "") -> None:
    """Macro held-out NLL per experiment (bars: seed mean; whiskers: seed sd; dots: seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [str(r[label]) for r in rows]
    means = [r["nll_macro"] for r in rows]
    sds = [0.0 if not math.isfinite(r["nll_macro_sd"]) else r["nll_macro_sd"] for r in rows]
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(rows) + 2), 4))
    x = np.arange(len(rows))
    colors = ["tab:red" if r.get("verdict") == "reference" else "tab:blue" for r in rows]
    ax.bar(x, means, yerr=sds, color=colors, alpha=0.7, capsize=3)
    for k, r in enumerate(rows):
        ax.scatter([k] * len(r["nll_seeds"]), r["nll_seeds"], color="k", s=10, zorder=3)
    # the range holds every bar's whisker and every seed's dot, not only the means
    ends = [v for m, sd, r in zip(means, sds, rows, strict=True)
            for v in (m - sd, m + sd, *r["nll_seeds"]) if math.isfinite(v)]
    if ends:
        lo, hi = min(ends), max(ends)
        pad = max(0.05, (hi - lo) * 0.25)
        ax.set_ylim(max(0.0, lo - pad), hi + pad)
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    # two lines: on one, the label is longer than the 4-inch figure is tall and is cut off
    ax.set_ylabel("held-out NLL, macro over categories\n(lower is better)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


def load_benchmarks(lmeval_paths: Iterable[str | Path], judge_paths: Iterable[str | Path],
                    tasks: Sequence[str]) -> dict[str, Any]:
    """Benchmark columns per experiment from per-seed lm-eval TSVs and judge ratings.

    Paths are laid out as ``.../<experiment>/seed_<k>.tsv`` (lm-eval rows ``task metric value
    stderr n``, as :func:`sftmix.benchmarks.write_results_tsv` writes them) and ``.../seed_<k>.json``
    (judge output with ``summary.overall``; skipped runs ignored). Returns ``{"bench":
    {experiment: {column: value}} (:func:`benchmark_summary` of ``tasks``, plus ``judge`` = the
    mean overall rating over seeds), "columns": the sorted lm-eval columns (no ``_se``), then
    ``judge`` when rated, "lmeval_experiments": the sorted experiments with lm-eval tables}``.
    """
    lmeval = load_seed_tables(lmeval_paths, lambda p: read_tsv(p, quoted=True, what="lm-eval TSV"))
    bench = {exp: benchmark_summary(by_seed, tasks) for exp, by_seed in sorted(lmeval.items())}
    columns = sorted({k for b in bench.values() for k in b if not k.endswith("_se")})
    for exp, by_seed in load_seed_tables(judge_paths, read_json).items():
        ratings = [j["summary"]["overall"] for j in by_seed.values() if not j.get("skipped") and j.get("summary")]
        if ratings:
            bench.setdefault(exp, {})["judge"] = sum(ratings) / len(ratings)
            columns += [] if "judge" in columns else ["judge"]
    return {"bench": bench, "columns": columns, "lmeval_experiments": sorted(lmeval)}
