"""Rule im_indicators: InstructMining's per-record indicators (Table 1) of the candidate pool:
token lengths, MTLD, KNN-i in the sentence-embedding space, response PPL under the base model, and
the raters' reward and UniEval scores (stand-ins on the embedded world, see quality.reward/unieval)."""

import os

from sftmix.logutil import finish, limit_threads, offline_env, setup_logging
from sftmix.quality import read_quality
from sftmix.raters import read_raters
from sftmix.records import read_jsonl
from sftmix.studies.instructmining import indicators as ind

log = setup_logging(snakemake.log[0])  # noqa: F821
limit_threads(snakemake.threads)  # noqa: F821
inp, p = snakemake.input, snakemake.params  # noqa: F821
if os.path.isdir(str(p.base)):
    offline_env()
from transformers import AutoTokenizer  # noqa: E402

from sftmix.embedding import embed, load_embedding_model  # noqa: E402

wanted = ind.ordered_indicators(p.indicators)
pool = list(read_jsonl(inp.pool))
tokenizer = AutoTokenizer.from_pretrained(str(p.base))
kwargs = {}
if "ppl" in wanted:
    kwargs["ppl"] = {r["id"]: r["ppl_cond"] for r in read_quality(inp.quality)}
knn = [n for n in wanted if n.startswith("knn_")]
if knn:
    encoder = load_embedding_model(p.embedding_model)
    kwargs["knn_i"] = int(knn[0].removeprefix("knn_"))
    kwargs["embeddings"] = lambda texts: embed(encoder, texts, progress=True)
scored = [n for n in wanted if n in ind.MODEL_INDICATORS]
if scored:
    raters = read_raters(inp.raters)
    kwargs["model_scores"] = {i: {n: row[n] for n in scored} for i, row in raters.items()}
rows, quarantined = ind.record_indicators(pool, tokenizer, **kwargs)
rows = [{"id": r["id"], **{n: r[n] for n in wanted}} for r in rows]
ind.write_record_indicators(snakemake.output[0], rows)  # noqa: F821
log.info("im_indicators: in=%d kept=%d quarantined=%d; indicators %s", len(pool), len(rows), len(quarantined),
         ", ".join(wanted))
for q in quarantined:
    log.warning("im_indicators: quarantined %s: %s", q.get("record_id"), q.get("reason"))
finish(__name__)
