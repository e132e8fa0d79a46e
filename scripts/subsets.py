"""Rule subsets: one category's base set D and added pool C~ (its eval items: rule eval_items),
leaving out the records decontam quarantined."""

from sftmix.logutil import finish, setup_logging
from sftmix.records import read_jsonl, write_json, write_jsonl
from sftmix.subsets import split_category

log = setup_logging(snakemake.log[0])  # noqa: F821
category = snakemake.params.category  # noqa: F821
records = [r for r in read_jsonl(snakemake.input[0]) if r["meta"]["category"] == category]  # noqa: F821
exclude = {q["id"] for p in snakemake.input.contaminated for q in read_jsonl(p)}  # noqa: F821
sets, counts = split_category(records, category, snakemake.params.sizes, snakemake.params.seed, exclude)  # noqa: F821
eval_ids = [r["id"] for r in read_jsonl(snakemake.input.eval)]  # noqa: F821
if eval_ids != [r["id"] for r in sets["eval"]]:
    raise RuntimeError(f"subsets[{category}]: the eval cut differs from {snakemake.input.eval}; rerun eval_items")  # noqa: F821
for part in ("base", "added"):
    write_jsonl(snakemake.output[part], sets[part])  # noqa: F821
write_json(snakemake.output.counts, counts)  # noqa: F821
msg = (f"subsets[{category}]: available={counts['available']} = eval={counts['eval']} "
       f"(dev {counts['dev']}, test {counts['test']}) + "
       f"base={counts['base']} + added={counts['added']} + unused={counts['unused']} "
       f"+ decontaminated={counts['decontaminated']}")
log.info(msg)
if counts["shrunk"]:
    log.warning("subsets[%s]: fewer records than requested %s; sets were shrunk", category, counts["requested"])
finish(__name__)
