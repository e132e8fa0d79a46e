"""The compute plan (issue 18): FLOPs and GPU-hours from the config alone, job counts equal to the
DAG's, the paper config planned offline."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from sftmix.computeplan import (
    compute_plan,
    gpu_hours,
    inference_flops,
    plan_markdown,
    read_plan_tsv,
    train_flops,
    trainset_records,
    write_plan_tsv,
)
from sftmix.config import load_config
from sftmix.memplan import resolve_shape

from . import smk

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config/schemas/config.schema.yaml"


def _config(name: str) -> dict:
    return load_config(ROOT / "config" / name, SCHEMA, ROOT)


@pytest.fixture(scope="module")
def smoke():
    cfg = _config("smoke.yaml")
    return cfg, compute_plan(cfg)


def _jobs(plan: dict, prefix: str) -> int:
    return sum(r["jobs"] for r in plan["rows"] if r["stage"].startswith(prefix))


def test_flops_and_gpu_hours_on_hand_numbers():
    assert train_flops(7e9, 1e9) == pytest.approx(4.2e19)  # 6 N T
    assert train_flops(7e9, 1e9, checkpointing=True) == pytest.approx(5.6e19)  # + one recomputed forward
    assert inference_flops(7e9, 1e9) == pytest.approx(1.4e19)  # 2 N T
    # one hour of an H100 at 35% MFU: 989e12 * 0.35 * 3600 FLOPs
    assert gpu_hours(989e12 * 0.35 * 3600, 989, 0.35) == pytest.approx(1.0)
    assert gpu_hours(1e21, 312, 0.5) == pytest.approx(1e21 / (312e12 * 0.5) / 3600)
    with pytest.raises(ValueError, match="utilization"):
        gpu_hours(1.0, 989, 0)


def test_gpu_hours_scale_with_peak_and_utilization(smoke):
    cfg, plan = smoke
    fast = copy.deepcopy(cfg)
    fast["plan"].update(peak_tflops=2 * cfg["plan"]["peak_tflops"], utilization=cfg["plan"]["utilization"] / 4)
    other = compute_plan(fast)
    assert other["total"]["flops"] == plan["total"]["flops"]
    assert other["total"]["gpu_hours"] == pytest.approx(2 * plan["total"]["gpu_hours"])  # x (1/2) / (1/4)
    longer = copy.deepcopy(cfg)
    longer["plan"]["tokens_per_record"] = 2 * cfg["plan"]["tokens_per_record"]
    def charged(p):  # every stage but pretraining (steps x batch x block) is charged per record
        return sum(r["flops"] for r in p["rows"] if not r["stage"].startswith("base_model"))

    assert charged(compute_plan(longer)) == pytest.approx(2 * charged(plan))


def test_records_and_tokens_follow_the_budgets(smoke):
    cfg, plan = smoke
    tpr, train = cfg["plan"]["tokens_per_record"], cfg["train"]
    d = cfg["subsets"]["base"] * len(cfg["categories"])  # 20 x 11
    assert trainset_records(cfg, "base") == d and trainset_records(cfg, "add_arithmetic_calculation") == d + 24
    assert trainset_records(cfg, "drop_arithmetic_calculation") == d - 20
    # mixtures: the steps budget (train.max_steps x batch), 2 methods x 1 size x 2 seeds
    mix = next(r for r in plan["rows"] if r["stage"] == "finetune: mixture")
    assert mix["jobs"] == 4 and mix["records"] == 4 * train["max_steps"] * train["batch_size"]
    assert mix["tokens"] == mix["records"] * tpr
    # interaction: train.epochs passes (base, add); drop matched to base's steps: 5 experiments x 2 seeds
    inter = next(r for r in plan["rows"] if r["stage"] == "finetune: interaction")
    assert inter["records"] == 2 * train["epochs"] * (d + 2 * (d + 24) + 2 * d)
    tiny = plan["params"]["tiny"]
    assert inter["flops"] == pytest.approx(6 * tiny * inter["tokens"])


def test_job_counts_equal_the_dags(smoke, tmp_path):
    _, plan = smoke
    out = smk.snakemake(tmp_path, "all", "plan", "-n", "--configfile", str(ROOT / "config/smoke.yaml"),
                        timeout=600).stdout
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1], flags=re.M))
    dag = {k: int(v) for k, v in stats.items()}
    assert _jobs(plan, "finetune:") == dag["finetune"]
    assert _jobs(plan, "doit_finetune:") == dag["doit_finetune"]
    assert _jobs(plan, "iterit_epoch:") == dag["iterit_epoch"]
    assert _jobs(plan, "score") == dag["score"] + dag["score_pretrained"]
    assert _jobs(plan, "lmeval") == dag["lmeval"]
    assert _jobs(plan, "base_model") == dag["base_model"]
    assert dag["compute_plan"] == 1


def test_the_paper_plan_runs_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = _config("paper.yaml")
    plan = compute_plan(cfg)
    # parameter counts from the known shapes (no config.json read): Qwen1.5-7B 7.72B, Llama-3-8B 8.03B
    assert plan["params"]["qwen1.5-7b"] == pytest.approx(7.72e9, rel=0.01)
    assert plan["params"]["llama3-8b"] == pytest.approx(8.03e9, rel=0.01)
    stages = {r["stage"] for r in plan["rows"]}
    assert {"tag (LLM)", "quality: IFD", "quality: DEITA", "finetune: interaction", "score", "lmeval"} <= stages
    # 29 categories: 1 + 2 x 29 interaction experiments x 2 seeds per model
    inter = [r for r in plan["rows"] if r["stage"] == "finetune: interaction"]
    assert [r["jobs"] for r in inter] == [118, 118] and all(r["gpus_per_job"] == 4 for r in inter)
    assert 100 < plan["total"]["gpu_hours"] < 1e5
    write_plan_tsv(tmp_path / "compute.tsv", plan)
    rows = read_plan_tsv(tmp_path / "compute.tsv")
    assert rows[-1]["stage"] == "total" and rows[-1]["gpu_hours"] == pytest.approx(plan["total"]["gpu_hours"])
    assert f"**{plan['total']['gpu_hours']:,.0f}**" in plan_markdown(plan)


def test_a_missing_shape_names_its_key(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = _config("paper.yaml")
    cfg["models"] = {"mystery": {"path": "no-such-org/no-such-model-xyz"}}
    with pytest.raises(ValueError, match=r"models\.mystery\.path"):
        compute_plan(cfg)
    with pytest.raises(ValueError, match=r"tag\.llm_model"):
        resolve_shape("no-such-org/no-such-model-xyz", "tag.llm_model")
    del cfg["models"]
    cfg = _config("paper.yaml")
    cfg["plan"]["records"] = None
    with pytest.raises(ValueError, match=r"plan\.records"):
        compute_plan(cfg)
