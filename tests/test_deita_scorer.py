"""The trained DEITA-style scorer: rated seed set (sftmix.world.ratings), its training conversations,
the chat-form reading (sftmix.quality) and, end to end on a tiny model, that fine-tuning on rated
conversations with the workflow's SFT engine teaches the scorer a signal."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import torch

from sftmix.chat import IGNORE_INDEX, encode_conversation
from sftmix.quality import (
    DEFAULT_SCORE_LABELS,
    deita_conversation,
    deita_scores,
    rating_repeats,
    score_token_ids,
    scorer_training_records,
)
from sftmix.quality_validation import ranking_auc
from sftmix.scoring import load_causal_lm
from sftmix.sft import budget_config, finetune
from sftmix.world.defects import DEFECT_KINDS
from sftmix.world.ratings import RATINGS, rate, rated_seed_set, read_seed_set, write_seed_set

from .defaults import defaults
from .tinylm import save_tiny_lm, sentences

ARCH = {"hidden_size": 64, "intermediate_size": 128, "num_layers": 2, "num_heads": 4, "max_length": 256}
WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "to", "river", "what", "is", "two", "plus",
         "green", "moon", "tell", "me", "about", "zebra", "quality", "score", "question", "response",
         "1", "2", "3", "4", "5", "6"]


def _rec(i: int, answer: str, question: str = "tell me about the moon", category: str = "c") -> dict:
    return {"id": f"r-{i:03d}", "source": "s", "meta": {"category": category},
            "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


def _world(n: int = 60) -> tuple[list[dict], dict[str, dict]]:
    kinds = [None, None, None, *DEFECT_KINDS]
    recs = [_rec(i, f"answer {i}") for i in range(n)]
    truth = {r["id"]: {"defect": kinds[i % len(kinds)]} for i, r in enumerate(recs)}
    return recs, truth


def test_seed_set_is_a_seeded_draw_that_never_takes_eval_items(tmp_path):
    recs, truth = _world()
    eval_ids = {f"r-{i:03d}" for i in range(0, 60, 3)}
    stranger = _rec(999, "not a world record")
    rows, n = rated_seed_set([*recs, stranger], truth, size=25, noise_sd=0.5, seed=4, exclude=eval_ids)
    assert n == {"in": 61, "excluded": 20, "not_in_truth": 1, "drawn": 25,
                 "defective": sum(r["defect"] is not None for r in rows)}
    assert len(rows) == 25 and not eval_ids & {r["id"] for r in rows}
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    # the same inputs in another order: the same rows; another seed: another draw
    again, _ = rated_seed_set(list(reversed(recs)), truth, size=25, noise_sd=0.5, seed=4, exclude=eval_ids)
    assert again == rows
    other, _ = rated_seed_set(recs, truth, size=25, noise_sd=0.5, seed=5, exclude=eval_ids)
    assert {r["id"] for r in other} != {r["id"] for r in rows}
    # asking for more than there is: all candidates
    everything, m = rated_seed_set(recs, truth, size=1000, noise_sd=0.5, seed=4, exclude=eval_ids)
    assert m["drawn"] == len(everything) == 40
    path = tmp_path / "seed.tsv"
    assert write_seed_set(path, rows) == 25 and read_seed_set(path) == rows


def test_ratings_follow_the_defect_kind_with_noise_clipped_to_the_scale():
    recs, truth = _world(70)
    exact, _ = rated_seed_set(recs, truth, size=70, noise_sd=0.0, seed=1)
    assert all(r["rating"] == RATINGS[r["defect"]] for r in exact)
    assert rate(None, 3.0) == 6 and rate("filler", -2.0) == 1 and rate("truncated", 0.4) == 3
    noisy, _ = rated_seed_set(recs, truth, size=70, noise_sd=1.0, seed=1)
    assert all(1 <= r["rating"] <= 6 for r in noisy)
    assert any(r["rating"] != RATINGS[r["defect"]] for r in noisy)
    clean = [r["rating"] for r in noisy if r["defect"] is None]
    bad = [r["rating"] for r in noisy if r["defect"] is not None]
    assert sum(clean) / len(clean) > sum(bad) / len(bad) + 2
    # one row's noise is its own: rating a subset gives those rows the same ratings
    part, _ = rated_seed_set(recs[:30], truth, size=30, noise_sd=1.0, seed=1)
    assert all(r == next(x for x in noisy if x["id"] == r["id"]) for r in part)
    with pytest.raises(ValueError, match="size"):
        rated_seed_set(recs, truth, size=0, noise_sd=1.0, seed=1)


def test_training_records_balance_rare_ratings_by_repetition():
    assert rating_repeats([5, 5, 5, 5, 5, 5, 1, 1, 3], max_repeat=4) == {1: 3, 3: 4, 5: 1}
    assert rating_repeats([5, 5, 1], max_repeat=1) == {1: 1, 5: 1}
    recs = [_rec(i, f"answer {i}") for i in range(5)] + [{"id": "r-no", "messages": [{"role": "user",
                                                                                      "content": "hi"}]}]
    ratings = {"r-000": 5, "r-001": 5, "r-002": 5, "r-003": 1, "r-no": 2}
    out = scorer_training_records(recs, ratings, max_repeat=2)
    ids = Counter(r["id"] for r in out)
    assert ids == {"deita_seed:r-000": 1, "deita_seed:r-001": 1, "deita_seed:r-002": 1, "deita_seed:r-003": 2}
    first = next(r for r in out if r["id"] == "deita_seed:r-003")
    assert first["messages"][-1] == {"role": "assistant", "content": "1"}
    assert "answer 3" in first["messages"][0]["content"] and first["meta"]["rating"] == 1
    with pytest.raises(ValueError, match="rating 9"):
        scorer_training_records(recs, {"r-000": 9})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    texts = sentences(WORDS, 300, seed=2)
    path = save_tiny_lm(tmp_path_factory.mktemp("deita_lm"), texts, ARCH, seed=3)
    return path, *load_causal_lm(str(path))


def test_chat_reading_is_the_distribution_where_training_writes_the_rating(tiny):
    _, model, tok = tiny
    recs = [_rec(i, " ".join(sentences(WORDS, 1 + i % 3, seed=i))) for i in range(7)]
    got = deita_scores(model, tok, recs, chat=True, batch_size=3, progress=False)
    label_ids = score_token_ids(tok)
    for rec in recs:
        enc = encode_conversation(tok, deita_conversation(rec["messages"][0]["content"],
                                                          rec["messages"][1]["content"], "4"))
        first = next(k for k, lab in enumerate(enc["labels"]) if lab != IGNORE_INDEX)
        assert enc["input_ids"][first] == label_ids[3]  # the rating is the response's first token
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([enc["input_ids"][:first]])).logits[0, -1].double()
        p = torch.softmax(logits[label_ids], dim=-1)
        assert got[rec["id"]] == pytest.approx(sum((k + 1) * p[k].item() for k in range(6)), abs=1e-6)


def test_chat_reading_cuts_a_long_response_not_the_cue(tiny, caplog):
    _, model, tok = tiny
    long = _rec(0, " ".join(["the dog ran to the river"] * 80))
    short = _rec(1, "the dog ran")
    with caplog.at_level("INFO", logger="sftmix.quality"):
        got = deita_scores(model, tok, [long, short], chat=True, max_length=240, progress=False)
    assert 1.0 <= got["r-000"] <= 6.0 and "1 prompt(s) longer than max_length=240" in caplog.text
    with pytest.raises(ValueError, match="without the question"):
        deita_scores(model, tok, [long], chat=True, max_length=60, progress=False)


def test_chat_reading_cuts_a_long_question_when_the_response_cannot_make_room(tiny):
    """A question longer than max_length (a planted contamination's preamble, real web text) is cut
    from its end once the response is down to one token: the rating cue and chat template stay."""
    from sftmix.quality import deita_prompt_ids

    _, model, tok = tiny
    rec = _rec(0, "the dog ran")
    rec["messages"][0]["content"] = " ".join(["a cat sat on the mat"] * 120)
    got = deita_scores(model, tok, [rec], chat=True, max_length=200, progress=False)
    assert 1.0 <= got["r-000"] <= 6.0
    prompts = deita_prompt_ids(tok, [rec], max_length=200, chat=True)
    short = deita_prompt_ids(tok, [_rec(1, "the dog ran")], max_length=200, chat=True)
    ids, ref = prompts.encoded[0], short.encoded[0]
    assert len(ids) <= 200 and prompts.n_truncated == 1
    assert ids[-8:] == ref[-8:]  # the template's closing cue survives the cut


def test_fine_tuned_scorer_learns_a_planted_signal(tiny, tmp_path):
    """The whole path on a tiny model: rated conversations -> sftmix.sft.finetune -> chat reading.
    Answers that say "zebra" (three times) are rated 1, others 5 or 6; after training the scorer must rank
    unseen clean answers above unseen zebra answers (AUC > 0.9, one-sided Mann-Whitney p < 1e-4 on
    40 + 40 held-out answers: a random ranking has AUC 0.5 with SD ~0.065 here)."""
    base, _, _ = tiny
    r = random.Random(0)

    def answer(i: int, bad: bool) -> dict:
        words = sentences(WORDS[:20], 1, seed=1000 + i)[0].rstrip(".?!").split()
        for _ in range(3 if bad else 0):
            words.insert(r.randrange(len(words) + 1), "zebra")
        return _rec(i, " ".join(words) + ".")

    train = [answer(i, i % 2 == 1) for i in range(160)]
    ratings = {rec["id"]: (1 if i % 2 else 5 + i % 4 // 2) for i, rec in enumerate(train)}
    cfg = budget_config(defaults("train", epochs=10, batch_size=8, lr=3e-3, save_steps=0, max_length=128), "epochs")
    template = "Rate the answer.\nQ: {instruction}\nA: {response}\nScore: "  # short: a tiny tokenizer
    finetune(str(base), scorer_training_records(train, ratings, template=template), tmp_path / "scorer", cfg,
             seed=1, checkpoint_dir=tmp_path / "ck")
    model, tok = load_causal_lm(str(tmp_path / "scorer"))
    held = [answer(1000 + i, i % 2 == 1) for i in range(80)]
    got = deita_scores(model, tok, held, chat=True, template=template, progress=False)
    r = ranking_auc(held, got, {h["id"] for i, h in enumerate(held) if i % 2 == 0})
    auc, p = r["auc"], r["auc_p"]
    assert auc > 0.9 and p < 1e-4, (auc, p)
    assert len(DEFAULT_SCORE_LABELS) == 6
