"""Rule eval_items: one category's eval items (cut before decontam, which protects them)."""

from sftmix.logutil import finish, setup_logging
from sftmix.records import read_jsonl, write_jsonl
from sftmix.subsets import split_category

log = setup_logging(snakemake.log[0])  # noqa: F821
category = snakemake.params.category  # noqa: F821
records = [r for r in read_jsonl(snakemake.input[0]) if r["meta"]["category"] == category]  # noqa: F821
sets, counts = split_category(records, category, snakemake.params.sizes, snakemake.params.seed)  # noqa: F821
write_jsonl(snakemake.output[0], sets["eval"])  # noqa: F821
log.info("eval_items[%s]: %d of %d records (dev %d, test %d)", category, counts["eval"], counts["available"],
         counts["dev"], counts["test"])
finish(__name__)
