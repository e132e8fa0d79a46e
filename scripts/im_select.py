"""Rule im_select: one InstructMining selection of k selection candidates: the rule's top-k, an
ablated rule's (Table 5) or random (Sec. 2.3)."""

from sftmix.logutil import finish, setup_logging
from sftmix.records import read_json, read_jsonl, write_json, write_jsonl
from sftmix.studies.instructmining import experiments as im
from sftmix.studies.instructmining.indicators import read_record_indicators
from sftmix.studies.instructmining.select import select

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, p, wc = snakemake.input, snakemake.params, snakemake.wildcards  # noqa: F821
name = f"imsel_{wc.method}_k{wc.k}"
spec = im.parse(name)
candidates = read_json(inp.split)["selection"]
rows = {r["id"]: r for r in read_record_indicators(inp.indicators)}
chosen, info = select(spec["method"], spec["k"], candidates, rows, read_json(inp.rule), p.seed)
keep = set(chosen)
write_jsonl(snakemake.output.trainset, [r for r in read_jsonl(inp.pool) if r["id"] in keep])  # noqa: F821
write_json(snakemake.output.info, info)  # noqa: F821
log.info("im_select %s seed %s: %d of %d candidates (shortfall %d, %d without indicators) by %s %s", name, wc.seed,
         info["n_selected"], info["n_candidates"], info["shortfall"], info["no_indicators"], spec["method"],
         ", ".join(info["indicators"]))
if info["note"]:
    log.warning("im_select %s: %s", name, info["note"])
finish(__name__)
