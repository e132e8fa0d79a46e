"""Rule tag: tag one shard of records with the configured backend."""

from sftmix.logutil import finish, limit_threads, offline_env, setup_logging
from sftmix.records import read_jsonl, text_view, write_jsonl

log = setup_logging(snakemake.log[0])  # noqa: F821
cfg = snakemake.params.tag  # noqa: F821
if cfg["backend"] != "openai":
    offline_env()
limit_threads(snakemake.threads)  # noqa: F821
from sftmix import tagging  # noqa: E402  (after the offline switches)

records = list(read_jsonl(snakemake.input[0]))  # noqa: F821
tagger = tagging.tagger_from_config(cfg, seed=snakemake.params.seed)  # noqa: F821
engine = f" on {cfg['engine']}" if cfg["backend"] == "llm" else ""
log.info("tag: %d records with backend %s%s", len(records), cfg["backend"], engine)
rows = tagging.tag_records(records, tagger, text_fn=text_view(cfg["text"]), progress=True)
write_jsonl(snakemake.output[0], rows)  # noqa: F821
untagged = sum(1 for r in rows if not r["tags"])
log.info("tag: in=%d tagged=%d untagged=%d (untagged records are quarantined by categorize)",
         len(records), len(rows) - untagged, untagged)
finish(__name__)
