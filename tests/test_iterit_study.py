"""The IterIT study as a unit (issue 15): its experiment families, equal step budgets, and the
epoch jobs: epoch k selects with the model that epoch k - 1 trained."""

from __future__ import annotations

import importlib.util
import json
import math
import random
from pathlib import Path

import pytest

from sftmix import experiments as registry
from sftmix.basemodel import build_model, train_tokenizer
from sftmix.quality import (
    ifd_scores,
    instag_scores,
    length_scores,
    quality_table,
    read_ifd_table,
    write_quality,
)
from sftmix.records import read_jsonl, write_json, write_jsonl
from sftmix.scoring import load_causal_lm
from sftmix.studies.iterit import experiments as it
from sftmix.studies.iterit.select import iterit_select

from .defaults import defaults

ROOT = Path(__file__).resolve().parents[1]


def _config(**iterit):
    return {"train": defaults("train", epochs=6, seeds=[1, 2]), "iterit": defaults("iterit", enabled=True, **iterit)}


def test_names_rows_and_equal_step_budgets():
    cfg = _config(variants=["full", "nodiv"], methods=["random", "longest", "noiter"], sensitivity=[0.1])
    names = registry.declared_experiments(cfg, ["iterit", "selection"])
    assert names == ["iterit_full_m050", "iterit_nodiv_m050", "iterit_full_m100", "sel_random_m050",
                     "sel_longest_m050", "sel_noiter_m050", "sel_random_m100"]
    # every run: T = iterit.epochs (3, not train.epochs) passes over M, M fixed by random at that share
    for n in names:
        assert registry.budget(n, cfg) == "matched"
        assert registry.budget_reference(n, cfg) == it.selection_name("random", it.share_of(n))
        assert registry.finetune_flags(n, cfg) == "--budget matched --epochs 3"
        assert registry.seeds_of(n, cfg) == [1, 2, 3]
    assert registry.experiment_family("iterit_full_m050") == "iterit"
    assert "iterit" not in registry.finetuned_families() and "selection" in registry.finetuned_families()
    rows = {r["experiment"]: r for r in it.rows(cfg)}
    assert rows["iterit_full_m050"]["reference"] == "iterit_full_m050" and rows["iterit_full_m050"]["kind"] == "iterit"
    assert rows["sel_noiter_m050"]["kind"] == "ablation" and rows["sel_longest_m050"]["kind"] == "baseline"
    assert rows["sel_random_m100"]["reference"] == "iterit_full_m100"
    assert it.m_of(2700, 0.05) == 135 and it.m_of(10, 0.05) == 1
    with pytest.raises(ValueError, match="thousandths"):
        it.permille(0.0525)
    with pytest.raises(ValueError, match="iterit.variants"):
        registry.declared_experiments(_config(variants=["fancy"]), ["iterit"])
    assert it.variant_settings(cfg, "bzero") == {"part": "response", "b": 0.0}
    assert it.variant_settings(cfg, "nodiv") == {"part": None, "b": 0.1}


def test_sensitivity_rows_pair_iterit_and_random_at_each_share(tmp_path):
    from sftmix.studies.iterit import report

    def row(method, share, nll, sd, delta=0.0, p=math.nan, verdict="reference"):
        return {"method": method, "share": share, "nll_macro": nll, "nll_macro_sd": sd, "delta": delta,
                "welch_p": p, "run_verdict": verdict}

    methods = [row("full", 0.05, 3.0, 0.1), row("nodiv", 0.05, 3.2, 0.1),
               row("random", 0.05, 2.9, 0.05, -0.1, 0.01, "better"), row("longest", 0.05, 6.0, 0.2, 3.0),
               row("full", 0.1, 2.8, 0.1), row("random", 0.1, 2.8, 0.1, 0.0, 0.9, "tie"),
               row("full", 0.02, 3.5, 0.2)]
    got = report.sensitivity_rows(methods)
    assert [r["share"] for r in got] == [0.02, 0.05, 0.1]  # sorted by share; ablations and baselines left out
    assert got[1] == {"share": 0.05, "iterit_nll": 3.0, "iterit_sd": 0.1, "random_nll": 2.9, "random_sd": 0.05,
                      "random_minus_iterit": -0.1, "welch_p": 0.01, "run_verdict": "better"}
    assert math.isnan(got[0]["random_nll"]) and got[0]["run_verdict"] == ""  # no random at 2%: shown missing
    report.plot_sensitivity(got, tmp_path / "fig4a.png")
    assert (tmp_path / "fig4a.png").stat().st_size > 1000


def _epoch_script():
    spec = importlib.util.spec_from_file_location("iterit_epoch", ROOT / "scripts" / "iterit_epoch.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _records(n: int) -> list[dict]:
    rng = random.Random(0)
    words = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
    out = []
    for i in range(n):
        q = " ".join(rng.choice(words) for _ in range(rng.randint(2, 6)))
        a = " ".join(rng.choice(words) for _ in range(rng.randint(2, 12)))
        out.append({"id": f"r-{i:03d}", "source": "s", "meta": {"category": "C"},
                    "messages": [{"role": "user", "content": f"repeat {q}"}, {"role": "assistant", "content": a}]})
    return out


def test_epoch_k_selects_with_the_model_epoch_k_minus_1_trained(tmp_path):
    """Two epoch jobs as the rule runs them: epoch 1's IFD is the epoch-0 model's (not the base
    model's), its selection is Algorithm 1's on those scores, and it trains the run's next steps."""
    recs = _records(60)
    base = tmp_path / "base"
    tok = train_tokenizer([m["content"] for r in recs for m in r["messages"]], 300, base)
    build_model(tok, {"hidden_size": 32, "intermediate_size": 64, "num_layers": 2, "num_heads": 2,
                      "max_length": 128}, seed=0).save_pretrained(str(base), safe_serialization=True)
    model, tokenizer = load_causal_lm(str(base))
    base_ifd = ifd_scores(model, tokenizer, recs, batch_size=16, max_length=128, progress=False)
    quality = tmp_path / "quality.tsv"
    write_quality(quality, quality_table(recs, ifd=base_ifd, instag=instag_scores(recs, {}),
                                         length=length_scores(recs), deita=None))
    write_jsonl(tmp_path / "candidates.jsonl", recs[:45])
    write_json(tmp_path / "candidates.json", {"m": 15})
    write_jsonl(tmp_path / "reference.jsonl", recs[:15])
    write_json(tmp_path / "train.json", defaults("train", lr=5e-3, batch_size=4, max_length=128, save_steps=0))
    script = _epoch_script()

    def run(epoch: int, extra: list[str]) -> Path:
        out = tmp_path / f"epoch_{epoch}"
        assert script.main([
            "--epoch", str(epoch), "--epochs", "2", "--base", str(base), "--candidates", str(tmp_path / "candidates.jsonl"),
            "--candidates-info", str(tmp_path / "candidates.json"), "--reference", str(tmp_path / "reference.jsonl"),
            "--train-config", str(tmp_path / "train.json"), "--seed", "1", "--b", "0.1", "--part", "response",
            "--out", str(out), "--subset", f"{out}.jsonl", "--ifd", f"{out}.ifd.tsv", "--summary", f"{out}.json",
            "--ifd-batch-size", "16", "--ifd-max-length", "128", *extra]) == 0
        return out

    e0 = run(0, ["--quality", str(quality)])
    e1 = run(1, ["--previous", str(e0)])
    s0, s1 = (json.loads(Path(f"{e}.json").read_text()) for e in (e0, e1))
    # 2 passes over 15 records at 4 a step = 8 steps: epoch 0 trains steps 1-4, epoch 1 steps 5-8
    assert (s0["train"]["segment"]["start_step"], s0["train"]["segment"]["end_step"]) == (0, 4)
    assert (s1["train"]["segment"]["start_step"], s1["train"]["segment"]["end_step"]) == (4, 8)
    assert s1["train"]["resumed_from"].startswith(str(e0))
    # epoch 0 selects on the base model's IFD, epoch 1 on the epoch-0 model's
    ifd0, ifd1 = read_ifd_table(f"{e0}.ifd.tsv"), read_ifd_table(f"{e1}.ifd.tsv")
    assert all(ifd0[i] == pytest.approx(base_ifd[i]["ifd"]) for i in ifd0 if math.isfinite(ifd0[i]))
    m0, t0 = load_causal_lm(str(e0))
    after0 = ifd_scores(m0, t0, recs[:45], batch_size=16, max_length=128, progress=False)
    assert all(ifd1[i] == pytest.approx(after0[i]["ifd"], rel=1e-6) for i in ifd1 if math.isfinite(ifd1[i]))
    assert max(abs(ifd1[i] - ifd0[i]) for i in ifd1 if math.isfinite(ifd1[i] + ifd0[i])) > 1e-3, \
        "training moved the IFD"
    expected = iterit_select(recs[:45], {i: after0[i]["ifd"] for i in after0}, 15, b=0.1, part="response",
                             ngram_range=(1, 3), seed=1)["selected"]
    assert [r["id"] for r in read_jsonl(f"{e1}.jsonl")] == expected
    with pytest.raises(SystemExit):  # a later epoch without the previous state is refused
        script.main(["--epoch", "1", "--epochs", "2", "--base", str(base), "--candidates", "c", "--candidates-info",
                     "i", "--reference", "r", "--train-config", "t", "--seed", "1", "--b", "0.1", "--part", "none",
                     "--out", "o", "--subset", "s", "--ifd", "f", "--summary", "x", "--quality", str(quality)])
