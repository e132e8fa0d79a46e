"""Rule split_for_tagging: deal records into fixed shards (record k -> shard k mod n)."""

from sftmix.logutil import finish, setup_logging
from sftmix.records import read_jsonl, write_jsonl

log = setup_logging(snakemake.log[0])  # noqa: F821
records = list(read_jsonl(snakemake.input[0]))  # noqa: F821
n = len(snakemake.output)  # noqa: F821
for i, path in enumerate(snakemake.output):  # noqa: F821
    shard = records[i::n]
    write_jsonl(path, shard)
    log.info("shard %d: %d records", i, len(shard))
finish(__name__)
