"""Rule mixing_types: the instruction-mixing study's records (categorized, not eval items, of a
category mapped to a type) and their ids per type."""

from sftmix.logutil import setup_logging
from sftmix.quality import candidate_pool
from sftmix.records import read_jsonl, write_json, write_jsonl
from sftmix.studies.mixing.sets import records_by_type

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
eval_ids = (r["id"] for path in inp.eval for r in read_jsonl(path))
records, n = candidate_pool(read_jsonl(inp.records), eval_ids, p.category_types)
by_type, counts = records_by_type(records, p.category_types)
write_jsonl(out.records, records)
write_json(out.types, {"by_type": by_type, "counts": counts, "pool": n})
log.info("mixing_types: in=%d kept=%d eval_items=%d other_or_no_category=%d (unmapped categories)",
         n["in"], n["kept"], n["eval_items"], n["other_or_no_category"])
for t, k in counts["by_type"].items():
    log.info("mixing_types: %s %d records", t, k)
if counts["absent_categories"]:
    log.warning("mixing_types: mapped categories no record carries: %s", counts["absent_categories"])
