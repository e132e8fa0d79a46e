"""Demystifying Instruction Mixing: types, the eight combinations, the nested seeded sets."""

from __future__ import annotations

import functools
import itertools
import random

import pytest

from sftmix.studies.mixing import sets as ms

CATEGORY_TYPES = {"Open QA": "general", "Brainstorming": "general", "Python Programming": "code",
                  "Classification": "nlp", "Extractive QA": "nlp"}


def _records(n_general=60, n_code=50, n_nlp=70, n_unmapped=7, n_uncat=3):
    cats = (["Open QA", "Brainstorming"] * n_general)[:n_general] + ["Python Programming"] * n_code \
        + (["Classification", "Extractive QA"] * n_nlp)[:n_nlp] + ["Poetry"] * n_unmapped
    recs = [{"id": f"src-{i:07d}", "source": "src", "messages": [], "meta": {"category": c}}
            for i, c in enumerate(cats)]
    recs += [{"id": f"nocat-{i:07d}", "source": "nocat", "messages": [], "meta": {}} for i in range(n_uncat)]
    return recs


@pytest.fixture(scope="module")
def by_type():
    return ms.records_by_type(_records(), CATEGORY_TYPES)[0]


def test_eight_combinations_in_the_papers_order():
    assert ms.TYPES == ("general", "code", "nlp")
    assert [ms.LETTERS[t] for t in ms.TYPES] == ["A", "C", "P"]
    subsets = [c for k in range(4) for c in itertools.combinations(ms.TYPES, k)]
    assert list(ms.COMBINATIONS.values()) == subsets
    assert list(ms.COMBINATIONS) == ["none", "a", "c", "p", "ac", "ap", "cp", "acp"]
    assert [ms.combo_label(c) for c in ms.COMBINATIONS] == ["None", "A", "C", "P", "AC", "AP", "CP", "ACP"]
    assert ms.combo_name(["nlp", "general"]) == "ap" and ms.combo_label("ACP") == "ACP"
    assert [ms.is_finetuned(c) for c in ms.COMBINATIONS] == [False] + [True] * 7
    with pytest.raises(ValueError, match="unknown combination"):
        ms.combo_types("ax")
    with pytest.raises(ValueError, match="repeats"):
        ms.combo_types(["code", "code"])


def test_records_by_type_counts_unmapped_and_uncategorized():
    recs = _records()
    by_type, counts = ms.records_by_type(recs, {**CATEGORY_TYPES, "Typo Category": "code"})
    assert {t: len(v) for t, v in by_type.items()} == {"general": 60, "code": 50, "nlp": 70}
    assert counts["by_type"] == {"general": 60, "code": 50, "nlp": 70}
    assert counts["unmapped"] == 7 and counts["unmapped_categories"] == {"Poetry": 7}
    assert counts["uncategorized"] == 3 and counts["excluded"] == 10
    assert counts["in"] == len(recs) == counts["kept"] + counts["excluded"]
    assert counts["absent_categories"] == ["Typo Category"]
    assert all(v == sorted(v) for v in by_type.values())
    with pytest.raises(ValueError, match="unknown type"):
        ms.records_by_type(recs, {"Poetry": "chat"})
    with pytest.raises(ValueError, match="twice"):
        ms.records_by_type(recs + recs[:1], CATEGORY_TYPES)


def test_combinations_are_balanced_and_nested(by_type):
    sets = {c: ms.combination_set(by_type, c, 20, seed=7) for c in ms.COMBINATIONS}
    ids_of = {c: set(ids) for c, (ids, _) in sets.items()}
    for c, (ids, info) in sets.items():
        types = ms.COMBINATIONS[c]
        assert info["counts"] == {t: 20 for t in types} and len(ids) == 20 * len(types)
        assert info["label"] == ms.combo_label(c) and info["finetune"] == bool(types)
        assert all(s == 0 for s in info["shortfall"].values())
        assert ids == sorted(ids)
        for t in types:  # a type's records do not depend on the other types of the combination
            assert ids_of[c] & set(by_type[t]) == ids_of[ms.combo_name([t])]
    assert sets["none"] == ([], sets["none"][1]) and sets["none"][1]["finetune"] is False
    assert ids_of["acp"] == ids_of["a"] | ids_of["c"] | ids_of["p"]


def test_shortfall_is_recorded(by_type):
    ids, info = ms.combination_set(by_type, "acp", 55, seed=1)
    assert info["counts"] == {"general": 55, "code": 50, "nlp": 55}
    assert info["shortfall"] == {"general": 0, "code": 5, "nlp": 0}
    assert info["target_size"] == 165 and info["size"] == len(ids) == 160
    assert set(by_type["code"]) <= set(ids)
    _, info = ms.combination_set({"general": by_type["general"]}, "ac", 10, seed=1)
    assert info["shortfall"] == {"general": 0, "code": 10} and info["available"]["code"] == 0


def test_ratio_sweep_nested_and_split_in_halves(by_type):
    sets = {r: ms.ratio_set(by_type, r, 20, seed=3, split="halves") for r in (0, 0.5, 1, 1.5, 2)}
    assert sets[1][1]["counts"] == {"general": 20, "code": 10, "nlp": 10}
    assert sets[1.5][1]["counts"] == {"general": 20, "code": 15, "nlp": 15}
    assert sets[2][1]["counts"] == {"general": 20, "code": 20, "nlp": 20}
    assert sets[0][1]["counts"] == {"general": 20, "code": 0, "nlp": 0}
    ratios = sorted(sets)
    for lo, hi in itertools.pairwise(ratios):
        assert set(sets[lo][0]) < set(sets[hi][0])
    general = set(sets[0][0])
    assert all(general == set(ids) & set(by_type["general"]) for ids, _ in sets.values())
    # the families share their draws: ratio 2 in halves with general_n = n is ACP at n per type
    assert sets[2][0] == ms.combination_set(by_type, "acp", 20, seed=3)[0]
    # odd specialized parts: the extra record goes to code; counts stay monotone in the ratio
    assert ms.ratio_targets(0.5, 7, split="halves") == {"general": 7, "code": 2, "nlp": 2}
    counts = [ms.ratio_targets(r / 10, 7, split="halves") for r in range(21)]
    for a, b in itertools.pairwise(counts):
        assert all(a[t] <= b[t] for t in ms.TYPES)
    assert ms.ratio_targets(1.5, 20, split="per_type") == {"general": 20, "code": 30, "nlp": 30}
    with pytest.raises(ValueError, match="ratio"):
        ms.ratio_set(by_type, -0.5, 20, seed=3, split="halves")
    with pytest.raises(ValueError, match="split"):
        ms.ratio_set(by_type, 1, 20, seed=3, split="thirds")


def test_size_sweep_equal_parts_and_prefixes(by_type):
    previous: set[str] = set()
    for total in range(1, 151):
        ids, info = ms.size_set(by_type, total, seed=5)
        parts = list(info["counts"].values())
        assert sum(parts) == total == len(ids) and max(parts) - min(parts) <= 1
        assert previous < set(ids)
        previous = set(ids)
    assert ms.size_set(by_type, 30, seed=5)[1]["counts"] == {"general": 10, "code": 10, "nlp": 10}
    assert ms.equal_parts(5, ms.TYPES) == {"general": 2, "code": 2, "nlp": 1}
    ids, info = ms.size_set(by_type, 9, seed=5, types=("nlp", "general"))
    assert info["counts"] == {"general": 5, "nlp": 4} and info["types"] == ["general", "nlp"]


def test_deterministic_and_input_order_irrelevant(by_type):
    shuffled = {t: random.Random(9).sample(v, len(v)) + v[:3] for t, v in by_type.items()}  # + repeats
    ratio_set = functools.partial(ms.ratio_set, split="halves")
    for fn, arg in ((ms.combination_set, "acp"), (ratio_set, 1.5), (ms.size_set, 40)):
        args = (arg, 20) if fn is not ms.size_set else (arg,)
        a = fn(by_type, *args, seed=11)
        assert a == fn(by_type, *args, seed=11) == fn(shuffled, *args, seed=11)
        assert a[0] != fn(by_type, *args, seed=12)[0]
    recs = _records()
    assert ms.records_by_type(recs, CATEGORY_TYPES) == ms.records_by_type(recs[::-1], CATEGORY_TYPES)


def test_bad_inputs(by_type):
    with pytest.raises(ValueError, match="per_type"):
        ms.combination_set(by_type, "a", 0, seed=1)
    with pytest.raises(ValueError, match="unknown instruction type"):
        ms.combination_set({"chat": ["x"]}, "a", 1, seed=1)
    with pytest.raises(ValueError, match="both"):
        ms.combination_set({"general": ["x"], "code": ["x"]}, "ac", 1, seed=1)
