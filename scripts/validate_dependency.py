"""Rule validate_dependency: recovered edges vs the world's planted ones (both variants)."""

from sftmix.logutil import finish, setup_logging
from sftmix.records import read_json, write_json
from sftmix.studies.beyond_iid.dependency import validate_dependency

log = setup_logging(snakemake.log[0])  # noqa: F821
# params.categories: the categories with a drop experiment (only their planted edges are testable)
out = validate_dependency(read_json(snakemake.input.dependency), read_json(snakemake.input.truth),  # noqa: F821
                          snakemake.params.categories)  # noqa: F821
for variant in ("published", "calibrated"):
    if variant in out:
        log.info("%s: precision=%.3f recall=%.3f (predicted %d, planted %d)", variant, out[variant]["precision"],
                 out[variant]["recall"], len(out[variant]["edges"]), len(out["true_edges"]))
if "seed_false_positive_rate" in out:
    log.info("as-published false-positive rate on seed-only differences: %.3f", out["seed_false_positive_rate"])
write_json(snakemake.output[0], out)  # noqa: F821
finish(__name__)
