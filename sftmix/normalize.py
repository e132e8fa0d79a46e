"""Tag normalization (Beyond IID): merge semantically similar tags.

The paper embeds every tag with BGE, treats two tags as similar when the cosine similarity of their
embeddings is at least lambda = 0.85, and normalizes each set of similar tags to its most frequent
member (citing Hahsler et al.'s ``dbscan``). Here: scikit-learn
``DBSCAN(eps=1 - threshold, min_samples=1, metric="cosine")``. With ``min_samples=1`` every tag is
a core point, so the clusters are exactly the connected components of the graph that links tags
with cosine distance <= eps, i.e. cosine >= threshold: single-linkage grouping. Groups can chain
(a~b and b~c merge a and c even when cos(a, c) < threshold).

Memory: ``algorithm="brute"`` computes the distances in row chunks bounded by scikit-learn's
``working_memory`` (set to :data:`WORKING_MEMORY_MB`), so the dense n x n matrix is never held at
once; what is kept is the neighbour lists (one entry per pair above the threshold, so memory also
grows with the number of similar pairs). Measured: 20k tags x 384 dims in ~7 s with ~0.6 GB peak
RSS on 2 CPU cores (the paper keeps ~21k normalized tags). Time grows as n^2 * dim: for far more
than ~100k distinct tags, pre-filter rare tags or normalize in frequency bands.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .records import read_typed_tsv, write_typed_tsv

WORKING_MEMORY_MB = 256
"""Size of the distance-matrix row chunks DBSCAN computes at a time (scikit-learn working_memory)."""


def _representative(members: list[str], tag_counts: Mapping[str, int]) -> str:
    """Most frequent member; ties: lexicographically smallest."""
    return min(members, key=lambda t: (-int(tag_counts[t]), t))


def cluster_labels(embeddings: np.ndarray, threshold: float = 0.85, n_jobs: int | None = None
                   ) -> np.ndarray:
    """Group labels of single-linkage clusters at cosine >= ``threshold`` (DBSCAN, min_samples=1)."""
    from sklearn import config_context
    from sklearn.cluster import DBSCAN

    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be 2-D, got shape {x.shape}")
    if len(x) == 0:
        return np.zeros(0, dtype=np.int64)
    if len(x) == 1:
        return np.zeros(1, dtype=np.int64)
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    # float32 rounding: a pair at exactly the threshold must still be linked (tolerance 1e-6)
    eps = max(1.0 - float(threshold), 0.0) + 1e-6
    db = DBSCAN(eps=eps, min_samples=1, metric="cosine", algorithm="brute", n_jobs=n_jobs)
    with config_context(working_memory=WORKING_MEMORY_MB):
        return db.fit_predict(x).astype(np.int64)


def normalize_tags(tag_counts: Mapping[str, int], embeddings: np.ndarray, threshold: float = 0.85
                   ) -> list[dict[str, Any]]:
    """Merge tags whose embeddings have cosine >= ``threshold`` (single linkage, see module doc).

    ``embeddings`` rows are aligned with ``sorted(tag_counts)``. Each group is represented by its
    most frequent member (ties: the lexicographically smallest). Returns one row per tag, sorted by
    tag: ``{"tag", "normalized", "count", "group_count", "group_size"}`` where ``group_count`` is
    the summed count of the group and ``group_size`` its number of tags.
    """
    tags = sorted(tag_counts)
    emb = np.asarray(embeddings)
    if emb.ndim != 2 or emb.shape[0] != len(tags):
        raise ValueError(f"embeddings shape {emb.shape} does not match {len(tags)} tags")
    if not tags:
        return []
    labels = cluster_labels(emb, threshold)
    groups: dict[int, list[str]] = {}
    for tag, label in zip(tags, labels, strict=True):
        groups.setdefault(int(label), []).append(tag)
    rows: list[dict[str, Any]] = []
    for members in groups.values():
        rep = _representative(members, tag_counts)
        total = sum(int(tag_counts[t]) for t in members)
        for t in members:
            rows.append({"tag": t, "normalized": rep, "count": int(tag_counts[t]),
                         "group_count": total, "group_size": len(members)})
    rows.sort(key=lambda r: r["tag"])
    return rows


def normalize_tag_counts(tag_counts: Mapping[str, int], embed_fn: Callable[[list[str]], np.ndarray],
                         threshold: float = 0.85) -> list[dict[str, Any]]:
    """:func:`normalize_tags` with the embeddings computed by ``embed_fn(sorted(tag_counts))``."""
    tags = sorted(tag_counts)
    if not tags:
        return []
    return normalize_tags(tag_counts, np.asarray(embed_fn(tags)), threshold)


TAG_MAP_COLUMNS = ("tag", "normalized", "count", "group_count", "group_size")
"""Columns of ``tag_map.tsv``: the rows of :func:`normalize_tags`."""
_TAG_MAP_INTS = frozenset({"count", "group_count", "group_size"})


def write_tag_map(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write ``tag_map.tsv``: the rows of :func:`normalize_tags` under the header
    :data:`TAG_MAP_COLUMNS` (counts as ints; tags are free text, so csv quoting). Read it back with
    :func:`read_tag_map`. Returns the number of rows."""
    return write_typed_tsv(path, rows, TAG_MAP_COLUMNS, ints=_TAG_MAP_INTS, quoted=True, what="tag map TSV")


def read_tag_map(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``tag_map.tsv`` written by :func:`write_tag_map` (file order; counts as ints).
    ``mapping_from_rows(read_tag_map(path))`` is the ``{tag: normalized}`` mapping."""
    return read_typed_tsv(path, TAG_MAP_COLUMNS, ints=_TAG_MAP_INTS, quoted=True, what="tag map TSV")


def mapping_from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """``{tag: normalized}`` from the rows of :func:`normalize_tags`."""
    return {r["tag"]: r["normalized"] for r in rows}


def apply_normalization(tags: Iterable[str], mapping: Mapping[str, str]) -> list[str]:
    """Map each tag (unknown tags map to themselves); keep order, drop duplicates after mapping."""
    out: list[str] = []
    seen: set[str] = set()
    for t in tags:
        n = mapping.get(t, t)
        if n not in seen:
            seen.add(n)
            out.append(n)
    return out


def apply_normalization_scored(tags: Iterable[Any], mapping: Mapping[str, str]
                               ) -> list[list[Any]]:
    """Like :func:`apply_normalization` for ``[tag, score]`` pairs: a normalized tag that several
    raw tags map to keeps the highest score, at the position of its first occurrence."""
    out: dict[str, float] = {}
    for item in tags:
        tag, score = (item, 1.0) if isinstance(item, str) else (item[0], float(item[1]))
        n = mapping.get(tag, tag)
        if n not in out or score > out[n]:
            out[n] = score
    return [[t, s] for t, s in out.items()]


def count_tags(tag_rows: Iterable[Mapping[str, Any]]) -> Counter:
    """How many records carry each tag (a tag counts once per record) in rows ``{"tags": [...]}``
    whose entries are ``[tag, score]`` pairs or plain strings."""
    counts: Counter = Counter()
    for row in tag_rows:
        seen = {t if isinstance(t, str) else t[0] for t in row.get("tags") or []}
        counts.update(seen)
    return counts
