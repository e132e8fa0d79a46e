"""Rule dependency: the taxonomy as published (Wilcoxon + BH, one run) and seed-calibrated."""

from sftmix.dependency import (
    calibrated_dependency,
    plot_dependency_graph,
    published_dependency,
    seed_false_positive_rate,
    taxonomy_layers,
)
from sftmix.logutil import setup_logging
from sftmix.records import write_json
from sftmix.summary import load_score_tables

log = setup_logging(snakemake.log[0])  # noqa: F821
cfg = snakemake.params.analysis  # noqa: F821
cats = list(snakemake.params.categories)  # noqa: F821
scores = load_score_tables(snakemake.input.scores)  # noqa: F821
pub = published_dependency(scores, cats, seed=str(cfg["published_seed"]), alpha=cfg["alpha"])
seeds = sorted({s for e in scores.values() for s in e})
cal = calibrated_dependency(scores, cats, alpha=cfg["alpha"], min_effect=cfg["min_effect"]) if len(seeds) > 1 else None
fpr = seed_false_positive_rate(scores, cats, seeds=tuple(seeds[:2]), alpha=cfg["alpha"]) if len(seeds) > 1 else None
chosen = cal if cal is not None else pub
layers = taxonomy_layers(chosen["edges"], cats)


def plain(result):
    if result is None:
        return None
    return {k: v for k, v in result.items() if k in ("edges", "tests", "mutual", "untested_reverse",
                                                      "method", "seed", "alpha", "sigma", "min_effect",
                                                      "rate", "n_tests", "n_false_positives",
                                                      "oriented_mutual")}


write_json(snakemake.output.json, {"published": plain(pub), "calibrated": plain(cal),  # noqa: F821
                                   "seed_false_positive_rate": plain(fpr), "layers": layers,
                                   "main": "calibrated" if cal is not None else "published"})
with open(snakemake.output.layers, "w", encoding="utf-8") as fh:  # noqa: F821
    fh.write("category\tlayer\n")
    for c in cats:
        fh.write(f"{c}\t{layers[c]}\n")
plot_dependency_graph(chosen["edges"], layers, cats, snakemake.output.graph,  # noqa: F821
                      title="dependency taxonomy (" + ("calibrated" if cal is not None else "published") + ")")
log.info("published (Wilcoxon + BH, seed %s): %d edges %s", cfg["published_seed"], len(pub["edges"]), pub["edges"])
if cal is not None:
    log.info("calibrated (run-to-run noise): %d edges %s", len(cal["edges"]), cal["edges"])
if fpr is not None:
    log.info("as-published test on seed-only differences: %d of %d tests significant (rate %.3f)",
             fpr["n_false_positives"], fpr["n_tests"], fpr["rate"])
