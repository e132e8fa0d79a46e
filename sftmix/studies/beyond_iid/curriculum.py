"""Dependency-Taxonomy guided Curriculum SFT (DT-CSFT) and its baselines (Beyond IID).

A *schedule* is the full training sequence as a list of records, each a copy of a record of D
with ``meta["stage"]`` in 1..S; the same id appears once per occurrence. The trainer
(:func:`sftmix.sft.training_order` with ``mode="staged"``) trains the stages in ascending order,
shuffles only inside a stage, and keeps every occurrence. The order of records inside a stage in
the returned list carries no meaning.

* :func:`dt_csft_schedule`: three stages of |D| each. Stage 1 = D plus k extra copies of
  preliminary samples minus k subsequential samples; stage 2 = D; stage 3 = the reverse of
  stage 1 (D minus those k preliminary samples plus k extra copies of those k subsequential
  ones). Every sample appears exactly three times, the same as 3 epochs over D.
* :func:`mixplus_schedule`: the Mix+ baseline, 2|D| extra preliminary instructions from outside D
  mixed uniformly into the 3 epochs.
* :func:`baseline_schedule`: D for 3 epochs (the paper's baseline) in the same staged format.

Layers (preliminary / intermediary / subsequential, the paper's Table 1) come from config as a
mapping category name -> layer; category names never appear in code. A category missing from
the mapping, or mapped to another value, is treated as neither preliminary nor subsequential.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ...records import Record
from ...rng import rng

log = logging.getLogger(__name__)

PRELIMINARY = "preliminary"
INTERMEDIARY = "intermediary"
SUBSEQUENTIAL = "subsequential"
UNASSIGNED = "unassigned"


def curriculum_k(n: int) -> int:
    """The number of samples DT-CSFT moves between stages: ``N // 10``, or ``N // 20`` when
    ``N >= 50,000`` (as in the authors' curriculum script). Rounded down (floor division), so
    k is an integer and never exceeds the fraction."""
    if n < 0:
        raise ValueError(f"curriculum_k: negative size {n}")
    return n // 20 if n >= 50_000 else n // 10


def layer_of(record: Record, layers: Mapping[str, str]) -> str:
    """The taxonomy layer of a record's ``meta["category"]`` (``"unassigned"`` if unmapped)."""
    return layers.get(record.get("meta", {}).get("category"), UNASSIGNED)


def _staged_copy(record: Record, stage: int) -> Record:
    out = copy.deepcopy(record)
    out.setdefault("meta", {})["stage"] = stage
    return out


def _check_unique(records: Sequence[Record], where: str) -> None:
    dup = [i for i, n in Counter(r["id"] for r in records).items() if n > 1]
    if dup:
        raise ValueError(f"{where}: D has {len(dup)} duplicated id(s), e.g. {dup[:3]}; every "
                         f"sample must be distinct")


def _warn_unmapped(records: Sequence[Record], layers: Mapping[str, str], where: str) -> None:
    unmapped = Counter(r.get("meta", {}).get("category") for r in records
                       if layer_of(r, layers) not in (PRELIMINARY, INTERMEDIARY, SUBSEQUENTIAL))
    if unmapped:
        log.warning("%s: %d record(s) in categories without a preliminary/intermediary/"
                    "subsequential layer count as neither preliminary nor subsequential: %s", where,
                    sum(unmapped.values()), dict(unmapped.most_common(5)))


def dt_csft_schedule(records: Sequence[Record], layers: Mapping[str, str], *, seed: int,
                     k: int | None = None,
                     on_empty: Literal["error", "baseline"] = "error") -> list[Record]:
    """The DT-CSFT training sequence over D = ``records`` (three stages, 3|D| records in all).

    Let P / S be D's preliminary / subsequential samples (by ``layers[meta["category"]]``) and
    A subset of P, B subset of S, |A| = |B| = k, drawn with ``seed`` (ids sorted first, so the
    draw does not depend on the input order)::

        stage 1 = D + A - B      (k more preliminary, k fewer subsequential than D)
        stage 2 = D
        stage 3 = D - A + B      (k fewer preliminary, k more subsequential than D)

    Each stage has |D| records; a sample of A occurs 2 + 1 + 0 times, of B 0 + 1 + 2 times, any
    other 1 + 1 + 1 times: exactly three times overall, like 3 epochs over D. The total is 3|D|.

    ``k`` defaults to :func:`curriculum_k` (|D| // 10, or // 20 from 50,000), as the authors'
    script; the paper's text ("+50% preliminary in the first |D|") corresponds to k = |P| / 2,
    pass it explicitly for that reading. k is capped at min(|P|, |S|) (A and B are drawn without
    replacement) with a logged warning.

    With no preliminary or no subsequential sample in D the curriculum is undefined:
    ``on_empty="error"`` (default) raises ``ValueError``; ``on_empty="baseline"`` logs a warning
    and returns :func:`baseline_schedule` (3 identical stages), i.e. k = 0.
    Records are deep copies with ``meta["stage"]`` set; the input is not modified.
    """
    recs = list(records)
    if not recs:
        raise ValueError("dt_csft_schedule: empty instruction set")
    _check_unique(recs, "dt_csft_schedule")
    _warn_unmapped(recs, layers, "dt_csft_schedule")
    if k is None:
        k = curriculum_k(len(recs))
    if k < 0:
        raise ValueError(f"dt_csft_schedule: k must be >= 0, got {k}")
    pre = sorted((r for r in recs if layer_of(r, layers) == PRELIMINARY), key=lambda r: r["id"])
    sub = sorted((r for r in recs if layer_of(r, layers) == SUBSEQUENTIAL), key=lambda r: r["id"])
    if not pre or not sub:
        missing = " and ".join(n for n, s in ((PRELIMINARY, pre), (SUBSEQUENTIAL, sub)) if not s)
        msg = (f"dt_csft_schedule: D ({len(recs)} records) has no {missing} samples; the "
               f"curriculum needs both (check the layer mapping)")
        if on_empty == "baseline":
            log.warning("%s; falling back to the 3-epoch baseline schedule", msg)
            return baseline_schedule(recs, epochs=3)
        raise ValueError(msg)
    cap = min(len(pre), len(sub))
    if k > cap:
        log.warning("dt_csft_schedule: k=%d capped to %d (D has %d preliminary and %d "
                    "subsequential samples)", k, cap, len(pre), len(sub))
        k = cap
    r = rng(seed, "dt_csft")
    moved_pre = r.sample(pre, k)
    moved_sub = r.sample(sub, k)
    a_ids = {x["id"] for x in moved_pre}
    b_ids = {x["id"] for x in moved_sub}

    schedule: list[Record] = []
    schedule.extend(_staged_copy(x, 1) for x in recs if x["id"] not in b_ids)
    schedule.extend(_staged_copy(x, 1) for x in moved_pre)
    schedule.extend(_staged_copy(x, 2) for x in recs)
    schedule.extend(_staged_copy(x, 3) for x in recs if x["id"] not in a_ids)
    schedule.extend(_staged_copy(x, 3) for x in moved_sub)
    log.info("DT-CSFT: |D|=%d, k=%d (preliminary %d, subsequential %d), %d records in 3 stages",
             len(recs), k, len(pre), len(sub), len(schedule))
    return schedule


def mixplus_schedule(records: Sequence[Record], extra_preliminary_pool: Sequence[Record], *,
                     seed: int, epochs: int = 3, n_extra: int | None = None,
                     layers: Mapping[str, str] | None = None) -> list[Record]:
    """The Mix+ baseline: ``epochs`` passes over D with ``n_extra`` (default 2|D|) additional
    preliminary instructions mixed uniformly into them.

    The extras come from ``extra_preliminary_pool`` (instructions outside D; pool records whose id
    is in D are dropped, with a warning). When ``layers`` is given, pool records that are not in a
    preliminary category are dropped too. The draw is seeded and without replacement when the pool
    is large enough; otherwise the whole pool is used and the rest drawn with replacement (logged).
    The extras are split over the epochs in sizes differing by at most one, so stage e (= epoch e)
    is D plus about ``n_extra / epochs`` extras; the trainer shuffles inside each stage. The total
    is ``epochs * |D| + n_extra`` (3|D| + 2|D| by default).
    """
    recs = list(records)
    if not recs:
        raise ValueError("mixplus_schedule: empty instruction set")
    if epochs < 1:
        raise ValueError(f"mixplus_schedule: epochs must be >= 1, got {epochs}")
    _check_unique(recs, "mixplus_schedule")
    d_ids = {x["id"] for x in recs}
    pool = [x for x in extra_preliminary_pool if x["id"] not in d_ids]
    if len(pool) < len(extra_preliminary_pool):
        log.warning("mixplus_schedule: dropped %d pool record(s) already in D",
                    len(extra_preliminary_pool) - len(pool))
    if layers is not None:
        kept = [x for x in pool if layer_of(x, layers) == PRELIMINARY]
        if len(kept) < len(pool):
            log.warning("mixplus_schedule: dropped %d non-preliminary pool record(s)",
                        len(pool) - len(kept))
        pool = kept
    seen: set[str] = set()
    pool = [x for x in sorted(pool, key=lambda x: x["id"]) if not (x["id"] in seen or seen.add(x["id"]))]
    if n_extra is None:
        n_extra = 2 * len(recs)
    if n_extra < 0:
        raise ValueError(f"mixplus_schedule: n_extra must be >= 0, got {n_extra}")
    if n_extra > 0 and not pool:
        raise ValueError(f"mixplus_schedule: {n_extra} extra preliminary instructions wanted, "
                         f"but the pool (outside D) is empty")
    r = rng(seed, "mixplus")
    if n_extra <= len(pool):
        extras = r.sample(pool, n_extra)
    else:
        log.warning("mixplus_schedule: pool has %d instructions for %d extras; all are used and "
                    "%d are drawn again with replacement", len(pool), n_extra, n_extra - len(pool))
        extras = list(pool) + [r.choice(pool) for _ in range(n_extra - len(pool))]
        r.shuffle(extras)
    per, rem = divmod(n_extra, epochs)
    schedule: list[Record] = []
    start = 0
    for e in range(epochs):
        size = per + (1 if e < rem else 0)
        schedule.extend(_staged_copy(x, e + 1) for x in recs)
        schedule.extend(_staged_copy(x, e + 1) for x in extras[start:start + size])
        start += size
    return schedule


def baseline_schedule(records: Sequence[Record], epochs: int = 3) -> list[Record]:
    """The paper's baseline: D for ``epochs`` epochs, as stages ``meta["stage"] = epoch + 1``
    (each epoch is reshuffled by the trainer, inside its stage)."""
    recs = list(records)
    if not recs:
        raise ValueError("baseline_schedule: empty instruction set")
    if epochs < 1:
        raise ValueError(f"baseline_schedule: epochs must be >= 1, got {epochs}")
    return [_staged_copy(x, e + 1) for e in range(epochs) for x in recs]


def schedule_summary(schedule: Sequence[Record], layers: Mapping[str, str]) -> dict[str, Any]:
    """Per-stage record counts per layer, for reports and tests::

        {"stages": {1: {"preliminary": n, "intermediary": n, "subsequential": n,
                        "unassigned": n, "total": n, "unique": n}, ...},
         "total": n, "unique_ids": n, "max_occurrences": n}

    Categories not in ``layers`` count as ``"unassigned"``; ``unique`` counts distinct ids in a
    stage; ``max_occurrences`` is the most times one id occurs in the whole schedule.
    """
    stages: dict[int, Counter] = {}
    ids: dict[int, set[str]] = {}
    occ = Counter(x["id"] for x in schedule)
    for x in schedule:
        s = int(x["meta"]["stage"])
        stages.setdefault(s, Counter())[layer_of(x, layers)] += 1
        ids.setdefault(s, set()).add(x["id"])
    out: dict[int, dict[str, int]] = {}
    for s in sorted(stages):
        row = {name: stages[s].get(name, 0)
               for name in (PRELIMINARY, INTERMEDIARY, SUBSEQUENTIAL, UNASSIGNED)}
        for name, n in stages[s].items():
            row.setdefault(name, n)
        row["total"] = sum(stages[s].values())
        row["unique"] = len(ids[s])
        out[s] = row
    return {"stages": out, "total": len(schedule), "unique_ids": len(occ),
            "max_occurrences": max(occ.values(), default=0)}
