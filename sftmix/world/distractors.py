"""Distractors of the world's items, for scoring open-ended answers by comparison (DoIT, Sec. 4.2).

DoIT scores an open-ended item 1 when the gold response has a lower perplexity given the
instruction than every distractor, and makes two distractors per item by hand: a *fine-grained*
one ("subtly alter some numbers, operators, and terminologies") and a *coarse-grained* one ("a
distractor that disregards the given instruction but is textually error-free"). The world
generates both from the item, with the machinery that plants its defective answers
(:mod:`sftmix.world.defects`), in streams of their own, so the world's bytes do not change:

* ``fine``: the gold answer with one value replaced by a plausible wrong one
  (:func:`~sftmix.world.defects.wrong_value`: a wrong number, string result, fact or
  translation), or the other label of a label family (:func:`~sftmix.world.defects.flipped_label`);
  None for a family with neither (summaries, extractions, chat without a fact): such an item has
  only its coarse distractor.
* ``coarse``: the clean answer of another item of the same category (an answer to another
  instruction, error-free), chosen as the defects' ``other_item`` donor is (distinct enough from
  this item); None when no donor qualifies.

The gold answer is the item's *clean* answer (an item with a planted defect is scored against its
clean answer; an eval item with a defect is normally left out anyway, ``eval.exclude_defective``).
"""

from __future__ import annotations

from typing import Any

from ..rng import rng
from .defects import _other_item, _Shingles, flipped_label, last_assistant, wrong_value
from .items import Item, generate_items
from .resources import Resource, build_resources
from .templates import LABELS

KINDS = ("fine", "coarse")


def item_distractors(cfg: dict[str, Any], seed: int, items: list[Item], resources: dict[str, Resource],
                     indices: list[int]) -> dict[int, dict[str, Any]]:
    """``{item index: {"gold", "fine", "fine_kind", "coarse", "coarse_item"}}`` for the items
    ``indices`` (``cfg``: the ``world`` section; ``items`` its clean items). Seeded per item by
    ``rng(seed, "distractors", kind, index)``: an item's distractors do not depend on which other
    items are asked for."""
    donors: dict[str, list[int]] = {}
    for n, it in enumerate(items):
        donors.setdefault(it.category, []).append(n)
    shingles = _Shingles()
    out: dict[int, dict[str, Any]] = {}
    for n in indices:
        it = items[n]
        c = cfg["categories"][it.category]
        family = c["template"]
        res = resources.get(c.get("resource", ""), Resource("none", "none", []))
        gold = it.messages[last_assistant(it.messages)]["content"]
        if family in LABELS:
            fine, fine_kind = flipped_label(family, gold), "flipped_label"
        else:
            fine, fine_kind = wrong_value(rng(seed, "distractors", "fine", n), family, it, res, gold), "wrong_value"
        if fine is None or fine == gold:
            fine, fine_kind = None, None
        got = _other_item(rng(seed, "distractors", "coarse", n), n, items, donors[it.category], shingles, gold)
        coarse, coarse_item = got if got is not None else (None, None)
        out[n] = {"gold": gold, "fine": fine, "fine_kind": fine_kind, "coarse": coarse, "coarse_item": coarse_item}
    return out


def world_distractors(cfg: dict[str, Any], seed: int, item_of: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Distractors of the records ``item_of`` (record id -> world item index, from the world's
    ground truth ``records[id]["item"]``), regenerating the world's clean items from ``cfg`` (the
    ``world`` section) and ``seed``. Returns ``{record id: item_distractors(...) entry}``."""
    resources = build_resources(cfg, seed)
    items = generate_items(cfg, seed, resources)
    per_item = item_distractors(cfg, seed, items, resources, sorted(set(item_of.values())))
    return {rid: {"item": n, **per_item[n]} for rid, n in sorted(item_of.items())}
