"""Eval items the analyses leave out (sftmix.exclusions): planted defects, the TSV, the tables."""

from __future__ import annotations

import pytest

from sftmix.exclusions import (
    EXCLUDED_COLUMNS,
    defective_eval_items,
    read_excluded,
    without_items,
    write_excluded,
)


def _eval(i: int, split: str, category: str = "A") -> dict:
    return {"id": f"e{i}", "meta": {"category": category, "split": split}, "messages": []}


def test_defective_eval_items_are_listed_with_their_reason(tmp_path):
    records = [_eval(2, "dev"), _eval(1, "test", "B"), _eval(3, "test")]
    truth = {"e1": {"defect": "filler"}, "e2": {"defect": None}, "e3": {"defect": "wrong_value"}, "x": {}}
    rows = defective_eval_items(records, truth)
    assert rows == [{"id": "e1", "category": "B", "split": "test", "reason": "planted_defect:filler"},
                    {"id": "e3", "category": "A", "split": "test", "reason": "planted_defect:wrong_value"}]
    path = tmp_path / "excluded.tsv"
    assert write_excluded(path, rows) == 2 and read_excluded(path) == {"e1", "e3"}
    assert path.read_text().splitlines()[0] == "\t".join(EXCLUDED_COLUMNS)
    empty = tmp_path / "none.tsv"
    write_excluded(empty, [])
    assert read_excluded(empty) == set()
    with pytest.raises(ValueError, match="not in the ground truth"):
        defective_eval_items([_eval(9, "dev")], truth)


def test_without_items_drops_the_same_items_from_every_table():
    tables = {"base": {"1": [{"id": "e1", "v": 1}, {"id": "e2", "v": 2}], "2": [{"id": "e2", "v": 3}]},
              "add_a": {"1": [{"id": "e1", "v": 4}]}}
    out = without_items(tables, {"e1"})
    assert out == {"base": {"1": [{"id": "e2", "v": 2}], "2": [{"id": "e2", "v": 3}]}, "add_a": {"1": []}}
    assert tables["base"]["1"][0]["id"] == "e1"  # the input is not changed
