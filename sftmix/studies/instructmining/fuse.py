"""InstructMining's data: the estimation/selection split of the candidate pool, the randomly fused
rule-estimation datasets (Sec. 3.1, Sec. 3.2) and the selections (Sec. 2.3).

The paper fits its rule on datasets fused from four candidate sources of different presumed
quality ("a random number r_i for each dataset, ``1000 r_i / sum_i r_i`` samples from each") and
applies it to *unseen* datasets. Here the candidate pool is split once, seeded: the estimation
part feeds the fused datasets, the selection part is what the rule (and random) select from.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ...records import Record
from ...rng import rng


def split_pool(ids: Iterable[str], share: float, seed: int) -> tuple[list[str], list[str]]:
    """``(estimation, selection)``: a seeded draw of ``round(share x n)`` ids for the estimation
    datasets, the rest for selection; both sorted. The draw depends only on the set of ids."""
    pool = sorted(set(ids))
    n_est = round(share * len(pool))
    if not 0 < n_est < len(pool):
        raise ValueError(f"instructmining.estimation_share: {share} of {len(pool)} candidates leaves one part empty")
    est = set(rng(seed, "instructmining", "split").sample(pool, n_est))
    return sorted(est), sorted(i for i in pool if i not in est)


def by_source(records: Iterable[Record], sources: Sequence[str] | None = None) -> dict[str, list[Record]]:
    """Records grouped by ``source`` (sorted by id inside a source); ``sources`` restricts and
    orders them (a listed source without records is an error: its share could not be drawn)."""
    out: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        out[str(r["source"])].append(r)
    names = sorted(out) if sources is None else list(sources)
    missing = [s for s in names if not out.get(s)]
    if missing:
        raise ValueError(f"instructmining.estimation.sources: no estimation records from {missing}")
    return {s: sorted(out[s], key=lambda r: r["id"]) for s in names}


def source_counts(weights: Sequence[float], size: int, available: Sequence[int]) -> list[int]:
    """Samples drawn from each source: ``size x r_i / sum(r)`` rounded by largest remainder (so
    they sum to ``size``), then capped by what a source holds; the cap's shortfall is given to the
    other sources in proportion to their weights while they have records left (the dataset keeps
    its size whenever the sources hold enough)."""
    if len(weights) != len(available) or not weights:
        raise ValueError("source_counts: one weight per source")
    total = min(size, sum(available))
    counts = [0] * len(weights)
    open_ = [i for i in range(len(weights)) if available[i] > 0]
    remaining = total
    while remaining > 0 and open_:
        wsum = sum(weights[i] for i in open_)
        exact = {i: remaining * weights[i] / wsum for i in open_}
        add = {i: math.floor(exact[i]) for i in open_}
        left = remaining - sum(add.values())
        for i in sorted(open_, key=lambda i: (-(exact[i] - add[i]), i))[:left]:
            add[i] += 1
        for i in open_:
            take = min(add[i], available[i] - counts[i])
            counts[i] += take
            remaining -= take
        open_ = [i for i in open_ if counts[i] < available[i]]
    return counts


def fused_dataset(sources: Mapping[str, Sequence[Record]], size: int, seed: int, index: int
                  ) -> tuple[list[Record], dict[str, Any]]:
    """The ``index``-th rule-estimation dataset (Sec. 3.2): r_i ~ U(0, 1) per source, then
    :func:`source_counts` samples drawn without replacement from each source. Returns the records
    (sorted by id) and ``{"weights", "counts", "shortfall"}`` (shortfall: samples missing from
    ``size`` because the sources hold fewer)."""
    r = rng(seed, "instructmining", "fuse", index)
    names = list(sources)
    weights = [r.random() for _ in names]
    counts = source_counts(weights, size, [len(sources[s]) for s in names])
    chosen: list[Record] = []
    for name, n in zip(names, counts, strict=True):
        chosen.extend(rng(seed, "instructmining", "fuse", index, name).sample(list(sources[name]), n))
    info = {"weights": dict(zip(names, weights, strict=True)), "counts": dict(zip(names, counts, strict=True)),
            "shortfall": size - sum(counts)}
    return sorted(chosen, key=lambda rec: rec["id"]), info


def random_selection(ids: Sequence[str], k: int, seed: int) -> list[str]:
    """The random baseline: ``k`` ids drawn uniformly without replacement (seeded; sorted)."""
    return sorted(rng(seed, "instructmining", "random", k).sample(sorted(ids), min(k, len(ids))))
