"""The instruction-mixing study: its experiment names, its sets from config, its per-type report on
synthetic runs with known effects, and (smoke DAG) the study end to end."""

from __future__ import annotations

import json
import math

import pytest

from sftmix import experiments as registry
from sftmix.records import read_jsonl
from sftmix.report import read_table
from sftmix.studies.mixing import experiments as mx
from sftmix.studies.mixing import report
from sftmix.studies.mixing.sets import experiment_set, records_by_type

from .conftest import load_config

SECTION = {"per_type": 4, "ratio": {"general": 4, "ratios": [0.5, 1], "split": "halves"},
           "size": {"sizes": [6], "types": ["general", "code", "nlp"]}, "allow_shortfall": False,
           "designs": ["equal", "steps"], "equal_size": {"total": None},
           "combinations": ["a", "c", "p", "ac", "ap", "cp", "acp"]}


def test_names_parse_and_belong_to_one_family(smoke_config):
    assert mx.combo_name("acp") == "tmix_acp" and mx.ratio_name(1.5) == "tmixratio_150"
    assert mx.size_name(600) == "tmixsize_600"
    assert mx.parse("tmixratio_050") == {"kind": "ratio", "ratio": 0.5}
    assert mx.parse("tmixsize_9") == {"kind": "size", "n": 9} and mx.parse("tmix_ap") == {"kind": "combo", "combo": "ap"}
    assert mx.equal_name("ap") == "tmixeq_ap" and mx.parse("tmixeq_ap") == {"kind": "equal", "combo": "ap"}
    assert [registry.family_of(n).name for n in ("tmix_acp", "tmixeq_acp", "tmixratio_150", "tmixsize_600")] == \
        ["tmix", "tmixeq", "tmixsweep", "tmixsweep"]
    for bad in ("tmix_none", "tmix_ca", "tmixratio_15", "tmixeq_none", "tmixeq_"):
        with pytest.raises(ValueError):
            registry.family_of(bad)
    with pytest.raises(ValueError, match="multiple of 0.01"):
        mx.ratio_key(0.125)
    # the equal-size A is the published A (equal_size.total = per_type): only ACP is trained again
    assert registry.declared_experiments(smoke_config, list(mx.FAMILIES)) == \
        ["tmix_a", "tmix_acp", "tmixeq_acp", "tmixratio_100", "tmixsize_9"]
    assert registry.finetune_flags("tmixeq_acp", smoke_config) == registry.finetune_flags("tmix_a", smoke_config)
    assert registry.trainset_file("r", "m", "tmix_a", 1) == "r/trainsets/tmix_a/seed_1.jsonl"
    assert registry.finetune_flags("tmix_a", smoke_config) == f"--budget epochs --epochs {mx.epochs(smoke_config)}"


def test_types_come_from_categories_or_sources_never_both():
    from sftmix.records import source_of_id
    from sftmix.studies.mixing.sets import type_key

    assert type_key({"category_types": {"A": "code"}, "source_types": {}}) == ("category", {"A": "code"})
    assert type_key({"category_types": {}, "source_types": {"p3": "nlp"}}) == ("source", {"p3": "nlp"})
    for bad in ({"category_types": {}, "source_types": {}}, {"category_types": {"A": "code"}, "source_types": {"p": "nlp"}}):
        with pytest.raises(ValueError, match="mixing.category_types / mixing.source_types"):
            type_key(bad)
    recs = [{"id": "p3-0000001", "source": "p3", "meta": {"category": "QA"}},
            {"id": "alpaca-0000002", "source": "alpaca", "meta": {"category": "QA"}},
            {"id": "dolly-0000003", "source": "dolly", "meta": {}}]
    by_type, counts = records_by_type(recs, {"p3": "nlp", "alpaca": "general"}, "source")
    assert by_type == {"general": ["alpaca-0000002"], "code": [], "nlp": ["p3-0000001"]}
    assert counts["unmapped"] == 1 and counts["in"] == counts["kept"] + counts["excluded"]
    assert source_of_id("code-alpaca-0000012") == "code-alpaca"
    with pytest.raises(ValueError, match="not a canonical record id"):
        source_of_id("nodash")


def _by_type(n=10):
    recs = [{"id": f"{t}-{i:03d}", "meta": {"category": c}} for t, c in (("g", "G"), ("c", "C"), ("n", "N"))
            for i in range(n)]
    return records_by_type(recs, {"G": "general", "C": "code", "N": "nlp"})[0]


def test_experiment_sets_follow_the_config_and_nest():
    by_type = _by_type()
    a, info_a = experiment_set(by_type, mx.parse("tmix_a"), SECTION, seed=3)
    acp, info = experiment_set(by_type, mx.parse("tmix_acp"), SECTION, seed=3)
    assert len(a) == 4 and info["counts"] == {"general": 4, "code": 4, "nlp": 4} and info["kind"] == "combo"
    assert set(a) < set(acp), "a type's records are the same in every combination"
    r05, i05 = experiment_set(by_type, mx.parse("tmixratio_050"), SECTION, seed=3)
    r1, i1 = experiment_set(by_type, mx.parse("tmixratio_100"), SECTION, seed=3)
    assert i05["counts"] == {"general": 4, "code": 1, "nlp": 1} and i1["counts"] == {"general": 4, "code": 2, "nlp": 2}
    assert set(r05) < set(r1) and set(a) <= set(r05)
    s, si = experiment_set(by_type, mx.parse("tmixsize_6"), SECTION, seed=3)
    assert si["counts"] == {"general": 2, "code": 2, "nlp": 2}
    assert experiment_set(by_type, mx.parse("tmix_acp"), SECTION, seed=4)[0] != acp, "each replicate draws its own"
    with pytest.raises(ValueError, match="mixing.per_type"):
        experiment_set(by_type, mx.parse("tmix_acp"), {**SECTION, "per_type": 11}, seed=3)
    short, sinfo = experiment_set(by_type, mx.parse("tmix_c"), {**SECTION, "per_type": 11, "allow_shortfall": True},
                                  seed=3)
    assert len(short) == 10 and sinfo["shortfall"] == {"code": 1}


def test_equal_size_combinations_hold_the_same_total_in_equal_parts():
    from sftmix.studies.mixing.sets import combination_set, equal_combination_set, equal_total

    by_type = _by_type()
    sizes = {}
    for combo in ("a", "ac", "cp", "acp"):
        ids, info = experiment_set(by_type, mx.parse(f"tmixeq_{combo}"), SECTION, seed=3)
        sizes[combo] = len(ids)
        assert info["kind"] == "equal" and info["combo"] == combo and info["finetune"]
        assert sum(info["counts"].values()) == len(ids) == equal_total(SECTION) == 4
        assert max(info["counts"].values()) - min(info["counts"].values()) <= 1, info["counts"]
    assert set(sizes.values()) == {4}, "every combination the same total: the same steps at fixed epochs"
    assert experiment_set(by_type, mx.parse("tmixeq_acp"), SECTION, seed=3)[1]["counts"] == \
        {"general": 2, "code": 1, "nlp": 1}  # the remainder goes to the earlier type
    # a single type at total = per_type is the published set itself; mixtures take prefixes of it
    a = combination_set(by_type, "a", 4, seed=3)[0]
    assert equal_combination_set(by_type, "a", 4, seed=3)[0] == a
    ac = experiment_set(by_type, mx.parse("tmixeq_ac"), SECTION, seed=3)[0]
    assert set(ac) & set(by_type["general"]) < set(a)
    published_ac = experiment_set(by_type, mx.parse("tmix_ac"), SECTION, seed=3)[0]
    assert len(published_ac) == 2 * len(ac) and set(ac) < set(published_ac)
    # an explicit total, and its shortfall naming the key
    assert equal_total({**SECTION, "equal_size": {"total": 9}}) == 9
    with pytest.raises(ValueError, match="mixing.equal_size.total"):
        experiment_set(by_type, mx.parse("tmixeq_c"), {**SECTION, "equal_size": {"total": 11}}, seed=3)
    with pytest.raises(ValueError, match="'none'"):
        equal_combination_set(by_type, "none", 4, seed=3)


def test_each_design_names_the_runs_that_answer_for_its_combinations():
    combos = ["a", "c", "ac", "acp"]
    runs = mx.design_experiments(SECTION, combos)
    assert runs["additive"] == {"a": "tmix_a", "c": "tmix_c", "ac": "tmix_ac", "acp": "tmix_acp"}
    assert runs["equal"] == {"a": "tmix_a", "c": "tmix_c", "ac": "tmixeq_ac", "acp": "tmixeq_acp"}
    other = mx.design_experiments({**SECTION, "equal_size": {"total": 6}}, combos)
    assert other["equal"] == {c: f"tmixeq_{c}" for c in combos}, "another total: single types are new sets"
    assert mx.design_experiments({**SECTION, "designs": ["steps"]}, combos)["equal"] == {}


def _runs(means, sd=0.02, n=4, seed=0):
    """``{seed: value}``: n runs around ``means`` with a fixed spread (deterministic)."""
    offsets = [-1.5, -0.5, 0.5, 1.5][:n]
    return {str(i + 1): means + sd * o for i, o in enumerate(offsets)}


def test_type_scores_from_scores_and_lmeval_rows():
    rows = [{"id": f"{c}{i}", "category": c, "nll_mean": v, "n_tokens": 5}
            for c, v in (("G", 1.0), ("G2", 3.0), ("C", 2.0)) for i in range(3)]
    scores = {"tmix_a": {"1": rows}}
    mapping = {"G": "general", "G2": "general", "C": "code", "X": "nlp"}
    types = report.type_categories(mapping, {"G", "G2", "C"})
    assert types == {"general": ["G", "G2"], "code": ["C"], "nlp": []}
    got = report.type_nll(scores, "tmix_a", "category", mapping)
    assert got == {"general": {"1": 2.0}, "code": {"1": 2.0}}  # macro over categories, nlp has none
    # typed by source (the paper's datasets): an item's type is its id's source's
    by_source = [{"id": f"{src}-{i:07d}", "category": c, "nll_mean": v, "n_tokens": 5}
                 for i, (src, c, v) in enumerate([("alpaca", "G", 1.0), ("alpaca", "G2", 3.0), ("alpaca", "G2", 5.0),
                                                  ("p3", "G", 7.0), ("code_alpaca", "C", 2.0)])]
    got = report.type_nll({"e": {"1": by_source}}, "e", "source",
                          {"alpaca": "general", "p3": "nlp", "code_alpaca": "code"})
    assert got == {"general": {"1": 2.5}, "code": {"1": 2.0}, "nlp": {"1": 7.0}}  # macro: (1 + 4) / 2
    lm = [{"task": "sftmix_mc_g", "metric": "acc,none", "value": 0.5, "n": 10},
          {"task": "sftmix_mc_g2", "metric": "acc,none", "value": 1.0, "n": 30},
          {"task": "sftmix_mc_g2", "metric": "acc_norm,none", "value": 0.0, "n": 30},
          {"task": "sftmix_mc", "metric": "acc,none", "value": 0.1, "n": 70}]
    assert report.lmeval_type_accuracy(lm, ["G", "G2"]) == pytest.approx((0.5 * 10 + 30) / 40)
    assert math.isnan(report.lmeval_type_accuracy(lm, ["C"]))


def test_report_finds_planted_effects_and_says_when_runs_cannot_tell():
    # general: A best, mixing costs it; code: AC better than A; nlp: AP same as A (no effect)
    nll = {"a": {"general": _runs(1.0), "code": _runs(2.0), "nlp": _runs(1.5)},
           "ac": {"general": _runs(1.2), "code": _runs(1.6), "nlp": _runs(1.5)},
           "ap": {"general": _runs(1.2), "code": _runs(2.0), "nlp": _runs(1.5)},
           "c": {"general": _runs(2.0), "code": _runs(1.5), "nlp": _runs(2.0)}}
    values = {"nll": nll}
    rows = report.combination_rows(values, {"nll": {"general": 3.0, "code": 3.0, "nlp": 3.0}},
                                   report.combos_of(nll), level=0.05)
    cell = {(r["combo"], r["type"]): r for r in rows}
    assert cell[("none", "code")]["verdict"] == "base_model" and cell[("none", "code")]["mean"] == 3.0
    assert cell[("a", "general")]["verdict"] == "reference"
    assert cell[("ac", "general")]["verdict"] == "worse" and cell[("ac", "general")]["reference"] == "a"
    assert cell[("ac", "code")]["reference"] == "c" and cell[("ac", "code")]["verdict"] == "worse"  # 1.6 vs C's 1.5
    assert cell[("a", "nlp")]["verdict"] == "no_reference"  # P was not trained
    assert cell[("ac", "general")]["delta"] == pytest.approx(0.2)
    claims = {(c["claim"]): c for c in report.claim_rows(values, level=0.05)}
    assert claims["code data helps code"]["reproduces"] == "yes"
    assert claims["code data helps general ability"]["reproduces"] == "no"  # AC worse than A on general here
    assert claims["NLP-task data hurts general ability"]["reproduces"] == "yes"
    assert claims["general data helps code"]["verdict"] == "worse"  # AC 1.6 vs C 1.5
    assert claims["NLP-task data helps NLP tasks"]["verdict"] == "indistinguishable"  # AP = A on NLP
    assert claims["NLP-task data helps NLP tasks"]["reproduces"] == "undecided"
    one = report.claim_rows({"nll": {"a": {"code": {"1": 2.0}}, "ac": {"code": {"1": 1.0}}}}, level=0.05)
    assert one[0]["verdict"] == "too_few_runs" and one[0]["reproduces"] == "undecided"  # one run a side
    assert "all three types beat general + NLP on NLP tasks" not in claims  # ACP not trained
    # three runs a side without spread: no test, but not "too few runs"
    flat = {"nll": {"a": {"code": {"1": 2.0, "2": 2.0, "3": 2.0}}, "ac": {"code": {"1": 1.0, "2": 1.0, "3": 1.0}}}}
    assert report.claim_rows(flat, level=0.05)[0]["verdict"] == "no_spread"
    same = {"nll": {"a": {"code": {"1": 2.0, "2": 2.0}}, "ac": {"code": {"1": 2.0, "2": 2.0}}}}
    assert report.claim_rows(same, level=0.05)[0]["verdict"] == "indistinguishable"
    table = report.table1(rows)
    assert table[0]["combination"] == "None" and table[1]["general"].startswith("1.000 ± 0.026")
    assert [r["combination"] for r in table] == ["None", "A", "C", "AC", "AP"]


def test_a_claim_that_holds_only_with_more_data_is_told_apart_from_one_that_holds_at_equal_size():
    # planted: AC beats A on general as published (AC has twice A's records and steps); at equal
    # size (AC = half A, half C) it is worse; against A trained for AC's steps it is still better
    # (the code records beat more passes over A's). AC beats A on code in every design.
    per_exp = {"tmix_a": {"nll": {"general": _runs(1.0), "code": _runs(2.0)}},
               "tmix_c": {"nll": {"general": _runs(2.0), "code": _runs(1.5)}},
               "tmix_ac": {"nll": {"general": _runs(0.9), "code": _runs(1.4)}},
               "tmixeq_ac": {"nll": {"general": _runs(1.1), "code": _runs(1.6)}},
               "tmixsteps_a_as_ac": {"nll": {"general": _runs(0.95), "code": _runs(2.1)}},
               "tmixsteps_c_as_ac": {"nll": {"general": _runs(2.1), "code": _runs(1.4)}}}
    section = {**SECTION, "combinations": ["a", "c", "ac"]}
    runs = mx.claim_runs(section, ["a", "c", "ac"])
    assert runs["steps"]["code data helps general ability"] == ("tmix_ac", "tmixsteps_a_as_ac")
    assert runs["equal"]["general data helps code"] == ("tmixeq_ac", "tmix_c")
    assert set(runs["additive"]) == {"code data helps code", "general data helps code", "code data helps general ability"}
    values, sizes = report.design_values(per_exp, section)
    assert values["equal"]["nll"]["a"] is per_exp["tmix_a"]["nll"], "the equal design's A is the published run"
    assert sizes == {"additive": {"a": 4, "c": 4, "ac": 8}, "equal": {"a": 4, "c": 4, "ac": 4}}
    claims = [c for d, r in runs.items() for c in report.claim_rows_from_runs(per_exp, r, level=0.05, design=d)]
    got = {(c["design"], c["claim"]): c for c in claims}
    assert got[("additive", "code data helps general ability")]["reproduces"] == "yes"
    assert got[("equal", "code data helps general ability")]["reproduces"] == "no"
    assert got[("equal", "code data helps general ability")]["delta"] == pytest.approx(0.1)
    assert got[("steps", "code data helps general ability")]["reproduces"] == "yes"
    assert got[("steps", "code data helps general ability")]["reference"] == "tmixsteps_a_as_ac"
    assert got[("steps", "general data helps code")]["reproduces"] == "undecided"  # 1.4 against 1.4
    assert report.claim_rows(values["additive"], level=0.05) == \
        [{**c, "experiment": c["experiment"][5:], "reference": c["reference"][5:]}
         for c in claims if c["design"] == "additive"], "by combination or by run: the same rows"
    both = {r["claim"]: r for r in report.claim_comparison(claims)}
    assert both["code data helps general ability"]["agree"] == "no"
    assert both["code data helps code"]["agree"] == "yes" and both["code data helps code"]["steps"] == "yes"
    assert "NLP-task data helps NLP tasks" not in both  # AP was trained in no design
    effect = {(r["combo"], r["type"]): r for r in report.design_rows(values, sizes, level=0.05)}
    assert set(effect) == {("ac", "general"), ("ac", "code")}, "single types are the same runs in both"
    assert effect[("ac", "general")]["verdict"] == "better" and effect[("ac", "general")]["additive_records"] == 8
    assert effect[("ac", "general")]["delta"] == pytest.approx(-0.2)
    rows = [r for d, v in values.items()
            for r in report.combination_rows(v, {}, report.combos_of(v["nll"]), level=0.05, design=d)]
    md = report.markdown(rows, claims, [], model="m", level=0.05, types={}, designs=list(effect.values()),
                         sizes=report.design_sizes_in_words(section))
    assert "Table 1 shape (nll; equal size" in md and "4 records in all" in md and "The claims in every design" in md
    assert [r["combination"] for r in report.table1(rows, "nll", "equal")] == ["A", "C", "AC"]


def test_the_steps_design_trains_each_claims_reference_for_the_claims_steps(smoke_config):
    from sftmix.studies.mixing.claims import steps_partner

    assert steps_partner("a", 2) == "ac" and steps_partner("c", 2) == "ac" and steps_partner("p", 2) == "ap"
    assert steps_partner("ap", 3) == "acp"
    with pytest.raises(ValueError):
        steps_partner("acp", 2)
    cfg = load_config("config.yaml")
    # A for AC and AP (the same steps: one run), C for AC, AP for ACP
    assert registry.declared_experiments(cfg, [mx.STEPS]) == \
        ["tmixsteps_a_as_ac", "tmixsteps_c_as_ac", "tmixsteps_ap_as_acp"]
    assert registry.budget("tmixsteps_a_as_ac", cfg) == "matched"
    assert registry.budget_reference("tmixsteps_ap_as_acp", cfg) == "tmix_acp"
    assert mx.parse("tmixsteps_ap_as_acp") == {"kind": "steps", "combo": "ap", "partner": "acp"}
    ids, info = experiment_set(_by_type(), mx.parse("tmixsteps_a_as_ac"), SECTION, seed=3)
    assert ids == experiment_set(_by_type(), mx.parse("tmix_a"), SECTION, seed=3)[0] and info["partner"] == "ac"
    from sftmix.computeplan import trained_records

    assert trained_records(cfg, "tmixsteps_a_as_ac") == trained_records(cfg, "tmix_ac") == \
        2 * trained_records(cfg, "tmix_a")
    assert registry.declared_experiments({**cfg, "mixing": {**cfg["mixing"], "designs": ["equal"]}}, [mx.STEPS]) == []


def test_curves_mark_the_best_point_and_its_plateau():
    nll = {0.5: {"code": _runs(2.0)}, 1.0: {"code": _runs(1.8)}, 1.5: {"code": _runs(1.5)},
           2.0: {"code": _runs(1.51)}}
    rows = {r["x"]: r for r in report.curve_rows("ratio", {"nll": nll}, level=0.05)}
    assert all(r["best_x"] == 1.5 for r in rows.values()) and rows[1.5]["verdict"] == "best"
    assert rows[0.5]["verdict"] == "below_best" and rows[2.0]["verdict"] == "indistinguishable"
    acc = {10: {"nlp": _runs(0.3)}, 20: {"nlp": _runs(0.5)}}
    rows = {r["x"]: r for r in report.curve_rows("size", {"acc": acc}, level=0.05)}
    assert rows[20]["verdict"] == "best" and rows[10]["verdict"] == "below_best"


@pytest.mark.slow
def test_mixing_study_end_to_end(smoke_run, smoke_config):
    """The smoke DAG's mixing study: types from the config's mapping, every set of the declared
    experiments as asked and nested, each trained and scored, and the report's tables."""
    sec = smoke_config["mixing"]
    types = json.loads((smoke_run / "mixing/types.json").read_text())
    counts = types["counts"]
    assert counts["in"] == counts["kept"] + counts["excluded"]
    assert all(counts["by_type"][t] > 20 for t in ("general", "code", "nlp"))
    mapped = {r["id"]: sec["category_types"][r["meta"]["category"]] for r in read_jsonl(smoke_run / "mixing/records.jsonl")}
    eval_ids = {r["id"] for p in (smoke_run / "subsets").glob("*/eval.jsonl") for r in read_jsonl(p)}
    assert not set(mapped) & eval_ids, "an eval item is in the study's records"
    ids = {}
    for exp in registry.declared_experiments(smoke_config, list(mx.FAMILIES)):
        for seed in mx._seeds(smoke_config):
            recs = list(read_jsonl(smoke_run / f"trainsets/{exp}/seed_{seed}.jsonl"))
            info = json.loads((smoke_run / f"mixing/sets/{exp}/seed_{seed}.json").read_text())
            got = {t: sum(mapped[r["id"]] == t for r in recs) for t in info["counts"]}
            assert got == info["counts"] == info["target"], (exp, got, info)
            ids[exp] = {r["id"] for r in recs}
            train = json.loads((smoke_run / f"models/tiny/{exp}/seed_{seed}.train.json").read_text())
            assert train["n_trained_examples"] == len(recs) * mx.epochs(smoke_config)
            assert (smoke_run / f"scores/tiny/{exp}/seed_{seed}.tsv").exists()
    assert ids["tmix_a"] < ids["tmix_acp"] and ids["tmix_a"] <= ids["tmixratio_100"]
    # the equal-size ACP: the published ACP's total, a third of its records, the same draw order
    eq = json.loads((smoke_run / "mixing/sets/tmixeq_acp/seed_1.json").read_text())
    assert eq["size"] == sec["per_type"] and set(eq["counts"]) == {"general", "code", "nlp"}
    assert ids["tmixeq_acp"] < ids["tmix_acp"]
    rows = read_table(smoke_run / "report/tiny/mixing/combinations.tsv")
    assert {(r["design"], r["combo"]) for r in rows} == {(d, c) for d in ("additive", "equal") for c in ("none", "a", "acp")}
    effect = read_table(smoke_run / "report/tiny/mixing/designs.tsv")
    assert {(r["combo"], r["type"], r["metric"]) for r in effect} == {("acp", t, "nll") for t in ("general", "code", "nlp")}
    assert all(int(r["additive_records"]) == 3 * int(r["equal_records"]) for r in effect)
    assert {r["type"] for r in rows} == {"general", "code", "nlp"}
    assert all(math.isfinite(float(r["mean"])) for r in rows)
    curves = read_table(smoke_run / "report/tiny/mixing/curves.tsv")
    assert {(r["sweep"], float(r["x"])) for r in curves} == {("ratio", 1.0), ("size", 9.0)}
    md = (smoke_run / "report/tiny/mixing.md").read_text()
    assert "Table 1 shape (nll; as published" in md and "Table 1 shape (nll; equal size" in md and "| ACP |" in md
    assert (smoke_run / "report/tiny/mixing/curves.png").stat().st_size > 1000


def test_models_serve_their_studies_and_sizes_override_the_arch(smoke_config):
    from sftmix.basemodel import sized_config
    from sftmix.memplan import plan_for_model

    cfg = {**smoke_config, "models": {"s": {"build": True, "arch": {}, "studies": None},
                                      "l": {"build": True, "arch": {"hidden_size": 96}, "studies": ["mixing"]}}}
    assert registry.study_models(cfg, "mixing") == ["s", "l"] and registry.study_models(cfg, "beyond_iid") == ["s"]
    # combinations (both designs) train on both sizes, the sweeps on the first only, Beyond IID on the first only
    assert registry.model_experiments(cfg, "l") == ["tmix_a", "tmix_acp", "tmixeq_acp"]
    assert set(registry.model_experiments(cfg, "s")) >= {"tmix_a", "tmixratio_100", "tmixsize_9", "base"}
    assert mx.sweep_models({**cfg, "mixing": {**cfg["mixing"], "sweep_models": ["l"]}}) == ["l"]
    with pytest.raises(ValueError, match="mixing.sweep_models"):
        mx.sweep_models({**cfg, "mixing": {**cfg["mixing"], "sweep_models": ["xl"]}})
    base = smoke_config["base_model"]
    big = sized_config(base, {"hidden_size": 96}, "models.l.arch")
    assert big["arch"]["hidden_size"] == 96 and big["arch"]["num_layers"] == base["arch"]["num_layers"]
    assert big["pretrain"] == base["pretrain"] and base["arch"]["hidden_size"] != 96  # not mutated
    with pytest.raises(ValueError, match="models.l.arch: unknown base_model.arch key"):
        sized_config(base, {"width": 3}, "models.l.arch")
    train = {**smoke_config["train"], "gpus": 1}
    small = plan_for_model(cfg["models"]["s"], train, base)["shape"]
    large = plan_for_model(cfg["models"]["l"], train, base)["shape"]
    assert large["hidden_size"] == 96 and large["n_params"] > small["n_params"]


def test_the_size_effect_compares_every_combination_with_the_first_model():
    def rows(mean_a, sd_a):
        return [{"combo": "none", "label": "None", "type": "code", "metric": "nll", "n_runs": 1.0, "mean": 3.0,
                 "sd": math.nan},
                {"combo": "a", "label": "A", "type": "code", "metric": "nll", "n_runs": 3.0, "mean": mean_a,
                 "sd": sd_a}]
    got = report.scale_rows({"small": rows(2.0, 0.01), "large": rows(1.5, 0.01)}, level=0.05)
    cell = {(r["model"], r["combo"]): r for r in got}
    assert cell[("small", "a")]["verdict"] == "reference" and cell[("large", "a")]["verdict"] == "better"
    assert cell[("large", "a")]["delta"] == pytest.approx(-0.5) and cell[("large", "a")]["welch_p"] < 1e-4
    assert cell[("large", "none")]["verdict"] == "too_few_runs"  # the base model: one run each
    assert "Combinations by size" in report.scale_markdown(got, level=0.05)
    eq = [{**r, "design": "equal"} for r in rows(1.9, 0.01)]
    got = report.scale_rows({"small": rows(2.0, 0.01) + eq, "large": rows(1.5, 0.01) + eq}, level=0.05)
    cell = {(r["design"], r["model"], r["combo"]): r for r in got}
    assert cell[("equal", "large", "a")]["delta"] == 0.0 and cell[("additive", "large", "a")]["delta"] == -0.5
