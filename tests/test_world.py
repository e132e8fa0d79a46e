"""The generated world: formats, planted structure, determinism."""

import json
from collections import Counter

import pytest

from sftmix.world import FORMAT_EXT, generate_world, make_resource, write_source


@pytest.fixture(scope="module")
def world(smoke_config):
    return generate_world(smoke_config["world"], smoke_config["seed"])


def test_same_config_same_bytes(smoke_config, tmp_path):
    blobs = []
    for run in range(2):
        rows, truth = generate_world(smoke_config["world"], smoke_config["seed"])
        out = b""
        for s, rs in rows.items():
            p = tmp_path / f"{run}_{s}.{FORMAT_EXT[smoke_config['world']['sources'][s]['format']]}"
            write_source(p, smoke_config["world"]["sources"][s]["format"], rs)
            out += p.read_bytes()
        blobs.append(out + json.dumps(truth, sort_keys=True).encode())
    assert blobs[0] == blobs[1]
    rows2, _ = generate_world(smoke_config["world"], smoke_config["seed"] + 1)
    assert rows2 != rows


def test_world_has_everything_the_issue_names(world, smoke_config):
    rows, truth = world
    cats = smoke_config["world"]["categories"]
    assert len(cats) >= 10
    formats = {smoke_config["world"]["sources"][s]["format"] for s in rows}
    assert {"alpaca", "sharegpt", "dolly"} <= formats
    kinds = Counter(t["kind"] for t in truth["records"].values())
    assert kinds["exact_duplicate"] > 0 and kinds["near_duplicate"] > 0
    malformed = Counter(t["malformed"] for t in truth["records"].values() if t["malformed"])
    assert set(malformed) >= {"broken_json", "invalid_utf8", "missing_field", "wrong_type",
                              "empty_response", "overlong_record"}
    assert len(truth["edges"]) >= 1 and len(truth["antagonistic"]) >= 1
    # every category has items, multi-turn dialogue lives in a conversation source
    per_cat = Counter(t["category"] for t in truth["records"].values() if t["kind"] == "original")
    assert set(per_cat) == set(cats)
    for s, rs in rows.items():
        for rw in rs:
            if rw.truth["category"] == "Multi-turn Dialogue" and not rw.truth["malformed"]:
                assert smoke_config["world"]["sources"][s]["format"] == "sharegpt"
                assert len(rw.payload["conversations"]) >= 4


def test_planted_dependency_shares_latent_facts(world, smoke_config):
    """A dependent's items use its prerequisite's facts; the prerequisite drills them all."""
    rows, truth = world
    for edge in truth["edges"]:
        pre, dep = edge["prerequisite"], edge["dependent"]
        n_facts = truth["resources"][edge["resource"]]["n_facts"]
        pre_facts = {f for t in truth["records"].values() if t["category"] == pre for f in t["facts"]}
        dep_facts = {f for t in truth["records"].values() if t["category"] == dep for f in t["facts"]}
        assert pre_facts == set(range(n_facts)), "prerequisite must cover its resource"
        assert dep_facts <= pre_facts
        per_item = Counter(len(t["facts"]) for t in truth["records"].values() if t["category"] == dep)
        assert set(per_item) == {1}


def test_arithmetic_and_string_facts_are_correct():
    res = make_resource("a", {"kind": "arithmetic", "size": 50, "operand_range": [2, 30]}, 3)
    for f in res.facts:
        assert f["value"] == eval(f"{f['a']} {f['op']} {f['b']}")  # noqa: S307 - our own digits
    s = make_resource("s", {"kind": "strings", "size": 40}, 3)
    from sftmix.world import STRING_OPS

    for f in s.facts:
        # the python expression shown to the model must print the value it is trained on
        code = STRING_OPS[f["op"]][1].format(v="w")
        assert eval(code, {}, {"w": f["word"]}) == f["value"]  # noqa: S307
    assert len({(f["word"], f["op"]) for f in s.facts}) == 40


def test_config_errors_name_the_key(smoke_config):
    import copy

    bad = copy.deepcopy(smoke_config["world"])
    bad["categories"]["Math Word Problems"]["resource"] = "strs"
    with pytest.raises(ValueError, match=r"world.categories.Math Word Problems.resource"):
        generate_world(bad, 1)
    bad = copy.deepcopy(smoke_config["world"])
    bad["dependencies"].append({"prerequisite": "Nope", "dependent": "Translation"})
    with pytest.raises(ValueError, match=r"world.dependencies\[\d\].prerequisite"):
        generate_world(bad, 1)
