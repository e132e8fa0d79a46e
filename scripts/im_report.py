"""Rule im_report: the InstructMining study's tables and figure for one base model."""

from sftmix.exclusions import read_excluded, without_items
from sftmix.logutil import finish, setup_logging
from sftmix.records import read_json, read_jsonl
from sftmix.report import load_benchmarks, write_markdown_report, write_table
from sftmix.scores import load_score_tables, seed_path_key
from sftmix.studies.instructmining import estimation, report, rule
from sftmix.studies.instructmining.indicators import read_record_indicators
from sftmix.subsets import TEST

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, params, out = snakemake.input, snakemake.params, snakemake.output  # noqa: F821
excluded = read_excluded(inp.excluded)
bench = load_benchmarks(inp.get("lmeval", []), [], params.lmeval["report_tasks"])
scores = without_items(load_score_tables(inp.scores, split=TEST), excluded)
methods, columns = report.methods(scores, list(params.rows), list(params.categories), benchmarks=bench,
                                  n_boot=params.n_boot)
write_table(out.methods, methods, columns)
for r in methods:
    log.info("im_report %s: nll %.4f (sd %.4f) delta %.4f welch p %.3g -> %s", r["experiment"], r["nll_macro"],
             r["nll_macro_sd"], r["delta"], r["welch_p"], r["run_verdict"])
curve = report.curve_rows(methods)
write_table(out.curve, curve, report.CURVE_COLUMNS)

trials = [read_json(p) for p in inp.search]
losses = {int(exp.removeprefix("imsearch_")): loss
          for exp, (loss, _) in estimation.dev_losses(inp.search_scores, excluded).items()}
search = report.search_rows(trials, losses)
write_table(out.search, search, report.SEARCH_COLUMNS)
report.plot_curve(curve, search, out.curve_plot)

fit_json = read_json(inp.fit)
split = read_json(inp.split)
planted = []
if "truth" in inp.keys():
    truth = read_json(inp.truth)["records"]
    rows = {r["id"]: r for r in read_record_indicators(inp.indicators)}
    cands = [i for i in split["selection"] if i in rows]
    predicted = rule.rule_scores({i: rows[i] for i in cands}, fit_json["rule"])
    defect = {i: truth[i].get("defect") for i in split["selection"] if i in truth}
    source = {r["id"]: r["source"] for r in read_jsonl(inp.pool) if r["id"] in predicted}
    draws: dict[str, list[list[str]]] = {}
    for p in inp.selections:
        exp, _ = seed_path_key(p)
        draws.setdefault(exp, []).append([r["id"] for r in read_jsonl(p)])
    planted = report.planted_rows(predicted, defect, draws, source)
write_table(out.planted, planted, report.PLANTED_COLUMNS)
paper = read_json(inp.paper_fit) if "paper_fit" in inp.keys() else None
write_markdown_report(report.instructmining_markdown(snakemake.wildcards.model, fit_json, paper,  # noqa: F821
                                                     methods, curve, search, planted), out.markdown, out.html)
log.info("im_report: %d methods, %d sizes, %d search trials, %d planted rows", len(methods), len(curve),
         len(search), len(planted))
finish(__name__)
