"""Response log-likelihood scoring (sftmix.scoring) on a tiny local random Llama."""

from __future__ import annotations

import math

import pytest
import torch

from sftmix.chat import IGNORE_INDEX, encode_conversation
from sftmix.scores import read_scores, write_scores
from sftmix.scoring import load_causal_lm, score_records

from .tinylm import save_tiny_lm, sentences

ARCH = {"hidden_size": 64, "intermediate_size": 128, "num_layers": 2, "num_heads": 4, "max_length": 256}
WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "to", "river", "what", "is", "two",
         "plus", "three", "five", "answer", "please", "tell", "me", "about", "moon", "red", "green",
         "reverse", "string", "hello", "world", "python", "prints", "sum", "of", "and", "capital"]


def _sentences(n: int, seed: int = 0) -> list[str]:
    return sentences(WORDS, n, seed)


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    return load_causal_lm(str(save_tiny_lm(tmp_path_factory.mktemp("tiny_lm"), _sentences(200), ARCH, seed=7)))


def _rec(i: int, messages: list[dict[str, str]], category: str = "cat") -> dict:
    return {"id": f"t-{i:07d}", "source": "t", "messages": messages, "meta": {"category": category}}


def _ua(u: str, a: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": u}, {"role": "assistant", "content": a}]


@pytest.fixture(scope="module")
def records() -> list[dict]:
    s = _sentences(60, seed=1)
    recs = [_rec(i, _ua(" ".join(s[i:i + 1 + i % 4]), " ".join(s[i + 5:i + 6 + i % 7])),
                 category=f"c{i % 3}") for i in range(14)]
    recs.append(_rec(14, [{"role": "user", "content": s[30]}, {"role": "assistant", "content": s[31]},
                          {"role": "user", "content": s[32] + " " + s[33]},
                          {"role": "assistant", "content": s[34] + " " + s[35] + " " + s[36]}],
                     category="dialogue"))
    recs.append(_rec(15, [{"role": "system", "content": "You are terse. " + s[40]},
                          *_ua(s[41], s[42])], category="system"))
    recs.append({"id": "t-nometa", "source": "t", "messages": _ua(s[50], s[51]), "meta": {}})
    return recs


def _close(a: float, b: float, rel: float = 1e-5) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


def test_batched_equals_one_at_a_time(lm, records):
    model, tok = lm
    batched = score_records(model, tok, records, batch_size=8)
    single = score_records(model, tok, records, batch_size=1)
    capped = score_records(model, tok, records, batch_size=16, max_tokens_per_batch=120)
    assert [r["id"] for r in batched] == [r["id"] for r in records]
    for b, s, c in zip(batched, single, capped, strict=True):
        assert b["id"] == s["id"] == c["id"]
        assert b["n_tokens"] == s["n_tokens"] == c["n_tokens"] > 0
        for k in ("nll_sum", "nll_mean", "ppl"):
            assert _close(b[k], s[k]), (b, s)
            assert _close(c[k], s[k]), (c, s)
        assert _close(b["nll_mean"], b["nll_sum"] / b["n_tokens"], 1e-12)
        assert _close(b["ppl"], math.exp(b["nll_mean"]), 1e-12)
    lengths = {len(encode_conversation(tok, r["messages"], 512)["input_ids"]) for r in records}
    assert len(lengths) > 5  # mixed lengths: padding really happened
    assert batched[-1]["category"] == ""
    assert batched[14]["category"] == "dialogue"


def test_matches_hand_computation(lm, records):
    model, tok = lm
    for rec in (records[14], records[15], records[3]):  # multi-turn, system turn, single turn
        enc = encode_conversation(tok, rec["messages"], 512)
        ids = torch.tensor([enc["input_ids"]])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits[0].double(), dim=-1)
        labels = enc["labels"]
        expected = -sum(logp[t - 1, labels[t]].item() for t in range(1, len(labels))
                        if labels[t] != IGNORE_INDEX)
        n = sum(1 for t in labels if t != IGNORE_INDEX)
        (row,) = score_records(model, tok, [rec], batch_size=4)
        assert row["n_tokens"] == n
        assert _close(row["nll_sum"], expected), (row["nll_sum"], expected)
    # the two-turn record labels both assistant turns (and nothing else)
    enc = encode_conversation(tok, records[14]["messages"], 512)
    spans: list[list[int]] = []
    prev = IGNORE_INDEX
    for lab in enc["labels"]:
        if lab != IGNORE_INDEX:
            if prev == IGNORE_INDEX:
                spans.append([])
            spans[-1].append(lab)
        prev = lab
    texts = [tok.decode(sp, skip_special_tokens=True).strip() for sp in spans]
    assert texts == [records[14]["messages"][1]["content"], records[14]["messages"][3]["content"]]


def test_only_assistant_tokens_count(lm):
    model, tok = lm
    base = _rec(0, _ua("Tell me about the moon.", "The moon is red and green."))
    other_user = _rec(1, _ua("What is two plus three? Please answer.", "The moon is red and green."))
    other_asst = _rec(2, _ua("Tell me about the moon.", "The dog ran to the river and sat on a mat."))
    r0, r1, r2 = score_records(model, tok, [base, other_user, other_asst], batch_size=3)
    assert r1["n_tokens"] == r0["n_tokens"]
    assert r1["nll_sum"] != r0["nll_sum"]  # the prompt conditions the response
    assert r2["n_tokens"] != r0["n_tokens"]
    # scored alone (no padding) the record keeps its score
    (again,) = score_records(model, tok, [base], batch_size=1)
    assert again["nll_sum"] == pytest.approx(r0["nll_sum"], rel=1e-5)


def test_truncation_and_order(lm, records):
    model, tok = lm
    long_prompt = _rec(99, _ua(" ".join(_sentences(12, seed=5)), "The answer is five."), "trunc")
    prompt_len = len(encode_conversation(tok, long_prompt["messages"][:1], None)["input_ids"])
    max_length = prompt_len - 3
    assert max_length > 0
    mixed = [records[0], long_prompt, records[1], records[14]]
    rows = score_records(model, tok, mixed, batch_size=2, max_length=max_length, progress=True)
    assert [r["id"] for r in rows] == [r["id"] for r in mixed]
    t = rows[1]
    assert t["n_tokens"] == 0 and t["category"] == "trunc"
    assert all(math.isnan(t[k]) for k in ("nll_sum", "nll_mean", "ppl"))
    assert all(r["n_tokens"] > 0 for i, r in enumerate(rows) if i != 1)
    # a response cut partway keeps its surviving tokens and they score the same as untruncated
    full = encode_conversation(tok, records[14]["messages"], None)
    first_lab = next(i for i, lab in enumerate(full["labels"]) if lab != IGNORE_INDEX)
    cut = first_lab + 2  # two labelled tokens survive
    (partial,) = score_records(model, tok, [records[14]], max_length=cut)
    assert partial["n_tokens"] == 2
    # all-unscorable and empty inputs
    only = score_records(model, tok, [long_prompt], max_length=max_length)
    assert only[0]["n_tokens"] == 0 and math.isnan(only[0]["nll_mean"])
    assert score_records(model, tok, []) == []


def test_tsv_round_trip_and_deterministic_bytes(lm, records, tmp_path):
    model, tok = lm
    rows = score_records(model, tok, records, batch_size=8)
    rows.append({"id": "x-nan", "category": "", "split": "", "n_tokens": 0, "nll_sum": float("nan"),
                 "nll_mean": float("nan"), "ppl": float("nan")})
    p1, p2 = tmp_path / "a.tsv", tmp_path / "sub" / "b.tsv"
    assert write_scores(p1, rows) == len(rows)
    write_scores(p2, score_records(model, tok, records, batch_size=8) + rows[-1:])
    assert p1.read_bytes() == p2.read_bytes()
    header = p1.read_text(encoding="utf-8").split("\n", 1)[0]
    assert header == "id\tcategory\tsplit\tn_tokens\tnll_sum\tnll_mean\tppl"
    back = read_scores(p1)
    assert len(back) == len(rows)
    for a, b in zip(rows, back, strict=True):
        assert a["id"] == b["id"] and a["category"] == b["category"] and a["n_tokens"] == b["n_tokens"]
        for k in ("nll_sum", "nll_mean", "ppl"):
            assert (math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k]
    with pytest.raises(ValueError):
        write_scores(tmp_path / "bad.tsv", [{**rows[0], "id": "has\ttab"}])


def test_head_only_path_equals_full_logits(lm, records):
    """Applying the output layer at response positions only gives the full-logits numbers."""
    model, tok = lm
    full = score_records(model, tok, records, batch_size=4, head_only=False)
    fast = score_records(model, tok, records, batch_size=4, head_only=True)
    for a, b in zip(full, fast, strict=True):
        assert a["n_tokens"] == b["n_tokens"]
        if a["n_tokens"]:
            assert abs(a["nll_sum"] - b["nll_sum"]) <= 1e-6 * max(1.0, abs(a["nll_sum"]))
