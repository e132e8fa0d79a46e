"""Rule raters: the reward score and the UniEval dialogue scores of every candidate (stand-ins on
a generated world: quality.reward = deita reads the DEITA-style scorer's rating from the quality
table, quality.unieval = trained the UniEval stand-in; else the real models by path or hub id)."""

import os

from sftmix.logutil import finish, limit_threads, offline_env, setup_logging
from sftmix.quality import read_quality
from sftmix.records import read_jsonl

log = setup_logging(snakemake.log[0])  # noqa: F821
limit_threads(snakemake.threads)  # noqa: F821
inp, p = snakemake.input, snakemake.params  # noqa: F821
q = p.quality
if any(os.path.isdir(str(m)) for m in (p.reward_model, p.unieval_model) if m):
    offline_env()
from sftmix import raters  # noqa: E402

pool = list(read_jsonl(inp.pool))
reward: dict[str, float] = {}
if p.reward_model == "deita":
    reward = {r["id"]: r["deita"] for r in read_quality(inp.quality)}
    log.info("raters: reward = the DEITA-style rated scorer's expected rating (the stand-in), %d records",
             len(reward))
elif p.reward_model:
    model, tok = raters.load_rater(p.reward_model, "classifier", device=q["device"], dtype=q["dtype"])
    reward = raters.reward_scores(model, tok, pool, kind="classifier", batch_size=q["batch_size"],
                                  max_length=q["max_length"], device=q["device"], reward_format=q["reward_format"])
    log.info("raters: reward from %s, %d records", p.reward_model, len(reward))
unieval: dict[str, dict[str, float]] = {}
if p.unieval_model:
    kind = "causal" if p.unieval_trained else "seq2seq"
    model, tok = raters.load_rater(p.unieval_model, kind, device=q["device"], dtype=q["dtype"])
    unieval = raters.unieval_scores(model, tok, pool, kind=kind, batch_size=q["batch_size"],
                                    max_length=q["max_length"], device=q["device"])
    log.info("raters: UniEval (%s) from %s, %d records", kind, p.unieval_model, len(unieval))
raters.write_raters(snakemake.output[0], reward, unieval)  # noqa: F821
ids = {r["id"] for r in pool}
log.info("raters: in=%d reward=%d unieval=%d (a record without an assistant turn is not rated)", len(ids),
         len(ids & set(reward)), len(ids & set(unieval)))
finish(__name__)
