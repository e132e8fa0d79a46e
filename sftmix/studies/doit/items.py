"""DoIT's evaluation items and their scoring (Sec. 4.2), as plain functions over plain data.

An item is one held-out eval record of an ability (its category) with the alternatives its gold
answer must beat:

* ``exact`` (the paper's multiple-choice / true-false items, judged by accuracy): a label item;
  its alternatives are the other labels (the world's ``flipped_label``). Correct when the gold
  label is more likely than every other label: multiple-choice accuracy by log-likelihood, as
  lm-eval scores it.
* ``open`` (open-ended items, judged by *comparison with distractors*): the fine-grained
  distractor (values, operators, terms altered) and the coarse one (an answer that ignores the
  instruction); correct when the gold response has a lower PPL than every distractor
  (:func:`~sftmix.studies.doit.analysis.distractor_correct`, mean-token NLL, ties wrong).

Distractors come from the embedded world (:func:`sftmix.world.distractors.world_distractors`) or,
on a run without it, from each eval record's ``meta.distractors`` (``{"fine": str, "coarse": str}``,
the paper's hand-written ones) or ``meta.choices`` (the labels of an exact item); a record with
neither gets generated ones (:func:`auto_distractors`: the gold answer with its numbers altered,
and another item's answer of the same ability). An item without any alternative is quarantined
with a reason, never dropped silently.

Items per (ability, split) can be capped (``max_per_split``): a seeded draw, the same for every
run of a study, so every checkpoint of every run is scored on the same items.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ...records import Record
from .analysis import UnscorableItem, distractor_correct

SPLITS = ("dev", "test")
"""The eval splits of an ability: checkpoints are chosen on dev (the paper's validation set) and
reported on test."""
SEP = "#"
"""Separates an item's id from its alternative's name in the scored variants' ids."""


def _last_assistant(messages: Sequence[Mapping[str, str]]) -> int:
    for k in range(len(messages) - 1, -1, -1):
        if messages[k]["role"] == "assistant":
            return k
    raise ValueError("an eval item without an assistant turn")


def _alternatives(record: Record, distractor: Mapping[str, Any] | None) -> tuple[str, list[dict[str, str]]]:
    """(kind, alternatives) of one eval record from its world distractors or its own meta."""
    gold = record["messages"][_last_assistant(record["messages"])]["content"]
    meta = record.get("meta", {})
    if distractor is not None:
        if distractor.get("fine_kind") == "flipped_label":
            alts = [{"name": "label", "text": distractor["fine"]}]
            return "exact", [a for a in alts if a["text"] and a["text"] != gold]
        alts = [{"name": n, "text": distractor[n]} for n in ("fine", "coarse") if distractor.get(n)]
        return "open", [a for a in alts if a["text"] != gold]
    if meta.get("choices"):
        alts = [{"name": f"choice{k}", "text": str(c)} for k, c in enumerate(meta["choices"]) if str(c) != gold]
        return "exact", alts
    given = meta.get("distractors") or {}
    return "open", [{"name": n, "text": str(given[n])} for n in ("fine", "coarse") if given.get(n) and given[n] != gold]


def _own_alternatives(record: Record) -> bool:
    meta = record.get("meta", {})
    return bool(meta.get("choices") or meta.get("distractors"))


def _bump_numbers(text: str) -> str | None:
    """The fine-grained corruption of a real answer: every number altered (n -> n + 1), None when
    the answer holds no number."""
    out, n = re.subn(r"\d+", lambda m: str(int(m.group()) + 1), text)
    return out if n else None


def auto_distractors(records: Sequence[Record], seed: int) -> dict[str, dict[str, Any]]:
    """Generated distractors for eval records without their own (a run without the world, a
    dataset without hand-written distractors): ``fine`` = the gold answer with its numbers altered
    (None without a number), ``coarse`` = the answer of another record of the same category that
    differs from this one's (a seeded choice; None when there is none)."""
    by_cat: dict[str, list[Record]] = {}
    for r in records:
        by_cat.setdefault(r.get("meta", {}).get("category", ""), []).append(r)
    out: dict[str, dict[str, Any]] = {}
    for group in by_cat.values():
        golds = {r["id"]: r["messages"][_last_assistant(r["messages"])]["content"] for r in group}
        for r in group:
            gold = golds[r["id"]]
            donors = sorted((d for d in golds if golds[d] != gold), key=lambda d: _draw_key(seed, f"{r['id']}>{d}"))
            out[r["id"]] = {"fine": _bump_numbers(gold), "fine_kind": "numbers" if _bump_numbers(gold) else None,
                            "coarse": golds[donors[0]] if donors else None}
    return out


def _draw_key(seed: int, record_id: str) -> str:
    return hashlib.sha256(f"doit:items:{seed}:{record_id}".encode()).hexdigest()


def build_items(records: Iterable[Record], abilities: Sequence[str], *, distractors: Mapping[str, Mapping[str, Any]] | None,
                max_per_split: int | None, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """DoIT's items from the eval records of ``abilities`` (categories).

    ``distractors``: record id -> the world's distractors (None: each record's own meta, else
    :func:`auto_distractors`). Returns ``(items, quarantined, counts)``: items sorted by (ability, split, id), each
    ``{"id", "ability", "split", "kind", "messages", "alternatives": [{"name", "text"}]}``;
    quarantined records with their ``reason`` (``no_distractor``, ``no_world_distractors``);
    counts with ``in = kept + quarantined + capped + other`` (other: another ability or split;
    capped: over ``max_per_split``)."""
    wanted = set(abilities)
    records = list(records)
    generated = {}
    if distractors is None:  # records without their own alternatives get generated ones
        generated = auto_distractors([r for r in records if not _own_alternatives(r)
                                      and r.get("meta", {}).get("category") in wanted], seed)
    items, quarantined = [], []
    n_in = n_other = 0
    for r in records:
        n_in += 1
        meta = r.get("meta", {})
        ability, split = meta.get("category"), meta.get("split")
        if ability not in wanted or split not in SPLITS:
            n_other += 1
            continue
        if distractors is not None and r["id"] not in distractors:
            quarantined.append({**r, "reason": "no_world_distractors"})
            continue
        kind, alts = _alternatives(r, distractors[r["id"]] if distractors is not None else generated.get(r["id"]))
        if not alts:
            quarantined.append({**r, "reason": "no_distractor"})
            continue
        items.append({"id": r["id"], "ability": ability, "split": split, "kind": kind, "messages": r["messages"],
                      "alternatives": alts})
    kept, n_capped = [], 0
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for it in items:
        groups.setdefault((it["ability"], it["split"]), []).append(it)
    for key in sorted(groups):
        group = sorted(groups[key], key=lambda it: _draw_key(seed, it["id"]))
        take = group if max_per_split is None else group[:max_per_split]
        n_capped += len(group) - len(take)
        kept.extend(sorted(take, key=lambda it: it["id"]))
    reasons = Counter(q["reason"] for q in quarantined)
    per = Counter((it["ability"], it["split"]) for it in kept)
    missing = [(a, s) for a in abilities for s in SPLITS if not per[(a, s)]]
    counts = {"in": n_in, "kept": len(kept), "quarantined": len(quarantined), "capped": n_capped, "other": n_other,
              "reasons": dict(sorted(reasons.items())), "kinds": dict(sorted(Counter(it["kind"] for it in kept).items())),
              "per_ability": {a: {s: per[(a, s)] for s in SPLITS} for a in abilities}, "missing": missing}
    return kept, quarantined, counts


def variant_records(items: Sequence[Mapping[str, Any]]) -> list[Record]:
    """The records a checkpoint scores: each item's gold conversation (id = the item's) and one
    per alternative, its last assistant turn replaced (id ``<item id>#<name>``)."""
    out: list[Record] = []
    for it in items:
        out.append({"id": it["id"], "messages": it["messages"], "meta": {}})
        last = _last_assistant(it["messages"])
        for alt in it["alternatives"]:
            messages = [dict(m) for m in it["messages"]]
            messages[last]["content"] = alt["text"]
            out.append({"id": f"{it['id']}{SEP}{alt['name']}", "messages": messages, "meta": {}})
    return out


def item_rows(items: Sequence[Mapping[str, Any]], nll_mean: Mapping[str, float]) -> list[dict[str, Any]]:
    """One row per item from the mean-token NLL of each variant (``variant_records`` ids): ``id,
    ability, split, kind, gold_nll, best_alt_nll, n_alternatives, correct`` (1/0, or None when a
    value is not finite: unscorable, counted apart by
    :func:`~sftmix.studies.doit.analysis.score_open_ended`)."""
    rows = []
    for it in items:
        gold = float(nll_mean[it["id"]])
        alts = [float(nll_mean[f"{it['id']}{SEP}{a['name']}"]) for a in it["alternatives"]]
        try:
            correct: int | None = int(distractor_correct(gold, alts))
        except UnscorableItem:
            correct = None
        rows.append({"id": it["id"], "ability": it["ability"], "split": it["split"], "kind": it["kind"],
                     "gold_nll": gold, "best_alt_nll": min(alts), "n_alternatives": len(alts), "correct": correct})
    return rows


def evaluate(model: Any, tokenizer: Any, items: Sequence[Mapping[str, Any]], *, batch_size: int = 32,
             max_length: int = 512) -> list[dict[str, Any]]:
    """Score every item under ``model`` (Sec. 4.2): the variants' NLLs through
    :func:`sftmix.scoring.score_records` on the model's device, then :func:`item_rows`."""
    from ...scoring import score_records

    device = str(next(model.parameters()).device)
    records = variant_records(items)
    scored = score_records(model, tokenizer, records, batch_size=batch_size, max_length=max_length, device=device)
    nll = {r["id"]: (r["nll_mean"] if r["n_tokens"] > 0 else math.nan) for r in scored}
    return item_rows(items, nll)


# ---- the per-epoch score table (the doit_finetune rule's output) ---------------------------

EPOCH_COLUMNS = ("epoch", "step", "id", "ability", "split", "kind", "gold_nll", "best_alt_nll", "n_alternatives",
                 "correct")
_INTS = frozenset({"epoch", "step", "n_alternatives"})
_FLOATS = frozenset({"gold_nll", "best_alt_nll", "correct"})


def run_of_path(path: str) -> tuple[str, str, int]:
    """(model, experiment, seed) of an epoch score table ``.../epochs/<model>/<experiment>/seed_<k>.tsv``."""
    from pathlib import Path

    p = Path(path)
    return p.parts[-3], p.parts[-2], int(p.stem.removeprefix("seed_"))


def write_epoch_scores(path: str, epoch_evals: Sequence[Mapping[str, Any]]) -> int:
    """One TSV row per (epoch, item) from a run's ``epoch_evals`` (``sftmix.sft.finetune``);
    ``correct`` is 1.0, 0.0 or nan (unscorable)."""
    from ...records import write_typed_tsv

    rows = ({**r, "epoch": e["epoch"], "step": e["step"], "correct": r["correct"]} for e in epoch_evals
            for r in e["rows"])
    return write_typed_tsv(path, rows, EPOCH_COLUMNS, ints=_INTS, floats=_FLOATS, quoted=True,
                           what="DoIT epoch score table")


def read_epoch_scores(path: str) -> list[dict[str, Any]]:
    """The rows of :func:`write_epoch_scores` (``correct`` back to 1/0/None)."""
    from ...records import read_typed_tsv

    rows = read_typed_tsv(path, EPOCH_COLUMNS, ints=_INTS, floats=_FLOATS, quoted=True, what="DoIT epoch score table")
    for r in rows:
        r["correct"] = None if math.isnan(r["correct"]) else int(r["correct"])
    return rows
