"""Rule im_split: the candidate pool split once into InstructMining's estimation records (fused
into the rule's datasets) and selection records (what the rule selects from, unseen by the fit)."""

from sftmix.logutil import finish, setup_logging
from sftmix.records import read_jsonl, write_json
from sftmix.studies.instructmining.fuse import split_pool

log = setup_logging(snakemake.log[0])  # noqa: F821
p = snakemake.params  # noqa: F821
ids = [r["id"] for r in read_jsonl(snakemake.input.pool)]  # noqa: F821
estimation, selection = split_pool(ids, p.share, p.seed)
write_json(snakemake.output[0], {"estimation": estimation, "selection": selection})  # noqa: F821
log.info("im_split: in=%d estimation=%d selection=%d (share %.3f)", len(ids), len(estimation), len(selection),
         p.share)
finish(__name__)
