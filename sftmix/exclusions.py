"""Eval items every analysis and benchmark leaves out (``eval/excluded.tsv``).

In a generated world, an eval item whose reference answer carries a planted defect
(:mod:`sftmix.world.defects`) would reward a model for assigning likelihood to a wrong, cut-off or
filler answer; with ``eval.exclude_defective`` (the default) such items are listed here, with their
reason, and gamma, the dependency taxonomy, the method comparison and the lm-eval tasks leave them
out. Without a world the list is empty (the file holds its header only).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .records import Record, read_typed_tsv, write_typed_tsv
from .subsets import eval_split

EXCLUDED_COLUMNS = ("id", "category", "split", "reason")
"""Columns of ``eval/excluded.tsv``: the eval items every analysis and benchmark leaves out."""


def defective_eval_items(eval_records: Iterable[Record], truth_records: Mapping[str, Mapping[str, Any]]
                         ) -> list[dict[str, str]]:
    """The eval items whose reference answer carries a planted defect (a generated world's ground
    truth, ``records[id]["defect"]``): scoring a model's likelihood of a wrong, cut-off or filler
    reference rewards learning the defect, so the analyses leave them out. One row per item
    (:data:`EXCLUDED_COLUMNS`, reason ``planted_defect:<kind>``), sorted by id. An eval item the
    ground truth lacks raises ``ValueError`` (eval set and world do not match)."""
    rows = []
    for r in eval_records:
        rid = str(r["id"])
        if rid not in truth_records:
            raise ValueError(f"eval item {rid!r} is not in the ground truth: eval set and world do not match")
        kind = truth_records[rid].get("defect")
        if kind is not None:
            rows.append({"id": rid, "category": str(r.get("meta", {}).get("category", "")),
                         "split": eval_split(r), "reason": f"planted_defect:{kind}"})
    return sorted(rows, key=lambda row: row["id"])


def write_excluded(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write the excluded eval items (:data:`EXCLUDED_COLUMNS`; no rows: the header alone)."""
    return write_typed_tsv(path, rows, EXCLUDED_COLUMNS, what="excluded eval items")


def read_excluded(path: str | Path) -> set[str]:
    """The ids of the eval items a file written by :func:`write_excluded` leaves out."""
    return {r["id"] for r in read_typed_tsv(path, EXCLUDED_COLUMNS, what="excluded eval items")}


def without_items(tables: Mapping[str, Mapping[str, list[Mapping[str, Any]]]], ids: set[str]
                  ) -> dict[str, dict[str, list[Mapping[str, Any]]]]:
    """Score tables (``{experiment: {seed: rows}}``, :func:`sftmix.scores.load_score_tables`)
    without the rows of eval items ``ids`` (every table loses the same items)."""
    return {exp: {seed: [r for r in rows if str(r["id"]) not in ids] for seed, rows in seeds.items()}
            for exp, seeds in tables.items()}
