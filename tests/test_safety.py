"""Safety: safetensors only, no remote code unless configured, secrets only from declared envvars,
and no network (the guard itself, layer by layer: test_netguard; the smoke run's zero attempts:
test_workflow_smoke and test_reliability)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml

from sftmix.basemodel import build_model, train_tokenizer

from . import smk
from .conftest import ROOT
from .defaults import defaults

ARCH = {"hidden_size": 32, "intermediate_size": 64, "num_layers": 1, "num_heads": 2, "max_length": 64}


@pytest.fixture(scope="module")
def pickle_only_model(tmp_path_factory) -> Path:
    """A model saved the unsafe way: pytorch_model.bin (pickle) and no safetensors."""
    d = tmp_path_factory.mktemp("pickle_model")
    tok = train_tokenizer([f"sentence number {i} about cats and dogs." for i in range(50)], vocab_size=120)
    import torch

    model = build_model(tok, ARCH, seed=1)
    model.config.save_pretrained(str(d))
    torch.save(model.state_dict(), d / "pytorch_model.bin")  # transformers itself only writes safetensors now
    tok.save_pretrained(str(d))
    assert (d / "pytorch_model.bin").exists() and not (d / "model.safetensors").exists()
    return d


def test_pickle_checkpoints_are_refused_by_scoring_and_training(pickle_only_model, tmp_path):
    from sftmix.scoring import load_causal_lm
    from sftmix.sft import finetune

    with pytest.raises(OSError, match="safetensors"):
        load_causal_lm(str(pickle_only_model))
    rec = {"id": "r-1", "source": "s", "messages": [{"role": "user", "content": "hi there"},
                                                    {"role": "assistant", "content": "hello"}], "meta": {}}
    with pytest.raises(OSError, match="safetensors"):
        finetune(str(pickle_only_model), [rec], tmp_path / "out", defaults("train", max_steps=1), seed=1,
                 checkpoint_dir=tmp_path / "ckpt")


def _calls(name: str):
    for path in sorted((ROOT / "sftmix").glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name:
                yield path.name, node


def test_every_hub_load_passes_trust_remote_code_and_models_use_safetensors():
    """A static guard over the library: no from_pretrained call forgets either switch."""
    seen = 0
    for fname, call in _calls("from_pretrained"):
        seen += 1
        kw = {k.arg: k.value for k in call.keywords}
        where = f"{fname}:{call.lineno}"
        assert "trust_remote_code" in kw, f"{where}: from_pretrained without trust_remote_code="
        owner = ast.unparse(call.func.value)
        if "Model" in owner:
            assert isinstance(kw.get("use_safetensors"), ast.Constant) and kw["use_safetensors"].value is True, \
                f"{where}: model loaded without use_safetensors=True"
    assert seen >= 6
    # lm-eval's hf model gets the same switch through model_args
    assert '"use_safetensors": True' in (ROOT / "sftmix/benchmarks.py").read_text()


def test_trust_remote_code_is_off_unless_a_config_key_says_otherwise():
    schema = yaml.safe_load((ROOT / "config/schemas/config.schema.yaml").read_text())
    found = []

    def walk(node, path):
        if isinstance(node, dict):
            if "trust_remote_code" in node.get("properties", {}):
                found.append((path, node["properties"]["trust_remote_code"]["default"]))
            for k, v in node.items():
                walk(v, f"{path}.{k}")

    walk(schema, "")
    assert len(found) >= 2 and all(default is False for _, default in found), found
    for cfg in ("config.yaml", "smoke.yaml", "paper.yaml"):
        assert "trust_remote_code: true" not in (ROOT / "config" / cfg).read_text()


@pytest.mark.slow
@pytest.mark.parametrize("section,key_path", [
    ({"tag": {"backend": "openai", "openai_base_url": "http://127.0.0.1:9/v1", "openai_model": "m", "openai_api_key_env": "SFTMIX_T_KEY"}},
     "SFTMIX_T_KEY"),
    ({"benchmarks": {"judge": {"base_url": "http://127.0.0.1:9/v1", "api_key_env": "SFTMIX_J_KEY"}}},
     "SFTMIX_J_KEY"),
])
def test_api_keys_come_from_declared_envvars(tmp_path, section, key_path):
    """Keys are declared in envvars: a run refuses to start without them, and the key's value never
    appears in the config Snakemake records or in anything it prints."""
    override = tmp_path / "override.yaml"
    override.write_text(json.dumps(section))
    args = ["-n", "--configfile", str(smk.SMOKE_CONFIG), str(override)]
    env = smk.guarded_env(tmp_path)
    env.pop(key_path, None)
    proc = smk.snakemake(tmp_path, *args, check=False, env=env)
    assert proc.returncode != 0 and key_path in proc.stdout + proc.stderr
    secret = "sk-never-logged-0123456789"
    env[key_path] = secret
    proc = smk.snakemake(tmp_path, *args, env=env)
    assert secret not in proc.stdout + proc.stderr
    if "benchmarks" in section:  # a configured judge grades every benchmarked model
        judged = [r for r, _ in smk.job_blocks(proc.stdout) if r == "judge"]
        assert len(judged) == len([r for r, _ in smk.job_blocks(proc.stdout) if r == "lmeval"]) > 0
