"""Benchmark: vectorized MinHash dedup (sftmix.dedup) vs the per-record datasketch loop.

Generates a seeded synthetic corpus of instruction-like records (varied templates filled
with random pseudo-words and numbers, 30-80 words each) with planted near duplicates
(small edits of an earlier original) and exact duplicates (case / whitespace /
punctuation variants of an earlier original), then times, on the same records:

* ``fast_full``: ``dedup_records`` (exact pass + near pass, ``--workers`` processes);
* ``fast_near``: ``dedup_records(exact=False)``: near pass only;
* ``reference``: ``near_dedup_reference``: per-record ``MinHash.update`` loop, near only.

``fast_near`` and ``reference`` have identical semantics; their kept ids and duplicate maps
are checked to be identical and the speedup is ``fast_near`` vs ``reference`` records/s.
With ``--reference-sample N`` the reference (and a fast near run used for the equality
check) runs on the first N records only and its rate is extrapolated (labeled as such).

Precision / recall are measured against the planted duplicates: a record reported as a
duplicate is a true positive when it was planted as one.

Usage::

    python benchmarks/bench_dedup.py --n-records 200000 --workers 2 --out benchmarks/out/dedup.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import string
import sys
import time
from pathlib import Path
from typing import Any

import datasketch
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sftmix.dedup import dedup_records, near_dedup_reference  # noqa: E402

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qu", "do", "fe", "gi",
             "ha", "ju", "be", "cy", "wo", "xi", "ar", "en", "or", "ul", "st", "tr", "ch", "ph"]

USER_TEMPLATES = [
    "Write a short story about {w} and {w} in about {n} words.",
    "Explain how {w} is related to {w}, using {w} as an example.",
    "Summarize the following paragraph: {p}",
    "Translate this sentence into French: {p}",
    "What is {n} multiplied by {n}? Show your work.",
    "Give me {n} ideas for a {w} themed party near {w}.",
    "Write a Python function named {w}_{w} that returns {n}.",
    "Classify the sentiment of this review: {p}",
    "List the main differences between {w} and {w}.",
    "Compose a haiku about {w} at {n} o'clock.",
    "Rewrite the text below in a formal tone. {p}",
    "Answer the question: why does {w} need {n} units of {w}?",
    "Create a quiz with {n} questions about {w}.",
    "Describe the history of {w} in the year {n}.",
    "Fix the grammar in: {p}",
    "You are a helpful assistant. Plan a {n}-day trip to {w}.",
]
RESPONSE_OPENERS = ["Sure!", "Here is the answer:", "Certainly.", "Of course:", "Result:", "",
                    "Let me explain.", "Step 1:"]


class Corpus:
    """Seeded generator of synthetic records with planted duplicates and their ground truth."""

    def __init__(self, seed: int, vocab_size: int = 20000) -> None:
        self.rng = random.Random(seed)
        vocab: set[str] = set()
        while len(vocab) < vocab_size:
            vocab.add("".join(self.rng.choice(SYLLABLES) for _ in range(self.rng.randint(2, 4))))
        self.vocab = sorted(vocab)

    def words(self, k: int) -> list[str]:
        return [self.rng.choice(self.vocab) for _ in range(k)]

    def sentence(self, k: int) -> str:
        out = []
        for w in self.words(k):
            r = self.rng.random()
            if r < 0.05:
                w = str(self.rng.randint(0, 99999))
            elif r < 0.12:
                w += self.rng.choice([",", ";", ":"])
            out.append(w)
        text = " ".join(out)
        return text[0].upper() + text[1:] + self.rng.choice([".", ".", "!", "?"])

    def fill(self, template: str) -> str:
        parts = template.split("{")
        out = [parts[0]]
        for part in parts[1:]:
            slot, rest = part.split("}", 1)
            value = {"w": lambda: self.rng.choice(self.vocab),
                     "n": lambda: str(self.rng.randint(2, 9999)),
                     "p": lambda: self.sentence(self.rng.randint(6, 14))}[slot]()
            out.append(value + rest)
        return "".join(out)

    def original(self, rid: str) -> dict[str, Any]:
        target_words = self.rng.randint(30, 80)
        user = self.fill(self.rng.choice(USER_TEMPLATES))
        remaining = max(8, target_words - len(user.split()))
        body = []
        while remaining > 0:
            k = min(remaining, self.rng.randint(6, 18))
            body.append(self.sentence(k))
            remaining -= k
        response = (self.rng.choice(RESPONSE_OPENERS) + " " + " ".join(body)).strip()
        messages = [{"role": "user", "content": user}, {"role": "assistant", "content": response}]
        if self.rng.random() < 0.1:
            messages.insert(0, {"role": "system", "content": "You are a helpful assistant."})
        return {"id": rid, "source": "bench", "messages": messages, "meta": {}}

    def _edit(self, text: str) -> str:
        words = text.split(" ")
        j = self.rng.randrange(len(words))
        kind = self.rng.choice(["typo", "swap", "punct", "replace", "drop", "insert"])
        if kind == "typo" and words[j]:
            w = words[j]
            p = self.rng.randrange(len(w))
            words[j] = w[:p] + self.rng.choice(string.ascii_lowercase) + w[p + 1:]
        elif kind == "swap" and len(words) > 1:
            j = min(j, len(words) - 2)
            words[j], words[j + 1] = words[j + 1], words[j]
        elif kind == "punct":
            words[j] = words[j].rstrip(",;:.!?") + self.rng.choice(["!", ",", ";", "?", " -"])
        elif kind == "replace":
            words[j] = self.rng.choice(self.vocab)
        elif kind == "drop" and len(words) > 1:
            del words[j]
        else:
            words.insert(j, self.rng.choice(self.vocab))
        return " ".join(words)

    def near_copy(self, rec: dict[str, Any], rid: str) -> dict[str, Any]:
        messages = [dict(m) for m in rec["messages"]]
        editable = [m for m in messages if m["role"] != "system"]
        for _ in range(self.rng.choice([1, 1, 2])):
            m = self.rng.choice(editable)
            m["content"] = self._edit(m["content"])
        return {"id": rid, "source": "bench", "messages": messages, "meta": {}}

    def exact_copy(self, rec: dict[str, Any], rid: str) -> dict[str, Any]:
        messages = []
        for m in rec["messages"]:
            c = m["content"]
            variant = self.rng.choice(["same", "upper", "space", "punct"])
            if variant == "upper":
                c = c.upper()
            elif variant == "space":
                c = "  " + c.replace(" ", "   ", 3) + "\n"
            elif variant == "punct":
                c = c.replace(".", "").replace(",", " ,") + "!!"
            messages.append({"role": m["role"], "content": c})
        return {"id": rid, "source": "bench", "messages": messages, "meta": {}}

    def generate(self, n: int, near_rate: float, exact_rate: float
                 ) -> tuple[list[dict[str, Any]], dict[str, tuple[str, str]]]:
        """``n`` records and ``{dup_id: (source_id, "near"|"exact")}`` for planted duplicates."""
        records: list[dict[str, Any]] = []
        originals: list[dict[str, Any]] = []
        planted: dict[str, tuple[str, str]] = {}
        for i in range(n):
            rid = f"bench-{i:07d}"
            r = self.rng.random()
            if originals and r < near_rate:
                src = self.rng.choice(originals)
                records.append(self.near_copy(src, rid))
                planted[rid] = (src["id"], "near")
            elif originals and r < near_rate + exact_rate:
                src = self.rng.choice(originals)
                records.append(self.exact_copy(src, rid))
                planted[rid] = (src["id"], "exact")
            else:
                rec = self.original(rid)
                records.append(rec)
                originals.append(rec)
        return records, planted


def score(dup_rows: list[dict[str, Any]], planted: dict[str, tuple[str, str]],
          ids: set[str] | None = None) -> dict[str, Any]:
    """Precision / recall of reported duplicates against the planted ones (restricted to ``ids``)."""
    truth = set(planted) if ids is None else set(planted) & ids
    pred = {row["id"] for row in dup_rows}
    tp = len(pred & truth)
    by_kind = {}
    for kind in ("near", "exact"):
        t = {k for k in truth if planted[k][1] == kind}
        by_kind[f"recall_planted_{kind}"] = round(len(pred & t) / len(t), 6) if t else None
    return {"predicted": len(pred), "planted": len(truth), "true_positives": tp,
            "precision": round(tp / len(pred), 6) if pred else 1.0,
            "recall": round(tp / len(truth), 6) if truth else 1.0, **by_kind}


def timed(fn, *args, **kwargs) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-records", type=int, default=200000)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--shingle-unit", choices=["char", "word"], default="char")
    ap.add_argument("--shingle-size", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1, help="MinHash seed")
    ap.add_argument("--data-seed", type=int, default=12345, help="corpus generator seed")
    ap.add_argument("--near-rate", type=float, default=0.05)
    ap.add_argument("--exact-rate", type=float, default=0.02)
    ap.add_argument("--reference-sample", type=int, default=0,
                    help="time the reference on the first N records only and extrapolate its "
                         "rate (0: full run)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    params = {"num_perm": args.num_perm, "threshold": args.threshold,
              "shingle_unit": args.shingle_unit, "shingle_size": args.shingle_size, "seed": args.seed}
    # the fast path verifies by MinHash estimate, as the reference does
    fast = {**params, "near": True, "verify": "minhash", "lsh_threshold": None}

    t0 = time.perf_counter()
    records, planted = Corpus(args.data_seed).generate(args.n_records, args.near_rate, args.exact_rate)
    gen_s = time.perf_counter() - t0
    n = len(records)
    n_words = np.array([sum(len(m["content"].split()) for m in r["messages"]) for r in records])
    print(f"generated {n} records in {gen_s:.1f}s ({len(planted)} planted duplicates)", file=sys.stderr)

    (full_kept, full_dups), full_s = timed(dedup_records, records, exact=True, workers=args.workers, **fast)
    print(f"fast_full: {full_s:.1f}s", file=sys.stderr)
    (near_kept, near_dups), near_s = timed(dedup_records, records, exact=False,
                                           workers=args.workers, **fast)
    print(f"fast_near: {near_s:.1f}s", file=sys.stderr)

    sample = args.reference_sample if 0 < args.reference_sample < n else n
    ref_records = records[:sample]
    (ref_kept, ref_dups), ref_s = timed(near_dedup_reference, ref_records, **params)
    print(f"reference ({sample} records): {ref_s:.1f}s", file=sys.stderr)
    if sample == n:
        cmp_kept, cmp_dups = near_kept, near_dups
    else:
        cmp_kept, cmp_dups = dedup_records(ref_records, exact=False, workers=args.workers, **fast)
    identical = ([r["id"] for r in cmp_kept] == [r["id"] for r in ref_kept]) and cmp_dups == ref_dups

    sample_ids = {r["id"] for r in ref_records}
    fast_near_rate = n / near_s
    ref_rate = sample / ref_s
    summary: dict[str, Any] = {
        "n_records": n,
        "words_per_record": {"min": int(n_words.min()), "mean": round(float(n_words.mean()), 1),
                             "max": int(n_words.max())},
        "planted": {"near": sum(1 for v in planted.values() if v[1] == "near"),
                    "exact": sum(1 for v in planted.values() if v[1] == "exact")},
        "params": {**params, "workers": args.workers, "data_seed": args.data_seed},
        "fast_full": {"seconds": round(full_s, 2), "records_per_s": round(n / full_s, 1),
                      "kept": len(full_kept),
                      "exact_dups": sum(1 for r in full_dups if r["kind"] == "exact"),
                      "near_dups": sum(1 for r in full_dups if r["kind"] == "near"),
                      **score(full_dups, planted)},
        "fast_near": {"seconds": round(near_s, 2), "records_per_s": round(fast_near_rate, 1),
                      "kept": len(near_kept), **score(near_dups, planted)},
        "reference": {"records_timed": sample, "seconds": round(ref_s, 2),
                      "records_per_s": round(ref_rate, 1),
                      "rate_is_extrapolated_from_sample": sample != n,
                      "kept": len(ref_kept), **score(ref_dups, planted, sample_ids)},
        "fast_near_vs_reference_identical": identical,
        "speedup_fast_near_vs_reference": round(fast_near_rate / ref_rate, 2),
        "speedup_fast_full_vs_reference": round((n / full_s) / ref_rate, 2),
        "environment": {"python": platform.python_version(), "numpy": np.__version__,
                        "datasketch": getattr(datasketch, "__version__", "?"),
                        "cpu_count": os.cpu_count(), "generate_seconds": round(gen_s, 1)},
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    if not identical:
        print("ERROR: fast near pass and reference disagree", file=sys.stderr)
        sys.exit(1)
    return summary


if __name__ == "__main__":
    main()
