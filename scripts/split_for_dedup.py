"""Rule split_for_dedup: deal the dedup input (sorted by id) into fixed shards (record k -> shard k mod n)."""

from sftmix.dedup import dedup_input
from sftmix.logutil import finish, setup_logging
from sftmix.records import write_jsonl

log = setup_logging(snakemake.log[0])  # noqa: F821
records = dedup_input(snakemake.input.records)  # noqa: F821
n = len(snakemake.output)  # noqa: F821
for i, path in enumerate(snakemake.output):  # noqa: F821
    shard = records[i::n]
    write_jsonl(path, shard)
    log.info("shard %d: %d records", i, len(shard))
log.info("split_for_dedup: %d records into %d shards", len(records), n)
finish(__name__)
