"""The training sets of *Demystifying Instruction Mixing* (Sec. 3 "Datasets", Sec. 4, Tables 1-2,
Fig. 2): three instruction types, their eight combinations (as published and at equal size), and the
ratio and size sweeps.

Types and combinations (Sec. 1, Sec. 3, Sec. 4)
------------------------------------------------
The paper sorts instructions into three types and picks one dataset for each: general chat-like
instructions (Alpaca, "A"), code (CodeAlpaca, "C") and NLP downstream tasks (P3, "P"). Here a
type is a set of *categories*: a record's ``meta["category"]`` is mapped to a type by config
(:func:`records_by_type`), so the category names live in config, never in code; records of an
unmapped category are counted and left out.

"To ensure a balanced comparison, we randomly sample a 20K subset from each dataset" (Sec. 3), and
"we compare eight different data mixing strategies, denoted as None, A, C, P, AC, AP, CP, ACP,
where *None* represents the vanilla model without fine-tuning, and each of the other settings
represents the model fine-tuned with the corresponding dataset" (Sec. 4). :data:`COMBINATIONS`
holds the eight, named ``none, a, c, p, ac, ap, cp, acp`` (labels as in the tables:
:func:`combo_label`). A combination's set holds ``per_type`` records of each of its types, so AC
has twice the records of A; all are trained for the same number of epochs (two in the paper), so
the larger mixtures also get proportionally more update steps.

``none`` is *no fine-tune*: :func:`combination_set` returns an empty set with
``info["finetune"] = False`` and the workflow must evaluate the base model itself for it, never
train on the empty set (:func:`is_finetuned`). The paper leaves None out of the alignment
evaluation ("Since the vanilla model cannot follow instructions, we exclude it from this table",
Table 2) but reports it on the NLP and code benchmarks (Table 1).

Ratio sweep (Sec. 4.1 "Mixing with Different Ratios", Fig. 2)
--------------------------------------------------------------
"with the number of general instructions fixed to 20K, scores in both NLP task and code benchmarks
first decrease and then increase as the ratio of specialized instructions increases. They both
peak when the ratio is 1.5, and drop back slightly when the ratio is increased further to 2.0";
Fig. 2: "We keep the number of Alpaca instances constant at 20K and change the number of P3 and
CodeAlpaca instances to get different ratios." The paper does not say how the specialized part is
shared between code and NLP. :func:`ratio_set` reads the ratio as (code + NLP) / general with the
specialized part in equal halves (``split="halves"``, the default): at ratio 2 that needs 20K
CodeAlpaca, which is all CodeAlpaca has ("It contains 20K samples", Sec. 3), whereas the other
reading, each specialized type at ``ratio x general`` (``split="per_type"``), would need 30K and
40K CodeAlpaca records at ratios 1.5 and 2. Under ``per_type`` ratio 1 is the ACP set of Table 1
(the Limitations speak of "the 1:1 ratio of all instruction types"); under ``halves`` ACP is
ratio 2. Both readings are offered; the choice is recorded in ``info["split"]``.

Size sweep (Sec. 4.1 "Number of instances", Fig. 2)
----------------------------------------------------
"We mix each type of instruction with the same number." :func:`size_set` splits a total equally
over the types by largest remainder (ties to the earlier type in :data:`TYPES`). The paper's
"number of instances" may be per type or in total; the function takes the total (per type = total
/ 3 for all three types).

Equal-size combinations (the sound variant of Table 1/2)
---------------------------------------------------------
In the published design a combination of k types has k x ``per_type`` records and, at a fixed
number of epochs, k times the optimizer steps of a single type; "AC beats A on general" may then be
the doubled training, not the code data. :func:`equal_combination_set` holds the total fixed
instead: every combination has ``total`` records in equal parts of its types (:func:`equal_parts`),
trained for the same epochs and so the same steps, and a comparison between two combinations asks
what replacing part of one type's records with another's does at the same budget. With ``total =
per_type`` (the default) a single-type combination is the published set itself (the same prefix of
the same order), so only the mixtures need training of their own.

Draws and nesting
-----------------
Every type has one seeded permutation of its (sorted, de-duplicated) ids, from its own named
stream ``rng(seed, "mixing", "order", type)`` (:func:`draw_order`); every set takes a *prefix* of
each type's permutation. So a type's records never depend on the other types (the A records of AC
are the A records of A), a larger ratio or size contains the smaller ones, and the families
share their records (A at 20K in Table 1 = the general part of the ratio sweep at 20K). Input
order is irrelevant. When a type holds fewer records than asked, all of them are taken and the
difference is recorded per type in ``info["shortfall"]`` (the set is then no longer balanced; the
caller decides whether that is an error).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any, Literal

from ...records import Record
from ...rng import rng

log = logging.getLogger(__name__)

TYPES: tuple[str, ...] = ("general", "code", "nlp")
"""The instruction types, in the paper's letter order A, C, P."""

LETTERS: dict[str, str] = {"general": "A", "code": "C", "nlp": "P"}
"""The paper's letter of each type: A = Alpaca (general), C = CodeAlpaca (code), P = P3 (NLP tasks)."""

COMBINATIONS: dict[str, tuple[str, ...]] = {
    "none": (),
    "a": ("general",),
    "c": ("code",),
    "p": ("nlp",),
    "ac": ("general", "code"),
    "ap": ("general", "nlp"),
    "cp": ("code", "nlp"),
    "acp": ("general", "code", "nlp"),
}
"""The eight combinations in the paper's order (None, A, C, P, AC, AP, CP, ACP): name -> types.
``none`` is the base model without fine-tuning (module docstring)."""

Split = Literal["halves", "per_type"]
SPLITS: tuple[Split, ...] = ("halves", "per_type")

SPECIALIZED: tuple[str, ...] = ("code", "nlp")
"""The specialized types of the ratio sweep (general is the fixed part)."""


# --------------------------------------------------------------------------------------------
# combinations
# --------------------------------------------------------------------------------------------

def combo_types(combo: str | Iterable[str]) -> tuple[str, ...]:
    """The types of a combination, in :data:`TYPES` order. ``combo`` is a name of
    :data:`COMBINATIONS` (case-insensitive, so ``"AC"`` and ``"None"`` work too) or an iterable of
    type names (any order, no repeats; empty = ``none``)."""
    if isinstance(combo, str):
        key = combo.strip().lower()
        if key not in COMBINATIONS:
            raise ValueError(f"mixing: unknown combination {combo!r}; choose from {list(COMBINATIONS)}")
        return COMBINATIONS[key]
    names = list(combo)
    unknown = [t for t in names if t not in TYPES]
    if unknown:
        raise ValueError(f"mixing: unknown instruction type(s) {unknown}; choose from {list(TYPES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"mixing: a type repeats in combination {names}")
    return tuple(t for t in TYPES if t in names)


def combo_name(combo: str | Iterable[str]) -> str:
    """The combination's name in :data:`COMBINATIONS`: ``"ac"``, ..., ``"none"``."""
    return "".join(LETTERS[t] for t in combo_types(combo)).lower() or "none"


def combo_label(combo: str | Iterable[str]) -> str:
    """The combination as the paper's tables write it: ``"AC"``, ``"ACP"``, ..., ``"None"``."""
    return "".join(LETTERS[t] for t in combo_types(combo)) or "None"


def is_finetuned(combo: str | Iterable[str]) -> bool:
    """False for ``none`` (the base model is evaluated as it is), True for the other seven."""
    return bool(combo_types(combo))


# --------------------------------------------------------------------------------------------
# records -> types
# --------------------------------------------------------------------------------------------

TypeKey = Literal["category", "source"]


def type_key(section: Mapping[str, Any]) -> tuple[TypeKey, dict[str, str]]:
    """What decides a record's type under the ``mixing`` config ``section``: ``("category",
    category_types)`` (the embedded world: categories as types) or ``("source", source_types)``
    (the paper: one dataset per type). Exactly one of the two mappings must be set."""
    cats, sources = dict(section["category_types"]), dict(section["source_types"])
    if bool(cats) == bool(sources):
        raise ValueError("mixing.category_types / mixing.source_types: set exactly one of the two "
                         f"(category_types has {len(cats)} entries, source_types {len(sources)})")
    return ("category", cats) if cats else ("source", sources)


def type_label(record: Record, key: TypeKey) -> str | None:
    """The record's label under ``key``: its ``meta["category"]`` or its ``source``."""
    value = (record.get("meta") or {}).get("category") if key == "category" else record.get("source")
    return None if value in (None, "") else str(value)


def records_by_type(records: Iterable[Record], category_types: Mapping[str, str], key: TypeKey = "category"
                    ) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """Record ids grouped by instruction type: the record's label (``meta["category"]``, or its
    ``source`` with ``key="source"``: :func:`type_label`) -> type via ``category_types`` (config:
    label -> one of :data:`TYPES`; the counts below say "category" for either label).

    Returns ``(by_type, counts)``: ``by_type`` has every type of :data:`TYPES` as a key (sorted
    ids; empty list when none); ``counts`` = ``{"in", "kept", "excluded", "by_type",
    "by_category", "unmapped", "unmapped_categories", "uncategorized", "absent_categories"}``
    with ``in == kept + excluded`` and ``excluded == unmapped + uncategorized``. ``unmapped``
    counts records whose category is not in the mapping (per category in
    ``unmapped_categories``), ``uncategorized`` those without a category; both are left out
    (and logged). ``absent_categories``: mapped categories no record carries (a config typo shows
    here). A mapping to an unknown type or a repeated record id raises ValueError.
    """
    bad = {c: t for c, t in category_types.items() if t not in TYPES}
    if bad:
        raise ValueError(f"mixing.{key}_types: unknown type(s) {bad}; choose from {list(TYPES)}")
    by_type: dict[str, list[str]] = {t: [] for t in TYPES}
    by_category: Counter[str] = Counter()
    unmapped: Counter[str] = Counter()
    uncategorized = 0
    seen: set[str] = set()
    n_in = 0
    for r in records:
        n_in += 1
        rid = str(r["id"])
        if rid in seen:
            raise ValueError(f"records_by_type: record id {rid!r} occurs twice")
        seen.add(rid)
        cat = type_label(r, key)
        if cat is None:
            uncategorized += 1
            continue
        if cat not in category_types:
            unmapped[cat] += 1
            continue
        by_category[cat] += 1
        by_type[category_types[cat]].append(rid)
    n_unmapped = sum(unmapped.values())
    if n_unmapped or uncategorized:
        log.warning("records_by_type: %d record(s) of %d unmapped categor(y/ies) and %d without a "
                    "category left out of %d", n_unmapped, len(unmapped), uncategorized, n_in)
    kept = sum(len(v) for v in by_type.values())
    counts: dict[str, Any] = {
        "in": n_in, "kept": kept, "excluded": n_unmapped + uncategorized,
        "by_type": {t: len(by_type[t]) for t in TYPES},
        "by_category": dict(sorted(by_category.items())),
        "unmapped": n_unmapped, "unmapped_categories": dict(sorted(unmapped.items())),
        "uncategorized": uncategorized,
        "absent_categories": sorted(c for c in category_types if c not in by_category),
    }
    assert counts["in"] == counts["kept"] + counts["excluded"]
    return {t: sorted(v) for t, v in by_type.items()}, counts


# --------------------------------------------------------------------------------------------
# draws
# --------------------------------------------------------------------------------------------

def draw_order(ids: Iterable[str], type_name: str, seed: int) -> list[str]:
    """The seeded permutation of a type's ids (sorted and de-duplicated first, so input order does
    not matter) from the type's own stream ``rng(seed, "mixing", "order", type_name)``. Every set
    of this module takes a prefix of it."""
    if type_name not in TYPES:
        raise ValueError(f"mixing: unknown instruction type {type_name!r}; choose from {list(TYPES)}")
    order = sorted(set(ids))
    rng(seed, "mixing", "order", type_name).shuffle(order)
    return order


def _pools(by_type: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """``by_type`` checked: known types only, no id in two types; missing types are empty."""
    unknown = [t for t in by_type if t not in TYPES]
    if unknown:
        raise ValueError(f"mixing: unknown instruction type(s) {unknown}; choose from {list(TYPES)}")
    pools = {t: sorted(set(by_type.get(t, ()))) for t in TYPES}
    owner: dict[str, str] = {}
    for t, ids in pools.items():
        for i in ids:
            if i in owner:
                raise ValueError(f"mixing: id {i!r} is in both {owner[i]!r} and {t!r}")
            owner[i] = t
    return pools


def _draw(by_type: Mapping[str, Sequence[str]], targets: Mapping[str, int], seed: int
          ) -> tuple[list[str], dict[str, Any]]:
    """A prefix of ``targets[t]`` ids of each type's :func:`draw_order` (all of them when it holds
    fewer). Returns the ids (sorted) and ``{"target", "counts", "available", "shortfall",
    "target_size", "size"}`` (per type dicts in :data:`TYPES` order, over the types of
    ``targets``)."""
    pools = _pools(by_type)
    chosen: list[str] = []
    counts: dict[str, int] = {}
    types = [t for t in TYPES if t in targets]
    for t in types:
        n = targets[t]
        if n < 0:
            raise ValueError(f"mixing: negative count {n} for {t!r}")
        take = draw_order(pools[t], t, seed)[:n] if n else []
        counts[t] = len(take)
        chosen.extend(take)
    shortfall = {t: targets[t] - counts[t] for t in types}
    short = {t: s for t, s in shortfall.items() if s}
    if short:
        log.warning("mixing: type(s) hold fewer records than asked, shortfall %s", short)
    info: dict[str, Any] = {
        "target": {t: targets[t] for t in types}, "counts": counts,
        "available": {t: len(pools[t]) for t in types}, "shortfall": shortfall,
        "target_size": sum(targets[t] for t in types), "size": len(chosen),
    }
    return sorted(chosen), info


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"mixing: {name} must be a positive integer, got {value!r}")
    return value


def _half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


def equal_parts(total: int, types: Sequence[str]) -> dict[str, int]:
    """``total`` split equally over ``types`` by largest remainder (the remainder goes one each to
    the earliest types). Each part is non-decreasing in ``total``, which keeps sizes nested."""
    if not types:
        raise ValueError("mixing: equal_parts needs at least one type")
    q, r = divmod(total, len(types))
    return {t: q + (1 if i < r else 0) for i, t in enumerate(types)}


# --------------------------------------------------------------------------------------------
# the set families
# --------------------------------------------------------------------------------------------

def combination_set(by_type: Mapping[str, Sequence[str]], combo: str | Iterable[str], per_type: int,
                    seed: int) -> tuple[list[str], dict[str, Any]]:
    """The training set of one combination (Table 1/2): ``per_type`` ids of each of its types
    (20K in the paper), drawn as prefixes of :func:`draw_order` (nested: the A ids of AC are the
    ids of A). Returns the ids (sorted) and ``info`` = :func:`_draw`'s dict plus ``{"combo",
    "label", "types", "finetune", "per_type"}``. ``none`` gives ``([], info)`` with
    ``finetune=False``: evaluate the base model, do not train."""
    types = combo_types(combo)
    _count("per_type", per_type)
    ids, info = _draw(by_type, {t: per_type for t in types}, seed)
    info.update({"combo": combo_name(types), "label": combo_label(types), "types": list(types),
                 "finetune": bool(types), "per_type": per_type})
    return ids, info


def ratio_targets(ratio: float, general_n: int, *, split: Split) -> dict[str, int]:
    """Records per type at a mixing ratio (Fig. 2): general = ``general_n``; specialized
    ``S = ratio x general_n`` (exact decimal product, rounded half up), as code = ceil(S/2), nlp =
    floor(S/2) with ``split="halves"``, or code = nlp = S with ``split="per_type"`` (module
    docstring). Every count is non-decreasing in ``ratio``."""
    if split not in SPLITS:
        raise ValueError(f"mixing: ratio split must be one of {list(SPLITS)}, got {split!r}")
    _count("general_n", general_n)
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not math.isfinite(ratio) or ratio < 0:
        raise ValueError(f"mixing: ratio must be a finite number >= 0, got {ratio!r}")
    specialized = _half_up(Fraction(str(ratio)) * general_n)
    if split == "halves":
        return {"general": general_n, **equal_parts(specialized, SPECIALIZED)}
    return {"general": general_n, "code": specialized, "nlp": specialized}


def ratio_set(by_type: Mapping[str, Sequence[str]], ratio: float, general_n: int, seed: int, *,
              split: Split) -> tuple[list[str], dict[str, Any]]:
    """The ratio sweep's set (Sec. 4.1, Fig. 2; ratios 0.5, 1, 1.5, 2 in the paper, any ratio >= 0
    here, 0 = general only): :func:`ratio_targets` ids per type, prefixes of :func:`draw_order`, so
    the set at a smaller ratio is a subset of the set at a larger one. Returns the ids (sorted) and
    ``info`` = :func:`_draw`'s dict plus ``{"ratio", "general_n", "split", "specialized"}``
    (specialized = code + nlp asked for)."""
    targets = ratio_targets(ratio, general_n, split=split)
    ids, info = _draw(by_type, targets, seed)
    info.update({"ratio": ratio, "general_n": general_n, "split": split,
                 "specialized": targets["code"] + targets["nlp"]})
    return ids, info


def size_set(by_type: Mapping[str, Sequence[str]], total: int, seed: int, *,
             types: Sequence[str] = TYPES) -> tuple[list[str], dict[str, Any]]:
    """The size sweep's set (Sec. 4.1 "Number of instances", Fig. 2): ``total`` ids split equally
    over ``types`` (all three by default) by :func:`equal_parts`, prefixes of :func:`draw_order`, so
    a smaller size is a subset of a larger one. Returns the ids (sorted) and ``info`` =
    :func:`_draw`'s dict plus ``{"total", "types"}``."""
    _count("total", total)
    ordered = combo_types(types)
    if not ordered:
        raise ValueError("mixing: size_set needs at least one type")
    ids, info = _draw(by_type, equal_parts(total, ordered), seed)
    info.update({"total": total, "types": list(ordered)})
    return ids, info


def equal_combination_set(by_type: Mapping[str, Sequence[str]], combo: str | Iterable[str], total: int,
                          seed: int) -> tuple[list[str], dict[str, Any]]:
    """A combination at a fixed total (the sound variant of Table 1/2, module docstring): ``total``
    ids in equal parts of the combination's types (:func:`size_set` over them), so every
    combination has the same records and, at fixed epochs, the same optimizer steps. Returns the
    ids (sorted) and ``info`` = :func:`size_set`'s dict plus ``{"combo", "label", "finetune"}``.
    ``none`` has no set to draw (the base model) and raises ValueError."""
    types = combo_types(combo)
    if not types:
        raise ValueError("mixing: the equal-size design has no set for 'none' (the base model is not trained)")
    ids, info = size_set(by_type, total, seed, types=types)
    info.update({"combo": combo_name(types), "label": combo_label(types), "finetune": True})
    return ids, info


def equal_total(section: Mapping[str, Any]) -> int:
    """The equal-size design's total records per combination: ``equal_size.total``, or
    ``per_type`` (a single type's set in the published design) when null."""
    total = section["equal_size"]["total"]
    return _count("equal_size.total", int(section["per_type"] if total is None else total))


# --------------------------------------------------------------------------------------------
# one experiment's set, from the study's config section
# --------------------------------------------------------------------------------------------

def experiment_set(by_type: Mapping[str, Sequence[str]], spec: Mapping[str, Any], section: Mapping[str, Any],
                   seed: int) -> tuple[list[str], dict[str, Any]]:
    """The set of one experiment of the study (``spec``: :func:`sftmix.studies.mixing.experiments.parse`
    of its name) under the ``mixing`` config ``section``: a combination of ``per_type`` records per
    type (also for the ``steps`` design's runs), a combination of :func:`equal_total` records in
    equal parts, a ratio-sweep set or a size-sweep set. A type holding fewer records than the set asks
    for raises ValueError naming the config key to lower, unless ``section["allow_shortfall"]``
    (then the set is smaller and ``info["shortfall"]`` says by how much)."""
    kind = spec["kind"]
    if kind in ("combo", "steps"):  # steps: the published set; the matched budget gives it the partner's steps
        ids, info = combination_set(by_type, spec["combo"], int(section["per_type"]), seed)
        if kind == "steps":
            info["partner"] = spec["partner"]
        key = "mixing.per_type"
    elif kind == "equal":
        ids, info = equal_combination_set(by_type, spec["combo"], equal_total(section), seed)
        key = "mixing.equal_size.total"
    elif kind == "ratio":
        ids, info = ratio_set(by_type, spec["ratio"], int(section["ratio"]["general"]), seed,
                              split=section["ratio"]["split"])
        key = "mixing.ratio.general / mixing.ratio.ratios"
    elif kind == "size":
        ids, info = size_set(by_type, spec["n"], seed, types=section["size"]["types"])
        key = "mixing.size.sizes"
    else:
        raise ValueError(f"mixing: unknown experiment kind {kind!r}")
    short = {t: s for t, s in info["shortfall"].items() if s}
    if short and not section["allow_shortfall"]:
        raise ValueError(f"{key}: the pool holds too few records of type(s) {short} (missing per type; "
                         f"available {info['available']}); lower {key} or set mixing.allow_shortfall")
    info["kind"] = kind
    return ids, info
