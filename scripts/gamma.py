"""Rule gamma: effect-equivalence matrix (Eq. 1) with bootstrap CIs, heatmap and meta-groups."""

import math

from sftmix.logutil import setup_logging
from sftmix.records import write_json
from sftmix.scores import load_score_tables
from sftmix.studies.beyond_iid.interaction import (
    gamma_matrix,
    meta_groups,
    plot_gamma_heatmap,
    write_gamma_tsv,
)

log = setup_logging(snakemake.log[0])  # noqa: F821
cfg = snakemake.params.analysis  # noqa: F821
scores = load_score_tables(snakemake.input.scores)  # noqa: F821
cats = [c for c in snakemake.params.categories]  # noqa: F821
results = {}
for est in ("ratio_of_means", "per_item"):
    results[est] = gamma_matrix(scores, cats, rho=cfg["rho"], estimator=est, n_boot=cfg["n_boot"], seed=0)
main = results[cfg["estimator"]]
other = "per_item" if cfg["estimator"] == "ratio_of_means" else "ratio_of_means"
write_gamma_tsv(main, snakemake.output.tsv)  # noqa: F821
write_gamma_tsv(results["per_item"], snakemake.output.published)  # noqa: F821
plot_gamma_heatmap(main, snakemake.output.heatmap, title=f"gamma ({cfg['estimator']}, rho={cfg['rho']})")  # noqa: F821
groups = meta_groups(main, cats, n_groups=min(cfg["n_groups"], len(cats)))
write_json(snakemake.output.groups, {"meta_groups": groups, "estimator": cfg["estimator"]})  # noqa: F821
n_unstable = int(main["unstable"].sum())
finite = [abs(x) for x in results["per_item"]["gamma_raw"].ravel() if math.isfinite(x)]
log.info("gamma: %d categories, %d unstable cells (denominator indistinguishable from 0) reported, "
         "not used", len(cats), n_unstable)
log.info("gamma (%s) vs published per-item estimator: max |gamma_raw| per_item = %.3g", cfg["estimator"],
         max(finite) if finite else float("nan"))
log.info("meta-groups: %s", groups)
log.info("other estimator (%s) written to %s", other, snakemake.output.published)  # noqa: F821
