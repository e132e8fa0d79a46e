"""DT-CSFT curriculum, Mix+ and the 3-epoch baseline as staged schedules (Beyond IID)."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from sftmix.sft import training_order
from sftmix.studies.beyond_iid.curriculum import (
    baseline_schedule,
    curriculum_k,
    dt_csft_schedule,
    mixplus_schedule,
    schedule_summary,
)

LAYERS = {"math": "preliminary", "code": "preliminary", "qa": "intermediary",
          "nlu": "intermediary", "chat": "subsequential", "write": "subsequential"}


def make_d(n: int, cats=("math", "code", "qa", "nlu", "chat", "write"), prefix: str = "d") -> list[dict]:
    return [{"id": f"{prefix}-{i:05d}", "source": prefix,
             "messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}],
             "meta": {"category": cats[i % len(cats)]}} for i in range(n)]


def test_curriculum_k() -> None:
    assert curriculum_k(200) == 20
    assert curriculum_k(10_000) == 1_000
    assert curriculum_k(49_999) == 4_999
    assert curriculum_k(50_000) == 2_500
    assert curriculum_k(9) == 0


def check_dt_csft(d: list[dict], sched: list[dict], k: int) -> None:
    n = len(d)
    assert len(sched) == 3 * n
    occ = Counter(r["id"] for r in sched)
    assert set(occ) == {r["id"] for r in d} and set(occ.values()) == {3}
    summ = schedule_summary(sched, LAYERS)["stages"]
    base = schedule_summary(baseline_schedule(d, epochs=1), LAYERS)["stages"][1]
    assert sorted(summ) == [1, 2, 3]
    assert all(summ[s]["total"] == n for s in (1, 2, 3))
    assert summ[2] == base
    assert summ[1]["preliminary"] == base["preliminary"] + k
    assert summ[1]["subsequential"] == base["subsequential"] - k
    assert summ[3]["preliminary"] == base["preliminary"] - k
    assert summ[3]["subsequential"] == base["subsequential"] + k
    assert summ[1]["intermediary"] == summ[3]["intermediary"] == base["intermediary"]
    # stage 2 is exactly D
    assert sorted(r["id"] for r in sched if r["meta"]["stage"] == 2) == sorted(r["id"] for r in d)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_dt_csft_invariants(seed: int) -> None:
    d = make_d(200)
    sched = dt_csft_schedule(d, LAYERS, seed=seed)
    check_dt_csft(d, sched, k=20)
    assert all("stage" not in r["meta"] for r in d)  # input untouched
    assert sched[0] is not d[0] and sched[0]["meta"] is not d[0]["meta"]


def test_dt_csft_deterministic_and_seeded() -> None:
    d = make_d(200)
    a = [(r["id"], r["meta"]["stage"]) for r in dt_csft_schedule(d, LAYERS, seed=3)]
    b = [(r["id"], r["meta"]["stage"]) for r in dt_csft_schedule(d, LAYERS, seed=3)]
    c = [(r["id"], r["meta"]["stage"]) for r in dt_csft_schedule(d, LAYERS, seed=4)]
    assert a == b and sorted(a) != sorted(c)
    rev = dt_csft_schedule(list(reversed(d)), LAYERS, seed=3)  # input order does not matter
    assert sorted((r["id"], r["meta"]["stage"]) for r in rev) == sorted(a)


def test_dt_csft_capped(caplog: pytest.LogCaptureFixture) -> None:
    # 5 subsequential samples only: k = 20 is capped to 5
    d = make_d(195, cats=("math", "qa")) + make_d(5, cats=("chat",), prefix="s")
    with caplog.at_level(logging.WARNING, logger="sftmix.studies.beyond_iid.curriculum"):
        sched = dt_csft_schedule(d, LAYERS, seed=0)
    assert "capped to 5" in caplog.text
    check_dt_csft(d, sched, k=5)
    stage1 = schedule_summary(sched, LAYERS)["stages"][1]
    assert stage1["subsequential"] == 0


def test_dt_csft_explicit_k_and_empty_layer() -> None:
    d = make_d(60)
    check_dt_csft(d, dt_csft_schedule(d, LAYERS, seed=0, k=7), k=7)
    check_dt_csft(d, dt_csft_schedule(d, LAYERS, seed=0, k=0), k=0)
    no_sub = make_d(30, cats=("math", "qa"))
    with pytest.raises(ValueError, match="no subsequential"):
        dt_csft_schedule(no_sub, LAYERS, seed=0)
    fallback = dt_csft_schedule(no_sub, LAYERS, seed=0, on_empty="baseline")
    assert schedule_summary(fallback, LAYERS) == schedule_summary(baseline_schedule(no_sub), LAYERS)
    with pytest.raises(ValueError, match="duplicated"):
        dt_csft_schedule(d + d[:1], LAYERS, seed=0)


def test_dt_csft_staged_training_order() -> None:
    d = make_d(200)
    sched = dt_csft_schedule(d, LAYERS, seed=5)
    order = training_order(sched, seed=11, mode="staged")
    assert sorted(order) == list(range(len(sched)))  # every occurrence kept
    stages = [sched[i]["meta"]["stage"] for i in order]
    assert stages == sorted(stages)
    prelim_first = sum(LAYERS[sched[i]["meta"]["category"]] == "preliminary" for i in order[:200])
    prelim_last = sum(LAYERS[sched[i]["meta"]["category"]] == "preliminary" for i in order[-200:])
    assert prelim_first - prelim_last == 40


def test_baseline_schedule() -> None:
    d = make_d(30)
    sched = baseline_schedule(d, epochs=3)
    assert len(sched) == 90 and set(Counter(r["id"] for r in sched).values()) == {3}
    assert [schedule_summary(sched, LAYERS)["stages"][s]["total"] for s in (1, 2, 3)] == [30] * 3


@pytest.mark.parametrize("n, epochs", [(100, 3), (31, 3), (20, 4)])
def test_mixplus(n: int, epochs: int) -> None:
    d = make_d(n)
    pool = make_d(500, cats=("math", "code"), prefix="p") + d[:5]  # overlap with D is dropped
    sched = mixplus_schedule(d, pool, seed=2, epochs=epochs)
    assert len(sched) == epochs * n + 2 * n
    d_ids = {r["id"] for r in d}
    extras = [r for r in sched if r["id"] not in d_ids]
    assert len(extras) == 2 * n and len({r["id"] for r in extras}) == 2 * n  # without replacement
    assert all(LAYERS[r["meta"]["category"]] == "preliminary" for r in extras)
    per_stage = Counter(r["meta"]["stage"] for r in extras)
    assert sorted(per_stage) == list(range(1, epochs + 1))
    assert max(per_stage.values()) - min(per_stage.values()) <= 1
    for s in range(1, epochs + 1):  # each stage contains all of D once
        assert Counter(r["id"] for r in sched if r["meta"]["stage"] == s and r["id"] in d_ids) \
            == Counter(d_ids)
    again = mixplus_schedule(d, pool, seed=2, epochs=epochs)
    assert [r["id"] for r in again] == [r["id"] for r in sched]


def test_mixplus_small_pool_and_layer_filter() -> None:
    d = make_d(30)
    pool = make_d(10, cats=("math",), prefix="p") + make_d(10, cats=("chat",), prefix="q")
    sched = mixplus_schedule(d, pool, seed=0, layers=LAYERS)
    extras = [r for r in sched if r["source"] != "d"]
    assert len(extras) == 60 and {r["source"] for r in extras} == {"p"}
    assert set(Counter(r["id"] for r in extras)) == {r["id"] for r in pool[:10]}
    with pytest.raises(ValueError, match="pool"):
        mixplus_schedule(d, [], seed=0)
