"""Rule mixture: one equal-size training set per method (the EE-CPO variants and their baselines)."""

from sftmix.logutil import finish, setup_logging
from sftmix.quality import quality_map, read_quality
from sftmix.records import read_json, read_jsonl, write_json, write_jsonl
from sftmix.studies.beyond_iid.experiments import EECPO_METHODS
from sftmix.studies.beyond_iid.optimize import QUALITY_METHODS, build_mixture, mixture_composition

log = setup_logging(snakemake.log[0])  # noqa: F821
rank_by = snakemake.params.rank_by  # noqa: F821
cats = list(snakemake.params.categories)  # noqa: F821
method, size = snakemake.wildcards.method, int(snakemake.wildcards.size)  # noqa: F821
rows = read_quality(snakemake.input.quality)  # noqa: F821
quality = {m: quality_map(rows, m) for m in QUALITY_METHODS if m in (method, rank_by)}
plan = read_json(snakemake.input.plan) if snakemake.input.get("plan") else None  # noqa: F821
pool = list(read_jsonl(snakemake.input.pool))  # noqa: F821
for name, q in quality.items():
    n_unranked = sum(1 for r in pool if r["id"] not in q)
    if n_unranked:
        log.info("%s: %d of %d pool records have no usable score and cannot be selected by it",
                 name, n_unranked, len(pool))
records = build_mixture(method, size, pool, cats, quality, rank_by=rank_by,
                        seed=snakemake.params.seed, plan=plan)  # noqa: F821
write_jsonl(snakemake.output.records, records)  # noqa: F821
comp = mixture_composition(records, cats)
write_json(snakemake.output.summary, {"method": method, "size": size, "rank_by": rank_by,  # noqa: F821
                                      "pool": len(pool), "composition": comp})
log.info("mixture %s n=%d from a pool of %d: %s", method, size, len(pool), comp)
if method in EECPO_METHODS:
    v = plan["sizes"][str(size)]["variants"][method]
    log.info("EE-CPO variant %s: %s reading of alpha, trust region %s, corr(w, alpha) %s", method,
             v["reading"], v["trust"], v["corr_alpha"])
finish(__name__)
