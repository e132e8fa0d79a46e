"""The rated seed set of the DEITA-style scorer: the world's stand-in for ChatGPT's ratings.

DEITA (Liu et al. 2024) trains its quality scorer on a seed set whose responses an LLM rated 1-6;
the set deliberately spans good and bad answers (EVOL-Quality: responses evolved to be better or
worse). Here the rater is the world's ground truth with noise: a clean response is rated
:data:`RATINGS` ``[None]``, a defective one by its kind (:mod:`sftmix.world.defects`), and each
rating gets Gaussian noise (``noise_sd``) before it is rounded and clipped to 1..6, so the scorer
learns from imperfect labels as the paper's does.

Like the world's ground truth validation, this is the one pipeline stage besides validation that
reads the truth: it plays the external rater. It never touches the records the scorer rates
later (the candidate pool excludes the seed set's ids).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..records import read_typed_tsv, write_typed_tsv
from ..rng import rng
from .defects import DEFECT_KINDS

RATINGS: dict[str | None, float] = {None: 5.0, "truncated": 3.0, "wrong_value": 2.0, "flipped_label": 2.0,
                                    "other_item": 1.0, "filler": 1.0}
"""The noiseless rating of a clean response (key None) and of each defect kind."""
assert set(RATINGS) == {None, *DEFECT_KINDS}

MIN_RATING, MAX_RATING = 1, 6


def rate(defect: str | None, noise: float) -> int:
    """The rating of a response with ``defect`` (a kind, or None when clean) and rater noise
    ``noise`` (a draw from N(0, noise_sd)): ``RATINGS[defect] + noise`` rounded, clipped to 1..6."""
    return int(min(MAX_RATING, max(MIN_RATING, round(RATINGS[defect] + noise))))


def rated_seed_set(records: Iterable[Mapping[str, Any]], truth_records: Mapping[str, Mapping[str, Any]], *,
                   size: int, noise_sd: float, seed: int,
                   exclude: Iterable[str] = ()) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Draw and rate the scorer's seed set: a seeded uniform draw of ``size`` of ``records`` (not
    ``exclude``: the eval items), so the candidate pool, which then leaves the seed set out, keeps
    the share of defective records it had (all there are when fewer than ``size``).

    Returns ``{"id", "category", "defect", "rating"}`` rows in id order and counts ``{"in",
    "excluded", "not_in_truth", "drawn", "defective"}``. A record the ground truth lacks (not a world
    record) cannot be rated: counted, never drawn. The draw is ``rng(seed, "deita_seed")`` over the
    candidates in id order; the rater's noise of each row is its own draw (``rng(seed,
    "deita_rating", id)``), so one row's rating does not depend on the others.
    """
    if size < 1:
        raise ValueError(f"rated_seed_set: size must be >= 1, got {size}")
    if noise_sd < 0:
        raise ValueError(f"rated_seed_set: noise_sd must be >= 0, got {noise_sd}")
    excluded = {str(i) for i in exclude}
    counts = {"in": 0, "excluded": 0, "not_in_truth": 0}
    candidates: list[Mapping[str, Any]] = []
    for r in records:
        counts["in"] += 1
        rid = str(r["id"])
        if rid in excluded:
            counts["excluded"] += 1
        elif rid not in truth_records:
            counts["not_in_truth"] += 1
        else:
            candidates.append(r)
    candidates.sort(key=lambda r: str(r["id"]))
    chosen = rng(seed, "deita_seed").sample(candidates, min(size, len(candidates)))
    rows: list[dict[str, Any]] = []
    for r in chosen:
        rid = str(r["id"])
        defect = truth_records[rid].get("defect")
        rows.append({"id": rid, "category": str((r.get("meta") or {}).get("category") or ""), "defect": defect,
                     "rating": rate(defect, rng(seed, "deita_rating", rid).gauss(0.0, noise_sd))})
    rows.sort(key=lambda row: row["id"])
    counts["drawn"] = len(rows)
    counts["defective"] = sum(row["defect"] is not None for row in rows)
    return rows, counts


SEED_COLUMNS = ("id", "category", "defect", "rating")
"""Columns of the rated seed set's TSV (``defect`` empty when clean)."""


def write_seed_set(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write :func:`rated_seed_set`'s rows as TSV (:data:`SEED_COLUMNS`; a clean row's defect is
    empty); the same rows give the same bytes. Returns the row count."""
    return write_typed_tsv(path, ({**r, "defect": r["defect"] or ""} for r in rows), SEED_COLUMNS,
                           ints=frozenset({"rating"}), what="rated seed set")


def read_seed_set(path: str | Path) -> list[dict[str, Any]]:
    """Rows written by :func:`write_seed_set` (``defect`` None when clean, ``rating`` int)."""
    return [{**r, "defect": r["defect"] or None}
            for r in read_typed_tsv(path, SEED_COLUMNS, ints=frozenset({"rating"}), what="rated seed set")]
