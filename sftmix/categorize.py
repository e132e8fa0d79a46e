"""From normalized tags to one configured category per record.

Categories live only in config (the paper uses 29)::

    categories = {
        "<category name>": {"tags": ["<tag>", ...],            # listed tags (optional)
                            "description": "<one sentence>"},  # optional
        ...
    }

Config order matters: it breaks ties. Nothing in this module knows any category by name.

Two steps:

1. :func:`build_tag_category_map` maps each (normalized) tag to at most one category:

   * **listed** -- the tag is listed under a category (exact match after lowercasing and collapsing
     whitespace). A tag listed under several categories goes to the first in config order.
   * **embedding** (only when ``embed_fn`` is given) -- otherwise, each category has *anchors*: its
     listed tags and its description (its name only if it has neither). The tag goes to the category
     of its most similar anchor (cosine of ``embed_fn`` vectors) when that similarity is at least
     ``min_similarity``; equal similarities go to the earlier category in config order.
   * otherwise the tag is **unmapped**.

2. :func:`assign_category` votes per record (see its docstring for the tie rule).

:func:`categorize_stage` runs both steps over the deduplicated corpus (the ``categorize`` rule) and
:func:`write_categorize_outputs` writes its files.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .normalize import apply_normalization_scored
from .records import Record, StageCounts, quarantine_row, write_json, write_jsonl, write_typed_tsv

log = logging.getLogger(__name__)

_WS_RE = re.compile(r"\s+")
_TIE_TOL = 1e-9


def _key(tag: str) -> str:
    return _WS_RE.sub(" ", tag).strip().lower()


def _parse_categories(categories: Mapping[str, Mapping[str, Any]]
                      ) -> list[tuple[str, list[str], str]]:
    """``[(name, listed tags, description)]`` in config order; ValueError on malformed config."""
    if not isinstance(categories, Mapping) or not categories:
        raise ValueError("categories must be a non-empty mapping {name: {tags, description}}")
    out = []
    for name, spec in categories.items():
        spec = spec or {}
        if not isinstance(spec, Mapping):
            raise ValueError(f"category {name!r}: expected a mapping, got {type(spec).__name__}")
        listed = spec.get("tags") or []
        if isinstance(listed, str) or not all(isinstance(t, str) for t in listed):
            raise ValueError(f"category {name!r}: 'tags' must be a list of strings")
        description = spec.get("description") or ""
        if not isinstance(description, str):
            raise ValueError(f"category {name!r}: 'description' must be a string")
        out.append((str(name), [t for t in listed if t.strip()], description.strip()))
    return out


def tag_category_table(tags: Iterable[str], categories: Mapping[str, Mapping[str, Any]],
                       embed_fn: Callable[[list[str]], np.ndarray] | None = None,
                       min_similarity: float = 0.5) -> list[dict[str, Any]]:
    """The explained tag -> category table: one row per distinct tag, input order.

    Rows: ``{"tag", "category" (None when unmapped), "rule" ("listed" | "embedding" | "unmapped"),
    "similarity" (best anchor cosine, None when not computed), "anchor" (the best anchor text)}``.
    See the module docstring for the rules."""
    parsed = _parse_categories(categories)
    listed: dict[str, str] = {}
    for name, ltags, _ in parsed:
        for t in ltags:
            listed.setdefault(_key(t), name)  # first category in config order wins

    unique: list[str] = list(dict.fromkeys(t for t in tags if isinstance(t, str)))
    rows: dict[str, dict[str, Any]] = {}
    pending: list[str] = []
    for t in unique:
        cat = listed.get(_key(t))
        if cat is not None:
            rows[t] = {"tag": t, "category": cat, "rule": "listed", "similarity": None,
                       "anchor": t}
        else:
            rows[t] = {"tag": t, "category": None, "rule": "unmapped", "similarity": None,
                       "anchor": None}
            pending.append(t)

    if embed_fn is not None and pending:
        anchor_cat: list[str] = []
        anchor_text: list[str] = []
        for name, ltags, description in parsed:
            texts = [*ltags, description] if (ltags or description) else [name]
            for a in texts:
                if a:
                    anchor_cat.append(name)
                    anchor_text.append(a)
        a_emb = _unit(np.asarray(embed_fn(anchor_text)))
        t_emb = _unit(np.asarray(embed_fn(pending)))
        sims = t_emb @ a_emb.T
        for t, row in zip(pending, sims, strict=True):
            j = int(np.argmax(row))  # first maximum: earliest anchor, i.e. config order
            best = float(row[j])
            rows[t]["similarity"] = round(best, 6)
            rows[t]["anchor"] = anchor_text[j]
            if best >= min_similarity:
                rows[t]["category"] = anchor_cat[j]
                rows[t]["rule"] = "embedding"
    return [rows[t] for t in unique]


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    n[n == 0] = 1.0
    return x / n


def build_tag_category_map(tags: list[str], categories: Mapping[str, Mapping[str, Any]],
                           embed_fn: Callable[[list[str]], np.ndarray] | None = None,
                           min_similarity: float = 0.5) -> dict[str, str]:
    """``{tag: category}`` for the tags that map to a category (unmapped tags are absent).

    Listed tags first (case-insensitive; a tag listed under several categories goes to the first
    in config order), then, with ``embed_fn``, the category of the most similar anchor (listed tag
    or description) if its cosine is >= ``min_similarity``. See :func:`tag_category_table`."""
    return {r["tag"]: r["category"]
            for r in tag_category_table(tags, categories, embed_fn, min_similarity)
            if r["category"] is not None}


def _as_pairs(record_tags: Iterable[Any]) -> list[tuple[str, float]]:
    out = []
    for item in record_tags or []:
        if isinstance(item, str):
            out.append((item, 1.0))
        else:
            out.append((str(item[0]), float(item[1])))
    return out


def assign_category(record_tags: Sequence[Any], tag_map: Mapping[str, str],
                    category_order: Sequence[str]) -> tuple[str | None, str]:
    """One category for a record from its ``(tag, score)`` pairs: ``(category or None, rule)``.

    Each distinct tag that maps to a category (looked up as is, then lowercased) votes for it with
    weight = its score (a tag repeated in the record counts once, with its highest score). The
    category with the largest total wins. Ties (totals within 1e-9) are broken by the highest
    single tag score among the tied categories, then by config order (``category_order``;
    categories missing from it come last, by name).

    Rules: ``"single_category"`` (only one category got votes), ``"vote"`` (a strict winner),
    ``"tie_max_score"``, ``"tie_config_order"``; with category None: ``"no_tags"`` (the record has
    no tags) or ``"unmapped_tags"`` (none of its tags maps to a category).
    """
    pairs = _as_pairs(record_tags)
    if not pairs:
        return None, "no_tags"
    best_score: dict[str, float] = {}
    for tag, score in pairs:
        if tag not in best_score or score > best_score[tag]:
            best_score[tag] = score
    total: dict[str, float] = {}
    top: dict[str, float] = {}
    for tag, score in best_score.items():
        cat = tag_map.get(tag)
        if cat is None:
            cat = tag_map.get(_key(tag))
        if cat is None:
            continue
        total[cat] = total.get(cat, 0.0) + score
        top[cat] = max(top.get(cat, float("-inf")), score)
    if not total:
        return None, "unmapped_tags"
    if len(total) == 1:
        return next(iter(total)), "single_category"

    rank = {c: i for i, c in enumerate(category_order)}

    def order_key(c: str) -> tuple[int, str]:
        return (rank.get(c, len(rank)), c)

    best_total = max(total.values())
    tied = [c for c in total if best_total - total[c] <= _TIE_TOL]
    if len(tied) == 1:
        return tied[0], "vote"
    best_top = max(top[c] for c in tied)
    tied = [c for c in tied if best_top - top[c] <= _TIE_TOL]
    if len(tied) == 1:
        return tied[0], "tie_max_score"
    return min(tied, key=order_key), "tie_config_order"


def categorize_records(tag_rows: Iterable[Mapping[str, Any]], tag_map: Mapping[str, str],
                       category_order: Sequence[str]) -> tuple[list[dict[str, Any]], Counter]:
    """Categorize tag rows ``{"id", "tags": [[tag, score], ...]}`` (tags already normalized).

    Returns rows ``{"id", "category", "tags", "rule"}`` for the categorized records (input order)
    and a Counter of the reasons the others were not categorized (``"no_tags"``,
    ``"unmapped_tags"``; the caller quarantines those as uncategorized)."""
    rows: list[dict[str, Any]] = []
    reasons: Counter = Counter()
    for row in tag_rows:
        tags = row.get("tags") or []
        cat, rule = assign_category(tags, tag_map, category_order)
        if cat is None:
            reasons[rule] += 1
            continue
        rows.append({"id": row["id"], "category": cat,
                     "tags": [[t, s] for t, s in _as_pairs(tags)], "rule": rule})
    return rows, reasons


def categorize_stage(records: Iterable[Record], tag_rows: Iterable[Mapping[str, Any]],
                     mapping: Mapping[str, str], categories: Mapping[str, Mapping[str, Any]], *,
                     embed_fn: Callable[[list[str]], np.ndarray] | None = None,
                     min_similarity: float = 0.5) -> dict[str, Any]:
    """The categorize stage: one configured category per record from its normalized tags.

    ``tag_rows``: ``{"id", "tags": [[tag, score], ...]}`` (raw tags, as the tagger wrote them);
    ``mapping``: raw tag -> normalized tag (``tag_map.tsv``; raw tags not in it, i.e. dropped by
    normalization, do not vote). The normalized tags are mapped to categories with
    :func:`build_tag_category_map`; a record's normalized tags (highest score per normalized tag,
    sorted by score) vote with :func:`assign_category`. Categorized records get
    ``meta.category`` and ``meta.tags`` (``[tag, score rounded to 4 places]``) and keep their
    order; the others are quarantined as ``untagged`` (no kept tag) or ``uncategorized``.

    Returns ``{"records", "quarantine", "stage": StageCounts, "per_category": Counter, "rules":
    Counter (deciding rule per categorized record), "tag_map": {normalized tag: category},
    "counts": the JSON-ready counts (StageCounts + per_category + rules)}``.
    """
    order = list(categories)
    tag_map = build_tag_category_map(sorted(set(mapping.values())), categories, embed_fn=embed_fn,
                                     min_similarity=min_similarity)
    for tag, cat in sorted(tag_map.items()):
        log.info("  tag %r -> %s", tag, cat)
    tags_by_id = {r["id"]: r["tags"] for r in tag_rows}
    stage = StageCounts(stage="categorize")
    out, quarantine, per_cat, rules = [], [], Counter(), Counter()
    for rec in records:
        stage.n_in += 1
        kept = [t for t in tags_by_id.get(rec["id"], []) if t[0] in mapping]
        ranked = sorted(((t, sc) for t, sc in apply_normalization_scored(kept, mapping)), key=lambda kv: -kv[1])
        cat, rule = assign_category(ranked, tag_map, order)
        if cat is None:
            reason = "untagged" if not ranked else "uncategorized"
            stage.quarantine(reason)
            quarantine.append(quarantine_row("categorize", reason, rec, source=rec["source"],
                                             record_id=rec["id"], detail=f"tags={ranked}"))
            continue
        rec["meta"]["category"] = cat
        rec["meta"]["tags"] = [[t, round(float(sc), 4)] for t, sc in ranked]
        out.append(rec)
        stage.kept += 1
        per_cat[cat] += 1
        rules[rule] += 1
    counts = {**stage.to_dict(), "per_category": dict(per_cat), "rules": dict(rules)}
    return {"records": out, "quarantine": quarantine, "stage": stage, "per_category": per_cat,
            "rules": rules, "tag_map": tag_map, "counts": counts}


CATEGORY_TABLE_COLUMNS = ("category", "n_records")


def write_categorize_outputs(result: Mapping[str, Any], categories: Sequence[str],
                             outputs: Mapping[str, str | Path]) -> None:
    """Write a :func:`categorize_stage` result: ``outputs["records"]`` and
    ``outputs["quarantine"]`` (JSONL), ``outputs["counts"]`` (JSON) and ``outputs["table"]``
    (TSV ``category n_records``, one row per category in ``categories`` order)."""
    write_jsonl(outputs["records"], result["records"])
    write_jsonl(outputs["quarantine"], result["quarantine"])
    write_json(outputs["counts"], result["counts"])
    per_cat = result["per_category"]
    write_typed_tsv(outputs["table"], ({"category": c, "n_records": per_cat.get(c, 0)} for c in categories),
                    CATEGORY_TABLE_COLUMNS, ints=frozenset({"n_records"}), what="category table")
