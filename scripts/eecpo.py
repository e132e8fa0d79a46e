"""Rule eecpo: alpha per size from the quality selection and the EE-CPO plan (Beyond IID Eq. 5):
every variant (prose / printed reading of alpha, with and without the trust region) per size."""

from sftmix.logutil import finish, setup_logging
from sftmix.quality import quality_map, read_quality
from sftmix.records import read_jsonl, write_json
from sftmix.studies.beyond_iid.interaction import read_gamma_tsv
from sftmix.studies.beyond_iid.optimize import eecpo_gamma, eecpo_plan, plot_weights

log = setup_logging(snakemake.log[0])  # noqa: F821
cfg = snakemake.params.optimize  # noqa: F821
cats = list(snakemake.params.categories)  # noqa: F821
gamma = eecpo_gamma(read_gamma_tsv(snakemake.input.gamma), cats)  # noqa: F821
quality = quality_map(read_quality(snakemake.input.quality), cfg["quality"])  # noqa: F821
pool = list(read_jsonl(snakemake.input.pool))  # noqa: F821
plan = eecpo_plan(gamma, cats, pool, quality, cfg["sizes"], lower=cfg["lower"], upper=cfg["upper"],
                  trust_region=cfg["trust_region"], alpha_size=cfg["alpha_size"],
                  seed=snakemake.params.seed)  # noqa: F821
plan["quality"] = cfg["quality"]
write_json(snakemake.output.plan, plan)  # noqa: F821
plot_weights(plan, snakemake.output.weights,  # noqa: F821
             title=f"EE-CPO weights ({snakemake.wildcards.model}, alpha from {cfg['quality']})")  # noqa: F821


def named(values):
    return {c: round(v, 4) if isinstance(v, float) else v for c, v in zip(cats, values, strict=True)}


log.info("gamma row sums (objective view): %s; negative rows: %s", named(plan["row_sums"]), plan["negative_rows"])
if plan["floored"]:
    log.warning("floored (NaN gamma diagonal, interactions skipped): %s", plan["floored"])
log.info("trust region: %s", plan["trust_region"])
for size, s in plan["sizes"].items():
    log.info("n=%s: alpha (shares of the top-%d by %s) %s", size, s["alpha_size"], cfg["quality"], named(s["alpha"]))
    log.info("n=%s: signs of the row sums %s, of the alpha-weighted row sums (prose coefficients) %s",
             size, named(plan["row_sum_signs"]), named(s["column_weighted_sum_signs"]))
    for reading, r in s["readings"].items():
        u = r["unconstrained"]
        log.info("n=%s %s reading: unconstrained vertex %s objective %.4f (uniform %.4f, alpha %.4f)", size,
                 reading, named(u["counts"]), u["objective"], r["objective_uniform"], r["objective_alpha"])
    for method, v in s["variants"].items():
        corr = "undefined" if v["corr_alpha"] is None else f"{v['corr_alpha']:+.3f}"
        log.info("n=%s %s: counts %s objective %.4f corr(w, alpha) %s L1 to alpha %.3f, to the vertex %.3f; "
                 "binding %s%s", size, method, named(v["counts"]), v["objective"], corr, v["l1_to_alpha"],
                 v["l1_to_unconstrained"], v["binding"],
                 "" if v["trust"] is None else f"; trust region {v['trust']}")
finish(__name__)
