"""Rule gamma: effect-equivalence matrix (Eq. 1) with bootstrap CIs, heatmap and meta-groups."""

from sftmix.exclusions import read_excluded, without_items
from sftmix.logutil import finish, setup_logging
from sftmix.records import write_json
from sftmix.scores import load_score_tables, read_split_scores
from sftmix.studies.beyond_iid.interaction import (
    gamma_analysis,
    gamma_vs_pretrained,
    plot_gamma_heatmap,
    sign_agreement,
    write_gamma_tsv,
)
from sftmix.subsets import DEV

log = setup_logging(snakemake.log[0])  # noqa: F821
cfg, out = snakemake.params.analysis, snakemake.output  # noqa: F821
excluded = read_excluded(snakemake.input.excluded)  # noqa: F821  (eval items no analysis reads)
scores = without_items(load_score_tables(snakemake.input.scores, split=DEV), excluded)  # noqa: F821  (dev items only)
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

# sensitivity: Eq. 1 with the pretrained model as the reference (the paper's literal "M is a base model")
pretrained = [r for r in read_split_scores(snakemake.input.pretrained, DEV) if r["id"] not in excluded]  # noqa: F821
literal = gamma_vs_pretrained(scores, pretrained, list(snakemake.params.categories),  # noqa: F821
                              rho=cfg["rho"], estimator=cfg["estimator"], n_boot=cfg["n_boot"])
write_gamma_tsv(literal, out.vs_pretrained)
agree = sign_agreement(res["main"], literal)
log.info("gamma against the pretrained model (sensitivity): %d of %d off-diagonal cells keep their sign "
         "(%.2f); negative cells %.2f (reference: D-tuned base) vs %.2f (reference: pretrained)",
         agree["same_sign"], agree["n_cells"], agree["share_same_sign"], agree["share_negative"],
         agree["share_negative_other"])
finish(__name__)
