"""The memory plan (issue 14): a 7B fine-tune with fp32 master weights and AdamW does not fit one
80 GB GPU; the workflow refuses such a run before any job is queued; `snakemake plan` prints it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import LlamaConfig

from sftmix.memplan import GIB, memory_plan, model_shape, plan_for_model, refusal, shape_of_config

from . import smk
from .defaults import defaults

ROOT = Path(__file__).resolve().parents[1]
LLAMA2_7B = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                        vocab_size=32000)


@pytest.fixture(scope="module")
def shape_7b():
    return shape_of_config(LLAMA2_7B)


def test_shape_from_the_config_alone(shape_7b, tmp_path):
    assert 6.7e9 < shape_7b["n_params"] < 6.8e9  # Llama-2-7B: 6.74B
    assert shape_7b["n_layers"] == 32 and shape_7b["layer_params"] == 4 * 4096**2 + 3 * 4096 * 11008 + 2 * 4096
    LLAMA2_7B.save_pretrained(tmp_path)  # a local model directory with no weights at all
    assert model_shape(tmp_path) == shape_7b


def test_7b_on_one_80gb_gpu_is_refused(shape_7b):
    train = defaults("train", gpus=1, bf16=True, batch_size=4, max_length=2048, gradient_checkpointing=True)
    plan = memory_plan(shape_7b, train)
    assert plan["gib"]["weights_grads_adam"] == pytest.approx(16 * shape_7b["n_params"] / GIB, abs=0.01)
    assert plan["gib"]["weights_grads_adam"] > 100 and not plan["fits"]  # ~112 GB before activations
    why = refusal(plan, "llama2-7b")
    assert "train.gpu_memory_gb" in why and "train.gradient_checkpointing" in why and "DDP" in why
    # sharded over 8 GPUs (FSDP full shard) the same job fits
    assert memory_plan(shape_7b, {**train, "gpus": 8}, sharded=True)["fits"]
    # activations: checkpointing keeps far less
    full = memory_plan(shape_7b, {**train, "gradient_checkpointing": False})
    assert full["gib"]["activations"] > 5 * plan["gib"]["activations"]


def test_the_default_model_fits_its_cpu_job():
    import yaml

    from sftmix.config import resolve_extends

    cfg = resolve_extends(yaml.safe_load((ROOT / "config/config.yaml").read_text()), ROOT)
    train = defaults("train", **cfg["train"])
    plan = plan_for_model({"build": True}, train, defaults("base_model", **cfg["base_model"]))
    assert plan["device"] == "cpu" and plan["fits"] and plan["limit_key"] == "train.mem_mb"
    assert 1e6 < plan["n_params"] < 2e6


def _overlay(tmp_path: Path, **train) -> Path:
    cfg = tmp_path / "overlay.yaml"
    cfg.write_text(f"extends: {ROOT / 'config/smoke.yaml'}\ntrain: {json.dumps(train)}\n")
    return cfg


def test_workflow_refuses_an_unfit_gpu_run_before_any_job(tmp_path):
    cfg = _overlay(tmp_path, gpus=1, gpu_memory_gb=0.001)
    proc = smk.snakemake(tmp_path, "--cores", "1", "--configfile", str(cfg), check=False, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "memory plan: a fine-tune of tiny needs" in out, out[-3000:]
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("*.jsonl")), "no job ran"


def test_plan_target_prints_the_plan(tmp_path):
    proc = smk.snakemake(tmp_path, "results/smoke/plan/tiny.json", "--cores", "1", "--configfile",
                         str(ROOT / "config/smoke.yaml"), timeout=600)
    assert proc.returncode == 0
    plan = json.loads((tmp_path / "results/smoke/plan/tiny.json").read_text())
    assert plan["fits"] and plan["device"] == "cpu"
    assert "| tiny |" in (tmp_path / "results/smoke/logs/plan/tiny.log").read_text()


def test_fsdp_over_nodes_shards_the_state(shape_7b):
    train = defaults("train", gpus=4, nodes=2, fsdp=True, bf16=True, batch_size=4, max_length=2048,
                     gradient_checkpointing=True)
    sharded = memory_plan(shape_7b, train, sharded=True)
    assert sharded["devices"] == 8 and sharded["fits"]
    assert sharded["gib"]["weights_grads_adam"] == pytest.approx(16 * shape_7b["n_params"] / GIB / 8, abs=0.01)


def test_multi_node_finetunes_run_torchrun_under_srun(tmp_path):
    cfg = _overlay(tmp_path, gpus=2, nodes=2)
    out = smk.snakemake(tmp_path, "-n", "--printshellcmds", "--configfile", str(cfg), timeout=600).stdout
    blocks = [b for rule, b in smk.job_blocks(out) if rule == "finetune"]
    assert blocks and all("gpu=4" in b and "nodes=2" in b for b in blocks)
    assert ("srun --nodes=2 --ntasks-per-node=1 torchrun --nnodes=2 --nproc-per-node=2 --rdzv-backend=c10d"
            " --rdzv-id=$SLURM_JOB_ID") in out
