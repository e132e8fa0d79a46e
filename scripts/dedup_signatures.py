"""Rule dedup_signatures: exact keys and MinHash signatures of one shard of the dedup input."""

from sftmix.dedup import dedup_signatures, write_signatures
from sftmix.logutil import finish, setup_logging
from sftmix.records import read_jsonl

log = setup_logging(snakemake.log[0])  # noqa: F821
cfg = snakemake.params.dedup  # noqa: F821
# a shard of the dedup input, dealt in input order by split_for_dedup
records = list(read_jsonl(snakemake.input[0]))  # noqa: F821
sig = dedup_signatures(records, exact=cfg["exact"], near=cfg["near"], num_perm=cfg["num_perm"],
                       shingle_unit=cfg["shingle_unit"], shingle_size=cfg["shingle_size"],
                       seed=snakemake.params.seed, workers=snakemake.threads, progress=True)  # noqa: F821
write_signatures(snakemake.output[0], sig)  # noqa: F821
log.info("dedup_signatures: %d records, %d signatures (%d exact repeats inside the shard skipped)",
         len(sig), len(sig.signatures), len(sig) - len(sig.signatures) if cfg["near"] else 0)
finish(__name__)
