"""Per-category subsets: base set D, added pool C~ and eval set (Beyond IID, Experimental Settings).

The paper uses 1,000 base, 2,000 added and 500 eval instructions per category. The three sets are
disjoint, and the split depends only on the category's record ids and the seed: records are sorted
by id, permuted with a seed derived from (seed, category), and cut in the order eval, base, added.
"""

from __future__ import annotations

import logging
from typing import Any

from .records import Record
from .rng import np_rng

log = logging.getLogger(__name__)


def plan_sizes(n_available: int, base: int, added: int, eval_: int, on_shortfall: str,
               category: str) -> dict[str, int]:
    """Sizes for one category. ``shrink`` keeps the eval set whole when it can and scales
    base and added by the same factor; ``error`` refuses to run short."""
    want = base + added + eval_
    if n_available >= want:
        return {"eval": eval_, "base": base, "added": added}
    if on_shortfall == "error":
        raise ValueError(f"subsets: category {category!r} has {n_available} records, needs "
                         f"{want} (base {base} + added {added} + eval {eval_}); lower subsets.* or "
                         f"set subsets.on_shortfall: shrink")
    e = min(eval_, n_available // 4 if n_available < 4 * eval_ else eval_)
    rest = n_available - e
    scale = rest / max(1, base + added)
    b = min(base, int(base * scale))
    a = min(added, rest - b)
    return {"eval": e, "base": b, "added": a}


def split_category(records: list[Record], category: str, sizes: dict[str, Any], seed: int
                   ) -> tuple[dict[str, list[Record]], dict[str, Any]]:
    """Split one category's records into ``{"eval", "base", "added"}``; returns (sets, counts)."""
    recs = sorted(records, key=lambda r: r["id"])
    plan = plan_sizes(len(recs), int(sizes["base"]), int(sizes["added"]), int(sizes["eval"]),
                      sizes.get("on_shortfall", "error"), category)
    perm = np_rng(seed, "subsets", category).permutation(len(recs))
    out: dict[str, list[Record]] = {}
    start = 0
    for part in ("eval", "base", "added"):
        idx = perm[start:start + plan[part]]
        out[part] = sorted((recs[i] for i in idx), key=lambda r: r["id"])
        start += plan[part]
    unused = len(recs) - start
    counts = {"category": category, "available": len(recs), **{k: len(v) for k, v in out.items()},
              "unused": unused, "requested": {k: int(sizes[k]) for k in ("base", "added", "eval")},
              "shrunk": any(plan[k] < int(sizes[k]) for k in plan)}
    return out, counts
