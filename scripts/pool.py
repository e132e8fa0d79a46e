"""Rule pool: the candidate pool that every selection study draws from (categorized records of the
analysed categories that are not eval items, nor the trained DEITA scorer's seed set)."""

from sftmix.logutil import finish, setup_logging
from sftmix.quality import candidate_pool
from sftmix.records import read_jsonl, write_jsonl
from sftmix.world.ratings import read_seed_set

log = setup_logging(snakemake.log[0])  # noqa: F821
eval_ids = (r["id"] for p in snakemake.input.eval for r in read_jsonl(p))  # noqa: F821
held_out = [r["id"] for p in snakemake.input.held_out for r in read_seed_set(p)]  # noqa: F821
pool, n = candidate_pool(read_jsonl(snakemake.input.records), eval_ids, snakemake.params.categories,  # noqa: F821
                         held_out=held_out)
write_jsonl(snakemake.output[0], pool)  # noqa: F821
log.info("pool: in=%d kept=%d eval_items=%d held_out=%d (the DEITA scorer's seed set) other_or_no_category=%d",
         n["in"], n["kept"], n["eval_items"], n["held_out"], n["other_or_no_category"])
for cat, k in n["per_category"].items():
    log.info("pool: %s %d", cat, k)
finish(__name__)
