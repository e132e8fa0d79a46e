"""Rule validate_dependency: recovered edges vs the world's planted ones (both variants)."""

import json

from sftmix.dependency import edge_scores
from sftmix.logutil import setup_logging
from sftmix.records import write_json

log = setup_logging(snakemake.log[0])  # noqa: F821
truth = json.load(open(snakemake.input.truth, encoding="utf-8"))  # noqa: F821, SIM115
dep = json.load(open(snakemake.input.dependency, encoding="utf-8"))  # noqa: F821, SIM115
tested = set(snakemake.params.categories)  # noqa: F821  (categories with a drop experiment)
true_edges = [(e["prerequisite"], e["dependent"]) for e in truth["edges"] if e["prerequisite"] in tested]
out = {"true_edges": true_edges, "tested_prerequisites": sorted(tested)}
for variant in ("published", "calibrated"):
    if dep.get(variant) is None:
        continue
    pred = [tuple(e) for e in dep[variant]["edges"]]
    out[variant] = edge_scores(pred, true_edges)
    out[variant]["edges"] = pred
    log.info("%s: precision=%.3f recall=%.3f (predicted %d, planted %d)", variant, out[variant]["precision"],
             out[variant]["recall"], len(pred), len(true_edges))
if dep.get("seed_false_positive_rate"):
    out["seed_false_positive_rate"] = dep["seed_false_positive_rate"]["rate"]
    log.info("as-published false-positive rate on seed-only differences: %.3f", out["seed_false_positive_rate"])
write_json(snakemake.output[0], out)  # noqa: F821
