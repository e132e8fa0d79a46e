"""Rule iterit_selection: one selection of M pool records (N for vanilla) by a baseline or the
no-iteration ablation; trained by the engine's finetune rule for the study's common steps."""

from sftmix.logutil import finish, limit_threads, setup_logging
from sftmix.quality import read_ifd_table, read_quality
from sftmix.records import read_json, read_jsonl, write_json, write_jsonl
from sftmix.studies.iterit import select
from sftmix.studies.iterit.experiments import m_of

log = setup_logging(snakemake.log[0])  # noqa: F821
limit_threads(snakemake.threads)  # noqa: F821
inp, p = snakemake.input, snakemake.params  # noqa: F821
method, s = snakemake.wildcards.method, p.settings  # noqa: F821
pool = list(read_jsonl(inp.pool))
ids = [r["id"] for r in pool]
m = m_of(len(pool), p.share)
ngram = tuple(s["ngram"])
quality = {r["id"]: r for r in read_quality(inp.quality)} if "quality" in inp.keys() else {}
if method == "vanilla":
    chosen = ids
elif method == "random":
    chosen = select.random_subset(ids, m, p.seed)
elif method == "longest":
    chosen = select.longest(pool, m, p.seed)
elif method == "superfilter":
    chosen = select.top_ifd(pool, read_ifd_table(inp.proxy_ifd), m, p.seed)
elif method == "graphfilter":
    chosen = select.graphfilter(pool, {i: quality[i]["ifd"] for i in ids}, m, ngram_range=ngram, seed=p.seed)
elif method == "deita":
    from sftmix.embedding import embed, l2_normalize, load_embedding_model

    scores = {i: quality[i]["deita"] for i in ids}
    encoder = load_embedding_model(s["embedding_model"])
    vectors = l2_normalize(embed(encoder, [select.record_text(r, "both") for r in pool], progress=True))
    chosen = select.deita_select(ids, scores, vectors, m, threshold=s["deita_threshold"], seed=p.seed)
elif method == "noiter":
    info = read_json(inp.candidates_info)
    candidates = list(read_jsonl(inp.candidates))
    res = select.iterit_select(candidates, {r["id"]: quality[r["id"]]["ifd"] for r in candidates}, info["m"],
                               b=s["b"], part="response", ngram_range=ngram, seed=p.seed)
    chosen = res["selected"]
else:
    raise ValueError(f"iterit_selection: unknown method {method!r}")
by_id = {r["id"]: r for r in pool}
write_jsonl(snakemake.output.trainset, [by_id[i] for i in chosen])  # noqa: F821
target = len(pool) if method == "vanilla" else m
info = {"method": method, "n_pool": len(pool), "share": p.share, "m": m, "n_selected": len(chosen),
        "shortfall": max(0, target - len(chosen)), "seed": p.seed}
write_json(snakemake.output.info, info)  # noqa: F821
log.info("iterit_selection %s: pool=%d M=%d selected=%d shortfall=%d", method, len(pool), m, len(chosen),
         info["shortfall"])
if info["shortfall"]:
    log.warning("iterit_selection %s: %d fewer than asked (too few eligible records); it still trains the "
                "study's common steps", method, info["shortfall"])
finish(__name__)
