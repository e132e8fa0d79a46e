"""Rule dependency: the taxonomy as published (Wilcoxon + BH, one run) and seed-calibrated."""

from sftmix.exclusions import read_excluded, without_items
from sftmix.logutil import finish, setup_logging
from sftmix.records import write_json
from sftmix.scores import load_score_tables
from sftmix.studies.beyond_iid.dependency import (
    dependency_analysis,
    dependency_json,
    plot_dependency_graph,
    write_taxonomy,
)
from sftmix.subsets import DEV

log = setup_logging(snakemake.log[0])  # noqa: F821
cfg = snakemake.params.analysis  # noqa: F821
cats = list(snakemake.params.categories)  # noqa: F821
excluded = read_excluded(snakemake.input.excluded)  # noqa: F821  (eval items no analysis reads)
scores = without_items(load_score_tables(snakemake.input.scores, split=DEV), excluded)  # noqa: F821  (dev items only)
res = dependency_analysis(scores, cats, alpha=cfg["alpha"],
                          min_effect=cfg["min_effect"], published_seed=cfg["published_seed"])
budget = snakemake.params.budget  # noqa: F821
write_json(snakemake.output.json, dependency_json(res, budget))  # noqa: F821
log.info("interaction models' training budgets (beyond_iid.experiments.budget/drop_budget): %s", budget)
write_taxonomy(snakemake.output.layers, res["layers"], cats)  # noqa: F821
plot_dependency_graph(res[res["main"]]["edges"], res["layers"], cats, snakemake.output.graph,  # noqa: F821
                      title=f"dependency taxonomy ({res['main']})")
pub, cal, fpr = res["published"], res["calibrated"], res["seed_false_positive_rate"]
log.info("published (Wilcoxon + BH, seed %s): %d edges %s", cfg["published_seed"], len(pub["edges"]), pub["edges"])
if cal is not None:
    log.info("calibrated (run-to-run noise): %d edges %s", len(cal["edges"]), cal["edges"])
if fpr is not None:
    log.info("as-published test on seed-only differences: %d of %d tests significant (rate %.3f)",
             fpr["n_false_positives"], fpr["n_tests"], fpr["rate"])
cal_fpr = res["calibrated_seed_false_positive_rate"]
if cal_fpr is not None:
    log.info("calibrated test on seed-only differences: %d of %d tests significant (rate %.3f)",
             cal_fpr["n_false_positives"], cal_fpr["n_tests"], cal_fpr["rate"])
log.info("layers (%s): %s", res["main"], res["layers"])
if res["layers_unoriented"] != res["layers"]:
    log.info("layers without orienting mutual pairs: %s", res["layers_unoriented"])
finish(__name__)
