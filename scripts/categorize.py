"""Rule categorize: one category per record from its normalized tags."""

from sftmix.logutil import finish, limit_threads, offline_env, setup_logging
from sftmix.records import read_jsonl

log = setup_logging(snakemake.log[0])  # noqa: F821
offline_env()
limit_threads(snakemake.threads)  # noqa: F821
from sftmix.categorize import categorize_stage, write_categorize_outputs  # noqa: E402
from sftmix.embedding import embed, load_embedding_model  # noqa: E402
from sftmix.normalize import mapping_from_rows, read_tag_map  # noqa: E402

categories = snakemake.params.categories  # noqa: F821
model = load_embedding_model(snakemake.params.embedding_model)  # noqa: F821
res = categorize_stage(read_jsonl(snakemake.input.records), read_jsonl(snakemake.input.tags),  # noqa: F821
                       mapping_from_rows(read_tag_map(snakemake.input.mapping)), categories,  # noqa: F821
                       embed_fn=lambda texts: embed(model, texts),
                       min_similarity=snakemake.params.categorize["min_similarity"])  # noqa: F821
write_categorize_outputs(res, list(categories), dict(snakemake.output.items()))  # noqa: F821
res["stage"].report(log)
log.info("categorize: decided by %s", dict(res["rules"]))
for c in categories:
    log.info("  %-30s %d", c, res["per_category"][c])
finish(__name__)
