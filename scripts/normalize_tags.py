"""Rule normalize_tags: merge near-synonymous tags (cos >= lambda), most frequent member represents."""

from sftmix.logutil import finish, limit_threads, offline_env, setup_logging
from sftmix.records import read_jsonl

log = setup_logging(snakemake.log[0])  # noqa: F821
offline_env()
limit_threads(snakemake.threads)  # noqa: F821
from sftmix.embedding import embed, load_embedding_model  # noqa: E402
from sftmix.normalize import count_tags, normalize_tags, write_tag_map  # noqa: E402

cfg = snakemake.params.normalize  # noqa: F821
counts = count_tags(read_jsonl(snakemake.input[0]))  # noqa: F821
kept = {t: c for t, c in counts.items() if c >= cfg["min_count"]}
log.info("normalize: %d unique tags, %d with count >= %d", len(counts), len(kept), cfg["min_count"])
model = load_embedding_model(cfg["embedding_model"])
rows = normalize_tags(kept, embed(model, sorted(kept), progress=True), threshold=cfg["threshold"])
write_tag_map(snakemake.output.mapping, rows)  # noqa: F821
groups = {r["normalized"] for r in rows}
log.info("normalize: %d tags -> %d normalized tags at lambda=%.2f", len(rows), len(groups), cfg["threshold"])
for r in rows:
    if r["tag"] != r["normalized"]:
        log.info("  merged %r -> %r", r["tag"], r["normalized"])
finish(__name__)
