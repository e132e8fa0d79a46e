"""Rule eval_exclusions: the eval items every analysis and benchmark leaves out (eval/excluded.tsv)."""

from collections import Counter

from sftmix.exclusions import defective_eval_items, write_excluded
from sftmix.logutil import finish, setup_logging
from sftmix.records import read_json, read_jsonl

log = setup_logging(snakemake.log[0])  # noqa: F821
records = list(read_jsonl(snakemake.input.eval))  # noqa: F821
rows = []
for path in snakemake.input.truth:  # noqa: F821  (none: nothing is left out)
    rows = defective_eval_items(records, read_json(path)["records"])
write_excluded(snakemake.output[0], rows)  # noqa: F821
log.info("eval_exclusions: %d eval items in, %d left out (%d kept); by reason %s; by split %s", len(records),
         len(rows), len(records) - len(rows), dict(sorted(Counter(r["reason"] for r in rows).items())),
         dict(sorted(Counter(r["split"] for r in rows).items())))
finish(__name__)
