"""Rule doit_set: one DoIT training set (a sweep quantity, a single ability or a mix), per seed."""

from sftmix.logutil import finish, setup_logging
from sftmix.records import read_json, read_jsonl, write_json, write_jsonl
from sftmix.studies.doit import experiments as study
from sftmix.studies.doit.sets import draw, set_info

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, out, p, wc = snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards  # noqa: F821
supply = read_json(inp.supply)
spec = study.parse(wc.experiment)
if spec["kind"] == "sweep":
    counts, where = dict.fromkeys(p.abilities, spec["n"]), "doit.grid.max_n"
elif spec["kind"] == "single":
    ability = study.ability_by_slug(p.abilities, spec["slug"])
    counts, where = {ability: p.section["feature_n"]}, "doit.feature_n"
else:
    counts, where = read_json(inp.mixes)["mixes"][spec["mix"]], "doit.mix"
ids = set(draw(supply, counts, p.seed, where=where))
records = [r for r in read_jsonl(inp.pool) if r["id"] in ids]
write_jsonl(out.trainset, records)
write_json(out.info, {"experiment": wc.experiment, "seed": int(wc.seed), **set_info(counts, supply)})
log.info("doit_set %s seed %s: %d records %s", wc.experiment, wc.seed, len(records), counts)
finish(__name__)
