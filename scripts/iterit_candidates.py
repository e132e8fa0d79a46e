"""Rule iterit_candidates: Algorithm 1 at epoch 0 -- the top a x M pool records by the base
model's IFD, which every later epoch re-scores (IterIT Sec. 2.3)."""

from sftmix.logutil import setup_logging
from sftmix.quality import ifd_valid, read_quality
from sftmix.records import read_jsonl, write_json, write_jsonl
from sftmix.studies.iterit.experiments import m_of
from sftmix.studies.iterit.select import iterit_candidates

log = setup_logging(snakemake.log[0])  # noqa: F821
p = snakemake.params  # noqa: F821
pool = list(read_jsonl(snakemake.input.pool))  # noqa: F821
ifd = {r["id"]: r["ifd"] for r in read_quality(snakemake.input.quality)}  # noqa: F821
missing = [r["id"] for r in pool if r["id"] not in ifd]
if missing:
    raise ValueError(f"iterit_candidates: {len(missing)} pool records have no quality row (e.g. {missing[:3]})")
m = m_of(len(pool), p.share)
n_keep = min(len(pool), max(m, round(p.a * m)))
kept = iterit_candidates([r["id"] for r in pool], ifd, n_keep, p.seed)
by_id = {r["id"]: r for r in pool}
write_jsonl(snakemake.output.candidates, [by_id[i] for i in kept])  # noqa: F821
n_unaligned = sum(1 for i in kept if not ifd_valid(ifd[i]))
info = {"n_pool": len(pool), "share": p.share, "m": m, "a": p.a, "n_keep": len(kept),
        "n_unaligned_kept": n_unaligned, "seed": p.seed}
write_json(snakemake.output.info, info)  # noqa: F821
log.info("iterit_candidates: pool=%d M=%d kept a*M=%d by base IFD (%d of them unaligned, IFD >= 1 or NaN: "
         "as published, they hold kept slots and are dropped at selection)", len(pool), m, len(kept), n_unaligned)
