"""Rule mixing_report: the instruction-mixing study's tables and curves for one base model."""

from sftmix.exclusions import read_excluded, without_items
from sftmix.logutil import finish, setup_logging
from sftmix.records import read_tsv
from sftmix.report import write_markdown_report, write_table
from sftmix.scores import load_score_tables, load_seed_tables, read_split_scores
from sftmix.studies.mixing import experiments as mx
from sftmix.studies.mixing import report
from sftmix.studies.mixing.sets import type_key
from sftmix.subsets import TEST

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
excluded = read_excluded(inp.excluded)
# compared on test items only, without the eval items every analysis leaves out
scores = without_items(load_score_tables(inp.scores, split=TEST), excluded)
base = without_items({"none": {"1": read_split_scores(inp.pretrained, TEST)}}, excluded)
key, mapping = type_key(p.section)
present = {r["category"] for runs in scores.values() for rows in runs.values() for r in rows}
# lm-eval's tasks are per category: per-type accuracy needs types by category
type_cats = report.type_categories(mapping, present) if key == "category" else {}
lmeval = load_seed_tables(inp.get("lmeval", []), lambda f: read_tsv(f, quoted=True, what="lm-eval TSV"))

per_exp: dict = {}
curves: dict = {"ratio": {"nll": {}, "acc": {}}, "size": {"nll": {}, "acc": {}}}
for exp in scores:
    spec = mx.parse(exp)
    per_metric = {"nll": report.type_nll(scores, exp, key, mapping)}
    if exp in lmeval and type_cats:
        per_metric["acc"] = report.type_accuracy(lmeval[exp], type_cats)
    if spec["kind"] in ("ratio", "size"):
        x = spec["ratio"] if spec["kind"] == "ratio" else spec["n"]
        for metric, by_type in per_metric.items():
            curves[spec["kind"]][metric][x] = by_type
    else:
        per_exp[exp] = per_metric
values, sizes = report.design_values(per_exp, p.section)
base_values = {"nll": {t: v["1"] for t, v in report.type_nll(base, "none", key, mapping).items()}}
level = p.level
combos = []
for design, v in values.items():
    if v:
        combos += report.combination_rows(v, base_values, report.combos_of(v.get("nll", {})), level=level,
                                          design=design)
claims = [r for design, runs in mx.claim_runs(p.section, report.combos_of(p.section["combinations"])).items()
          for r in report.claim_rows_from_runs(per_exp, runs, level=level, design=design)]
designs = report.design_rows(values, sizes, level=level)
curve = [r for sweep, by_metric in curves.items()
         for r in report.curve_rows(sweep, {m: v for m, v in by_metric.items() if v}, level=level)]
write_table(out.combinations, combos, report.COMBINATION_COLUMNS)
write_table(out.claims, claims, report.CLAIM_COLUMNS)
write_table(out.designs, designs, report.DESIGN_COLUMNS)
write_table(out.curves, curve, report.CURVE_COLUMNS)
report.plot_curves(curve, out.figure)
listed = {t: sorted(label for label, tt in mapping.items() if tt == t) for t in report.TYPES}
write_markdown_report(report.markdown(combos, claims, curve, model=snakemake.wildcards.model, level=level,  # noqa: F821
                                      types=listed, designs=designs,
                                      sizes=report.design_sizes_in_words(p.section)), out.markdown, out.html)
for c in claims:
    log.info("mixing claim [%s] %r (%s, %s): %s vs %s delta %.4f p %.3g -> %s (reproduces: %s)", c["design"], c["claim"], c["type"],
             c["metric"], c["experiment"], c["reference"], c["delta"], c["welch_p"], c["verdict"], c["reproduces"])
finish(__name__)
