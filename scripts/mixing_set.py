"""Rule mixing_set: one instruction-mixing training set (a combination, a ratio or a size) for one
replicate seed."""

from sftmix.logutil import finish, setup_logging
from sftmix.records import read_json, read_jsonl, write_json, write_jsonl
from sftmix.studies.mixing import experiments as mx
from sftmix.studies.mixing.sets import experiment_set

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, out, p, wc = snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards  # noqa: F821
spec = mx.parse(wc.experiment)
ids, info = experiment_set(read_json(inp.types)["by_type"], spec, p.section, p.seed)
keep = set(ids)
records = [r for r in read_jsonl(inp.records) if r["id"] in keep]
write_jsonl(out.trainset, records)
write_json(out.info, {"experiment": wc.experiment, "seed": int(wc.seed), **info, "ids": ids})
log.info("mixing_set %s seed %s: %d records %s (asked %s, shortfall %s)", wc.experiment, wc.seed, len(records),
         info["counts"], info["target"], info["shortfall"])
finish(__name__)
