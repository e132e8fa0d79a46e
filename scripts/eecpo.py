"""Rule eecpo: alpha from the quality selection and EE-CPO weights (Beyond IID Eq. 5) per size."""

from sftmix.logutil import setup_logging
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
                  importance=cfg["importance"], alpha_size=cfg["alpha_size"])
plan["quality"] = cfg["quality"]
write_json(snakemake.output.plan, plan)  # noqa: F821
plot_weights(plan, snakemake.output.weights,  # noqa: F821
             title=f"EE-CPO weights ({snakemake.wildcards.model}, alpha from {cfg['quality']})")  # noqa: F821
log.info("alpha (shares of the top-%d by %s): %s", plan["alpha_size"], cfg["quality"],
         {c: round(a, 4) for c, a in zip(cats, plan["alpha"], strict=True)})
for size, s in plan["sizes"].items():
    log.info("EE-CPO n=%s: counts %s objective %.4f (uniform %.4f, alpha %.4f) binding %s", size,
             dict(zip(cats, s["counts"], strict=True)), s["objective"], s["objective_uniform"],
             s["objective_alpha"], s["binding"])
