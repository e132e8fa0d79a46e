"""Rule score: per-item response log-likelihood of one model on every eval item."""

import math
import os
from collections import defaultdict

from sftmix.logutil import finish, limit_threads, offline_env, setup_logging
from sftmix.records import read_jsonl

log = setup_logging(snakemake.log[0])  # noqa: F821
if os.path.isdir(str(snakemake.params.model)):  # noqa: F821
    offline_env()
limit_threads(snakemake.threads)  # noqa: F821
from sftmix.scores import write_scores  # noqa: E402
from sftmix.scoring import load_causal_lm, score_records  # noqa: E402

cfg = snakemake.params.score  # noqa: F821
records = list(read_jsonl(snakemake.input.eval))  # noqa: F821
model_path = str(snakemake.params.model)  # noqa: F821  (a dir, or a hub id for the pretrained M)
model, tokenizer = load_causal_lm(model_path, device=cfg["device"], dtype=cfg["dtype"])
rows = score_records(model, tokenizer, records, batch_size=cfg["batch_size"], max_length=cfg["max_length"],
                     device=cfg["device"], progress=True)
write_scores(snakemake.output[0], rows)  # noqa: F821
per_cat = defaultdict(list)
for r in rows:
    if r["n_tokens"] > 0:
        per_cat[r["category"]].append(r["nll_mean"])
unscored = sum(1 for r in rows if r["n_tokens"] == 0)
log.info("score: %d items (%d with no response token within max_length)", len(rows), unscored)
for cat, v in sorted(per_cat.items()):
    log.info("  %-30s mean NLL %.4f (n=%d)", cat, sum(v) / len(v), len(v))
if unscored:
    log.warning("score: %d items unscored; raise score.max_length", unscored)
assert all(math.isfinite(r["nll_mean"]) for r in rows if r["n_tokens"] > 0)
finish(__name__)
