"""Rule gamma: effect-equivalence matrix (Eq. 1) with bootstrap CIs, heatmap and meta-groups."""

from sftmix.logutil import setup_logging
from sftmix.records import write_json
from sftmix.scores import load_score_tables
from sftmix.studies.beyond_iid.interaction import (
                     gamma_analysis,
                     plot_gamma_heatmap,
                     write_gamma_tsv,
)
from sftmix.subsets import DEV

log = setup_logging(snakemake.log[0])  # noqa: F821
cfg, out = snakemake.params.analysis, snakemake.output  # noqa: F821
scores = load_score_tables(snakemake.input.scores, split=DEV)  # noqa: F821  (dev items only)
res = gamma_analysis(scores, list(snakemake.params.categories),  # noqa: F821
                     rho=cfg["rho"], estimator=cfg["estimator"], n_boot=cfg["n_boot"], n_groups=cfg["n_groups"])
write_gamma_tsv(res["main"], out.tsv)
write_gamma_tsv(res["per_item"], out.published)
plot_gamma_heatmap(res["main"], out.heatmap, title=f"gamma ({cfg['estimator']}, rho={cfg['rho']})")
budget = snakemake.params.budget  # noqa: F821
write_json(out.groups, {"meta_groups": res["groups"], "estimator": cfg["estimator"], "budget": budget})
log.info("interaction models' training budgets (beyond_iid.experiments.budget/drop_budget): %s", budget)
log.info("gamma: %d categories, %d unstable cells (denominator indistinguishable from 0) reported, "
         "not used", len(snakemake.params.categories), res["n_unstable"])  # noqa: F821
log.info("gamma (%s) vs published per-item estimator: max |gamma_raw| per_item = %.3g", cfg["estimator"],
         res["max_abs_per_item"])
log.info("meta-groups: %s", res["groups"])
log.info("published per-item estimator written to %s", out.published)
