"""The InstructMining study as a unit (issue 16): its experiment families, the fused datasets, the
estimation table, and the rule fit of the paper's own Tables 20-21 through the rule scripts."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest

from sftmix import experiments as registry
from sftmix.studies.instructmining import estimation, rule
from sftmix.studies.instructmining import experiments as im
from sftmix.studies.instructmining.fuse import by_source, fused_dataset, source_counts, split_pool

from .defaults import defaults
from .scripts import run_rule_script


def _config(**sec):
    return {"train": defaults("train", epochs=6, seeds=[1, 2]),
            "instructmining": defaults("instructmining", **{"enabled": True, **sec})}


def test_names_budgets_and_report_rows():
    cfg = _config(select={"size": 200}, curve={"sizes": [100, 200]}, ablation=["reward"],
                  estimation={"datasets": 3}, search={"trials": 2})
    names = registry.declared_experiments(cfg, ["imfuse", "imsel", "imsearch"])
    assert names == ["imfuse_000", "imfuse_001", "imfuse_002", "imsel_rule_k100", "imsel_sound_k100",
                     "imsel_random_k100", "imsel_rule_k200", "imsel_sound_k200", "imsel_random_k200",
                     "imsel_no_reward_k200", "imsearch_00", "imsearch_01"]
    # cost proportional to size: instructmining.epochs passes over every set (equal k, equal steps)
    assert {registry.finetune_flags(n, cfg) for n in names} == {"--budget epochs --epochs 3"}
    assert registry.seeds_of("imfuse_000", cfg) == [1] and registry.seeds_of("imsel_rule_k100", cfg) == [1, 2, 3]
    assert registry.trainset_file("R", "tiny", "imfuse_001") == "R/trainsets/imfuse_001.jsonl"
    assert registry.trainset_file("R", "tiny", "imsearch_01") == "R/trainsets/tiny/imsearch_01.jsonl"
    assert im.parse("imsel_no_knn_6_k200") == {"family": "imsel", "method": "no_knn_6", "k": 200, "ablated": "knn_6"}
    rows = {r["experiment"]: r for r in im.rows(cfg)}
    assert rows["imsel_rule_k100"]["reference"] == "imsel_random_k100"
    assert rows["imsel_sound_k100"]["reference"] == "imsel_random_k100" and rows["imsel_sound_k100"]["kind"] == "sound"
    assert rows["imsel_no_reward_k200"]["reference"] == "imsel_rule_k200"
    assert rows["imsel_random_k200"]["reference"] == "imsel_random_k200"
    with pytest.raises(ValueError, match="instructmining.ablation"):
        registry.declared_experiments(_config(ablation=["mtld"], indicators=["reward"]), ["imsel"])
    assert registry.declared_experiments(_config(enabled=False), ["imfuse", "imsel", "imsearch"]) == []


def test_fused_datasets_follow_their_weights_and_keep_their_size():
    assert source_counts([0.5, 0.25, 0.25], 100, [100, 100, 100]) == [50, 25, 25]
    # a source that holds too few gives what it has; the others fill the rest by their weights
    assert source_counts([0.9, 0.05, 0.05], 100, [30, 100, 100]) == [30, 35, 35]
    assert source_counts([0.9, 0.05, 0.05], 1000, [30, 100, 100]) == [30, 100, 100]
    est, sel = split_pool([f"r{i:02d}" for i in range(20)], 0.5, seed=1)
    assert len(est) == len(sel) == 10 and not set(est) & set(sel)
    assert split_pool(reversed([f"r{i:02d}" for i in range(20)]), 0.5, seed=1) == (est, sel)
    recs = [{"id": f"{s}-{i:02d}", "source": s} for s in "abc" for i in range(50)]
    sets = [fused_dataset(by_source(recs), 40, seed=1, index=i) for i in range(5)]
    for chosen, info in sets:
        assert len(chosen) == 40 and info["shortfall"] == 0 and len({r["id"] for r in chosen}) == 40
        counts = {s: sum(r["source"] == s for r in chosen) for s in "abc"}
        assert counts == info["counts"]
        w = info["weights"]
        assert all(abs(counts[s] - 40 * w[s] / sum(w.values())) <= 1 for s in "abc")
    assert len({tuple(info["counts"].values()) for _, info in sets}) > 1, "every dataset draws its own weights"
    assert fused_dataset(by_source(recs), 40, seed=1, index=3) == sets[3]


def test_eval_loss_is_token_weighted_over_clean_items():
    rows = [{"id": "a", "n_tokens": 10, "nll_sum": 10.0}, {"id": "b", "n_tokens": 30, "nll_sum": 90.0},
            {"id": "bad", "n_tokens": 10, "nll_sum": 500.0}, {"id": "empty", "n_tokens": 0, "nll_sum": 0.0}]
    assert estimation.eval_loss(rows, {"bad"}) == (100.0 / 40, 2)
    assert math.isnan(estimation.eval_loss([], set())[0])
    recs = [{"id": "a", "reward": 1.0, "mtld": 10.0}, {"id": "b", "reward": 3.0, "mtld": 30.0}]
    table = estimation.estimation_table({"imfuse_000": ["a", "b", "gone"]}, recs, {"imfuse_000": 1.5})
    assert table == [{"dataset": "imfuse_000", "reward": 2.0, "mtld": 20.0, "loss": 1.5, "n": 2, "n_missing": 1}]


def test_fit_script_refits_the_papers_tables(tmp_path):
    """im_paper_table + im_fit: the paper's Tables 20-21 (112 parseable rows) refit with Table 9's
    four indicators give Table 9's signs (data/README.md has the numbers)."""
    table = tmp_path / "paper/table.tsv"
    table.parent.mkdir()
    run_rule_script("im_paper_table", SimpleNamespace(output=[str(table)], log=[str(tmp_path / "p.log")]))
    names = ("rule", "fit", "full", "subsets_published", "subsets_sound", "ablation", "normality")
    out = SimpleNamespace(**{n: str(tmp_path / f"paper/{n}.{'json' if n == 'rule' else 'tsv'}") for n in names})
    settings = {"indicators": list(defaults("instructmining")["indicators"]),
                "rule_indicators": list(rule.PAPER_RULE_INDICATORS), "selection_procedure": "published"}
    run_rule_script("im_fit", SimpleNamespace(input=SimpleNamespace(table=str(table)), output=out,
                                              params=SimpleNamespace(settings=settings, seed=0),
                                              log=[str(tmp_path / "f.log")]))
    got = json.loads((tmp_path / "paper/rule.json").read_text())
    assert got["n_datasets"] == 112 and got["chosen"] == list(rule.PAPER_RULE_INDICATORS)
    coef = got["rule"]["coef"]
    assert coef["reward"] < 0 and coef["naturalness"] < 0 and coef["coherence"] < 0 and coef["understandability"] > 0
    assert got["rule"]["r2"] == pytest.approx(0.508, abs=0.005)
    fit = rule.read_fit_tsv(out.fit)
    assert fit["coef"] == pytest.approx(coef)
    # Table 5's refits: one per indicator of the rule, each without it
    abl = (tmp_path / "paper/ablation.tsv").read_text().splitlines()
    assert abl[0].startswith("removed\tterm") and len(abl) == 1 + 4 * 4
    assert set(got["ablation"]) == set(rule.PAPER_RULE_INDICATORS)
    norm = (tmp_path / "paper/normality.tsv").read_text()
    assert "ks_standard_normal" in norm and "lilliefors" in norm.lower()


def test_planted_rows_check_records_and_sources():
    from sftmix.studies.instructmining import report

    # sources a (no defects) < b (half) < c (all): a rule that predicts defects worse ranks them so
    ids = [f"{s}{i}" for s in "abc" for i in range(4)]
    defect = {i: (i[0] == "c" or (i[0] == "b" and int(i[1]) < 2)) and "filler" for i in ids}
    scores = {i: 1.0 + (0.5 if defect[i] else 0.0) + 0.01 * int(i[1]) for i in ids}
    rows = report.planted_rows(scores, defect, {"imsel_rule_k4": [["a0", "a1", "a2", "a3"]],
                                                 "imsel_random_k4": [["a0", "c1", "b0", "b3"], ["c0", "c2", "a1", "b2"]]},
                               {i: i[0] for i in ids})
    by = {r["what"]: r for r in rows}
    assert by["predicted loss: defective - clean"]["value"] > 0.4 and by["predicted loss: defective - clean"]["p"] < 0.01
    assert by["source c: mean predicted loss"]["note"] == "defect rate 1.000"
    assert by["sources: Spearman(defect rate, mean predicted loss)"]["value"] == pytest.approx(1.0)
    assert by["precision: imsel_rule_k4"]["value"] == 1.0
    assert by["precision: imsel_random_k4"]["value"] == pytest.approx((0.5 + 0.5) / 2)
    assert by["precision: all candidates"]["value"] == pytest.approx(6 / 12)
