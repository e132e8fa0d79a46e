"""Rule iterit_report: the IterIT study's tables and figures for one base model."""

from pathlib import Path

from sftmix.exclusions import read_excluded, without_items
from sftmix.logutil import finish, setup_logging
from sftmix.quality import length_scores
from sftmix.records import read_json, read_jsonl
from sftmix.report import load_benchmarks, write_markdown_report, write_table
from sftmix.scores import load_score_tables, seed_path_key
from sftmix.studies.iterit import report
from sftmix.subsets import TEST

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, params, out = snakemake.input, snakemake.params, snakemake.output  # noqa: F821
bench = load_benchmarks(inp.get("lmeval", []), [], params.lmeval["report_tasks"])
# methods are compared on test items only, without the eval items every analysis leaves out
scores = without_items(load_score_tables(inp.scores, split=TEST), read_excluded(inp.excluded))
rows = list(params.rows)
methods, columns = report.method_table(scores, rows, list(params.categories), benchmarks=bench,
                                       n_boot=params.n_boot)
write_table(out.table, methods, columns)
for r in methods:
    log.info("iterit %s: nll %.4f (sd %.4f) delta %.4f welch p %.3g -> %s", r["experiment"], r["nll_macro"],
             r["nll_macro_sd"], r["delta"], r["welch_p"], r["run_verdict"])

pool = list(read_jsonl(inp.pool))
lengths = length_scores(pool)
defect = None
if "truth" in inp.keys():
    truth = read_json(inp.truth)["records"]
    defect = {r["id"]: truth[r["id"]].get("defect") for r in pool}
method_of = {r["experiment"]: r["method"] for r in rows}
selections = []
for p in inp.selections:
    exp, seed = seed_path_key(p)
    selections.append({"experiment": exp, "method": method_of.get(exp, ""), "seed": seed, "epoch": "",
                       "ids": [r["id"] for r in read_jsonl(p)]})
epochs: dict[str, dict[str, list[list[str]]]] = {}
for p in sorted(inp.epochs, key=lambda p: (Path(p).parent, int(Path(p).stem.removeprefix("epoch_")))):
    run = Path(p).parent  # .../<experiment>/seed_<k>/epoch_<e>.jsonl
    exp, seed, epoch = run.parent.name, run.name.removeprefix("seed_"), int(Path(p).stem.removeprefix("epoch_"))
    ids = [r["id"] for r in read_jsonl(p)]
    epochs.setdefault(exp, {}).setdefault(seed, []).append(ids)
    selections.append({"experiment": exp, "method": method_of.get(exp, ""), "seed": seed, "epoch": epoch, "ids": ids})
longest = {s["seed"]: s["ids"] for s in selections if s["method"] == "longest" and s["epoch"] == ""}
overlap = report.epoch_overlap(epochs, longest or None)
write_table(out.overlap, overlap, report.OVERLAP_COLUMNS)
sel_rows = report.selection_rows(selections, lengths, defect)
write_table(out.selections, sel_rows, report.SELECTION_COLUMNS)
summary = report.selection_summary(sel_rows)
report.plot_lengths(rows, selections, lengths, [r["id"] for r in pool], out.lengths)
sensitivity = report.sensitivity_rows(methods)
write_table(out.sensitivity, sensitivity, report.SENSITIVITY_COLUMNS)
report.plot_sensitivity(sensitivity, out.sensitivity_plot)
write_markdown_report(report.iterit_markdown(snakemake.wildcards.model, methods, columns, overlap,  # noqa: F821
                                             summary, bench["columns"], sensitivity), out.markdown, out.html)
log.info("iterit_report: %d methods, %d overlap rows, %d selections", len(methods), len(overlap), len(sel_rows))
finish(__name__)
