"""Benchmark: vLLM offline inference against the transformers batched engine, same prompts.

Needs the ``vllm`` package and a CUDA GPU (``benchmarks/gpu_check.sh`` runs it only where
``import vllm`` works). Builds a local model the way the embedded default does (sftmix.basemodel:
a byte-level BPE tokenizer trained on the smoke world's items, a randomly initialized Llama of
the config's ``base_model.arch`` with ``--arch`` overriding, safetensors), then, in one process:

* **tagging**: the tagging prompts (:func:`sftmix.tagging.tag_prompt_ids`) of ``--n-prompts``
  world instructions, greedy, ``--max-new-tokens`` tokens: :class:`sftmix.tagging.LLMTagger`
  (batched ``generate``, ``--batch-size``) and :class:`sftmix.tagging.VLLMTagger` (one vLLM
  ``generate`` call). Reports generated tokens/s of each (generation only; vLLM's engine start
  separately), the speedup, and the agreement of the outputs: exact-match rate, first-token
  agreement and the mean share of the longer output that the common prefix covers. The weights
  are random, so the next-token distribution is nearly flat and greedy ties can break either way
  under different kernels: the continuous check is the next one;
* **DEITA-style score**: :func:`sftmix.quality.deita_scores` (transformers logits) against
  :func:`sftmix.quality.deita_scores_vllm` (vLLM log-probabilities of every vocabulary token)
  on the same records: the max absolute difference of the expected rating.

Usage::

    python benchmarks/bench_vllm.py --device cuda --out benchmarks/out/gpu_check/vllm.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

def _agreement(a: list[str], b: list[str], tokenizer: Any) -> dict[str, float]:
    exact = first = prefix = 0.0
    for x, y in zip(a, b, strict=True):
        tx = tokenizer(x, add_special_tokens=False)["input_ids"]
        ty = tokenizer(y, add_special_tokens=False)["input_ids"]
        exact += tx == ty
        first += bool(tx) and bool(ty) and tx[0] == ty[0]
        n = 0
        while n < min(len(tx), len(ty)) and tx[n] == ty[n]:
            n += 1
        prefix += n / max(1, len(tx), len(ty))
    k = max(1, len(a))
    return {"exact_match": round(exact / k, 4), "first_token": round(first / k, 4),
            "mean_common_prefix_share": round(prefix / k, 4)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--arch", type=json.loads, default={},
                    help="JSON overriding the config's base_model.arch keys (gpu_check.sh: the 87M shape)")
    ap.add_argument("--n-prompts", type=int, default=512)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=64, help="transformers generate batch")
    ap.add_argument("--n-deita", type=int, default=128)
    ap.add_argument("--vocab-size", type=int, default=4000)
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    ap.add_argument("--gpu-memory-utilization", type=float, default=0.5)
    ap.add_argument("--config", type=Path, default=ROOT / "config" / "smoke.yaml")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    import torch
    from bench_scoring import make_records
    from benchlib import emit, environment, load_config

    from sftmix.basemodel import build_model, train_tokenizer
    from sftmix.quality import deita_scores, deita_scores_vllm
    from sftmix.records import first_instruction
    from sftmix.scoring import load_causal_lm
    from sftmix.tagging import DEFAULT_TAG_PROMPT, LLMTagger, VLLMTagger
    from sftmix.vllm_engine import EngineSettings, load_llm, release_torch_memory

    load_start = os.getloadavg()[0]
    records = make_records(max(args.n_prompts, args.n_deita), args.config)
    texts = [first_instruction(r) for r in records[: args.n_prompts]]
    with tempfile.TemporaryDirectory() as tmp:
        tok = train_tokenizer([m["content"] for r in records for m in r["messages"]], args.vocab_size)
        arch = {**load_config(args.config)["base_model"]["arch"], "max_length": 1024, **args.arch}
        model = build_model(tok, arch, seed=args.seed)
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        n_params = sum(p.numel() for p in model.parameters())
        del model

        # transformers: batched generate, then the DEITA reading from logits
        hf = LLMTagger(tmp, DEFAULT_TAG_PROMPT, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
                       device=args.device, dtype=args.dtype)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        hf_out = hf.generate_raw(texts)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        hf_s = time.perf_counter() - t0
        del hf
        scorer, scorer_tok = load_causal_lm(tmp, device=args.device, dtype=args.dtype)
        deita_recs = records[: args.n_deita]
        hf_deita = deita_scores(scorer, scorer_tok, deita_recs, max_length=512, device=args.device, progress=False)
        del scorer
        release_torch_memory()

        # vLLM: one engine for both stages
        settings = EngineSettings(model=tmp, tensor_parallel_size=1, gpu_memory_utilization=args.gpu_memory_utilization,
                                  max_model_len=arch["max_length"], dtype=args.dtype, seed=args.seed, trust_remote_code=False)
        t0 = time.perf_counter()
        llm = load_llm(settings, config_key="bench", fallback="transformers", max_logprobs=len(tok))
        load_s = time.perf_counter() - t0
        vt = VLLMTagger(settings, DEFAULT_TAG_PROMPT, max_new_tokens=args.max_new_tokens, progress=False, llm=llm)
        t0 = time.perf_counter()
        v_out = vt.generate_raw(texts)
        v_s = time.perf_counter() - t0
        v_deita = deita_scores_vllm(settings, deita_recs, max_length=512, logprobs=len(tok), progress=False, llm=llm)

        def n_tokens(outs: list[str]) -> int:
            return sum(len(tok(o, add_special_tokens=False)["input_ids"]) for o in outs)

        diffs = [abs(v_deita[k] - hf_deita[k]) for k in hf_deita
                 if not (math.isnan(hf_deita[k]) or math.isnan(v_deita[k]))]
        hf_tokens, v_tokens = n_tokens(hf_out), n_tokens(v_out)
        result = {
            "benchmark": "vllm_vs_transformers",
            "device": args.device, "dtype": args.dtype, "arch": arch, "parameters": n_params, "vocab_size": len(tok),
            "n_prompts": len(texts), "max_new_tokens": args.max_new_tokens,
            "transformers": {"seconds": round(hf_s, 3), "generated_tokens": hf_tokens,
                             "tokens_per_s": round(hf_tokens / hf_s, 1), "batch_size": args.batch_size},
            "vllm": {"seconds": round(v_s, 3), "generated_tokens": v_tokens, "tokens_per_s": round(v_tokens / v_s, 1),
                     "engine_start_s": round(load_s, 1)},
            "speedup_vllm_vs_transformers": round((v_tokens / v_s) / max(1e-9, hf_tokens / hf_s), 2),
            "agreement": _agreement(hf_out, v_out, tok),
            "deita": {"n": len(diffs), "max_abs_diff": max(diffs) if diffs else None,
                      "mean_abs_diff": sum(diffs) / len(diffs) if diffs else None},
            "environment": environment(load_start),
        }
    return emit(result, args.out)


if __name__ == "__main__":
    main()
