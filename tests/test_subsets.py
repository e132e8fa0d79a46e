"""Per-category subsets: disjoint, seeded, sized."""

import pytest

from sftmix.subsets import (
    DEV,
    EVAL_SPLITS,
    TEST,
    assign_splits,
    eval_split,
    in_split,
    plan_sizes,
    split_category,
)


def recs(n, cat="A"):
    return [{"id": f"s-{i:07d}", "source": "s", "messages": [], "meta": {"category": cat}} for i in range(n)]


def test_disjoint_sized_deterministic():
    sizes = {"base": 10, "added": 20, "eval": 5, "on_shortfall": "error", "dev_fraction": 0.5}
    a, counts = split_category(recs(40), "A", sizes, 7)
    b, _ = split_category(list(reversed(recs(40))), "A", sizes, 7)
    assert a == b, "input order must not matter"
    ids = [set(r["id"] for r in a[k]) for k in ("eval", "base", "added")]
    assert [len(x) for x in ids] == [5, 10, 20]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert counts["unused"] == 5
    c, _ = split_category(recs(40), "A", sizes, 8)
    assert c != a


def test_shortfall():
    with pytest.raises(ValueError, match="subsets.on_shortfall"):
        plan_sizes(10, 10, 20, 5, "error", "A")
    p = plan_sizes(30, 10, 20, 5, "shrink", "A")
    assert p["eval"] == 5 and p["base"] + p["added"] + p["eval"] <= 30 and p["base"] > 0


def test_eval_splits_are_disjoint_seeded_and_sized():
    sizes = {"base": 10, "added": 20, "eval": 9, "on_shortfall": "error", "dev_fraction": 1 / 3}
    a, counts = split_category(recs(40), "A", sizes, 7)
    dev, test = ({r["id"] for r in in_split(a["eval"], k)} for k in EVAL_SPLITS)
    assert len(dev) == 3 and len(test) == 6 and not dev & test and dev | test == {r["id"] for r in a["eval"]}
    assert counts["dev"] == 3 and counts["test"] == 6
    assert all("split" not in r["meta"] for k in ("base", "added") for r in a[k])
    again, _ = split_category(list(reversed(recs(40))), "A", sizes, 7)
    assert again["eval"] == a["eval"], "same seed, same split"
    # another seed splits the same items differently (and other categories independently)
    other = assign_splits(a["eval"], "A", 1 / 3, 8)
    assert {r["id"] for r in in_split(other, DEV)} != dev
    assert [r["meta"]["split"] for r in assign_splits(a["eval"], "B", 1 / 3, 7)] != [
        r["meta"]["split"] for r in a["eval"]]  # each category draws from its own stream
    # both sides keep an item even at extreme fractions; a record without a split is an error
    assert {eval_split(r) for r in assign_splits(recs(2), "A", 0.01, 1)} == {DEV, TEST}
    with pytest.raises(ValueError, match="meta.split"):
        eval_split(recs(1)[0])
    with pytest.raises(ValueError, match="unknown eval split"):
        in_split(a["eval"], "train")
