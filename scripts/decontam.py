"""Rule decontam: training candidates that overlap an eval item or a benchmark's test item are
quarantined with the matching item (sftmix.decontam)."""

from tqdm import tqdm

from sftmix.decontam import benchmark_items, build_index, decontaminate, eval_items
from sftmix.logutil import finish, setup_logging
from sftmix.records import read_jsonl, write_json, write_jsonl

log = setup_logging(snakemake.log[0])  # noqa: F821
cfg = snakemake.params.cfg  # noqa: F821
evals = [r for p in snakemake.input.eval for r in read_jsonl(p)]  # noqa: F821
bench, skipped = benchmark_items(snakemake.params.benchmarks)  # noqa: F821
index = build_index(eval_items(evals) + bench, cfg["ngram"], cfg["min_words"])
log.info("decontam: %d eval items + %d benchmark items (%d tasks not checked: %s); %d indexed, %d too short "
         "(< %d words) %s", len(evals), len(bench), len(skipped), sorted(skipped), len(index.items),
         len(index.too_short), cfg["min_words"], index.too_short[:20])
records = list(read_jsonl(snakemake.input.records))  # noqa: F821
kept, quarantine, counts = decontaminate(tqdm(records, desc="decontam", mininterval=10), index,
                                         cfg["min_overlap"], (r["id"] for r in evals))
counts["benchmarks_skipped"] = skipped
write_jsonl(snakemake.output.records, kept)  # noqa: F821
write_jsonl(snakemake.output.quarantine, quarantine)  # noqa: F821
write_json(snakemake.output.counts, counts)  # noqa: F821
log.info("decontam: in=%d = kept=%d (%d eval items) + quarantined=%d; by matching source %s; %d more share "
         "n-grams below min_overlap %.2f", counts["in"], counts["kept"], counts["eval_items"], counts["quarantined"],
         counts["by_item_source"], counts["matched_below_threshold"], cfg["min_overlap"])
for q in quarantine:
    log.info("decontam: %s %s", q["id"], q["detail"])
finish(__name__)
