"""Rule normalize_tags: merge near-synonymous tags (cos >= lambda), most frequent member represents."""

import csv
from collections import Counter

from sftmix.logutil import limit_threads, offline_env, setup_logging
from sftmix.records import read_jsonl

log = setup_logging(snakemake.log[0])  # noqa: F821
offline_env()
limit_threads(snakemake.threads)  # noqa: F821
from sftmix.embedding import embed, load_embedding_model  # noqa: E402
from sftmix.normalize import normalize_tags  # noqa: E402

cfg = snakemake.params.normalize  # noqa: F821
counts: Counter = Counter()
for row in read_jsonl(snakemake.input[0]):  # noqa: F821
    counts.update({t for t, _ in row["tags"]})
kept = {t: c for t, c in counts.items() if c >= cfg["min_count"]}
log.info("normalize: %d unique tags, %d with count >= %d", len(counts), len(kept), cfg["min_count"])
tags = sorted(kept)
model = load_embedding_model(cfg["embedding_model"])
vectors = embed(model, tags, progress=True)
rows = normalize_tags(kept, vectors, threshold=cfg["threshold"])
with open(snakemake.output.mapping, "w", newline="", encoding="utf-8") as fh:  # noqa: F821
    w = csv.DictWriter(fh, fieldnames=["tag", "normalized", "count", "group_count", "group_size"],
                       delimiter="\t", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
groups = {r["normalized"] for r in rows}
log.info("normalize: %d tags -> %d normalized tags at lambda=%.2f", len(rows), len(groups), cfg["threshold"])
for r in rows:
    if r["tag"] != r["normalized"]:
        log.info("  merged %r -> %r", r["tag"], r["normalized"])
