"""Rule doit_data: DoIT's training supply per ability (categorized records that are not eval
items) and its evaluation items (dev and test items of the abilities with their alternatives:
the world's distractors, or the records' own meta)."""

from sftmix.exclusions import read_excluded
from sftmix.logutil import finish, setup_logging
from sftmix.quality import candidate_pool
from sftmix.records import read_json, read_jsonl, write_json, write_jsonl
from sftmix.studies.doit.items import build_items
from sftmix.studies.doit.sets import by_ability

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
eval_records = list(read_jsonl(inp.eval))
excluded = read_excluded(inp.excluded)
pool, n = candidate_pool(read_jsonl(inp.records), (r["id"] for r in eval_records), p.abilities)
supply = by_ability(pool, p.abilities)
write_jsonl(out.pool, pool)
write_json(out.supply, supply)
log.info("doit_data: supply in=%d kept=%d eval_items=%d other_or_no_category=%d", n["in"], n["kept"],
         n["eval_items"], n["other_or_no_category"])
for a, ids in supply.items():
    log.info("doit_data: %-28s %d training records", a, len(ids))

distractors = None
if "truth" in inp.keys():
    from sftmix.world.distractors import world_distractors

    truth = read_json(inp.truth)["records"]
    item_of = {r["id"]: truth[r["id"]]["item"] for r in eval_records if r["id"] in truth}
    distractors = world_distractors(p.world, p.seed, item_of)
kept_eval = [r for r in eval_records if r["id"] not in excluded]
items, quarantined, counts = build_items(kept_eval, p.abilities, distractors=distractors,
                                         max_per_split=p.section["max_items_per_split"], seed=p.seed)
write_jsonl(out.eval_items, items)
write_jsonl(out.quarantine, quarantined)
write_json(out.counts, {**counts, "excluded": len(eval_records) - len(kept_eval)})
log.info("doit_data: eval in=%d (+%d excluded) = kept=%d + quarantined=%d + capped=%d + other=%d; kinds %s; "
         "quarantine reasons %s", counts["in"], len(eval_records) - len(kept_eval), counts["kept"],
         counts["quarantined"], counts["capped"], counts["other"], counts["kinds"], counts["reasons"])
if counts["missing"]:
    raise ValueError(f"doit.abilities: no dev or test item for {counts['missing']} (every ability needs both)")
finish(__name__)
