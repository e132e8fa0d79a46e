"""Planted contamination: training rows that contain another item's text (``world.contamination``).

A real instruction set holds rows that copy benchmark or test questions, usually inside other
text (a worksheet, a forum post quoting the exercise). :func:`plant_contamination` writes, for
``n`` seeded single-turn items X, a row Y whose user turn is a preamble followed by X's user
text with its first word dropped (paraphrased at the edge), and whose answer is X's answer
followed by a remark: every word n-gram of X except those that start at X's first word survives,
so a 13-gram test finds Y once X is an eval item (:mod:`sftmix.decontam`). The wrapper is at least
as long as X's text, so Y is not a near duplicate of X (character 5-gram Jaccard stays well under
the dedup threshold). ``near_misses`` rows are built the same way from other items with one word
replaced every ``NEAR_MISS_STRIDE`` words of X's normalized text, so they share fewer than the
n-gram length of consecutive words with X: a decontamination that flags them flags on less than
an n-gram.

Which items become eval items is decided later (``subsets``), so the ground truth records the item
a row copies (``copies_item``) and validation expects a flag exactly when that item is an eval item
(:func:`sftmix.validation.decontam_scores`). Planted rows are appended after every source's own
rows, from their own random streams (``rng(seed, "contamination")`` picks the items, one stream per row
writes it): the other rows, their ids and
their bytes are those of a world without contamination.
"""

from __future__ import annotations

import re
from random import Random
from typing import Any

from ..rng import rng
from .items import Item
from .templates import MULTI_TURN_FAMILIES, Messages
from .words import EN_ADJS, EN_NOUNS

NEAR_MISS_STRIDE = 10  # one word in every 10 of the copied text replaced: runs of at most 9 shared words
KINDS = ("contamination", "contamination_near_miss")
_SEP = " \u0001 "  # joins the turns while runs are broken (no word: never replaced)
_PREAMBLES = (
    "I came across this exercise in an old {adj} workbook about {noun} and want to check my answer.",
    "My teacher handed out a sheet on the {adj} {noun} today; one of the tasks on it reads as follows.",
    "Here is something a friend sent me while we were studying for the {noun} quiz last week.",
    "Quick one from the practice set we used in the {adj} club meeting on {noun} this morning.",
    "Copying this over from a forum thread about the {noun} exam, where nobody agreed on it.",
    "A colleague asked me this during lunch and I was not sure, so I am asking here instead.",
)
_CLOSINGS = (
    "Please keep the answer in the same style as the original worksheet if you can manage it.",
    "I would like to compare it with what I wrote down in my own notes about the {noun}.",
    "Thanks a lot in advance, this is for revision before the {adj} test on Friday.",
    "No need for a long explanation here, the short answer is enough for my notes.",
)
_REMARKS = (
    "Hope that helps with the revision, and good luck with the {noun} test.",
    "That is the expected answer; the {adj} worksheet had the same one at the back.",
    "Let me know if the {noun} sheet had a different answer key than this one.",
)


def _fill(r: Random, pool: tuple[str, ...]) -> str:
    return r.choice(pool).format(adj=r.choice(EN_ADJS), noun=r.choice(EN_NOUNS))


def _wrapper(r: Random, pool: tuple[str, ...], min_chars: int) -> str:
    """Sentences from ``pool`` until the text reaches ``min_chars`` (at least one)."""
    parts = [_fill(r, pool)]
    while sum(len(p) + 1 for p in parts) < min_chars:
        parts.append(_fill(r, pool))
    return " ".join(parts)


def _words(text: str) -> list[str]:
    return re.sub(r"[\W_]+", " ", text.lower()).split()


def _break_runs(r: Random, text: str, stride: int) -> str:
    """``text`` with one whitespace token in every ``stride`` (counted in normalized words)
    replaced by a noun not equal to it, so no run of ``stride`` normalized words survives."""
    tokens = text.split(" ")
    out, since = [], 0
    for tok in tokens:
        n = len(_words(tok))
        if n and since + n >= stride:
            w = r.choice([x for x in EN_NOUNS if x != tok.lower()])
            out.append(w)
            since = 0
            continue
        since += n
        out.append(tok)
    return " ".join(out)


def _single_turn(items: list[Item], cfg: dict[str, Any]) -> list[int]:
    return [n for n, it in enumerate(items) if cfg["categories"][it.category]["template"] not in MULTI_TURN_FAMILIES
            and len(it.messages) == 2]


def plant_contamination(cfg: dict[str, Any], seed: int, items: list[Item], sources: list[str],
                        defect_of: dict[int, str]) -> list[tuple[str, Messages, dict[str, Any]]]:
    """The planted rows as ``(source, messages, truth)``: ``cfg["contamination"]["n"]`` copies and
    ``near_misses`` near misses of distinct seeded single-turn items (``items`` as published, with
    their defects), in a seeded source. ``truth``: ``category`` (the copied item's), ``kind``
    (:data:`KINDS`), ``item`` and ``copies_item`` (the copied item), ``facts``, ``defect`` (the
    copied item's, ``defect_of``: item -> kind)."""
    spec = cfg.get("contamination", {})
    n, n_near = int(spec.get("n", 0)), int(spec.get("near_misses", 0))
    if n + n_near == 0:
        return []
    r = rng(seed, "contamination")
    pool = _single_turn(items, cfg)
    if n + n_near > len(pool):
        raise ValueError(f"world.contamination: n + near_misses = {n + n_near} exceeds the {len(pool)} "
                         f"single-turn items")
    picked = r.sample(pool, n + n_near)
    out = []
    for k, n_item in enumerate(picked):
        r = rng(seed, "contamination", "row", k)  # one stream per row: a defect changes only its copy
        source = r.choice(sources)
        it = items[n_item]
        user, answer = it.messages[0]["content"], it.messages[1]["content"]
        kind = KINDS[0] if k < n else KINDS[1]
        if kind == KINDS[1]:
            # break runs across the turn boundary as well: the copied text is one word stream
            joined = _break_runs(r, f"{user}{_SEP}{answer}", NEAR_MISS_STRIDE)
            user, answer = joined.split(_SEP, 1)
        body = user.split(" ", 1)[1] if " " in user else user  # the first word dropped
        size = len(user) + len(answer)
        # the request and the copied text stay adjacent to the answer, so the item's n-grams that
        # span its question and answer survive in the row's text (user turn, then answer)
        prompt = f"{_wrapper(r, _PREAMBLES, size // 2)} {_wrapper(r, _CLOSINGS, size // 4)}\n\n{body}"
        reply = f"{answer}\n\n{_wrapper(r, _REMARKS, size // 4)}"
        truth = {"category": it.category, "kind": kind, "item": n_item, "copies_item": n_item,
                 "facts": it.facts, "duplicate_of_item": None, "malformed": None, "defect": defect_of.get(n_item)}
        out.append((source, [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}],
                    truth))
    return out
