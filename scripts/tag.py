"""Rule tag: tag one shard of records with the configured backend."""

import os

from sftmix.logutil import limit_threads, offline_env, setup_logging
from sftmix.records import read_jsonl, text_view, write_jsonl

log = setup_logging(snakemake.log[0])  # noqa: F821
cfg = snakemake.params.tag  # noqa: F821
if cfg["backend"] != "openai":
    offline_env()
limit_threads(snakemake.threads)  # noqa: F821
from sftmix import tagging  # noqa: E402  (after the offline switches)

records = list(read_jsonl(snakemake.input[0]))  # noqa: F821
prompt = cfg.get("prompt") or tagging.DEFAULT_TAG_PROMPT
if cfg["backend"] == "embedding":
    from sftmix.embedding import load_embedding_model

    if not cfg["vocabulary"]:
        raise ValueError("tag.vocabulary: the embedding backend needs a tag vocabulary")
    model = load_embedding_model(cfg["embedding_model"], device=cfg["device"])
    tagger = tagging.EmbeddingTagger(model, cfg["vocabulary"], top_k=cfg["top_k"],
                                     min_similarity=cfg["min_similarity"], batch_size=cfg["batch_size"])
elif cfg["backend"] == "llm":
    if not cfg.get("llm_model"):
        raise ValueError("tag.llm_model: the llm backend needs a model (local dir or hub id)")
    tagger = tagging.LLMTagger(cfg["llm_model"], prompt, max_new_tokens=cfg["max_new_tokens"],
                               batch_size=cfg["batch_size"], device=cfg["device"],
                               trust_remote_code=cfg["trust_remote_code"])
else:
    for key in ("openai_base_url", "openai_model"):
        if not cfg.get(key):
            raise ValueError(f"tag.{key}: required by the openai backend")
    if not os.environ.get(cfg["openai_api_key_env"]):
        log.warning("tag: environment variable %s is not set; sending no API key", cfg["openai_api_key_env"])
    tagger = tagging.OpenAITagger(cfg["openai_base_url"], cfg["openai_model"], prompt,
                                  api_key_env=cfg["openai_api_key_env"], max_tokens=cfg["max_new_tokens"])
log.info("tag: %d records with backend %s", len(records), cfg["backend"])
rows = tagging.tag_records(records, tagger, text_fn=text_view(cfg["text"]), progress=True)
write_jsonl(snakemake.output[0], rows)  # noqa: F821
untagged = sum(1 for r in rows if not r["tags"])
log.info("tag: in=%d tagged=%d untagged=%d (untagged records are quarantined by categorize)",
         len(records), len(rows) - untagged, untagged)
