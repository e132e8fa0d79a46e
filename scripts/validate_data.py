"""Rule validate_data: dedup, categorization and decontamination scored against the world's ground truth."""

import json

from sftmix.logutil import finish, setup_logging
from sftmix.records import read_jsonl, write_json
from sftmix.validation import categorization_scores, decontam_scores, dedup_scores

log = setup_logging(snakemake.log[0])  # noqa: F821
with open(snakemake.input.truth, encoding="utf-8") as fh:  # noqa: F821
    ground_truth = json.load(fh)
truth = ground_truth["records"]
present = [r["id"] for path in snakemake.input.filtered for r in read_jsonl(path)]  # noqa: F821
dedup = dedup_scores(read_jsonl(snakemake.input.duplicates), truth, present)  # noqa: F821
n_dedup = sum(1 for _ in read_jsonl(snakemake.input.dedup_records))  # noqa: F821
categorized = list(read_jsonl(snakemake.input.categorized))  # noqa: F821
cat = categorization_scores(categorized, truth, n_dedup)
out = {"dedup": dedup, "categorization": cat}
for path in snakemake.input.contaminated:  # noqa: F821  (none: decontam.enabled is false)
    eval_ids = [r["id"] for p in snakemake.input.eval for r in read_jsonl(p)]  # noqa: F821
    out["decontam"] = dc = decontam_scores(ground_truth.get("contamination", []), eval_ids,
                                           [r["id"] for r in categorized], read_jsonl(path))
    log.info("decontam vs planted contamination: recall=%.4f (%d of %d copies of eval items caught; missed %s) "
             "precision=%.4f; near misses flagged %d of %d; unplanted records flagged %d", dc["recall"], dc["caught"],
             dc["expected"], dc["missed"], dc["precision"], dc["near_misses_flagged"], dc["near_misses"],
             dc["unplanted_flagged"])
write_json(snakemake.output[0], out)  # noqa: F821
log.info("dedup vs ground truth: precision=%.4f recall=%.4f (flagged %d, expected %d)",
         dedup["precision"], dedup["recall"], dedup["flagged"], dedup["expected"])
log.info("categorization vs ground truth: accuracy=%.4f coverage=%.4f accuracy_all=%.4f",
         cat["accuracy"], cat["coverage"], cat["accuracy_all"])
for c, v in cat["per_category_recall"].items():
    log.info("  %-30s recall %.3f", c, v)
for k, v in cat["confusions"].items():
    log.info("  confusion %s: %d", k, v)
finish(__name__)
