"""DoIT's training sets: per-ability record counts drawn from the study's supply.

Every set takes, for each ability, a prefix of that ability's seeded order
(:func:`ability_order`), so within a replicate seed the quantity sweep is nested (the n = 16 set
holds the n = 4 set) and a Reconstruct or Maximum mix shares its records with the sweep: the
curves differ by quantity, not by which records were drawn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ...records import Record
from ...rng import rng


def by_ability(records: Iterable[Record], abilities: Sequence[str]) -> dict[str, list[str]]:
    """``{ability: sorted ids}`` of the supply records of each ability (its category)."""
    out: dict[str, list[str]] = {a: [] for a in abilities}
    for r in records:
        a = r.get("meta", {}).get("category")
        if a in out:
            out[a].append(r["id"])
    return {a: sorted(set(ids)) for a, ids in out.items()}


def ability_order(ids: Iterable[str], ability: str, seed: int) -> list[str]:
    """The seeded permutation of an ability's ids (sorted first: input order does not matter),
    from the ability's own stream ``rng(seed, "doit", "order", ability)``."""
    order = sorted(set(ids))
    rng(seed, "doit", "order", ability).shuffle(order)
    return order


def draw(supply: Mapping[str, Sequence[str]], counts: Mapping[str, int], seed: int, *, where: str
         ) -> list[str]:
    """The ids of a set with ``counts[a]`` records of each ability ``a`` (prefixes of
    :func:`ability_order`), sorted. An ability short of records is a ValueError naming ``where``
    (the config key that asked for them) and the largest count every ability can give."""
    short = {a: (n, len(supply.get(a, ()))) for a, n in counts.items() if n > len(supply.get(a, ()))}
    if short:
        detail = ", ".join(f"{a!r}: {n} asked, {have} held" for a, (n, have) in sorted(short.items()))
        cap = min(len(supply.get(a, ())) for a in counts)
        raise ValueError(f"{where}: too few training records ({detail}); every ability holds at least {cap}")
    ids: list[str] = []
    for a, n in sorted(counts.items()):
        ids.extend(ability_order(supply[a], a, seed)[:n])
    return sorted(ids)


def set_info(counts: Mapping[str, int], supply: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """What a set's info file says: its counts, total and the supply it drew from."""
    return {"counts": dict(sorted(counts.items())), "total": int(sum(counts.values())),
            "supply": {a: len(ids) for a, ids in sorted(supply.items())}}
