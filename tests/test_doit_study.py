"""DoIT as a study: items and their scoring, nested sets, the families, per-epoch evaluation in the
engine, checkpoint selection and fits on the run table, and the smoke run's report."""

import json
import math
import shutil

import pytest

from sftmix.basemodel import build_model, train_tokenizer
from sftmix.sft import budget_config, epoch_end_steps, finetune
from sftmix.studies.doit import experiments as study
from sftmix.studies.doit.items import (
    build_items,
    evaluate,
    item_rows,
    read_epoch_scores,
    variant_records,
    write_epoch_scores,
)
from sftmix.studies.doit.report import fits, mix_plan, select_run
from sftmix.studies.doit.sets import ability_order, draw

from .defaults import defaults


def _rec(i, ability, split, answer="gold", meta=None):
    return {"id": f"w-{i:04d}", "messages": [{"role": "user", "content": f"q {i}"}, {"role": "assistant", "content": answer}],
            "meta": {"category": ability, "split": split, **(meta or {})}}


def test_items_take_their_kind_from_the_distractors_and_quarantine_what_has_none():
    recs = [_rec(0, "A", "dev"), _rec(1, "A", "test"), _rec(2, "B", "dev", "positive"), _rec(3, "B", "test", "positive"),
            _rec(4, "A", "test"), _rec(5, "C", "test"), _rec(6, "A", "train")]
    dis = {"w-0000": {"fine": "g0ld", "fine_kind": "wrong_value", "coarse": "other answer"},
           "w-0001": {"fine": None, "fine_kind": None, "coarse": "another"},
           "w-0002": {"fine": "negative", "fine_kind": "flipped_label", "coarse": "positive"},
           "w-0003": {"fine": "negative", "fine_kind": "flipped_label", "coarse": None},
           "w-0004": {"fine": None, "fine_kind": None, "coarse": None}}
    items, quarantined, counts = build_items(recs, ["A", "B"], distractors=dis, max_per_split=None, seed=1)
    kinds = {it["id"]: (it["kind"], [a["name"] for a in it["alternatives"]]) for it in items}
    assert kinds == {"w-0000": ("open", ["fine", "coarse"]), "w-0001": ("open", ["coarse"]),
                     "w-0002": ("exact", ["label"]), "w-0003": ("exact", ["label"])}
    assert [q["reason"] for q in quarantined] == ["no_distractor"]
    assert counts["in"] == counts["kept"] + counts["quarantined"] + counts["capped"] + counts["other"] == 7
    # without the world: the records' own meta, else generated ones (numbers altered, another
    # answer of the ability); a record with neither a number nor a differing donor is quarantined
    own = [_rec(0, "A", "dev", meta={"distractors": {"fine": "x", "coarse": "y"}}),
           _rec(1, "A", "test", "yes", meta={"choices": ["yes", "no"]}), _rec(2, "A", "test", "it is 7 or 12"),
           _rec(3, "A", "dev", "plain"), _rec(4, "B", "dev", "alone")]
    items, quarantined, counts = build_items(own, ["A", "B"], distractors=None, max_per_split=None, seed=1)
    alts = {it["id"]: (it["kind"], [a["text"] for a in it["alternatives"]]) for it in items}
    assert alts == {"w-0000": ("open", ["x", "y"]), "w-0001": ("exact", ["no"]),
                    "w-0002": ("open", ["it is 8 or 13", "plain"]), "w-0003": ("open", ["it is 7 or 12"])}
    assert [q["id"] for q in quarantined] == ["w-0004"] and counts["missing"] == [("B", "dev"), ("B", "test")]


def test_item_cap_is_a_seeded_draw_the_same_for_every_caller():
    recs = [_rec(i, "A", "dev") for i in range(20)] + [_rec(100 + i, "A", "test") for i in range(20)]
    dis = {r["id"]: {"fine": "bad", "fine_kind": "wrong_value", "coarse": "other"} for r in recs}
    a, _, ca = build_items(recs, ["A"], distractors=dis, max_per_split=5, seed=3)
    b, _, _ = build_items(list(reversed(recs)), ["A"], distractors=dis, max_per_split=5, seed=3)
    c, _, _ = build_items(recs, ["A"], distractors=dis, max_per_split=5, seed=4)
    assert [i["id"] for i in a] == [i["id"] for i in b] != [i["id"] for i in c]
    assert ca["capped"] == 30 and ca["per_ability"] == {"A": {"dev": 5, "test": 5}}


def test_item_rows_apply_the_distractor_rule_ties_and_nan_included():
    items = [{"id": "x", "ability": "A", "split": "test", "kind": "open", "messages": [],
              "alternatives": [{"name": "fine", "text": ""}, {"name": "coarse", "text": ""}]},
             {"id": "y", "ability": "A", "split": "test", "kind": "exact", "messages": [],
              "alternatives": [{"name": "label", "text": ""}]},
             {"id": "z", "ability": "A", "split": "test", "kind": "exact", "messages": [],
              "alternatives": [{"name": "label", "text": ""}]}]
    nll = {"x": 1.0, "x#fine": 1.5, "x#coarse": 3.0, "y": 2.0, "y#label": 2.0, "z": math.nan, "z#label": 1.0}
    rows = item_rows(items, nll)
    assert [r["correct"] for r in rows] == [1, 0, None]  # a tie is wrong; nan is unscorable
    assert rows[0]["best_alt_nll"] == 1.5 and rows[0]["n_alternatives"] == 2


def test_variant_records_replace_only_the_last_answer():
    it = {"id": "x", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a1"},
                                  {"role": "user", "content": "q2"}, {"role": "assistant", "content": "gold"}],
          "alternatives": [{"name": "fine", "text": "g0ld"}]}
    gold, alt = variant_records([it])
    assert gold["id"] == "x" and alt["id"] == "x#fine"
    assert [m["content"] for m in alt["messages"]] == ["q", "a1", "q2", "g0ld"] and it["messages"][3]["content"] == "gold"


def test_sets_are_nested_per_seed_and_a_short_supply_names_the_key():
    supply = {"A": [f"a{i}" for i in range(30)], "B": [f"b{i}" for i in range(20)]}
    small = draw(supply, {"A": 4, "B": 4}, 7, where="doit.grid.max_n")
    big = draw(supply, {"A": 16, "B": 16}, 7, where="doit.grid.max_n")
    assert set(small) < set(big) and len(big) == 32
    assert ability_order(supply["A"], "A", 7) == ability_order(list(reversed(supply["A"])), "A", 7)
    assert draw(supply, {"A": 4, "B": 4}, 8, where="x") != small
    with pytest.raises(ValueError, match=r"doit.grid.max_n: too few training records \('B': 21 asked, 20 held\)"):
        draw(supply, {"A": 21, "B": 21}, 7, where="doit.grid.max_n")


def test_families_names_and_models(smoke_config):
    cfg = smoke_config
    assert study.grid(cfg) == [1, 4, 16]
    assert study.grid({**cfg, "doit": {**cfg["doit"], "grid": {"base": 4, "max_n": 1024}}}) == [1, 4, 16, 64, 256, 1024]
    from sftmix import experiments as registry

    names = registry.declared_experiments(cfg, list(study.FAMILIES))
    assert names == ["doitn_1", "doitn_4", "doitn_16", "doitone_arithmetic_calculation", "doitone_sentiment_analysis",
                     "doitone_translation", "doitmix_reconstruct", "doitmix_maximum"]
    assert registry.REGISTRY["doit"].models_of(cfg) == ["tiny", "tiny_xs", "tiny_s"]
    assert registry.REGISTRY["doitone"].models_of(cfg) == registry.REGISTRY["doitmix"].models_of(cfg) == ["tiny"]
    assert study.parse("doitone_translation") == {"kind": "single", "slug": "translation"}
    assert study.ability_of(cfg, "sentiment_analysis") == "Sentiment Analysis"
    # the engine's score rule leaves DoIT's models to their per-epoch evaluation
    assert not set(registry.scored_experiments(cfg, "tiny")) & set(names)
    assert registry.scored_experiments(cfg, "tiny_xs") == []
    with pytest.raises(ValueError, match="doit.abilities"):
        study.abilities({**cfg, "doit": {**cfg["doit"], "abilities": ["Nope"]}})


def test_epoch_end_steps():
    assert epoch_end_steps(3, 3, 3) == {1: 1, 2: 2, 3: 3}
    assert epoch_end_steps(10, 4, 3) == {3: 1, 5: 2, 8: 3}
    with pytest.raises(ValueError, match="several epoch ends"):
        epoch_end_steps(3, 4, 4)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("doit_tiny")
    texts = [f"question {i} answer {i % 7}" for i in range(200)]
    tok = train_tokenizer(texts, 300, d)
    model = build_model(tok, {"hidden_size": 32, "intermediate_size": 64, "num_layers": 1, "num_heads": 2,
                              "max_length": 128}, seed=0)
    model.save_pretrained(str(d), safe_serialization=True)
    return d


def test_finetune_scores_every_epoch_and_a_killed_run_keeps_its_evaluated_epochs(tiny, tmp_path):
    """The engine's per-epoch evaluation (DoIT Sec. 4.2): epoch 0 is the base model, each later
    epoch the state after the step that completes that pass; the batch is capped so a pass of 3
    records is one step; a rerun after a kill keeps what it evaluated, and the table round-trips."""
    from sftmix.scoring import load_causal_lm

    recs = [{"id": f"t-{i}", "messages": [{"role": "user", "content": f"question {i}"},
                                          {"role": "assistant", "content": f"answer {i % 7}"}], "meta": {}} for i in range(3)]
    items = [{"id": f"e-{k}", "ability": "A", "split": s, "kind": "open",
              "messages": [{"role": "user", "content": f"question {k}"}, {"role": "assistant", "content": f"answer {k % 7}"}],
              "alternatives": [{"name": "fine", "text": f"answer {(k + 1) % 7}"}]} for k, s in enumerate(["dev", "test"] * 2)]
    cfg = budget_config(defaults("train", epochs=3, batch_size=16, lr=1e-2, save_steps=1, max_length=64), "epochs")
    calls = []

    def ev(model, tok):
        calls.append(model.training)
        return evaluate(model, tok, items, batch_size=4, max_length=64)

    ck = tmp_path / "ck"
    s = finetune(str(tiny), recs, tmp_path / "m", {**cfg, "keep_checkpoints": True}, seed=1, checkpoint_dir=ck,
                 epoch_eval=ev)
    assert s["steps"] == 3 and s["examples_per_step"] == 3 and s["n_params"] > 0
    assert [(e["epoch"], e["step"]) for e in s["epoch_evals"]] == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert calls == [False] * 4  # evaluated in eval mode (and trained on in train mode)
    base_model, tok = load_causal_lm(str(tiny))
    assert s["epoch_evals"][0]["rows"] == evaluate(base_model, tok, items, batch_size=4, max_length=64)
    last, tok = load_causal_lm(str(tmp_path / "m"))
    assert [r["gold_nll"] for r in s["epoch_evals"][3]["rows"]] == pytest.approx(
        [r["gold_nll"] for r in evaluate(last, tok, items, batch_size=4, max_length=64)], abs=1e-5)
    # killed after step 2: epochs 0-2 were evaluated and stay; the rerun evaluates epoch 3 only
    shutil.rmtree(ck / "checkpoint-3")
    (ck / "epoch_eval" / "epoch_3.json").unlink()
    calls.clear()
    s2 = finetune(str(tiny), recs, tmp_path / "m2", cfg, seed=1, checkpoint_dir=ck, epoch_eval=ev)
    assert len(calls) == 1 and s2["resumed_from"].endswith("checkpoint-2")
    assert [e["epoch"] for e in s2["epoch_evals"]] == [0, 1, 2, 3]
    path = tmp_path / "epochs.tsv"
    assert write_epoch_scores(str(path), s2["epoch_evals"]) == 16
    back = read_epoch_scores(str(path))
    assert [(r["epoch"], r["id"], r["correct"]) for r in back] == [
        (e["epoch"], r["id"], r["correct"]) for e in s2["epoch_evals"] for r in e["rows"]]


def _epoch_rows(acc):
    """Rows of one run: ``acc[epoch][split][ability]`` as the share of 4 items correct."""
    rows = []
    for epoch, splits in acc.items():
        for split, by in splits.items():
            for ability, a in by.items():
                for k in range(4):
                    rows.append({"epoch": epoch, "id": f"{ability}{split}{k}", "ability": ability, "split": split,
                                 "correct": int(k < round(4 * a)), "gold_nll": 1.0 + epoch})
    return rows


def test_checkpoint_is_chosen_on_dev_after_the_cut_and_reported_on_test():
    acc = {0: {"dev": {"A": 0.0, "B": 0.0}, "test": {"A": 0.0, "B": 0.0}},
           1: {"dev": {"A": 1.0, "B": 1.0}, "test": {"A": 0.25, "B": 0.25}},  # best dev, but not eligible
           2: {"dev": {"A": 0.5, "B": 0.75}, "test": {"A": 0.25, "B": 0.5}},
           3: {"dev": {"A": 0.5, "B": 0.5}, "test": {"A": 1.0, "B": 1.0}}}  # best test: never chosen by test
    sel = select_run(_epoch_rows(acc), min_epoch=1)
    assert sel["epoch"] == 2 and sel["test"]["B"]["acc"] == 0.5 and sel["base"]["A"]["acc"] == 0.0
    assert select_run(_epoch_rows(acc), min_epoch=1, inclusive=True)["epoch"] == 1


def test_fits_recover_a_planted_alpha_and_the_sound_variant_keeps_every_run():
    """ACC = alpha ln N + c per ability with seed noise: both variants recover alpha; the sound
    fit has one point per (x, seed), the published one per x."""
    import numpy as np

    rng = np.random.default_rng(0)
    planted = {"A": 0.08, "B": 0.01}
    runs = []
    for n in (1, 4, 16, 64):
        for n_params in (1000, 4000, 16000):
            for seed in (1, 2, 3):
                for a, alpha in planted.items():
                    acc = 0.1 + alpha * math.log(n) + 0.02 * math.log(n_params) + rng.normal(0, 0.005)
                    runs.append({"model": str(n_params), "n_params": n_params, "n": n, "seed": seed, "ability": a,
                                 "acc": acc})
    rows = {(r["ability"], r["factor"], r["variant"]): r for r in fits(runs, ["A", "B"])}
    for a, alpha in planted.items():
        for variant in ("published", "sound"):
            r = rows[(a, "data", variant)]
            assert abs(r["alpha"] - alpha) < min(0.005, 4 * r["alpha_se"]) and r["ci_low"] < r["alpha"] < r["ci_high"]
        assert rows[(a, "params", "sound")]["alpha"] == pytest.approx(0.02, abs=0.005)
    assert rows[("A", "data", "sound")]["n_points"] == 12 and rows[("A", "data", "published")]["n_points"] == 4
    plan = mix_plan(list(rows.values()), {"A": 100, "B": 50}, {"mix": {"insensitive_k": 1, "floor": 4, "hold": []}}, 16)
    assert plan["insensitive"] == ["B"]
    assert plan["mixes"]["reconstruct"] == {"A": 28, "B": 4} and plan["mixes"]["maximum"] == {"A": 100, "B": 4}
    with pytest.raises(ValueError, match="doit.mix.floor"):
        mix_plan(list(rows.values()), {"A": 100, "B": 50}, {"mix": {"insensitive_k": 1, "floor": 32, "hold": []}}, 16)


def test_doit_study_end_to_end(smoke_run, smoke_config):
    """The smoke run's DoIT: items of both kinds scored every epoch on three sizes, the fits, the
    features and the mixes in the report."""
    d = smoke_run / "doit"
    counts = json.loads((d / "items.counts.json").read_text())
    assert counts["in"] == counts["kept"] + counts["quarantined"] + counts["capped"] + counts["other"]
    assert set(counts["kinds"]) == {"exact", "open"}
    for model in ("tiny", "tiny_xs", "tiny_s"):
        rows = read_epoch_scores(str(d / f"epochs/{model}/doitn_4/seed_1.tsv"))
        assert sorted({r["epoch"] for r in rows}) == [0, 1, 2, 3]
        assert len(rows) == 4 * counts["kept"]
    params = {json.loads((smoke_run / f"models/{m}/doitn_1/seed_1.train.json").read_text())["n_params"]
              for m in ("tiny", "tiny_xs", "tiny_s")}
    assert len(params) == 3
    sens = (d / "fit/sensitivities.tsv").read_text()
    assert sens.count("\n") == 1 + 3 * 2 * 2
    plan = json.loads((d / "fit/mixes.json").read_text())
    assert sum(plan["mixes"]["reconstruct"].values()) == 3 * 16
    report = (smoke_run / "report/doit.md").read_text()
    for section in ("Quantity sweep", "Scaling sensitivity", "Complexity and Transference", "Table 3", "## Claims"):
        assert section in report
    assert (smoke_run / "report/doit/curves.png").stat().st_size > 0
    assert not (smoke_run / "scores/tiny/doitn_1").exists()


def test_feature_claims_take_the_papers_sign_and_name_its_pairing():
    """Fig. 7's claims are positive relations: a significant negative correlation is reported as the
    opposite sign, not as a reproduction; a CI over 0 is not shown; the paper's own pairings
    (Complexity with model size, Transference with data) are named."""
    from sftmix.studies.doit.report import markdown

    def corr(feature, factor, r, lo, hi, p):
        return {"feature": feature, "factor": factor, "n": 11, "pearson_r": r, "pearson_ci_low": lo,
                "pearson_ci_high": hi, "pearson_p": p, "spearman_rho": r, "spearman_ci_low": lo,
                "spearman_ci_high": hi, "note": ""}

    rows = [corr("complexity", "params", 0.26, -0.53, 0.78, 0.45), corr("complexity", "data", -0.74, -0.95, -0.02, 0.009),
            corr("transference", "data", 0.64, 0.06, 0.97, 0.034), corr("transference", "params", 0.60, 0.10, 0.90, 0.2)]
    plan = {"insensitive": [], "hold": [], "baseline_n": 4, "mixes": {"reconstruct": {"A": 4}}}
    text = markdown([], [], {}, rows, plan, {}, level=0.05)
    claims = dict(line[2:].rsplit(": ", 1) for line in text.split("## Claims", 1)[1].splitlines() if line.startswith("- "))
    got = {k.split(" (Pearson")[0]: v.strip("*") for k, v in claims.items() if "grows with" in k}
    assert got == {"complexity grows with params sensitivity (the paper's pairing)": "not shown by this run",
                   "complexity grows with data sensitivity": "opposite sign",
                   "transference grows with data sensitivity (the paper's pairing)": "reproduces",
                   "transference grows with params sensitivity": "not shown by this run"}
