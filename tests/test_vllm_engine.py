"""vLLM offline inference (sftmix.vllm_engine, tag.engine / quality.deita_engine /
benchmarks.lmeval.model: vllm) without vLLM: the clear error when it is missing, and the whole path
on a stand-in ``vllm`` module that runs a tiny local transformers model (tests/fake_vllm.py), against
the transformers engines on the same model: same prompt token ids, same tags, same DEITA scores,
outputs mapped back to input order, shards independent of each other. On a GPU machine with vllm,
benchmarks/gpu_check.sh compares the real engine with transformers."""

from __future__ import annotations

import ast
import logging
import math
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from sftmix import benchmarks
from sftmix.benchmarks import lmeval_model_args, run_lmeval
from sftmix.quality import deita_scores, deita_scores_vllm, read_quality
from sftmix.records import make_record, read_jsonl, text_view, write_jsonl
from sftmix.scoring import load_causal_lm
from sftmix.tagging import LLMTagger, VLLMTagger, tag_records, tagger_from_config
from sftmix.vllm_engine import EngineSettings, VLLMUnavailable, in_input_order

from .defaults import defaults
from .fake_vllm import fake_vllm_module
from .scripts import run_rule_script
from .tinylm import save_tiny_lm, sentences

WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "to", "river", "what", "is", "two",
         "plus", "three", "answer", "please", "tell", "me", "about", "moon", "python", "math", "tags",
         "for", "quality", "score", "question", "response", "1", "2", "3", "4", "5", "6", "rate"]
ARCH = {"hidden_size": 48, "intermediate_size": 96, "num_layers": 2, "num_heads": 4, "max_length": 512}
TEMPLATE = "Tags for: {instruction}"
DEITA = "Rate: {instruction}\nAnswer: {response}\nScore: "


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    """The tiny model with its chat template, and a copy whose tokenizer has none (plain prompts)."""
    chat = save_tiny_lm(tmp_path_factory.mktemp("vllm_lm"), sentences(WORDS, 300, seed=5), ARCH, seed=7)
    plain = tmp_path_factory.mktemp("vllm_lm_plain")
    for f in chat.iterdir():
        shutil.copy(f, plain / f.name)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(plain))
    assert tok.chat_template
    tok.chat_template = None
    tok.save_pretrained(str(plain))
    return {True: chat, False: plain}


@pytest.fixture()
def fake_vllm(monkeypatch):
    mod = fake_vllm_module(shuffle_seed=3)
    monkeypatch.setitem(sys.modules, "vllm", mod)
    return mod


def _settings(model_dir, **over):
    cfg = {**defaults("tag")["vllm"], **over}
    return EngineSettings.from_config(str(model_dir), cfg, seed=11, trust_remote_code=False)


def _rec(i: int, user: str, answer: str | None = "fine") -> dict:
    msgs = [{"role": "user", "content": user}] + ([{"role": "assistant", "content": answer}] if answer else [])
    return make_record("v", i, msgs)


TEXTS = ["what is two plus three", "tell me about the moon please", "python", "the cat sat on a mat " * 6,
         "what is two plus three", "rate the answer", ""]


# ---- (a) without vllm --------------------------------------------------------------------------


def test_selecting_vllm_without_it_names_the_key_and_the_install(monkeypatch, model_dirs):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm raises ImportError, installed or not
    cfg = {**defaults("tag"), "backend": "llm", "llm_model": str(model_dirs[True]), "engine": "vllm"}
    with pytest.raises(VLLMUnavailable, match=r"tag\.engine: vllm is selected .*pip install vllm.*"
                                              r"set tag\.engine: transformers"):
        tagger_from_config(cfg, seed=1)
    with pytest.raises(VLLMUnavailable, match=r"quality\.deita_engine.*pip install vllm"):
        deita_scores_vllm(_settings(model_dirs[True]), [_rec(0, "q")], chat=True)
    with pytest.raises(VLLMUnavailable, match=r"benchmarks\.lmeval\.model.*set benchmarks\.lmeval\.model: hf"):
        run_lmeval(model_dirs[True], None, ["any"], model="vllm", vllm=defaults("benchmarks")["lmeval"]["vllm"])


# ---- (b) on the stand-in -----------------------------------------------------------------------


@pytest.mark.parametrize("chat", [True, False])
def test_vllm_tagger_matches_the_transformers_tagger(fake_vllm, model_dirs, chat):
    hf = LLMTagger(str(model_dirs[chat]), TEMPLATE, max_new_tokens=12, batch_size=3)
    vt = VLLMTagger(_settings(model_dirs[chat], tensor_parallel_size=4, dtype="float32"), TEMPLATE,
                    max_new_tokens=12, progress=False)
    # the engine got the config's settings and safetensors-only loading
    built = fake_vllm.built[-1]
    assert built["tensor_parallel_size"] == 4 and built["seed"] == 11 and built["load_format"] == "safetensors"
    assert built["dtype"] == "float32" and "max_model_len" not in built
    # identical prompt token ids: what the transformers tagger tokenizes, without padding
    for text, ids in zip(TEXTS, vt.prompt_ids(TEXTS), strict=True):
        assert ids == hf.tokenizer(hf.build_prompt(text), add_special_tokens=not chat)["input_ids"]
    raw_hf, raw_v = hf.generate_raw(TEXTS), vt.generate_raw(TEXTS)
    assert raw_v == raw_hf and any(raw_hf)  # real, non-empty continuations, in input order
    assert raw_v[0] == raw_v[4]  # the repeated prompt
    call = fake_vllm.calls[-1]
    assert call["n"] == len(TEXTS) and call["params"].temperature == 0.0 and call["params"].max_tokens == 12
    assert call["params"].seed == 11
    assert vt.tag(TEXTS) == hf.tag(TEXTS)


def test_outputs_are_mapped_back_to_input_order():
    def out(rid, ids):
        return SimpleNamespace(request_id=rid, prompt_token_ids=ids)

    prompts = [[1, 2], [3], [1, 2], [4, 5, 6]]
    outs = [out("7", [4, 5, 6]), out("5", [1, 2]), out("4", [1, 2]), out("6", [3])]
    got = in_input_order(prompts, outs)
    assert [o.request_id for o in got] == ["4", "6", "5", "7"]  # identical prompts in request order
    with pytest.raises(RuntimeError, match="3 outputs for 4 prompts"):
        in_input_order(prompts, outs[:3])
    with pytest.raises(RuntimeError, match="not sent"):
        in_input_order([[1], [2]], [out("0", [1]), out("1", [9])])


@pytest.mark.parametrize("chat", [True, False])
def test_vllm_deita_score_equals_the_transformers_score(fake_vllm, model_dirs, caplog, chat):
    s = sentences(WORDS, 30, seed=9)
    recs = [_rec(i, s[i], " ".join(s[i + 10:i + 11 + i % 3])) for i in range(7)]
    recs.append(_rec(7, "no answer here", None))
    recs.append(_rec(8, s[20], " ".join(s[:25])))  # cut to max_length
    model, tok = load_causal_lm(str(model_dirs[True]))
    ref = deita_scores(model, tok, recs, template=DEITA, chat=chat, max_length=120, batch_size=4, progress=False)
    settings = _settings(model_dirs[True], dtype="float32")
    got = deita_scores_vllm(settings, recs, template=DEITA, chat=chat, max_length=120, logprobs=len(tok), progress=False)
    assert list(got) == [r["id"] for r in recs]
    assert math.isnan(got["v-0000007"]) and math.isnan(ref["v-0000007"])
    for rid, value in ref.items():
        if not math.isnan(value):
            assert 1.0 <= got[rid] <= 6.0 and abs(got[rid] - value) < 1e-4, rid
    assert len({round(v, 6) for v in ref.values() if not math.isnan(v)}) > 3  # scores that differ
    call = fake_vllm.calls[-1]
    assert call["params"].max_tokens == 1 and len(call["params"].allowed_token_ids) == 6
    assert fake_vllm.built[-1]["max_logprobs"] == len(tok)
    # few log-probabilities: the rating tokens outside them count as 0, and the log says how often
    caplog.set_level(logging.WARNING)
    few = deita_scores_vllm(settings, recs, template=DEITA, chat=chat, max_length=120, logprobs=1, progress=False)
    assert "outside the top 1 log-probabilities" in caplog.text and "quality.deita_logprobs" in caplog.text
    assert all(v in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0) for v in few.values() if not math.isnan(v))


def test_tag_shards_through_the_rule_script_are_independent(fake_vllm, model_dirs, tmp_path):
    """A rerun redoes only the missing shards (one job per shard): so a shard's tags must not
    depend on which other prompts shared the engine. Two shards through the rule script, one of them
    redone, equal the transformers tagger on all records."""
    records = [_rec(i, t) for i, t in enumerate(TEXTS)]
    cfg = {**defaults("tag"), "backend": "llm", "llm_model": str(model_dirs[True]), "engine": "vllm",
           "max_new_tokens": 12, "prompt": TEMPLATE}
    outs = []
    for k in range(2):
        write_jsonl(tmp_path / f"in{k}.jsonl", records[k::2])
        outs.append(tmp_path / f"out{k}.jsonl")
        smk = SimpleNamespace(input=[str(tmp_path / f"in{k}.jsonl")], output=[str(outs[k])],
                              log=[str(tmp_path / f"tag{k}.log")], threads=1, params=SimpleNamespace(tag=cfg, seed=1))
        run_rule_script("tag", smk)
    first = outs[1].read_bytes()
    outs[1].unlink()
    run_rule_script("tag", smk)  # the rerun of the missing shard
    assert outs[1].read_bytes() == first
    assert [c["n"] for c in fake_vllm.calls] == [4, 3, 3]  # one generate call per shard
    got = sorted((r for p in outs for r in read_jsonl(p)), key=lambda r: r["id"])
    hf = LLMTagger(str(model_dirs[True]), TEMPLATE, max_new_tokens=12, batch_size=4)
    want = tag_records(records, hf, text_fn=text_view(cfg["text"]))
    assert got == sorted(want, key=lambda r: r["id"])
    assert "backend llm on vllm" in (tmp_path / "tag1.log").read_text()


def test_quality_script_on_vllm_gives_the_transformers_table(fake_vllm, model_dirs, tmp_path):
    s = sentences(WORDS, 20, seed=4)
    recs = [dict(_rec(i, s[i], s[i + 8]), meta={"category": "c", "tags": [["cat", 1.0]]}) for i in range(5)]
    write_jsonl(tmp_path / "pool.jsonl", recs)
    (tmp_path / "tag_map.tsv").write_text("tag\tnormalized\tcount\tgroup_count\tgroup_size\n", encoding="utf-8")
    tables = {}
    for engine in ("transformers", "vllm"):
        quality = {**defaults("quality"), "batch_size": 4, "max_length": 128, "deita_scorer": str(model_dirs[True]),
                   "deita_template": DEITA, "deita_chat": True, "deita_engine": engine, "deita_logprobs": 1000}
        out = tmp_path / f"{engine}.tsv"
        smk = SimpleNamespace(input=SimpleNamespace(pool=str(tmp_path / "pool.jsonl"),
                                                    tag_map=str(tmp_path / "tag_map.tsv")),
                              params=SimpleNamespace(model=str(model_dirs[True]), quality=quality, seed=1),
                              output=[str(out)], log=[str(tmp_path / f"{engine}.log")], threads=1)
        run_rule_script("quality", smk)
        tables[engine] = read_quality(out)
    assert len(fake_vllm.calls) == 1 and fake_vllm.calls[0]["n"] == len(recs)
    for a, b in zip(tables["transformers"], tables["vllm"], strict=True):
        assert a["id"] == b["id"] and a["ifd"] == b["ifd"] and abs(a["deita"] - b["deita"]) < 1e-4
    assert "on vllm" in (tmp_path / "vllm.log").read_text()


# ---- (c) lm-eval's vllm model --------------------------------------------------------------------


def test_lmeval_vllm_model_args():
    vllm = {**defaults("benchmarks")["lmeval"]["vllm"], "tensor_parallel_size": 2, "gpu_memory_utilization": 0.8,
            "max_model_len": 4096, "dtype": "bfloat16"}
    args = lmeval_model_args("vllm", Path("/m/x"), trust_remote_code=False, seed=5, vllm=vllm,
                             model_args={"max_gen_toks": 64})
    assert args == {"pretrained": "/m/x", "tensor_parallel_size": 2, "gpu_memory_utilization": 0.8,
                    "dtype": "bfloat16", "seed": 5, "trust_remote_code": False, "load_format": "safetensors",
                    "max_model_len": 4096, "max_gen_toks": 64}
    assert lmeval_model_args("hf", "/m/x") == {"pretrained": "/m/x", "dtype": "float32", "use_safetensors": True,
                                               "trust_remote_code": False}
    with pytest.raises(ValueError, match="benchmarks.lmeval.model"):
        lmeval_model_args("vllm_server", "/m/x")
    # the installed harness's vllm model takes these by name, the rest go on to vllm.LLM (**kwargs)
    import lm_eval

    src = Path(lm_eval.__file__).parent / "models/vllm_causallms.py"
    cls = next(n for n in ast.parse(src.read_text()).body if isinstance(n, ast.ClassDef) and n.name == "VLLM")
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    named = {a.arg for a in init.args.args + init.args.kwonlyargs}
    assert {"pretrained", "tensor_parallel_size", "dtype", "max_model_len", "seed", "trust_remote_code"} <= named
    assert init.args.kwarg is not None and "gpu_memory_utilization" not in named


def test_run_lmeval_hands_the_vllm_model_to_the_harness(fake_vllm, model_dirs, monkeypatch):
    import lm_eval

    seen = {}

    def simple_evaluate(**kw):
        seen.update(kw)
        return {"results": {}, "samples": {}}

    monkeypatch.setattr(lm_eval, "simple_evaluate", simple_evaluate)
    monkeypatch.setattr(benchmarks, "task_manager", lambda task_dir, tasks: None)  # no index of the built-ins
    vllm = defaults("benchmarks")["lmeval"]["vllm"]
    res = run_lmeval(model_dirs[True], None, ["t"], model="vllm", vllm=vllm, device="cuda", batch_size=8, seed=4)
    assert seen["model"] == "vllm" and seen["batch_size"] == "auto" and seen["device"] is None
    assert seen["log_samples"] is True and seen["model_args"]["tensor_parallel_size"] == 1
    assert seen["model_args"]["pretrained"] == str(model_dirs[True]) and seen["model_args"]["seed"] == 4
    assert res["sftmix_run"]["apply_chat_template"] is True
