"""Score tables (sftmix.scores): loading by path, the row filter, per-seed helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sftmix.scores import (
    category_items,
    column_by_id,
    finite_row,
    load_score_tables,
    load_seed_tables,
    read_scores,
    seed_category_means,
    seed_matrix,
    seed_path_key,
    seeds_of,
    table_index,
    write_scores,
)

from .synthetic_scores import CATS, make_scores


def _row(rid, cat, n_tokens, nll_mean, split="dev"):
    return {"id": rid, "category": cat, "split": split, "n_tokens": n_tokens, "nll_sum": nll_mean * n_tokens,
            "nll_mean": nll_mean, "ppl": math.exp(nll_mean) if math.isfinite(nll_mean) else math.nan}


def test_seed_path_key() -> None:
    assert seed_path_key("results/scores/tiny/add_x/seed_2.tsv") == ("add_x", "2")
    assert seed_path_key("judge/tiny/base/seed_1.json") == ("base", "1")
    with pytest.raises(ValueError, match="seed_"):
        seed_path_key("results/scores/tiny/pretrained.tsv")


def test_load_score_tables_round_trip(tmp_path) -> None:
    rows = [_row("a", "X", 3, 1.5), _row("b", "X", 0, math.nan)]
    paths = []
    for exp, seed in (("base", "1"), ("base", "2"), ("add_x", "1")):
        p = tmp_path / "scores" / "m" / exp / f"seed_{seed}.tsv"
        write_scores(p, rows)
        paths.append(str(p))
    scores = load_score_tables(paths)
    assert list(scores) == ["base", "add_x"] and list(scores["base"]) == ["1", "2"]
    back = scores["add_x"]["1"]
    assert back[0] == rows[0] and back[1]["n_tokens"] == 0 and math.isnan(back[1]["nll_mean"])
    assert read_scores(paths[0])[0] == rows[0]
    assert load_seed_tables(paths[:1], lambda p: p.name) == {"base": {"1": "seed_1.tsv"}}


def test_load_score_tables_keeps_one_split(tmp_path) -> None:
    p = tmp_path / "scores" / "m" / "base" / "seed_1.tsv"
    write_scores(p, [_row("a", "X", 3, 1.5, "dev"), _row("b", "X", 3, 2.5, "test"), _row("c", "X", 2, 0.5, "test")])
    assert [r["id"] for r in load_score_tables([p], split="test")["base"]["1"]] == ["b", "c"]
    assert [r["id"] for r in load_score_tables([p], split="dev")["base"]["1"]] == ["a"]
    assert len(load_score_tables([p])["base"]["1"]) == 3
    q = tmp_path / "scores" / "m" / "add_x" / "seed_1.tsv"
    write_scores(q, [_row("a", "X", 3, 1.5, "")])  # written before the split existed
    with pytest.raises(ValueError, match="no 'dev' rows"):
        load_score_tables([q], split="dev")


def test_finite_row_needs_a_token_and_a_finite_value() -> None:
    assert finite_row(_row("a", "X", 3, 1.0))
    assert not finite_row(_row("a", "X", 0, 1.0))
    assert not finite_row(_row("a", "X", 3, math.inf))
    assert not finite_row({"n_tokens": 2, "nll_sum": math.nan}, "nll_sum")


def test_seeds_and_items_shared_by_every_table() -> None:
    scores = {"base": {"10": [_row("a", "X", 1, 1.0), _row("b", "Y", 1, 2.0)],
                       "2": [_row("a", "X", 1, 1.5), _row("b", "Y", 1, math.nan)], "3": []},
              "add": {"x": [_row("a", "X", 1, 0.5), _row("b", "Y", 1, 2.5)]}}
    assert seeds_of(scores, "base") == ["2", "10"]  # numeric order, empty tables left out
    assert seeds_of(scores, "missing") == []
    assert category_items(scores, ["X", "Y"]) == {"X": ["a"], "Y": []}
    assert column_by_id(scores["base"]["2"], "nll_mean")["a"] == 1.5
    m = seed_matrix(scores, "base", ["a"], "nll_mean")
    assert m.tolist() == [[1.5], [1.0]]
    idx = table_index(scores, "nll_mean")
    assert np.array_equal(seed_matrix(scores, "base", ["a"], "nll_mean", idx), m)
    assert seed_category_means(scores, "base", ["a"], "nll_mean", idx).tolist() == [1.5, 1.0]


def test_synthetic_items_cover_every_category() -> None:
    items = category_items(make_scores(n_items=7), CATS)
    assert all(len(items[c]) == 7 for c in CATS)
