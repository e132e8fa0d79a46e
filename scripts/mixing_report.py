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

values: dict = {"nll": {}, "acc": {}}
curves: dict = {"ratio": {"nll": {}, "acc": {}}, "size": {"nll": {}, "acc": {}}}
for exp in scores:
    spec = mx.parse(exp)
    per_metric = {"nll": report.type_nll(scores, exp, key, mapping)}
    if exp in lmeval and type_cats:
        per_metric["acc"] = report.type_accuracy(lmeval[exp], type_cats)
    for metric, by_type in per_metric.items():
        if spec["kind"] == "combo":
            values[metric][spec["combo"]] = by_type
        else:
            x = spec["ratio"] if spec["kind"] == "ratio" else spec["n"]
            curves[spec["kind"]][metric][x] = by_type
values = {m: v for m, v in values.items() if v}
base_values = {"nll": {t: v["1"] for t, v in report.type_nll(base, "none", key, mapping).items()}}
level = p.level
combos = report.combination_rows(values, base_values, report.combos_of(values.get("nll", {})), level=level)
claims = report.claim_rows(values, level=level)
curve = [r for sweep, by_metric in curves.items()
         for r in report.curve_rows(sweep, {m: v for m, v in by_metric.items() if v}, level=level)]
write_table(out.combinations, combos, report.COMBINATION_COLUMNS)
write_table(out.claims, claims, report.CLAIM_COLUMNS)
write_table(out.curves, curve, report.CURVE_COLUMNS)
report.plot_curves(curve, out.figure)
listed = {t: sorted(label for label, tt in mapping.items() if tt == t) for t in report.TYPES}
write_markdown_report(report.markdown(combos, claims, curve, model=snakemake.wildcards.model, level=level,  # noqa: F821
                                      types=listed), out.markdown, out.html)
for c in claims:
    log.info("mixing claim %r (%s, %s): %s vs %s delta %.4f p %.3g -> %s (reproduces: %s)", c["claim"], c["type"],
             c["metric"], c["experiment"], c["reference"], c["delta"], c["welch_p"], c["verdict"], c["reproduces"])
finish(__name__)
