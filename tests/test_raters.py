"""External raters (sftmix.raters) and the world's UniEval labeller (sftmix.world.unieval): the real
models' read-outs on tiny locally built T5 / sequence-classifier fixtures, the causal stand-in's
training conversations and read-out, and the labeller's table and seeded noise."""

from __future__ import annotations

import logging
import math
from collections import Counter
from pathlib import Path

import pytest
import torch

from sftmix.chat import IGNORE_INDEX, encode_conversation
from sftmix.quality import deita_scores, score_token_ids
from sftmix.raters import (
    STANDIN_LABELS,
    UNIEVAL_DIMENSIONS,
    UNIEVAL_QUESTIONS,
    load_rater,
    reward_encoding,
    reward_scores,
    unieval_conversation,
    unieval_history_response,
    unieval_input,
    unieval_scores,
    unieval_training_records,
)
from sftmix.sft import budget_config, finetune
from sftmix.world.defects import DEFECT_KINDS
from sftmix.world.unieval import (
    UNIEVAL_TABLE,
    read_unieval_labels,
    unieval_label,
    unieval_seed_labels,
    write_unieval_labels,
)

from .defaults import defaults
from .tinylm import save_tiny_lm, sentences

WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "to", "river", "what", "is", "two", "plus",
         "green", "moon", "tell", "me", "about", "red", "zebra", "yes", "no"]
QUESTION_WORDS = sorted({w for q in UNIEVAL_QUESTIONS.values() for w in q.rstrip("?").split()}
                        | {"question", "response", "dialogue", "history"})


def _rec(i: int, answer: str, question: str = "tell me about the moon", category: str = "c") -> dict:
    return {"id": f"r-{i:03d}", "source": "s", "meta": {"category": category},
            "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


def _records() -> list[dict]:
    s = sentences(WORDS[:20], 30, seed=5)
    recs = [_rec(i, " ".join(s[i:i + 1 + i % 3]), s[i + 10]) for i in range(6)]
    recs.append({"id": "r-006", "source": "s", "meta": {},
                 "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": s[20]},
                              {"role": "assistant", "content": s[21]}, {"role": "user", "content": s[22]},
                              {"role": "assistant", "content": s[23] + " " + s[24]}]})
    return recs


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models on a shared machine: one intra-op thread is fastest (no spin-waiting threads)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


NO_ANSWER = {"id": "r-999", "source": "s", "meta": {}, "messages": [{"role": "user", "content": "tell me"}]}


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------

def test_unieval_input_follows_unieval_dialogue_format():
    assert unieval_input("naturalness", "hi there", "fine thanks") == (
        "question: Is this a natural response in the dialogue? </s> response: fine thanks")
    assert unieval_input("understandability", "ignored", "ok") == (
        "question: Is this an understandable response in the dialogue? </s> response: ok")
    assert unieval_input("coherence", "hi there", "fine thanks") == (
        "question: Is this a coherent response given the dialogue history? </s> response: fine thanks"
        " </s> dialogue history: hi there")
    assert unieval_input("coherence", "h", "r", sep="\n") == (
        "question: Is this a coherent response given the dialogue history?\nresponse: r\ndialogue history: h")
    with pytest.raises(ValueError, match="unknown UniEval dimension"):
        unieval_input("engagingness", "h", "r")
    rec = _records()[6]
    history, response = unieval_history_response(rec)
    m = rec["messages"]
    assert history == "\n".join(x["content"] for x in m[1:4]) and response == m[4]["content"]  # no system turn
    assert unieval_history_response(NO_ANSWER) is None


# ---------------------------------------------------------------------------------------------
# seq2seq: the real UniEval's read-out on a tiny T5
# ---------------------------------------------------------------------------------------------

def _save_tiny_t5(path: Path, texts: list[str]) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    specials = ["<pad>", "</s>", "<unk>"]
    words = sorted({w for t in texts for w, _ in pre_tokenizers.Whitespace().pre_tokenize_str(t)} | {"Yes", "No"})
    vocab = {w: k for k, w in enumerate(specials + [w for w in words if w not in specials])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    torch.manual_seed(0)
    cfg = T5Config(vocab_size=len(vocab), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
                   num_heads=4, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    T5ForConditionalGeneration(cfg).save_pretrained(str(path))
    fast.save_pretrained(str(path))
    return path


@pytest.fixture(scope="module")
def t5(tmp_path_factory):
    recs = _records()
    texts = [m["content"] for r in recs for m in r["messages"]] + [unieval_input(d, "", "") for d in UNIEVAL_DIMENSIONS]
    path = _save_tiny_t5(tmp_path_factory.mktemp("t5"), texts)
    return load_rater(str(path), "seq2seq")


def test_seq2seq_score_is_yes_share_at_the_first_decoder_step(t5, caplog):
    model, tok = t5
    assert not model.training
    recs = _records()
    with caplog.at_level(logging.WARNING, logger="sftmix.raters"):
        got = unieval_scores(model, tok, [*recs, NO_ANSWER], kind="seq2seq", batch_size=4)
    assert list(got) == [r["id"] for r in recs] and "r-999" in caplog.text  # absent, logged
    assert all(set(v) == set(UNIEVAL_DIMENSIONS) and all(0.0 < x < 1.0 for x in v.values()) for v in got.values())
    yes, no = tok("Yes", add_special_tokens=False)["input_ids"][0], tok("No", add_special_tokens=False)["input_ids"][0]
    rec = recs[6]
    history, response = unieval_history_response(rec)
    for dim in UNIEVAL_DIMENSIONS:
        ids = tok(unieval_input(dim, history, response))["input_ids"]
        assert ids[-1] == tok.eos_token_id
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids]), decoder_input_ids=torch.tensor([[0]])).logits[0, 0].double()
        p = torch.softmax(logits, dim=-1)
        assert got[rec["id"]][dim] == pytest.approx((p[yes] / (p[yes] + p[no])).item(), abs=1e-6)
    one = unieval_scores(model, tok, recs, ["coherence", "naturalness"], kind="seq2seq", batch_size=1)
    for rid, v in one.items():
        assert list(v) == ["coherence", "naturalness"]
        assert all(v[d] == pytest.approx(got[rid][d], abs=1e-5) for d in v)
    cut = unieval_scores(model, tok, recs[6:], ["coherence"], kind="seq2seq", max_length=12)
    assert 0.0 < cut["r-006"]["coherence"] < 1.0
    with pytest.raises(ValueError, match="unknown kind"):
        unieval_scores(model, tok, recs, kind="t5")


# ---------------------------------------------------------------------------------------------
# classifier: the real reward model's read-out
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    from transformers import LlamaForSequenceClassification

    from sftmix.basemodel import llama_config, train_tokenizer

    path = tmp_path_factory.mktemp("rm")
    tok = train_tokenizer(sentences(WORDS, 200, seed=1), vocab_size=300)
    cfg = llama_config({"hidden_size": 32, "intermediate_size": 64, "num_layers": 2, "num_heads": 4,
                        "max_length": 256}, len(tok), tok.bos_token_id, tok.eos_token_id, None)
    cfg.num_labels = 1
    torch.manual_seed(2)
    LlamaForSequenceClassification(cfg).save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return load_rater(str(path), "classifier")


def test_classifier_reward_is_the_logit_and_batching_is_invariant(classifier, caplog):
    model, tok = classifier
    assert model.config.pad_token_id == tok.pad_token_id  # taken from the tokenizer: batches can be padded
    recs = _records()
    with caplog.at_level(logging.WARNING, logger="sftmix.raters"):
        got = reward_scores(model, tok, [*recs, NO_ANSWER], kind="classifier", batch_size=4)
    assert list(got) == [r["id"] for r in recs] and "r-999" in caplog.text
    rec = recs[6]  # first question, last answer
    enc = reward_encoding(tok, rec["messages"][1]["content"], rec["messages"][4]["content"])
    assert enc["input_ids"] == tok(rec["messages"][1]["content"], rec["messages"][4]["content"])["input_ids"]
    with torch.no_grad():
        expected = model(input_ids=torch.tensor([enc["input_ids"]])).logits[0, 0].item()
    assert got[rec["id"]] == pytest.approx(expected, abs=1e-5)
    lengths = {len(reward_encoding(tok, r["messages"][-2]["content"], r["messages"][-1]["content"])["input_ids"])
               for r in recs}
    assert len(lengths) > 3  # padding happens
    for fmt in ("pair", "oasst"):
        single = reward_scores(model, tok, recs, kind="classifier", batch_size=1, reward_format=fmt)
        batched = reward_scores(model, tok, recs, kind="classifier", batch_size=5, reward_format=fmt)
        assert all(batched[k] == pytest.approx(single[k], abs=1e-5) for k in single)
    text = tok.decode(reward_encoding(tok, "q", "a", reward_format="oasst")["input_ids"])
    assert text == f"<|prompter|>q{tok.eos_token}<|assistant|>a{tok.eos_token}"
    with pytest.raises(ValueError, match="reward_format"):
        reward_encoding(tok, "q", "a", reward_format="chatml")
    with pytest.raises(ValueError, match="unknown kind"):
        reward_scores(model, tok, recs, kind="logit")
    with pytest.raises(ValueError, match="unknown kind"):
        load_rater("unused", "t5")


# ---------------------------------------------------------------------------------------------
# causal stand-ins
# ---------------------------------------------------------------------------------------------

ARCH = {"hidden_size": 64, "intermediate_size": 128, "num_layers": 1, "num_heads": 4, "max_length": 256}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    texts = sentences(WORDS, 200, seed=2) + [" ".join(QUESTION_WORDS)] * 5
    path = save_tiny_lm(tmp_path_factory.mktemp("standin"), texts, ARCH, seed=3)
    return path, *load_rater(str(path), "causal")


def test_training_records_ask_the_question_and_balance_answers():
    recs = [_rec(i, f"the dog ran {i}") for i in range(4)]
    labels = [{"id": "r-000", "dimension": "naturalness", "label": "yes"},
              {"id": "r-001", "dimension": "naturalness", "label": "yes"},
              {"id": "r-002", "dimension": "naturalness", "label": "yes"},
              {"id": "r-003", "dimension": "naturalness", "label": "no"},
              {"id": "r-003", "dimension": "coherence", "label": "no"},
              {"id": "r-404", "dimension": "coherence", "label": "yes"}]  # no such record: counted
    out = unieval_training_records(recs, labels, max_repeat=2)
    assert Counter(r["id"] for r in out) == {"unieval_seed:naturalness:r-000": 1, "unieval_seed:naturalness:r-001": 1,
                                             "unieval_seed:naturalness:r-002": 1, "unieval_seed:naturalness:r-003": 2,
                                             "unieval_seed:coherence:r-003": 1}
    coh = next(r for r in out if r["id"] == "unieval_seed:coherence:r-003")
    assert coh["messages"] == [
        {"role": "user", "content": "question: Is this a coherent response given the dialogue history?\n"
                                    "response: the dog ran 3\ndialogue history: tell me about the moon"},
        {"role": "assistant", "content": "no"}]
    assert coh["meta"] == {"source_id": "r-003", "category": "c", "dimension": "coherence", "label": "no"}
    assert out[0]["messages"][-1] == {"role": "assistant", "content": "yes"}
    with pytest.raises(ValueError, match="not yes/no"):
        unieval_training_records(recs, [{"id": "r-000", "dimension": "naturalness", "label": "maybe"}])


def _answer_logprob(model, prompt: list[int], answer: list[int]) -> float:
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt + answer[:-1]])).logits[0].double()
    logp = torch.log_softmax(logits[len(prompt) - 1:], dim=-1)
    return sum(logp[k, t].item() for k, t in enumerate(answer))


def test_causal_readout_is_the_answers_probability_where_training_writes_it(tiny, caplog):
    _, model, tok = tiny
    recs = _records()
    with caplog.at_level(logging.INFO, logger="sftmix.raters"):
        got = unieval_scores(model, tok, recs, kind="causal", batch_size=3, max_length=256)
    assert "shortened" not in caplog.text  # the by-hand prompts below are the whole conversations
    answer_ids = [tok(a, add_special_tokens=False)["input_ids"] for a in STANDIN_LABELS]
    assert max(len(a) for a in answer_ids) > 1  # a small tokenizer splits a word: the sequence path
    for rec in recs:
        history, response = unieval_history_response(rec)
        for dim in UNIEVAL_DIMENSIONS:
            enc = encode_conversation(tok, unieval_conversation(dim, history, response, "no"))
            first = next(k for k, lab in enumerate(enc["labels"]) if lab != IGNORE_INDEX)
            assert enc["input_ids"][first:first + len(answer_ids[1])] == answer_ids[1]  # the response starts with it
            lp_yes, lp_no = (_answer_logprob(model, enc["input_ids"][:first], a) for a in answer_ids)
            assert got[rec["id"]][dim] == pytest.approx(1 / (1 + math.exp(lp_no - lp_yes)), abs=1e-6)
    single = unieval_scores(model, tok, recs, kind="causal", batch_size=1, max_length=256)
    assert all(single[k][d] == pytest.approx(got[k][d], abs=1e-6) for k in got for d in got[k])
    # one-token answers: the softmax over the two answer tokens' logits at the first response position
    digits = unieval_scores(model, tok, recs[:2], ["coherence"], kind="causal", answers=("1", "0"))
    ids = score_token_ids(tok, ("1", "0"))
    history, response = unieval_history_response(recs[0])
    enc = encode_conversation(tok, unieval_conversation("coherence", history, response, "1"))
    first = next(k for k, lab in enumerate(enc["labels"]) if lab != IGNORE_INDEX)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([enc["input_ids"][:first]])).logits[0, -1].double()
    assert digits["r-000"]["coherence"] == pytest.approx(torch.softmax(logits[ids], dim=-1)[0].item(), abs=1e-6)
    long = _rec(50, " ".join(["the dog ran to the river"] * 30), " ".join(["tell me about the moon"] * 30))
    with caplog.at_level(logging.INFO, logger="sftmix.raters"):
        short = unieval_scores(model, tok, [long], kind="causal", max_length=100)  # history, then response cut
    assert all(0.0 < v < 1.0 for v in short["r-050"].values())
    assert "3 stand-in prompt(s) longer than max_length=100 were shortened" in caplog.text
    with pytest.raises(ValueError, match="cannot hold"):
        unieval_scores(model, tok, [long], kind="causal", max_length=30)
    with pytest.raises(ValueError, match="distinct"):
        unieval_scores(model, tok, recs, kind="causal", answers=("yes", "yes"))


def test_rating_standin_is_the_deita_scorer_read_in_chat_form(tiny):
    _, model, tok = tiny
    recs = _records()
    got = reward_scores(model, tok, [*recs, NO_ANSWER], kind="rating", batch_size=3)
    deita = deita_scores(model, tok, recs, chat=True, batch_size=3, progress=False)
    assert list(got) == [r["id"] for r in recs]
    assert all(got[k] == pytest.approx(deita[k], abs=1e-9) and 1.0 <= got[k] <= 6.0 for k in got)


def test_fine_tuned_standin_separates_its_labels(tiny, tmp_path):
    """World labels -> training conversations -> sftmix.sft.finetune -> causal read-out: answers that
    carry "zebra" are truncated in the ground truth (not natural), the others clean; after a short
    fine-tune the stand-in scores natural answers high and unnatural ones low, seen in training or not."""
    base, _, _ = tiny

    def answer(i: int) -> dict:
        words = sentences(WORDS[:19], 1, seed=100 + i)[0].rstrip(".?!").split()
        return _rec(i, " ".join(["zebra", *words, "zebra"] if i % 2 else words) + ".")

    recs, unseen = [answer(i) for i in range(32)], [answer(i) for i in range(500, 512)]
    truth = {r["id"]: {"defect": "truncated" if i % 2 else None} for i, r in enumerate(recs)}
    labels, counts = unieval_seed_labels(recs, truth, noise=0.0, seed=1, dimensions=["naturalness"])
    assert counts["yes"] == 16 and counts["rows"] == 32
    train = unieval_training_records(recs, labels)
    cfg = budget_config(defaults("train", epochs=20, batch_size=8, lr=5e-3, save_steps=0, max_length=128), "epochs")
    finetune(str(base), train, tmp_path / "standin", cfg, seed=1, checkpoint_dir=tmp_path / "ck")
    model, tok = load_rater(str(tmp_path / "standin"), "causal")
    for group in (recs, unseen):
        got = unieval_scores(model, tok, group, ["naturalness"], kind="causal", max_length=128)
        natural = [got[r["id"]]["naturalness"] for i, r in enumerate(group) if i % 2 == 0]
        unnatural = [got[r["id"]]["naturalness"] for i, r in enumerate(group) if i % 2 == 1]
        assert min(natural) > 0.8 and max(unnatural) < 0.2, (natural, unnatural)


# ---------------------------------------------------------------------------------------------
# the world's labeller
# ---------------------------------------------------------------------------------------------

def _truth(n: int) -> tuple[list[dict], dict[str, dict]]:
    kinds = [None, *DEFECT_KINDS]
    recs = [_rec(i, f"answer {i}") for i in range(n)]
    return recs, {r["id"]: {"defect": kinds[i % len(kinds)]} for i, r in enumerate(recs)}


def test_table_covers_every_defect_kind_and_dimension():
    assert set(UNIEVAL_TABLE) == {None, *DEFECT_KINDS}
    assert all(set(row) == set(UNIEVAL_DIMENSIONS) for row in UNIEVAL_TABLE.values())
    assert all(UNIEVAL_TABLE[None].values())  # clean: natural, coherent, understandable
    assert all(UNIEVAL_TABLE["wrong_value"].values()) and all(UNIEVAL_TABLE["flipped_label"].values())
    assert not UNIEVAL_TABLE["other_item"]["coherence"] and not UNIEVAL_TABLE["filler"]["coherence"]
    assert not UNIEVAL_TABLE["truncated"]["understandability"] and not UNIEVAL_TABLE["filler"]["naturalness"]
    assert unieval_label("truncated", "naturalness") == "no" and unieval_label("truncated", "naturalness", True) == "yes"


def test_noiseless_labels_are_the_table_and_strangers_are_counted(tmp_path):
    recs, truth = _truth(24)
    stranger = _rec(999, "not a world record")
    rows, counts = unieval_seed_labels([*reversed(recs), stranger], truth, noise=0.0, seed=3)
    assert counts == {"in": 25, "not_in_truth": 1, "labelled": 24, "rows": 72, "flipped": 0,
                      "yes": sum(v for r in recs for v in UNIEVAL_TABLE[truth[r["id"]]["defect"]].values())}
    assert [(r["id"], r["dimension"]) for r in rows] == [(r["id"], d) for r in recs for d in UNIEVAL_DIMENSIONS]
    assert all(r["label"] == ("yes" if UNIEVAL_TABLE[truth[r["id"]]["defect"]][r["dimension"]] else "no") for r in rows)
    path = tmp_path / "labels.tsv"
    assert write_unieval_labels(path, rows) == 72 and read_unieval_labels(path) == rows
    with pytest.raises(ValueError, match="duplicate"):
        unieval_seed_labels([recs[0], recs[0]], truth, noise=0.0, seed=3)
    with pytest.raises(ValueError, match="noise"):
        unieval_seed_labels(recs, truth, noise=1.5, seed=3)


def test_noise_flips_are_seeded_and_per_row():
    recs, truth = _truth(300)
    exact, _ = unieval_seed_labels(recs, truth, noise=0.0, seed=7)
    noisy, counts = unieval_seed_labels(recs, truth, noise=0.2, seed=7)
    flips = [a["label"] != b["label"] for a, b in zip(exact, noisy, strict=True)]
    assert sum(flips) == counts["flipped"] and abs(counts["flipped"] / 900 - 0.2) < 0.05
    assert unieval_seed_labels(recs, truth, noise=0.2, seed=7) == (noisy, counts)  # reproducible
    other, _ = unieval_seed_labels(recs, truth, noise=0.2, seed=8)
    assert other != noisy
    # a row's flip is its own draw: a subset, or one dimension, gets the same labels
    part, _ = unieval_seed_labels(recs[100:150], truth, noise=0.2, seed=7, dimensions=["coherence"])
    by_key = {(r["id"], r["dimension"]): r["label"] for r in noisy}
    assert all(by_key[(r["id"], r["dimension"])] == r["label"] for r in part)
    everything, _ = unieval_seed_labels(recs, truth, noise=1.0, seed=7)
    assert all(a["label"] != b["label"] for a, b in zip(exact, everything, strict=True))
    assert math.isclose(sum(r["label"] == "yes" for r in exact) / 900,
                        sum(v for r in recs for v in UNIEVAL_TABLE[truth[r["id"]]["defect"]].values()) / 900)
