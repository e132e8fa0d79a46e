"""The world's UniEval rater: yes/no labels that train the UniEval dialogue stand-in.

UniEval (Zhong et al. 2022, "Towards a Unified Multi-Dimensional Evaluator for Text Generation")
is a T5 model trained to answer Boolean questions about a response (naturalness, coherence,
understandability, ...; ``MingZhong/unieval-dialog``); InstructMining (Cao et al. 2023) uses its
three dialogue scores as indicators. The embedded default cannot reach that model, so it trains a
stand-in the same way, on yes/no labels for its own responses (:mod:`sftmix.raters`). Here the
labeller is the world's ground truth with noise: a response's defect kind
(:mod:`sftmix.world.defects`, None = clean) says per dimension whether it is natural, coherent,
understandable (:data:`UNIEVAL_TABLE`), and each label is flipped with probability ``noise``, so the
stand-in learns from imperfect labels as UniEval's pseudo-labelled training did.

The table (yes = the response has the quality)::

    defect          naturalness  coherence  understandability
    clean (None)    yes          yes        yes
    wrong_value     yes          yes        yes     fluent, on topic, wrong: UniEval does not judge correctness
    flipped_label   yes          yes        yes     likewise
    truncated       no           yes        no      cut off mid-answer: not what a person says, not followable;
                                                    what is there continues the conversation
    other_item      yes          no         yes     a fluent answer to another question: not a continuation
    filler          no           no         yes     canned boilerplate that answers nothing; plainly readable

Like :mod:`sftmix.world.ratings`, this plays an external rater and is one of the few stages that
read the truth. The records it labels are the stand-in's training set; like the DEITA scorer's
seed set, they belong out of the pool the stand-in rates later.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..raters import UNIEVAL_DIMENSIONS
from ..records import read_typed_tsv, write_typed_tsv
from ..rng import rng
from .defects import DEFECT_KINDS

UNIEVAL_TABLE: dict[str | None, dict[str, bool]] = {
    None: {"naturalness": True, "coherence": True, "understandability": True},
    "wrong_value": {"naturalness": True, "coherence": True, "understandability": True},
    "flipped_label": {"naturalness": True, "coherence": True, "understandability": True},
    "truncated": {"naturalness": False, "coherence": True, "understandability": False},
    "other_item": {"naturalness": True, "coherence": False, "understandability": True},
    "filler": {"naturalness": False, "coherence": False, "understandability": True},
}
"""Noiseless label of a clean response (key None) and of each defect kind, per UniEval dimension
(True = yes); see the module docstring."""
assert set(UNIEVAL_TABLE) == {None, *DEFECT_KINDS}
assert all(set(row) == set(UNIEVAL_DIMENSIONS) for row in UNIEVAL_TABLE.values())

LABEL_COLUMNS = ("id", "dimension", "label")
"""Columns of the label rows and their TSV."""


def unieval_label(defect: str | None, dimension: str, flip: bool = False) -> str:
    """``"yes"``/``"no"``: :data:`UNIEVAL_TABLE`'s label of ``defect`` for ``dimension``, the other
    one when ``flip`` (rater noise)."""
    return "yes" if UNIEVAL_TABLE[defect][dimension] != flip else "no"


def unieval_seed_labels(rows: Iterable[Mapping[str, Any]], truth_records: Mapping[str, Mapping[str, Any]], *,
                        noise: float, seed: int,
                        dimensions: Iterable[str] = UNIEVAL_DIMENSIONS) -> tuple[list[dict[str, str]], dict[str, int]]:
    """Label every row (a seed set's rows or records: anything with an ``id``) on each dimension.

    The defect is read from the ground truth (``truth_records[id]["defect"]``), the label from
    :data:`UNIEVAL_TABLE`, flipped when ``rng(seed, "unieval_label", id, dimension).random() <
    noise``: one draw per (record, dimension), so a label never depends on the other rows or
    dimensions. Returns ``{"id", "dimension", "label"}`` rows sorted by id, then dimension in the
    order given, and counts ``{"in", "not_in_truth" (cannot be labelled: counted, no rows),
    "labelled" (records), "rows", "yes", "flipped"}``. Raises ``ValueError`` on a ``noise`` outside
    [0, 1], an unknown dimension or a duplicate id.
    """
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"unieval_seed_labels: noise must be in [0, 1], got {noise}")
    dims = list(dimensions)
    unknown = [d for d in dims if d not in UNIEVAL_DIMENSIONS]
    if unknown or not dims:
        raise ValueError(f"unieval_seed_labels: dimensions {unknown or dims} are not among {list(UNIEVAL_DIMENSIONS)}")
    counts = {"in": 0, "not_in_truth": 0, "labelled": 0, "rows": 0, "yes": 0, "flipped": 0}
    seen: set[str] = set()
    out: list[dict[str, str]] = []
    for r in rows:
        counts["in"] += 1
        rid = str(r["id"])
        if rid in seen:
            raise ValueError(f"unieval_seed_labels: duplicate id {rid!r}")
        seen.add(rid)
        if rid not in truth_records:
            counts["not_in_truth"] += 1
            continue
        defect = truth_records[rid].get("defect")
        counts["labelled"] += 1
        for dim in dims:
            flip = rng(seed, "unieval_label", rid, dim).random() < noise
            label = unieval_label(defect, dim, flip)
            counts["flipped"] += flip
            counts["yes"] += label == "yes"
            out.append({"id": rid, "dimension": dim, "label": label})
    order = {d: k for k, d in enumerate(dims)}
    out.sort(key=lambda row: (row["id"], order[row["dimension"]]))
    counts["rows"] = len(out)
    return out, counts


def write_unieval_labels(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write :func:`unieval_seed_labels`' rows as TSV (:data:`LABEL_COLUMNS`); the same rows give
    the same bytes. Returns the row count."""
    return write_typed_tsv(path, rows, LABEL_COLUMNS, what="UniEval labels")


def read_unieval_labels(path: str | Path) -> list[dict[str, Any]]:
    """Rows written by :func:`write_unieval_labels`."""
    return read_typed_tsv(path, LABEL_COLUMNS, what="UniEval labels")
