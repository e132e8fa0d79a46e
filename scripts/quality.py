"""Rule quality: per-record quality scores of the pool (IFD, #InsTag complexity, length, DEITA)."""

import math
import os
import time

from sftmix.logutil import finish, limit_threads, offline_env, setup_logging
from sftmix.records import read_jsonl

log = setup_logging(snakemake.log[0])  # noqa: F821
cfg = snakemake.params.quality  # noqa: F821
model_path = str(snakemake.params.model)  # noqa: F821  (a dir, or a hub id)
scorer_path = cfg.get("deita_scorer")
scorer_path = str(scorer_path) if scorer_path else None
if all(os.path.isdir(p) for p in (model_path, scorer_path) if p is not None):
    offline_env()
limit_threads(snakemake.threads)  # noqa: F821
from sftmix.normalize import mapping_from_rows, read_tag_map  # noqa: E402
from sftmix.quality import (  # noqa: E402
    DEFAULT_DEITA_TEMPLATE,
    DEFAULT_SCORE_LABELS,
    deita_scores,
    ifd_scores,
    instag_scores,
    length_scores,
    quality_table,
    write_quality,
)
from sftmix.scoring import load_causal_lm  # noqa: E402

records = list(read_jsonl(snakemake.input.pool))  # noqa: F821
tag_map = mapping_from_rows(read_tag_map(snakemake.input.tag_map))  # noqa: F821
log.info("quality: %d records in, %d tags in the tag map", len(records), len(tag_map))
dtype = cfg.get("dtype", "float32")
common = {"batch_size": int(cfg["batch_size"]), "max_length": int(cfg["max_length"]), "device": cfg["device"]}

template = cfg.get("deita_template") or DEFAULT_DEITA_TEMPLATE
deita, t_deita = None, 0.0
if scorer_path is not None and cfg["deita_engine"] == "vllm":
    # first, before this process initializes CUDA: vLLM then forks its engine process (under spawn
    # it would run this script again), and the engine's GPU memory is gone when it is released
    from sftmix.quality import deita_scores_vllm
    from sftmix.vllm_engine import EngineSettings, release_torch_memory

    t0 = time.perf_counter()
    settings = EngineSettings.from_config(scorer_path, cfg["vllm"], seed=snakemake.params.seed,  # noqa: F821
                                          trust_remote_code=False)
    deita = deita_scores_vllm(settings, records, template=template, labels=DEFAULT_SCORE_LABELS,
                              max_length=int(cfg["max_length"]), chat=bool(cfg["deita_chat"]),
                              logprobs=int(cfg["deita_logprobs"]))
    release_torch_memory()
    t_deita = time.perf_counter() - t0

t0 = time.perf_counter()
model, tokenizer = load_causal_lm(model_path, device=cfg["device"], dtype=dtype)
ifd = ifd_scores(model, tokenizer, records, progress=True, **common)
t_ifd = time.perf_counter() - t0

if scorer_path is None:
    log.info("quality: deita skipped (quality.deita_scorer is null); the deita column is NaN")
elif deita is None:
    t0 = time.perf_counter()
    if scorer_path != model_path:
        del model, tokenizer
        model, tokenizer = load_causal_lm(scorer_path, device=cfg["device"], dtype=dtype)
    deita = deita_scores(model, tokenizer, records, template=template, progress=True,
                         chat=bool(cfg["deita_chat"]), **common)
    t_deita = time.perf_counter() - t0

rows = quality_table(records, ifd=ifd, instag=instag_scores(records, tag_map), length=length_scores(records),
                     deita=deita)
write_quality(snakemake.output[0], rows)  # noqa: F821

n_nan = sum(1 for r in rows if math.isnan(r["ifd"]))
n_ge1 = sum(1 for r in rows if r["ifd"] >= 1.0)
log.info("quality: %d records in, %d scored (finite IFD), %d NaN IFD, %d IFD >= 1 (not eligible), "
         "%d eligible", len(records), len(rows) - n_nan, n_nan, n_ge1, len(rows) - n_nan - n_ge1)
if deita is not None:
    d = [v for v in deita.values() if not math.isnan(v)]
    log.info("quality: deita scored %d records (%d NaN), mean %.4f, scorer %s on %s", len(d), len(deita) - len(d),
             sum(d) / len(d) if d else float("nan"), scorer_path, cfg["deita_engine"])
log.info("quality: instag mean %.3f, length mean %.1f chars",
         sum(r["instag"] for r in rows) / max(1, len(rows)), sum(r["length"] for r in rows) / max(1, len(rows)))
log.info("quality: timing ifd %.1f s, deita %.1f s (base model %s)", t_ifd, t_deita, model_path)
finish(__name__)
