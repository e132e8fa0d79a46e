"""Rule pool: the candidate pool of the optimization experiments (categorized records of the
analysed categories that are not eval items)."""

from collections import Counter

from sftmix.logutil import setup_logging
from sftmix.records import read_jsonl, write_jsonl

log = setup_logging(snakemake.log[0])  # noqa: F821
cats = set(snakemake.params.categories)  # noqa: F821
eval_ids = {r["id"] for p in snakemake.input.eval for r in read_jsonl(p)}  # noqa: F821
n_in = n_eval = n_other = 0
kept = []
for r in read_jsonl(snakemake.input.records):  # noqa: F821
    n_in += 1
    if r["id"] in eval_ids:
        n_eval += 1
    elif r.get("meta", {}).get("category") not in cats:
        n_other += 1
    else:
        kept.append(r)
write_jsonl(snakemake.output[0], sorted(kept, key=lambda r: r["id"]))  # noqa: F821
log.info("pool: in=%d kept=%d eval_items=%d other_or_no_category=%d", n_in, len(kept), n_eval, n_other)
for cat, n in sorted(Counter(r["meta"]["category"] for r in kept).items()):
    log.info("pool: %s %d", cat, n)
