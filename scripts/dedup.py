"""Rule dedup: the gather job of exact + near (MinHash LSH) dedup over all filtered sources: the
exact pass, LSH banding over the shards' signatures, verification, the duplicate map."""

from sftmix.dedup import dedup_gather, dedup_input, dedup_signatures, read_signatures
from sftmix.logutil import finish, setup_logging
from sftmix.records import StageCounts, write_json, write_jsonl

log = setup_logging(snakemake.log[0])  # noqa: F821
cfg = snakemake.params.dedup  # noqa: F821
records = dedup_input(snakemake.input.records)  # noqa: F821
# dedup.shards > 1: the dedup_signatures jobs' files; one shard: this job is the scatter step too
if snakemake.input.signatures:  # noqa: F821
    sig = read_signatures(snakemake.input.signatures)  # noqa: F821
else:
    sig = dedup_signatures(records, exact=cfg["exact"], near=cfg["near"], num_perm=cfg["num_perm"],
                           shingle_unit=cfg["shingle_unit"], shingle_size=cfg["shingle_size"],
                           seed=snakemake.params.seed, workers=snakemake.threads, progress=True)  # noqa: F821
log.info("dedup: %d records, %d signatures from %d shard(s)", len(records), len(sig.signatures),
         cfg["shards"])
kept, dups = dedup_gather(records, sig, exact=cfg["exact"], near=cfg["near"], threshold=cfg["threshold"],
                          num_perm=cfg["num_perm"], shingle_unit=cfg["shingle_unit"],
                          shingle_size=cfg["shingle_size"], verify=cfg["verify"],
                          lsh_threshold=cfg["lsh_threshold"], seed=snakemake.params.seed,  # noqa: F821
                          progress=True)
counts = StageCounts(stage="dedup", n_in=len(records), kept=len(kept), duplicates=len(dups))
write_jsonl(snakemake.output.records, kept)  # noqa: F821
write_jsonl(snakemake.output.duplicates, dups)  # noqa: F821
d = counts.to_dict()
d["by_kind"] = {k: sum(1 for x in dups if x["kind"] == k) for k in ("exact", "near")}
write_json(snakemake.output.counts, d)  # noqa: F821
counts.report(log)
log.info("dedup: duplicates by kind %s", d["by_kind"])
finish(__name__)
