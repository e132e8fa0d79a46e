"""Rule iterit_candidates: Algorithm 1 at epoch 0 -- the top a x M pool records by the base
model's IFD, which every later epoch re-scores (IterIT Sec. 2.3)."""

from sftmix.logutil import finish, setup_logging
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
ids = [r["id"] for r in pool]
kept = iterit_candidates(ids, ifd, n_keep, p.seed, order=p.order)
published = kept if p.order == "published" else iterit_candidates(ids, ifd, n_keep, p.seed, order="published")
by_id = {r["id"]: r for r in pool}
write_jsonl(snakemake.output.candidates, [by_id[i] for i in kept])  # noqa: F821
n_unaligned = sum(1 for i in kept if not ifd_valid(ifd[i]))
n_pool_aligned = sum(1 for i in ids if ifd_valid(ifd[i]))
published_aligned = sum(1 for i in published if ifd_valid(ifd[i]))
info = {"n_pool": len(pool), "n_pool_aligned": n_pool_aligned, "share": p.share, "m": m, "a": p.a,
        "order": p.order, "n_keep": len(kept), "n_unaligned_kept": n_unaligned,
        "published_order_aligned_kept": published_aligned, "seed": p.seed}
write_json(snakemake.output.info, info)  # noqa: F821
log.info("iterit_candidates: pool=%d (%d aligned, IFD < 1, under the base model) M=%d; kept %d by base IFD "
         "(order %s, %d of them unaligned); Algorithm 1 as printed would keep %d aligned of its top %d",
         len(pool), n_pool_aligned, m, len(kept), p.order, n_unaligned, published_aligned, n_keep)
if published_aligned < m:
    log.warning("iterit_candidates: the published order keeps only %d aligned samples for M=%d (the unaligned "
                "ones have the highest IFD and take the top a x M slots)", published_aligned, m)
finish(__name__)
