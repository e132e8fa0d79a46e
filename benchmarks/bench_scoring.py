"""Benchmark: batched response scoring (sftmix.scoring) vs a plain one-record-at-a-time loop.

Builds a small local model the way the embedded default does (sftmix.basemodel): a byte-level
BPE tokenizer (vocab ``--vocab-size``) trained on the text of the smoke world's instruction
items (``sftmix.world`` on config/smoke.yaml) and a randomly initialized Llama (hidden 128,
intermediate 384, 4 layers, 4 heads, max_length 256). Pretraining is skipped: it does not change
the cost of a forward pass. Records are the world's items, cycled (with fresh ids) up to
``--n-records``.

Then, on the same records, in the same process, times:

* ``batched``: ``score_records(batch_size=B)`` (length-sorted, right-padded batches);
* ``loop``: a plain loop: encode one record, one batch-1 forward pass over its full encoding,
  float64 log-softmax NLL over its labelled positions (the same math, no batching, no sorting);
* ``api_batch1`` (unless ``--skip-api-batch1``): ``score_records(batch_size=1)``.

Both count the same tokens: response tokens = labelled (assistant) tokens; total tokens = real
(unpadded) tokens of each encoding after truncation to ``--max-length``. Encoding time is
included in every timing. Reports tokens/s, the speedup batched vs loop, and the max absolute
(and relative) difference of ``nll_sum`` between the two score lists.

Threads: on a shared or oversubscribed CPU, pass ``--threads 1``. With more torch threads than
free cores, OpenMP synchronization slows the many small batch-1 forward passes far more than the
few large batched ones, which inflates the speedup well beyond what batching itself gives.

Usage::

    python benchmarks/bench_scoring.py --n-records 2000 --batch-size 32 --out benchmarks/out/scoring.json
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchlib import emit, environment, load_config  # noqa: E402

from sftmix.basemodel import build_model, train_tokenizer  # noqa: E402
from sftmix.chat import IGNORE_INDEX, encode_conversation  # noqa: E402
from sftmix.records import make_id  # noqa: E402
from sftmix.scoring import load_causal_lm, score_records  # noqa: E402
from sftmix.world import build_resources, generate_items  # noqa: E402

ARCH = {"hidden_size": 128, "intermediate_size": 384, "num_layers": 4, "num_heads": 4,
        "max_length": 256}


def make_records(n: int, config: Path) -> list[dict[str, Any]]:
    """``n`` canonical records from the config's world items (cycled, distinct ids)."""
    cfg = load_config(config)
    world, seed = cfg["world"], int(cfg["seed"])
    items = generate_items(world, seed, build_resources(world, seed))
    return [{"id": make_id("bench", i), "source": "bench",
             "messages": items[i % len(items)].messages,
             "meta": {"category": items[i % len(items)].category}}
            for i in range(n)]


def loop_scores(model: Any, tokenizer: Any, records: list[dict[str, Any]], max_length: int,
                device: str) -> list[float]:
    """The plain reference: one record, one forward pass, at a time."""
    out: list[float] = []
    with torch.inference_mode():
        for rec in records:
            enc = encode_conversation(tokenizer, rec["messages"], max_length)
            labels = torch.tensor(enc["labels"][1:], device=device)
            pos = (labels != IGNORE_INDEX).nonzero(as_tuple=True)[0]
            if pos.numel() == 0:
                out.append(float("nan"))
                continue
            ids = torch.tensor([enc["input_ids"]], device=device)
            logits = model(input_ids=ids, use_cache=False).logits[0, :-1]
            x = logits[pos].to(torch.float64)
            nll = torch.logsumexp(x, dim=-1) - x.gather(1, labels[pos].unsqueeze(1)).squeeze(1)
            out.append(float(nll.sum()))
    return out


def _rates(seconds: float, resp: int, total: int, n: int) -> dict[str, float]:
    return {"seconds": round(seconds, 3), "records_per_s": round(n / seconds, 2),
            "response_tokens_per_s": round(resp / seconds, 1),
            "total_tokens_per_s": round(total / seconds, 1)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-records", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-tokens-per-batch", type=int, default=None)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--vocab-size", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--config", type=Path, default=ROOT / "config" / "smoke.yaml")
    ap.add_argument("--skip-api-batch1", action="store_true",
                    help="do not also time score_records(batch_size=1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    load_start = os.getloadavg()[0]
    records = make_records(args.n_records, args.config)
    texts = sorted({m["content"] for r in records for m in r["messages"]})
    with tempfile.TemporaryDirectory() as d:
        tok = train_tokenizer(texts, args.vocab_size)
        model = build_model(tok, ARCH, seed=args.seed)
        model.save_pretrained(d, safe_serialization=True)
        tok.save_pretrained(d)
        model, tok = load_causal_lm(d, device=args.device)
    setup_s = time.perf_counter() - t0

    encs = [encode_conversation(tok, r["messages"], args.max_length) for r in records]
    resp_tokens = sum(sum(1 for t in e["labels"] if t != IGNORE_INDEX) for e in encs)
    total_tokens = sum(len(e["input_ids"]) for e in encs)

    # warm-up (allocator, kernels) on a few records, both paths
    score_records(model, tok, records[:args.batch_size], batch_size=args.batch_size,
                  max_length=args.max_length, device=args.device)
    loop_scores(model, tok, records[:8], args.max_length, args.device)

    t = time.perf_counter()
    rows = score_records(model, tok, records, batch_size=args.batch_size, max_length=args.max_length,
                         device=args.device, max_tokens_per_batch=args.max_tokens_per_batch)
    batched_s = time.perf_counter() - t

    t = time.perf_counter()
    ref = loop_scores(model, tok, records, args.max_length, args.device)
    loop_s = time.perf_counter() - t

    api1_s = None
    if not args.skip_api_batch1:
        t = time.perf_counter()
        score_records(model, tok, records, batch_size=1, max_length=args.max_length, device=args.device)
        api1_s = time.perf_counter() - t

    pairs = [(r["nll_sum"], x) for r, x in zip(rows, ref, strict=True)
             if not (math.isnan(r["nll_sum"]) and math.isnan(x))]
    max_abs = max((abs(a - b) for a, b in pairs), default=0.0)
    max_rel = max((abs(a - b) / abs(b) for a, b in pairs if b), default=0.0)
    n = len(records)
    result: dict[str, Any] = {
        "benchmark": "scoring",
        "n_records": n,
        "batch_size": args.batch_size,
        "max_tokens_per_batch": args.max_tokens_per_batch,
        "max_length": args.max_length,
        "arch": ARCH,
        "vocab_size": len(tok),
        "n_params": sum(p.numel() for p in model.parameters()),
        "response_tokens": resp_tokens,
        "total_tokens": total_tokens,
        "n_unscorable": sum(1 for r in rows if r["n_tokens"] == 0),
        "setup_seconds": round(setup_s, 2),
        "batched": _rates(batched_s, resp_tokens, total_tokens, n),
        "loop": _rates(loop_s, resp_tokens, total_tokens, n),
        "speedup_batched_vs_loop": round(loop_s / batched_s, 2),
        "max_abs_diff_nll_sum": max_abs,
        "max_rel_diff_nll_sum": max_rel,
        "device": args.device,
        **environment(load_start),
    }
    if api1_s is not None:
        result["api_batch1"] = _rates(api1_s, resp_tokens, total_tokens, n)
        result["speedup_batched_vs_api_batch1"] = round(api1_s / batched_s, 2)
    return emit(result, args.out)


if __name__ == "__main__":
    main()
