"""Intermediate file formats: every writer round-trips through its reader (sftmix.records TSV layer)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sftmix.normalize import mapping_from_rows, normalize_tags, read_tag_map, write_tag_map
from sftmix.records import (
    read_json,
    read_tsv,
    read_typed_tsv,
    write_json,
    write_tsv,
    write_typed_tsv,
)
from sftmix.report import read_table, write_table
from sftmix.studies.beyond_iid.dependency import read_taxonomy, taxonomy_layers, write_taxonomy
from sftmix.studies.beyond_iid.interaction import gamma_matrix, read_gamma_tsv, write_gamma_tsv
from sftmix.summary import read_summary, summarize_scores, write_summary

from .synthetic_scores import CATS, make_scores


def _same(a, b) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


# ------------------------------------------------------------------------------- records layer

@pytest.mark.parametrize("quoted", [False, True])
def test_typed_tsv_round_trip(tmp_path, quoted) -> None:
    cols = ("name", "n", "x")
    rows = [{"name": "a b", "n": 3, "x": 0.1}, {"name": "ü", "n": -1, "x": math.nan},
            {"name": "c", "n": 0, "x": math.inf}]
    p = tmp_path / "t.tsv"
    assert write_typed_tsv(p, rows, cols, ints=frozenset({"n"}), floats=frozenset({"x"}), quoted=quoted) == 3
    back = read_typed_tsv(p, cols, ints=frozenset({"n"}), floats=frozenset({"x"}), quoted=quoted)
    assert [r["name"] for r in back] == ["a b", "ü", "c"] and [r["n"] for r in back] == [3, -1, 0]
    assert _same([r["x"] for r in back], [0.1, math.nan, math.inf])
    assert p.read_text(encoding="utf-8").splitlines()[1] == "a b\t3\t0.1"
    assert not (tmp_path / "t.tsv.tmp").exists()


def test_unquoted_tsv_rejects_tabs_and_quoted_tsv_keeps_them(tmp_path) -> None:
    rows = [["say \"hi\"\tthere\nnow", "1"]]
    with pytest.raises(ValueError, match="tab or newline"):
        write_tsv(tmp_path / "a.tsv", rows, ("text", "n"))
    write_tsv(tmp_path / "b.tsv", rows, ("text", "n"), quoted=True)
    assert read_tsv(tmp_path / "b.tsv", ("text", "n"), quoted=True) == [{"text": rows[0][0], "n": "1"}]


def test_tsv_reader_checks_header_and_fields(tmp_path) -> None:
    p = tmp_path / "t.tsv"
    p.write_text("a\tb\n1\t2\n\n3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="header must be"):
        read_tsv(p, ("a", "c"))
    with pytest.raises(ValueError, match="expected 2 fields"):
        read_tsv(p)
    p.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="not a"):
        read_tsv(p)


def test_float_format_and_json(tmp_path) -> None:
    p = tmp_path / "t.tsv"
    write_typed_tsv(p, [{"x": 1 / 3}], ("x",), floats=frozenset({"x"}), float_format=".6f")
    assert p.read_text() == "x\n0.333333\n"
    write_json(tmp_path / "o.json", {"b": [1, 2], "a": None})
    assert read_json(tmp_path / "o.json") == {"a": None, "b": [1, 2]}


# ------------------------------------------------------------------------------- formats

def test_gamma_tsv_round_trip(tmp_path) -> None:
    res = gamma_matrix(make_scores(n_items=12), CATS, n_boot=20)
    p = tmp_path / "gamma.tsv"
    assert write_gamma_tsv(res, p) == len(CATS) ** 2
    back = read_gamma_tsv(p)
    assert back["categories"] == CATS and back["estimator"] == res["estimator"]
    for key in ("gamma", "gamma_raw", "ci_low", "ci_high", "denominator", "numerator_effects"):
        assert _same(back[key], res[key]), key
    assert (back["unstable"] == res["unstable"]).all()
    write_gamma_tsv(back, tmp_path / "again.tsv")  # a read result writes the same bytes
    assert (tmp_path / "again.tsv").read_bytes() == p.read_bytes()


def test_gamma_tsv_quotes_odd_category_names(tmp_path) -> None:
    cats = ['say "x"', "plain"]
    res = {"categories": cats, "estimator": "per_item", "unstable": np.array([[False, True], [False, False]]),
           **{k: np.array([[1.0, 0.5], [math.nan, 1.0]])
              for k in ("gamma", "gamma_raw", "ci_low", "ci_high", "denominator", "numerator_effects")}}
    write_gamma_tsv(res, tmp_path / "g.tsv")
    back = read_gamma_tsv(tmp_path / "g.tsv")
    assert back["categories"] == cats and back["unstable"][0, 1] and _same(back["gamma"], res["gamma"])


def test_taxonomy_round_trip(tmp_path) -> None:
    layers = taxonomy_layers([(CATS[0], CATS[1]), (CATS[1], CATS[2])], CATS)
    p = tmp_path / "taxonomy.tsv"
    assert write_taxonomy(p, layers, CATS) == len(CATS)
    assert p.read_text(encoding="utf-8").splitlines()[:2] == ["category\tlayer", f"{CATS[0]}\tpreliminary"]
    back = read_taxonomy(p)
    assert back == layers and list(back) == CATS


def test_tag_map_round_trip(tmp_path) -> None:
    counts = {"python": 5, "python code": 2, 'the "quoted" tag': 1, "cooking": 3}
    emb = np.array([[1.0, 0.0], [0.0, 1.0], [0.99, 0.1], [1.0, 0.01]])  # rows follow sorted(counts)
    rows = normalize_tags(counts, emb, threshold=0.95)
    p = tmp_path / "tag_map.tsv"
    assert write_tag_map(p, rows) == len(rows)
    back = read_tag_map(p)
    assert back == rows
    assert mapping_from_rows(back) == {r["tag"]: r["normalized"] for r in rows}


def test_score_summary_round_trip(tmp_path) -> None:
    scores = make_scores(n_items=5, experiments=["base"])
    rows = summarize_scores({("base", s): t for s, t in scores["base"].items()})
    p = tmp_path / "summary.tsv"
    assert write_summary(p, rows) == len(rows)
    back = read_summary(p)
    assert [(r["experiment"], r["seed"], r["category"], r["n_items"]) for r in back] == \
        [(r["experiment"], r["seed"], r["category"], r["n_items"]) for r in rows]
    for a, b in zip(back, rows, strict=True):
        assert a["mean_nll"] == pytest.approx(b["mean_nll"], abs=1e-6)


def test_comparison_table_round_trip(tmp_path) -> None:
    rows = [{"method": "eecpo", "size": "40", "experiment": "mix_eecpo_40", "nll_macro": 1.23456,
             "nll_seeds": [1.0, 2.0], "verdict": "reference", "delta": math.nan}]
    cols = ["method", "size", "experiment", "nll_macro", "nll_seeds", "verdict", "delta", "absent"]
    write_table(tmp_path / "t.tsv", rows, cols)
    back = read_table(tmp_path / "t.tsv")
    assert back[0]["nll_macro"] == 1.2346 and back[0]["nll_seeds"] == "1.0000,2.0000"
    assert back[0]["verdict"] == "reference" and math.isnan(back[0]["delta"]) and back[0]["absent"] == ""
