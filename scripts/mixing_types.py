"""Rule mixing_types: the instruction-mixing study's records (categorized, not eval items, of a
category mapped to a type) and their ids per type."""

from sftmix.logutil import finish, setup_logging
from sftmix.quality import candidate_pool
from sftmix.records import read_jsonl, write_json, write_jsonl
from sftmix.studies.mixing.sets import records_by_type, type_key

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
eval_ids = (r["id"] for path in inp.eval for r in read_jsonl(path))
key, mapping = type_key(p.section)
# typed by category: the mapped categories' records; typed by source: every categorized record
records, n = candidate_pool(read_jsonl(inp.records), eval_ids, mapping if key == "category" else p.categories)
by_type, counts = records_by_type(records, mapping, key)
write_jsonl(out.records, records)
write_json(out.types, {"by_type": by_type, "counts": counts, "pool": n})
log.info("mixing_types (by %s): in=%d kept=%d eval_items=%d other_or_no_category=%d", key, n["in"], n["kept"],
         n["eval_items"], n["other_or_no_category"])
log.info("mixing_types: %d of the kept records have no type (unmapped %s or none) and are left out",
         counts["excluded"], key)
for t, k in counts["by_type"].items():
    log.info("mixing_types: %s %d records", t, k)
if counts["absent_categories"]:
    log.warning("mixing_types: mapped %ss no record carries: %s", key, counts["absent_categories"])
finish(__name__)
