"""Rule validate_quality: each quality scorer's top-n vs the world's planted defects."""

from sftmix.logutil import finish, setup_logging
from sftmix.quality import read_quality
from sftmix.quality_validation import (
    quality_precision,
    quality_validation_markdown,
    quality_validation_rows,
    write_quality_validation,
)
from sftmix.records import read_json, read_jsonl, write_json
from sftmix.report import write_markdown_report

log = setup_logging(snakemake.log[0])  # noqa: F821
p = snakemake.params  # noqa: F821
truth = read_json(snakemake.input.truth)["records"]  # noqa: F821
out = quality_precision(list(read_jsonl(snakemake.input.pool)), read_quality(snakemake.input.quality),  # noqa: F821
                        truth, p.sizes, seed=p.seed, categories=p.categories)
pool = out["pool"]
log.info("pool: %d records, %d clean (base rate %.3f); defects %s", pool["n"], pool["n_clean"],
         pool["base_rate"] or 0.0, pool["defects"])
for name, s in out["scorers"].items():
    if s["auc"] is not None:
        log.info("%s: ROC AUC clean over defective %.3f (one-sided Mann-Whitney p %.2g; %d clean, %d defective "
                 "rankable)", name, s["auc"], s["auc_p"], s["auc_n_clean"], s["auc_n_defective"])
    for size, v in s["sizes"].items():
        if v["precision"] is None:
            log.info("%s n=%s: ranks no record", name, size)
            continue
        log.info("%s n=%s: precision %.3f (lift %+.3f; %d of %d rankable%s), defects let through %s; "
                 "categories left empty %s", name, size, v["precision"], v["lift"], v["n_selected"],
                 s["n_eligible"], ", short" if v["short"] else "", v["defects_selected"], v["empty_categories"])
write_json(snakemake.output.json, out)  # noqa: F821
write_quality_validation(snakemake.output.tsv, quality_validation_rows(out))  # noqa: F821
write_markdown_report(quality_validation_markdown(out), snakemake.output.markdown, snakemake.output.html,  # noqa: F821
                      title="Quality scorers against the planted defects")
finish(__name__)
