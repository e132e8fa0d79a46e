"""Per-category subsets: base set D, added pool C~ and eval set (Beyond IID, Experimental Settings).

The paper uses 1,000 base, 2,000 added and 500 eval instructions per category. The three sets are
disjoint, and the split depends only on the category's record ids and the seed: records are sorted
by id, permuted with a seed derived from (seed, category), and cut in the order eval, base, added.

The eval set is cut again, per category, into ``dev`` and ``test`` items (``meta.split``, see
:data:`EVAL_SPLITS`): the analyses that *tune* the methods (gamma, the dependency taxonomy) read
only dev items; everything that *compares* methods (mixtures, schedules, lm-eval benchmarks) reads
only test items, so no method is scored on the items it was tuned on.
"""

from __future__ import annotations

import logging
from typing import Any

from .records import Record
from .rng import np_rng

log = logging.getLogger(__name__)


DEV, TEST = "dev", "test"
EVAL_SPLITS = (DEV, TEST)
"""The two disjoint halves of every category's eval set: ``dev`` estimates (gamma, taxonomy),
``test`` compares (mixtures, schedules, benchmarks)."""


def eval_split(record: Record) -> str:
    """An eval record's split (``dev`` or ``test``); ValueError for a record without one."""
    split = record.get("meta", {}).get("split")
    if split not in EVAL_SPLITS:
        raise ValueError(f"eval record {record.get('id')!r} has no meta.split in {EVAL_SPLITS}")
    return str(split)


def in_split(records: list[Record], split: str) -> list[Record]:
    """The eval records of one split, in their order."""
    if split not in EVAL_SPLITS:
        raise ValueError(f"unknown eval split {split!r}; choose from {EVAL_SPLITS}")
    return [r for r in records if eval_split(r) == split]


def assign_splits(eval_records: list[Record], category: str, dev_fraction: float, seed: int) -> list[Record]:
    """Copies of ``eval_records`` (one category's) with ``meta.split``: a seeded permutation of the
    id-sorted records, the first ``round(dev_fraction * n)`` dev, the rest test (each side gets at
    least one item when there are two or more). Returned sorted by id."""
    recs = sorted(eval_records, key=lambda r: r["id"])
    n = len(recs)
    n_dev = round(dev_fraction * n)
    if n >= 2:
        n_dev = min(max(n_dev, 1), n - 1)
    perm = np_rng(seed, "eval_split", category).permutation(n)
    dev = {int(i) for i in perm[:n_dev]}
    return [{**r, "meta": {**r.get("meta", {}), "split": EVAL_SPLITS[0] if k in dev else EVAL_SPLITS[1]}}
            for k, r in enumerate(recs)]


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


def split_category(records: list[Record], category: str, sizes: dict[str, Any], seed: int,
                   exclude: frozenset[str] | set[str] = frozenset()
                   ) -> tuple[dict[str, list[Record]], dict[str, Any]]:
    """Split one category's records into ``{"eval", "base", "added"}``; returns (sets, counts).

    ``exclude``: ids never drawn into base or added (decontam's contaminated records). The eval
    cut comes first from the seeded order of *all* records, so it does not depend on ``exclude``
    (:mod:`sftmix.decontam` protects the eval items, which must be known first); base and added
    follow in the same order, skipping excluded records (without exclusions the sets are those of
    a plain split). When the exclusions leave fewer records than base + added, ``on_shortfall``
    applies again (error, or both shrunk by the same factor)."""
    recs = sorted(records, key=lambda r: r["id"])
    on_shortfall = sizes.get("on_shortfall", "error")
    plan = plan_sizes(len(recs), int(sizes["base"]), int(sizes["added"]), int(sizes["eval"]),
                      on_shortfall, category)
    perm = [int(i) for i in np_rng(seed, "subsets", category).permutation(len(recs))]
    rest = [i for i in perm[plan["eval"]:] if recs[i]["id"] not in exclude]
    n_excluded = len(recs) - plan["eval"] - len(rest)
    if len(rest) < plan["base"] + plan["added"]:
        if on_shortfall == "error":
            raise ValueError(f"subsets: category {category!r} has {len(rest)} records for base + added after "
                             f"decontam left out {n_excluded}, needs {plan['base'] + plan['added']}; lower "
                             f"subsets.* or set subsets.on_shortfall: shrink")
        scale = len(rest) / max(1, plan["base"] + plan["added"])
        plan["base"] = min(plan["base"], int(plan["base"] * scale))
        plan["added"] = min(plan["added"], len(rest) - plan["base"])
    cut = {"eval": perm[:plan["eval"]], "base": rest[:plan["base"]],
           "added": rest[plan["base"]:plan["base"] + plan["added"]]}
    out = {part: sorted((recs[i] for i in idx), key=lambda r: r["id"]) for part, idx in cut.items()}
    out["eval"] = assign_splits(out["eval"], category, float(sizes["dev_fraction"]), seed)
    unused = len(rest) - plan["base"] - plan["added"]
    counts = {"category": category, "available": len(recs), **{k: len(v) for k, v in out.items()},
              **{k: len(in_split(out["eval"], k)) for k in EVAL_SPLITS},
              "unused": unused, "decontaminated": n_excluded,
              "requested": {k: int(sizes[k]) for k in ("base", "added", "eval")},
              "shrunk": any(plan[k] < int(sizes[k]) for k in plan)}
    return out, counts
