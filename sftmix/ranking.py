"""Ranking records by a score: best first, ties broken by a seeded draw.

The one ranking every quality selection uses (the quality-score baselines, D_qs and the per-category
top-k of the mixtures in :mod:`sftmix.studies.beyond_iid.mixture`) and that
:mod:`sftmix.quality_validation` scores, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .rng import derive_seed


def rank_key(scores: Mapping[str, float], seed: int) -> Callable[[Mapping[str, Any]], tuple[float, int]]:
    """Sort key of a record: highest ``scores[id]`` first; ties broken by a seeded draw (a keyed
    hash of the id, ``derive_seed(seed, "tie", id)``), never by the id itself, so which of many
    equal scores (#InsTag counts, lengths) comes first is not an artefact of how ids sort."""
    def key(r: Mapping[str, Any]) -> tuple[float, int]:
        return (-float(scores[r["id"]]), derive_seed(seed, "tie", r["id"]))
    return key


def top_n(records: Sequence[Mapping[str, Any]], scores: Mapping[str, float], n: int, *,
          seed: int) -> list[Mapping[str, Any]]:
    """The ``n`` best records by :func:`rank_key` (all of them when there are fewer)."""
    return sorted(records, key=rank_key(scores, seed))[: max(0, int(n))]
