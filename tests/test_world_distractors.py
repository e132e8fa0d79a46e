"""The world's distractors for DoIT's open-ended scoring: a fine-grained one (a value or label
altered) and a coarse one (another instruction's clean answer), generated without changing the
world's bytes."""

from __future__ import annotations

import re

import pytest

from sftmix.world import generate_world
from sftmix.world.distractors import world_distractors
from sftmix.world.templates import LABELS


@pytest.fixture(scope="module")
def world(smoke_config):
    cfg = smoke_config["world"]
    rows, truth = generate_world(cfg, smoke_config["seed"])
    originals = {rid: t["item"] for rid, t in truth["records"].items() if t["kind"] == "original"}
    return cfg, smoke_config["seed"], truth, originals


@pytest.fixture(scope="module")
def distractors(world):
    cfg, seed, truth, item_of = world
    return world_distractors(cfg, seed, item_of)


def test_distractors_alter_the_gold_answer_the_way_doit_asks(world, distractors):
    cfg, seed, truth, item_of = world
    got = distractors
    assert set(got) == set(item_of)
    fam = {c: spec["template"] for c, spec in cfg["categories"].items()}
    by_family: dict[str, list[dict]] = {}
    for rid, d in got.items():
        assert d["fine"] != d["gold"] and d["coarse"] != d["gold"]
        by_family.setdefault(fam[truth["records"][rid]["category"]], []).append(d)
    for family, ds in by_family.items():
        if family in LABELS:  # the other label
            assert all(d["fine_kind"] == "flipped_label" and {d["gold"], d["fine"]} == set(LABELS[family]) for d in ds)
        elif family in ("arithmetic", "word_problem"):  # a number altered, the rest kept
            for d in ds:
                assert d["fine_kind"] == "wrong_value"
                assert re.sub(r"\d+", "#", d["fine"]) == re.sub(r"\d+", "#", d["gold"]), (d["gold"], d["fine"])
        # coarse: another item of the same category, error-free (its own clean answer)
        assert sum(d["coarse"] is not None for d in ds) >= 0.9 * len(ds), family
        assert all(d["coarse_item"] != d["item"] for d in ds if d["coarse"] is not None)
    # every value family gets a fine distractor; a family without values or labels gets none
    assert all(d["fine"] is not None for d in by_family["arithmetic"])
    assert all(d["fine"] is None for d in by_family.get("summarization", []))


def test_distractors_are_seeded_per_item_and_leave_the_world_unchanged(world, distractors):
    cfg, seed, truth, item_of = world
    some = dict(list(sorted(item_of.items()))[:40])
    all_ = distractors
    assert world_distractors(cfg, seed, some) == {rid: all_[rid] for rid in some}, "depends on the others asked"
    assert world_distractors(cfg, seed + 1, some) != {rid: all_[rid] for rid in some}
    rows, truth_again = generate_world(cfg, seed)
    assert truth_again == truth  # generating distractors draws from its own streams
