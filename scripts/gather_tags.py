"""Rule gather_tags: concatenate tag shards (shard order) and count."""

from sftmix.logutil import finish, setup_logging
from sftmix.records import read_jsonl, write_json, write_jsonl

log = setup_logging(snakemake.log[0])  # noqa: F821
rows = [r for path in snakemake.input.shards for r in read_jsonl(path)]  # noqa: F821
rows.sort(key=lambda r: r["id"])
write_jsonl(snakemake.output.tags, rows)  # noqa: F821
untagged = sum(1 for r in rows if not r["tags"])
counts = {"stage": "tag", "in": len(rows), "kept": len(rows), "quarantined": 0, "duplicates": 0,
          "untagged": untagged, "reasons": {}}
write_json(snakemake.output.counts, counts)  # noqa: F821
log.info("tag: in=%d = kept=%d + quarantined=0 + duplicates=0 (untagged=%d, quarantined at categorize)",
         len(rows), len(rows), untagged)
finish(__name__)
