"""Resources: latent content with a finite list of facts.

A resource is what a planted dependency is carried by: an arithmetic fact table, string-operation
facts, a knowledge base or a toy-language lexicon. Template families (``templates``) turn its facts
into instruction/response pairs; ``fact_expr``, ``string_fact`` and ``kb_answer`` are the
plain-text renderings of a fact that the templates and ``resource_facts_text`` share.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..rng import rng
from .words import EN_LEXICON_WORDS, KB_ATTRIBUTES, pseudo_word, unique_words


@dataclass
class Resource:
    """Latent content: ``facts`` is a list of plain dicts; kind-specific extras in ``extra``."""

    name: str
    kind: str
    facts: list[dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)


def _caesar(word: str) -> str:
    return "".join(string.ascii_lowercase[(string.ascii_lowercase.index(c) + 1) % 26] for c in word)


STRING_OPS: dict[str, tuple[Callable[[str], str], str]] = {
    # op name: (function, python expression template over variable {v})
    "reverse": (lambda w: w[::-1], "{v}[::-1]"),
    "shift": (_caesar, "''.join(chr((ord(c) - 96) % 26 + 97) for c in {v})"),
    "sort": (lambda w: "".join(sorted(w)), "''.join(sorted({v}))"),
    "novowels": (lambda w: "".join(c for c in w if c not in "aeiou"),
                 "''.join(c for c in {v} if c not in 'aeiou')"),
}


def make_resource(name: str, spec: dict[str, Any], seed: int) -> Resource:
    """Build a resource of ``spec['kind']`` with ``spec['size']`` facts."""
    kind, size = spec["kind"], int(spec["size"])
    r = rng(seed, "resource", name)
    facts: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    if kind == "arithmetic":
        lo, hi = spec.get("operand_range", [2, 49])
        seen: set[tuple[int, str, int]] = set()
        while len(facts) < size:
            a, b, op = r.randint(lo, hi), r.randint(lo, hi), r.choice(["+", "-", "*"])
            if op == "-" and b > a:
                a, b = b, a
            if (a, op, b) in seen:
                continue
            seen.add((a, op, b))
            value = a + b if op == "+" else a - b if op == "-" else a * b
            facts.append({"a": a, "op": op, "b": b, "value": value})
    elif kind == "strings":
        words = unique_words(r, max(4, size // len(STRING_OPS) + 1), (2, 2))
        pairs = [(w, op) for w in words for op in STRING_OPS]
        r.shuffle(pairs)
        for w, op in pairs[:size]:
            facts.append({"word": w, "op": op, "value": STRING_OPS[op][0](w)})
    elif kind == "kb":
        n_entities = max(2, -(-size // len(KB_ATTRIBUTES)))
        entities = [w.capitalize() for w in unique_words(r, n_entities, (2, 3))]
        values = [w.capitalize() for w in unique_words(r, size, (2, 2), exclude=set(entities))]
        slots = [(e, a) for e in entities for a in KB_ATTRIBUTES]
        r.shuffle(slots)
        for (e, a), v in zip(slots[:size], values, strict=False):
            facts.append({"entity": e, "attribute": a, "value": v})
        extra["entities"] = sorted({f["entity"] for f in facts})
    elif kind == "lexicon":
        words = EN_LEXICON_WORDS[: max(1, min(size, len(EN_LEXICON_WORDS)))]
        toy = unique_words(r, len(words), (1, 2))
        facts = [{"en": e, "toy": t} for e, t in zip(words, toy, strict=True)]
        extra["language"] = spec.get("language_name") or pseudo_word(r, (2, 2)).capitalize() + "ish"
    elif kind == "none":
        facts = []
    else:
        raise ValueError(f"world.resources.{name}.kind: unknown resource kind {kind!r}")
    return Resource(name=name, kind=kind, facts=facts, extra=extra)


def build_resources(cfg: dict[str, Any], seed: int) -> dict[str, Resource]:
    return {n: make_resource(n, s, seed) for n, s in sorted(cfg.get("resources", {}).items())}


def fact_expr(f: dict[str, Any]) -> str:
    """An arithmetic fact's expression, ``a op b``."""
    return f"{f['a']} {f['op']} {f['b']}"


def string_fact(f: dict[str, Any]) -> str:
    """A string-operation fact in the drills' notation: ``op("word") = "value"``."""
    return f'{f["op"]}("{f["word"]}") = "{f["value"]}"'


def kb_answer(f: dict[str, Any]) -> str:
    """A knowledge-base fact as a full sentence."""
    return f"The {f['attribute']} of {f['entity']} is {f['value']}."


def resource_facts_text(res: Resource) -> list[str]:
    """Human-readable facts of a resource (for reports and for building probes)."""
    out = []
    for f in res.facts:
        if res.kind == "arithmetic":
            out.append(f"{fact_expr(f)} = {f['value']}")
        elif res.kind == "strings":
            out.append(string_fact(f))
        elif res.kind == "kb":
            out.append(kb_answer(f))
        elif res.kind == "lexicon":
            out.append(f"{f['en']} = {f['toy']}")
    return out
