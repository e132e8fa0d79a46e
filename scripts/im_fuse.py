"""Rule im_fuse: one rule-estimation dataset, a random fusion of the estimation records' sources
(InstructMining Sec. 3.2)."""

from sftmix.logutil import finish, setup_logging
from sftmix.records import read_json, read_jsonl, write_json, write_jsonl
from sftmix.studies.instructmining.fuse import by_source, fused_dataset

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, p = snakemake.input, snakemake.params  # noqa: F821
est = set(read_json(inp.split)["estimation"])
records = [r for r in read_jsonl(inp.pool) if r["id"] in est]
sources = by_source(records, p.estimation["sources"])
index = int(snakemake.wildcards.i)  # noqa: F821
chosen, info = fused_dataset(sources, p.estimation["size"], p.seed, index)
write_jsonl(snakemake.output.trainset, chosen)  # noqa: F821
write_json(snakemake.output.info, {"dataset": index, "size": len(chosen), **info})  # noqa: F821
log.info("im_fuse %03d: %d records (shortfall %d) from %s", index, len(chosen), info["shortfall"],
         ", ".join(f"{s} {n}" for s, n in info["counts"].items()))
finish(__name__)
