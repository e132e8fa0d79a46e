"""Rule im_search: trial t of InstructMining's BlendSearch over k (Sec. 2.3): k suggested by FLAML
from trials 0..t-1 (their k and their models' dev loss, replayed), the set = the rule's top-k."""

from sftmix.exclusions import read_excluded
from sftmix.logutil import finish, setup_logging
from sftmix.records import read_json, read_jsonl, write_json, write_jsonl
from sftmix.studies.instructmining import estimation, search
from sftmix.studies.instructmining.indicators import read_record_indicators
from sftmix.studies.instructmining.select import select

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, p, wc = snakemake.input, snakemake.params, snakemake.wildcards  # noqa: F821
t = int(wc.t)
candidates = read_json(inp.split)["selection"]
excluded = read_excluded(inp.excluded)
losses = {exp: loss for exp, (loss, _) in estimation.dev_losses(inp.scores, excluded).items()}
history = [(read_json(f)["k"], losses[f"imsearch_{i:02d}"]) for i, f in enumerate(inp.trials)]
low, high = p.search["low"], min(p.search["high"], len(candidates))
if low >= high:
    raise ValueError(f"instructmining.search.low: {low} leaves no range below the {len(candidates)} selection "
                     "candidates (instructmining.search.high is capped by them)")
k = search.suggest_next(history, low=low, high=high, seed=p.seed, budget=p.search["trials"])
exhausted = k is None
if exhausted:  # the searcher has nothing new: the trial repeats the best k so far (marked)
    k = search.best_trial(history)["k"]
    log.warning("im_search trial %d: BlendSearch offers no new k; repeating the best so far, k=%d", t, k)
rows = {r["id"]: r for r in read_record_indicators(inp.indicators)}
chosen, info = select("rule", k, candidates, rows, read_json(inp.rule), p.seed)
keep = set(chosen)
write_jsonl(snakemake.output.trainset, [r for r in read_jsonl(inp.pool) if r["id"] in keep])  # noqa: F821
write_json(snakemake.output.info, {"trial": t, "k": k, "exhausted": exhausted, "low": low, "high": high,  # noqa: F821
                                   "history": [{"k": kk, "loss": ll} for kk, ll in history], **info})
log.info("im_search trial %d: k=%d (range %d-%d) after %s", t, k, low, high,
         ", ".join(f"k={kk} loss={ll:.4f}" for kk, ll in history) or "no trials")
finish(__name__)
