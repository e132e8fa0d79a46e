"""Defective responses: planted instance quality, what quality selection is meant to find.

A template writes a correct response; real instruction sets hold wrong, cut-off and empty-talk
answers too (Alpaca's self-instruct outputs most, human-written Dolly and GPT-4-distilled OpenOrca
fewer, ShareGPT's scraped chats often cut off). :func:`plant_defects` makes a seeded share of each
source's *original* items defective, always in the **last assistant turn** (a multi-turn
conversation is corrupted in the answer it ends with). The kinds:

``wrong_value``
    a wrong fact or number: one answer value of the item (one line of a multi-fact drill) is
    replaced by a plausible wrong one from the same resource. Arithmetic (``arithmetic``,
    ``word_problem``): a value of another fact with the same operator, among the five nearest
    to the true one. Strings (``string_ops``, ``python_exec``): the same word under another
    operation (one the resource holds when it has any), else another word under the same one; a Python answer states the wrong value in
    its worked step and its printed output alike. Knowledge base (``kb_qa``, ``dialogue``): the
    same attribute of another entity. Toy language (``translation``): one content word replaced
    by another word of the same class (noun, verb, adjective).
``flipped_label``
    the other label of a label family (``sentiment``: positive/negative, ``binary_label``: 1/0).
``truncated``
    the response cut after its first k of n words (k = round(u * n), u uniform in
    [0.2, 0.5], clipped to 2 <= k <= n - 1): responses of at least 4 words.
``other_item``
    the last assistant turn of another, clean item of the same category. Not for the label
    families (another item's answer is this item's correct label or its flipped one). A donor is
    taken only when the result stays under the items' distinctness bound against the donor
    (Jaccard of character 5-grams < 0.7, :class:`sftmix.world.items._DistinctGuard`), so the
    defect plants no near duplicate the ground truth does not record.
``filler``
    a generic non-answer (fits every item).

**Which items**: each original item assigned to source ``s`` is defective with probability
``rates[s]`` (``default_rate`` for a source the rates do not name), one independent draw per item,
in item order, from the stream ``rng(seed, "quality", "select", s)``.

**Which kind** (fallback): the kind is drawn from the configured weights restricted to the kinds
that fit the item's template and response (weights renormalized; equivalently, a drawn kind that
does not fit is redrawn among those that do). A fitting kind that cannot be applied to this
particular item (``other_item`` with no acceptable donor) is removed and the draw repeated. When no
fitting kind has a positive weight the defect is ``filler``, which fits every item, so a source's
realised rate is its configured rate whatever the weights. Kind and content come from the item's
own stream ``rng(seed, "quality", "item", n)``: one item's defect does not depend on another's.

**Duplicates** of a defective item copy its defective messages (they are copies of the row as it
was published) and carry the same defect in the ground truth; malformed rows keep their own logic
(a defective original may also be malformed: both are recorded). Pure function of config and seed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from random import Random
from typing import Any

from ..rng import rng
from .items import Item
from .resources import STRING_OPS, Resource, fact_expr, kb_answer, string_fact
from .templates import LABELS, Messages
from .words import EN_ADJS, EN_NOUNS, EN_VERBS, FUNCTION_WORDS

DEFECT_KINDS = ("wrong_value", "flipped_label", "truncated", "other_item", "filler")
# template families whose answer carries a value of a resource that a wrong one can replace
VALUE_FAMILIES = frozenset({"arithmetic", "word_problem", "string_ops", "python_exec", "kb_qa", "dialogue",
                            "translation"})
TRUNCATE_KEEP = (0.2, 0.5)  # share of the words a truncated response keeps (uniform)
MIN_TRUNCATE_WORDS = 4
MAX_DONOR_JACCARD = 0.7  # the items' distinctness bound (items._DistinctGuard)
MAX_DONOR_TRIES = 30
FILLERS = (
    "That is a great question! There are many factors to consider here, and the answer depends on the context.",
    "I am not sure about this one. You may want to check a reliable source.",
    "Sure, here is the answer you asked for. Let me know if you need anything else!",
    "As an AI language model, I do not have enough information to answer that.",
    "The answer is fairly straightforward once you think about it carefully.",
    "Thank you for your question. I hope this helps you with your task.",
)


@dataclass
class Defect:
    """A planted defect: the item's last assistant turn before (``clean``) and after."""

    kind: str
    source: str
    clean: str
    defective: str
    donor_item: int | None = None

    def as_truth(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source, "clean": self.clean, "defective": self.defective,
                "donor_item": self.donor_item}


def last_assistant(messages: Messages) -> int:
    """Index of the last assistant turn."""
    return max(i for i, m in enumerate(messages) if m["role"] == "assistant")


def fitting_kinds(family: str, response: str) -> list[str]:
    """The defect kinds that fit an item of template ``family`` whose last answer is ``response``
    (in :data:`DEFECT_KINDS` order; ``filler`` always fits)."""
    kinds = []
    if family in VALUE_FAMILIES:
        kinds.append("wrong_value")
    if family in LABELS:
        kinds.append("flipped_label")
    if len(response.split()) >= MIN_TRUNCATE_WORDS:
        kinds.append("truncated")
    if family not in LABELS:
        kinds.append("other_item")
    kinds.append("filler")
    return kinds


# ---- wrong values ------------------------------------------------------------------------------

def _wrong_number(r: Random, res: Resource, f: dict[str, Any]) -> int:
    same_op = {g["value"] for g in res.facts if g["op"] == f["op"] and g["value"] != f["value"]}
    pool = same_op or {g["value"] for g in res.facts if g["value"] != f["value"]} or {f["value"] + 1}
    near = sorted(pool, key=lambda x: (abs(x - f["value"]), x))[:5]
    return r.choice(near)


def _wrong_string(r: Random, res: Resource, f: dict[str, Any]) -> str:
    same_word = sorted({g["value"] for g in res.facts if g["word"] == f["word"] and g["value"] != f["value"]})
    if not same_word:  # the word under an operation the resource does not hold
        same_word = sorted({fn(f["word"]) for op, (fn, _) in STRING_OPS.items() if op != f["op"]} - {f["value"]})
    same_op = sorted({g["value"] for g in res.facts if g["op"] == f["op"] and g["value"] != f["value"]})
    return r.choice(same_word or same_op)


def _wrong_kb(r: Random, res: Resource, f: dict[str, Any]) -> str:
    same_attr = sorted({g["value"] for g in res.facts if g["attribute"] == f["attribute"] and g["value"] != f["value"]})
    return r.choice(same_attr or sorted({g["value"] for g in res.facts if g["value"] != f["value"]}))


def _replace_line(response: str, j: int, old: str, new: str) -> str:
    lines = response.split("\n")
    if lines[j] != old:
        raise AssertionError(f"defects: line {j} of the response is {lines[j]!r}, expected {old!r}")
    lines[j] = new
    return "\n".join(lines)


def _wrong_translation(r: Random, res: Resource, response: str) -> str | None:
    to_en = {f["toy"]: f["en"] for f in res.facts}
    classes = [set(EN_NOUNS), set(EN_VERBS), set(EN_ADJS)]
    words = response[:-1].lower().split(" ") if response.endswith(".") else response.lower().split(" ")
    spots = [p for p, w in enumerate(words) if w in to_en and w not in FUNCTION_WORDS.values()]
    if not spots:
        return None
    p = r.choice(spots)
    en = to_en[words[p]]
    cls = next((c for c in classes if en in c), set(to_en.values()))
    others = sorted(f["toy"] for f in res.facts if f["en"] in cls and f["en"] != en)
    if not others:
        return None
    words[p] = r.choice(others)
    return " ".join(words).capitalize() + "."


def _wrong_fact_line(r: Random, response: str, facts: list[dict[str, Any]],
                     render: Callable[[int, dict[str, Any]], str], wrong: Callable[[dict[str, Any]], Any]) -> str:
    """A response that drills one fact per line (``render(j, fact)`` is line j) with one random
    line's value replaced by ``wrong(fact)``."""
    j = r.randrange(len(facts))
    f = facts[j]
    return _replace_line(response, j, render(j, f), render(j, {**f, "value": wrong(f)}))


def wrong_value(r: Random, family: str, item: Item, res: Resource, response: str) -> str | None:
    """``response`` with one answer value replaced by a plausible wrong one (see the module
    docstring); None when the family carries no replaceable value."""
    facts = [res.facts[i] for i in item.facts]
    if family == "arithmetic":
        return _wrong_fact_line(r, response, facts, lambda j, f: f"{fact_expr(f)} = {f['value']}",
                                lambda f: _wrong_number(r, res, f))
    if family == "word_problem":
        f = facts[0]
        w = _wrong_number(r, res, f)
        head = f"{fact_expr(f)} = {f['value']}. "
        tail = response[len(head):]
        if not response.startswith(head) or f" {f['value']} " not in tail:
            raise AssertionError(f"defects: unexpected word-problem answer {response!r}")
        return f"{fact_expr(f)} = {w}. " + tail.replace(f" {f['value']} ", f" {w} ", 1)
    if family == "string_ops":
        return _wrong_fact_line(r, response, facts, lambda j, f: string_fact(f), lambda f: _wrong_string(r, res, f))
    if family == "python_exec":
        f = facts[0]
        w = _wrong_string(r, res, f)
        if not response.endswith(f["value"]) or string_fact(f) not in response:
            raise AssertionError(f"defects: unexpected Python answer {response!r}")
        head = response[: len(response) - len(f["value"])]
        return head.replace(string_fact(f), string_fact({**f, "value": w})) + w
    if family == "kb_qa":
        return _wrong_fact_line(r, response, facts, lambda j, f: f"{j + 1}. {kb_answer(f)}",
                                lambda f: _wrong_kb(r, res, f))
    if family == "dialogue":
        f = facts[0]
        if response != kb_answer(f):
            raise AssertionError(f"defects: unexpected dialogue answer {response!r}")
        return kb_answer({**f, "value": _wrong_kb(r, res, f)})
    if family == "translation":
        return _wrong_translation(r, res, response)
    return None


# ---- the other kinds ---------------------------------------------------------------------------

def flipped_label(family: str, response: str) -> str | None:
    """The other label of a label family; None for any other family or an unknown label."""
    labels = LABELS.get(family)
    if labels is None or response not in labels:
        return None
    return labels[1] if response == labels[0] else labels[0]


def truncated(r: Random, response: str) -> str | None:
    """``response`` cut after its first k of n words (see the module docstring); None under
    :data:`MIN_TRUNCATE_WORDS` words."""
    ends = [m.end() for m in re.finditer(r"\S+", response)]
    n = len(ends)
    if n < MIN_TRUNCATE_WORDS:
        return None
    k = min(n - 1, max(2, round(r.uniform(*TRUNCATE_KEEP) * n)))
    return response[: ends[k - 1]]


class _Shingles:
    """Character 5-gram sets of normalized texts, as the items' distinctness guard computes them."""

    def __init__(self) -> None:
        from ..dedup import normalize_text, shingle_set

        self._norm, self._shingles = normalize_text, shingle_set

    def __call__(self, messages: Messages) -> set[str]:
        text = self._norm("\n".join(m["content"] for m in messages if m["role"] != "system"))
        return self._shingles(text, "char", 5)


def _other_item(r: Random, n_item: int, items: list[Item], donors: list[int], shingles: _Shingles,
                response: str) -> tuple[str, int] | None:
    """Another clean item's last answer (and its index) that keeps the result distinct from the
    donor; None when no donor qualifies within :data:`MAX_DONOR_TRIES` tries."""
    candidates = [d for d in donors if d != n_item]
    r.shuffle(candidates)
    msgs = items[n_item].messages
    k = last_assistant(msgs)
    for d in candidates[:MAX_DONOR_TRIES]:
        donor_msgs = items[d].messages
        answer = donor_msgs[last_assistant(donor_msgs)]["content"]
        if answer == response:
            continue
        new = [dict(m) for m in msgs]
        new[k]["content"] = answer
        a, b = shingles(new), shingles(donor_msgs)
        if len(a & b) / len(a | b) < MAX_DONOR_JACCARD:
            return answer, d
    return None


def _draw(r: Random, kinds: list[str], weights: dict[str, float]) -> str | None:
    w = [weights.get(k, 0.0) for k in kinds]
    if sum(w) <= 0:
        return None
    return r.choices(kinds, w)[0]


def defect_rate(quality: dict[str, Any], source: str) -> float:
    """The configured defect rate of ``source`` (``world.quality.rates``, else ``default_rate``)."""
    return float(quality.get("rates", {}).get(source, quality.get("default_rate", 0.0)))


def plant_defects(cfg: dict[str, Any], seed: int, items: list[Item], item_sources: list[str],
                  resources: dict[str, Resource]) -> dict[int, Defect]:
    """Choose and apply the defects of the world's original items (see the module docstring).

    ``cfg``: the ``world`` section (its ``quality`` subsection: ``rates``, ``default_rate``,
    ``kinds``); ``item_sources[n]``: the source item ``n`` was assigned to. Returns
    ``{item index: Defect}``; the caller replaces those items' last assistant turns. ``items`` is
    not modified.
    """
    quality = cfg.get("quality", {})
    weights = {k: float(v) for k, v in quality.get("kinds", {}).items()}
    chosen: list[int] = []
    for s in sorted(set(item_sources)):
        rate = defect_rate(quality, s)
        if rate <= 0:
            continue
        rs = rng(seed, "quality", "select", s)
        chosen.extend(n for n, src in enumerate(item_sources) if src == s and rs.random() < rate)
    chosen.sort()
    if chosen and sum(weights.get(k, 0.0) for k in DEFECT_KINDS) <= 0:
        raise ValueError("world.quality.kinds: every defect kind has weight 0, but world.quality "
                         "rates are positive")
    defective = set(chosen)
    donors: dict[str, list[int]] = {}
    for n, it in enumerate(items):
        if n not in defective:
            donors.setdefault(it.category, []).append(n)
    shingles = _Shingles()
    out: dict[int, Defect] = {}
    for n in chosen:
        it = items[n]
        c = cfg["categories"][it.category]
        family = c["template"]
        res = resources.get(c.get("resource", ""), Resource("none", "none", []))
        r = rng(seed, "quality", "item", n)
        response = it.messages[last_assistant(it.messages)]["content"]
        kinds = fitting_kinds(family, response)
        new: str | None = None
        donor: int | None = None
        kind = "filler"
        while True:
            drawn = _draw(r, kinds, weights)
            if drawn is None:
                kind = "filler"
                new = r.choice(FILLERS)
                break
            kind = drawn
            if kind == "wrong_value":
                new = wrong_value(r, family, it, res, response)
            elif kind == "flipped_label":
                new = flipped_label(family, response)
            elif kind == "truncated":
                new = truncated(r, response)
            elif kind == "other_item":
                got = _other_item(r, n, items, donors.get(it.category, []), shingles, response)
                new, donor = got if got is not None else (None, None)
            else:
                new = r.choice(FILLERS)
            if new is not None and new != response:
                break
            kinds.remove(kind)
        assert new is not None
        out[n] = Defect(kind=kind, source=item_sources[n], clean=response, defective=new, donor_item=donor)
    return out


def apply_defect(messages: Messages, defect: Defect) -> Messages:
    """A copy of ``messages`` whose last assistant turn is the defect's response."""
    out = [dict(m) for m in messages]
    out[last_assistant(out)]["content"] = defect.defective
    return out
