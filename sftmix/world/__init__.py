"""The embedded default's instruction world: a seeded generator with planted structure.

No machine here reaches a dataset hub, so the default run makes its own raw instruction
datasets, written the way real ones come (alpaca JSON, ShareGPT JSONL, Dolly JSONL,
OpenOrca JSONL), with what the pipeline must cope with planted on purpose:

* **categories** named like the paper's, each produced by a *template family* (``templates``)
  over a *resource* (latent content: an arithmetic fact table, string-operation facts, a knowledge
  base, a toy-language lexicon). Names live in config; families are code.
* **planted dependencies**: a dependent category draws on a prerequisite's resource. The
  prerequisite's items drill ``facts_per_item`` facts each, the dependent's items use one fact
  each, and the resource is sized (``size``) so that the dependent's own training examples cover
  it only partly; its evaluation items then need facts it can only have learned from the
  prerequisite. Removing the prerequisite from training must therefore hurt the dependent, while
  removing the dependent barely touches the prerequisite (the asymmetry the taxonomy test needs).
* an **antagonistic pair**: two categories with the same kind of prompt and conflicting answer
  conventions (``positive``/``negative`` versus ``1``/``0`` on the same reviews).
* exact duplicates (verbatim, or differing only in case/whitespace), near duplicates (one or two
  small edits), and malformed rows (broken JSON, invalid UTF-8, missing or mistyped fields, empty
  responses, overlong records).
* **defective responses** (``defects``, config ``world.quality``): a per-source share of the
  original items answers wrongly (a wrong value, a flipped label), is cut off, answers another
  item's question or says nothing. They are valid rows that ingest, filter and dedup keep; finding
  them is the quality scorers' job (:mod:`sftmix.quality_validation`).
* a **ground truth** file (true category, planted edges, duplicate clusters, malformed kinds,
  defects) that only tests and validation reports read, never the pipeline stages.

Everything is a pure function of the config and its seed: the same config gives the same bytes.

The package, by concern: ``words`` (vocabulary), ``resources`` (latent facts), ``templates``
(template families), ``items`` (clean, pairwise distinct items), ``defects`` (defective
responses), ``formats`` (the source formats and their writer), ``corrupt`` (duplicates and
malformed rows); this module validates the ``world`` config and assembles the sources and the
ground truth.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..records import make_id
from ..rng import rng
from .contamination import plant_contamination
from .corrupt import (
    MALFORMED_KINDS_JSON,
    MALFORMED_KINDS_JSONL,
    exact_variant,
    malform,
    near_variant,
)
from .defects import DEFECT_KINDS, Defect, apply_defect, defect_rate, plant_defects
from .formats import FORMAT_EXT, INVALID_UTF8_MARK, RawRow, to_format, write_source
from .items import Item, generate_items
from .resources import STRING_OPS, Resource, build_resources, make_resource, resource_facts_text
from .templates import FAMILIES, FAMILY_RESOURCE_KIND, MULTI_TURN_FAMILIES, Messages

__all__ = [
    "DEFECT_KINDS",
    "FAMILIES",
    "FAMILY_RESOURCE_KIND",
    "FORMAT_EXT",
    "INVALID_UTF8_MARK",
    "MALFORMED_KINDS_JSON",
    "MALFORMED_KINDS_JSONL",
    "MULTI_TURN_FAMILIES",
    "STRING_OPS",
    "Defect",
    "Item",
    "Messages",
    "RawRow",
    "Resource",
    "apply_defect",
    "build_resources",
    "defect_rate",
    "exact_variant",
    "generate_items",
    "generate_world",
    "make_resource",
    "malform",
    "near_variant",
    "plant_defects",
    "resource_facts_text",
    "to_format",
    "write_source",
]


def _validate_world(cfg: dict[str, Any]) -> None:
    cats = cfg["categories"]
    res = cfg.get("resources", {})
    for name, c in cats.items():
        fam = c["template"]
        if fam not in FAMILIES:
            raise ValueError(f"world.categories.{name}.template: unknown template {fam!r}; "
                             f"choose from {sorted(FAMILIES)}")
        kind = FAMILY_RESOURCE_KIND[fam]
        if kind is not None:
            rname = c.get("resource")
            if rname not in res:
                raise ValueError(f"world.categories.{name}.resource: template {fam!r} needs a "
                                 f"resource of kind {kind!r}; {rname!r} is not in world.resources")
            if res[rname]["kind"] != kind:
                raise ValueError(f"world.categories.{name}.resource: {rname!r} is of kind "
                                 f"{res[rname]['kind']!r}, template {fam!r} needs {kind!r}")
    for k, e in enumerate(cfg.get("dependencies", [])):
        for role in ("prerequisite", "dependent"):
            if e[role] not in cats:
                raise ValueError(f"world.dependencies[{k}].{role}: unknown category {e[role]!r}")
        if cats[e["prerequisite"]].get("resource") != cats[e["dependent"]].get("resource"):
            raise ValueError(f"world.dependencies[{k}]: a planted dependency is carried by a shared "
                             f"resource; give {e['prerequisite']!r} and {e['dependent']!r} the same "
                             f"world.categories.*.resource")
    for k, pair in enumerate(cfg.get("antagonistic", [])):
        for c in pair:
            if c not in cats:
                raise ValueError(f"world.antagonistic[{k}]: unknown category {c!r}")
    for s in cfg.get("quality", {}).get("rates", {}):
        if s not in cfg["sources"]:
            raise ValueError(f"world.quality.rates.{s}: unknown world source {s!r}; "
                             f"choose from {sorted(cfg['sources'])}")
    multi = [s for s, sc in cfg["sources"].items() if sc["format"] == "sharegpt"]
    for name, c in cats.items():
        if c["template"] in MULTI_TURN_FAMILIES and not multi:
            raise ValueError(f"world.categories.{name}: multi-turn template needs a sharegpt source "
                             f"in world.sources")



def generate_world(cfg: dict[str, Any], seed: int) -> tuple[dict[str, list[RawRow]], dict[str, Any]]:
    """Generate every raw source of the world plus its ground truth.

    ``cfg`` is the ``world`` section of the config. Returns ``(rows_by_source, ground_truth)``;
    canonical ids in the ground truth are ``make_id(source, row_index)``, which is what ingest gives
    the same rows.

    Ground truth, per record (``records[id]``): ``category``, ``kind`` (original, exact_duplicate,
    near_duplicate), ``item``, ``facts``, ``duplicate_of_item``, ``malformed`` (kind or None),
    ``cluster``, ``defect`` (a :data:`DEFECT_KINDS` kind or None; a duplicate carries its item's);
    a planted contamination row (``world.contamination``, kinds ``contamination`` and
    ``contamination_near_miss``) also ``copies_item``. ``contamination``: one entry per planted row
    (id, kind, the copied item and the ids of its rows, ``copies_ids``).
    Summaries: ``defect_rates`` (source -> configured rate), ``defects`` (source -> kind -> number
    of defective *original* rows), ``defective_items`` (item index -> kind, source, the clean and
    the defective last answer, the donor item of ``other_item``).
    """
    _validate_world(cfg)
    resources = build_resources(cfg, seed)
    items = generate_items(cfg, seed, resources)
    sources = cfg["sources"]
    names = list(sources)
    weights = [float(sources[s].get("weight", 1.0)) for s in names]
    multi_ok = [s for s in names if sources[s]["format"] == "sharegpt"]
    r = rng(seed, "assign")
    item_sources = []
    for it in items:
        fam = cfg["categories"][it.category]["template"]
        item_sources.append(r.choice(multi_ok) if fam in MULTI_TURN_FAMILIES else r.choices(names, weights)[0])

    # defective responses (planted instance quality): the item itself is defective, so its
    # duplicates, made below from the item, copy the defect
    defects = plant_defects(cfg, seed, items, item_sources, resources)
    items = [replace(it, messages=apply_defect(it.messages, defects[n])) if n in defects else it
             for n, it in enumerate(items)]

    # (source, messages, instruction, input, truth) before shuffling rows within each source
    staged: dict[str, list[tuple[Messages, str, str, dict[str, Any]]]] = {s: [] for s in names}
    for n_item, (it, src) in enumerate(zip(items, item_sources, strict=True)):
        defect = defects[n_item].kind if n_item in defects else None
        truth = {"category": it.category, "kind": "original", "item": n_item, "facts": it.facts,
                 "duplicate_of_item": None, "malformed": None, "defect": defect}
        staged[src].append((it.messages, it.instruction, it.input, truth))

    dup = cfg.get("duplicates", {})
    n_items = len(items)
    rd = rng(seed, "duplicates")
    for kind, rate in (("exact_duplicate", dup.get("exact_rate", 0.0)), ("near_duplicate", dup.get("near_rate", 0.0))):
        for _ in range(int(round(rate * n_items))):
            n_item = rd.randrange(n_items)
            it = items[n_item]
            fam = cfg["categories"][it.category]["template"]
            msgs = exact_variant(rd, it.messages) if kind == "exact_duplicate" else near_variant(rd, it.messages)
            instr, inp = it.instruction, it.input
            if len(msgs) == 2:  # keep instruction/input consistent with the edited user turn
                instr, inp = msgs[0]["content"], ""
            src = rd.choice(multi_ok) if fam in MULTI_TURN_FAMILIES else rd.choices(names, weights)[0]
            truth = {"category": it.category, "kind": kind, "item": n_item, "facts": it.facts,
                     "duplicate_of_item": n_item, "malformed": None,
                     "defect": defects[n_item].kind if n_item in defects else None}
            staged[src].append((msgs, instr, inp, truth))

    # shuffle within each source, render rows, then corrupt some
    mal = cfg.get("malformed", {})
    mal_rate = float(mal.get("rate", 0.0))
    overlong = int(mal.get("overlong_chars", 40000))
    rows_by_source: dict[str, list[RawRow]] = {}
    item_to_ids: dict[int, list[str]] = {}
    truth_records: dict[str, dict[str, Any]] = {}
    for s in names:
        fmt = sources[s]["format"]
        rs = rng(seed, "source", s)
        order = list(range(len(staged[s])))
        rs.shuffle(order)
        rows: list[RawRow] = []
        kinds = MALFORMED_KINDS_JSON if FORMAT_EXT[fmt] == "json" else MALFORMED_KINDS_JSONL
        for pos, k in enumerate(order):
            msgs, instr, inp, truth = staged[s][k]
            truth = dict(truth)
            rid = make_id(s, pos)
            payload: dict[str, Any] | str = to_format(fmt, msgs, instr, inp, rs, f"{s}_{pos}")
            if truth["kind"] == "original" and rs.random() < mal_rate:
                mk = rs.choice(kinds)
                payload = malform(mk, fmt, payload, rs, overlong)
                truth["malformed"] = mk
            rows.append(RawRow(s, payload, truth))
            truth_records[rid] = truth
            item_to_ids.setdefault(truth["item"], []).append(rid)
        rows_by_source[s] = rows

    # planted contamination, appended after every source's own rows from its own stream (the rows
    # above keep their ids and bytes); not in the duplicate clusters: a copy inside other text
    planted = plant_contamination(cfg, seed, items, names, {n: d.kind for n, d in defects.items()})
    rc = rng(seed, "contamination", "format")
    contamination = []
    for src, msgs, truth in planted:
        rid = make_id(src, len(rows_by_source[src]))
        payload = to_format(sources[src]["format"], msgs, msgs[0]["content"], "", rc,
                            f"{src}_{len(rows_by_source[src])}")
        rows_by_source[src].append(RawRow(src, payload, truth))
        truth_records[rid] = truth
        contamination.append({"id": rid, "kind": truth["kind"], "copies_item": truth["copies_item"],
                              "copies_ids": sorted(item_to_ids.get(truth["copies_item"], []))})

    # duplicate clusters in canonical ids: cluster = all rows carrying the same item
    clusters = [sorted(ids) for _, ids in sorted(item_to_ids.items()) if len(ids) > 1]
    for t in truth_records.values():
        t["cluster"] = None
    for ci, ids in enumerate(clusters):
        for rid in ids:
            truth_records[rid]["cluster"] = ci

    ground_truth = {
        "seed": seed,
        "categories": {c: {"template": v["template"], "resource": v.get("resource")}
                       for c, v in cfg["categories"].items()},
        "edges": [{"prerequisite": e["prerequisite"], "dependent": e["dependent"],
                   "resource": cfg["categories"][e["dependent"]].get("resource")}
                  for e in cfg.get("dependencies", [])],
        "antagonistic": [list(p) for p in cfg.get("antagonistic", [])],
        "resources": {n: {"kind": res.kind, "n_facts": len(res.facts), "extra": res.extra}
                      for n, res in resources.items()},
        "n_items": n_items,
        "duplicate_clusters": clusters,
        "defect_rates": {s: defect_rate(cfg.get("quality", {}), s) for s in names},
        "defects": {s: {k: sum(1 for n, d in defects.items() if d.kind == k and item_sources[n] == s)
                        for k in DEFECT_KINDS} for s in names},
        "defective_items": {str(n): d.as_truth() for n, d in sorted(defects.items())},
        "contamination": contamination,
        "records": truth_records,
    }
    return rows_by_source, ground_truth
