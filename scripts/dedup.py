"""Rule dedup: exact + near (MinHash LSH) deduplication over all filtered sources."""

from sftmix.dedup import dedup_records
from sftmix.logutil import finish, setup_logging
from sftmix.records import StageCounts, read_jsonl, write_json, write_jsonl

log = setup_logging(snakemake.log[0])  # noqa: F821
cfg = snakemake.params.dedup  # noqa: F821
records = [r for path in snakemake.input.records for r in read_jsonl(path)]  # noqa: F821
records.sort(key=lambda r: r["id"])  # input order decides which copy is kept: make it explicit
kept, dups = dedup_records(records, exact=cfg["exact"], near=cfg["near"], threshold=cfg["threshold"],
                           num_perm=cfg["num_perm"], shingle_unit=cfg["shingle_unit"],
                           shingle_size=cfg["shingle_size"], verify=cfg["verify"],
                           lsh_threshold=cfg["lsh_threshold"], seed=snakemake.params.seed,  # noqa: F821
                           workers=snakemake.threads, progress=True)  # noqa: F821
counts = StageCounts(stage="dedup", n_in=len(records), kept=len(kept), duplicates=len(dups))
write_jsonl(snakemake.output.records, kept)  # noqa: F821
write_jsonl(snakemake.output.duplicates, dups)  # noqa: F821
d = counts.to_dict()
d["by_kind"] = {k: sum(1 for x in dups if x["kind"] == k) for k in ("exact", "near")}
write_json(snakemake.output.counts, d)  # noqa: F821
counts.report(log)
log.info("dedup: duplicates by kind %s", d["by_kind"])
finish(__name__)
