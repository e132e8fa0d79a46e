"""Per-category subsets: disjoint, seeded, sized."""

import pytest

from sftmix.subsets import plan_sizes, split_category


def recs(n, cat="A"):
    return [{"id": f"s-{i:07d}", "source": "s", "messages": [], "meta": {"category": cat}} for i in range(n)]


def test_disjoint_sized_deterministic():
    sizes = {"base": 10, "added": 20, "eval": 5, "on_shortfall": "error"}
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
