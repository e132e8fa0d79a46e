"""Synthetic score tables shared by the gamma and dependency tests."""

from __future__ import annotations

import math

import numpy as np

from sftmix.experiments import slugify

CATS = ["Math Reasoning", "Python", "Logic", "Open QA", "Story Writing", "Role-Play"]
A, B, C, D, E, F = CATS
EXPERIMENTS = ["base"] + [f"add_{slugify(c)}" for c in CATS] + [f"drop_{slugify(c)}" for c in CATS]


def make_scores(effects=None, *, run_sd=0.03, item_sd=0.02, n_items=40, seeds=("1", "2"),
                rng_seed=0, offsets=None, experiments=EXPERIMENTS):
    """Synthetic score tables: nll_mean = difficulty + run offset + item noise + planted effect.

    ``effects[(experiment, category)]`` shifts that experiment's NLL on the category (all seeds);
    run offsets ~ N(0, run_sd) per (experiment, seed, category) unless ``offsets`` fixes one.
    """
    rng = np.random.default_rng(rng_seed)
    effects, offsets = effects or {}, offsets or {}
    difficulty = {c: rng.uniform(1.0, 3.0, n_items) for c in CATS}
    scores = {}
    for e in experiments:
        scores[e] = {}
        for s in seeds:
            rows = []
            for c in CATS:
                u = offsets.get((e, s, c), rng.normal(0.0, run_sd))
                nll = difficulty[c] + u + rng.normal(0.0, item_sd, n_items) + effects.get((e, c), 0.0)
                for k in range(n_items):
                    n_tok = 10 + k
                    rows.append({"id": f"{slugify(c)}-{k:03d}", "category": c, "split": "dev", "n_tokens": n_tok,
                                 "nll_sum": float(nll[k] * n_tok), "nll_mean": float(nll[k]),
                                 "ppl": math.exp(nll[k])})
            scores[e][s] = rows
    return scores
