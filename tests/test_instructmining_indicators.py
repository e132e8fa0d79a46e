"""InstructMining indicators (Table 1): MTLD, KNN-i, per-record rows, dataset means, TSV."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from sftmix.studies.instructmining.indicators import (
    INDICATOR_DESCRIPTIONS,
    INDICATORS,
    dataset_indicators,
    indicator_names,
    knn_distances,
    mtld,
    mtld_pass,
    mtld_words,
    pair_text,
    read_record_indicators,
    record_indicators,
    write_record_indicators,
)


class WhitespaceTokenizer:
    """The slice of the Hugging Face tokenizer interface the module uses: one token per
    whitespace-separated piece."""

    def __call__(self, texts, add_special_tokens=True):
        assert add_special_tokens is False
        return {"input_ids": [[hash(w) % 97 for w in t.split()] for t in texts]}


def rec(rid, *turns):
    return {"id": rid, "source": "t", "messages": [{"role": r, "content": c} for r, c in turns], "meta": {}}


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------

def test_names():
    assert INDICATORS == ("input_length", "output_length", "understandability", "naturalness", "coherence",
                          "reward", "mtld", "knn_6", "ppl")
    assert set(INDICATOR_DESCRIPTIONS) == set(INDICATORS)
    assert indicator_names(3)[7] == "knn_3" and indicator_names(3)[:7] == INDICATORS[:7]
    with pytest.raises(ValueError):
        indicator_names(0)


# ---------------------------------------------------------------------------------------------
# MTLD
# ---------------------------------------------------------------------------------------------

def test_mtld_hand_worked():
    text = "No sir, no thanks; DON'T... no, no!"
    words = ["no", "sir", "no", "thanks", "don't", "no", "no"]
    assert mtld_words(text) == words
    # Forward: no(1/1) sir(2/2) no(2/3 = .667 <= .72) -> factor 1 after 3 tokens; reset;
    #   thanks(1/1) don't(2/2) no(3/3) no(3/4 = .75), end: partial (1 - 3/4) / (1 - .72) = .25/.28 = 25/28.
    #   factors = 1 + 25/28 = 53/28; forward = 7 / (53/28) = 196/53 = 3.698...
    assert mtld_pass(words) == Fraction(196, 53)
    # Backward: no(1/1) no(1/2 = .5) -> factor 1 after 2 tokens; reset;
    #   don't(1/1) thanks(2/2) no(3/3) sir(4/4) no(4/5 = .8), end: partial (1 - .8) / .28 = 5/7.
    #   factors = 12/7; backward = 7 / (12/7) = 49/12 = 4.083...
    assert mtld_pass(words[::-1]) == Fraction(49, 12)
    # MTLD = (196/53 + 49/12) / 2 = (2352 + 2597) / 1272 = 4949/1272 = 3.8907...
    assert mtld(text) == pytest.approx(4949 / 1272, rel=0, abs=1e-15)


def test_mtld_threshold_is_inclusive():
    # 18 distinct words, 7 of them again: TTR = 18/25 = .72 exactly at token 25 -> a factor closes;
    # then "x y z x" (TTR 3/4 = .75, open): partial (1 - 3/4) / (7/25) = 25/28;
    # forward = 29 / (1 + 25/28) = 29 * 28 / 53 = 812/53.
    # (Closing only at TTR < .72, nothing closes (21/29 = .724 at the end): partial
    # (8/29) / (7/25) = 200/203, forward = 29 * 203/200 = 29.435.)
    words = [f"w{k}" for k in range(1, 19)] + [f"w{k}" for k in range(1, 8)] + ["x", "y", "z", "x"]
    assert mtld_pass(words) == Fraction(812, 53)


def test_mtld_one_repeated_word():
    # yes(1/1) yes(1/2 = .5 <= .72): every 2 tokens close a factor, both directions.
    assert mtld("yes " * 6) == 2.0  # 3 factors, nothing left: 6/3
    assert mtld("Yes, YES yes yes yes yes yes") == pytest.approx(7 / 3)  # 3 factors + [yes] (TTR 1: 0)


def test_mtld_edge_cases():
    assert mtld("alpha beta gamma") == 3.0  # no factor forms: the number of words
    with pytest.raises(ValueError, match="no words"):
        mtld(" ... !!! ")


# ---------------------------------------------------------------------------------------------
# KNN
# ---------------------------------------------------------------------------------------------

def test_knn_distances_hand_made():
    # Unit points A=(1,0), B=(0,1), C=(-1,0) and D=(3,4) -> (.6,.8) once normalised.
    # Squared distances: AB 2, AC 4, AD .16+.64=.8, BC 2, BD .36+.04=.4, CD 2.56+.64=3.2, so sorted:
    # A: .8 2 4;  B: .4 2 2;  C: 2 3.2 4;  D: .4 .8 3.2.
    pts = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [3.0, 4.0]])
    s = np.sqrt
    np.testing.assert_allclose(knn_distances(pts, 1), [s(.8), s(.4), s(2), s(.4)], rtol=0, atol=1e-15)
    np.testing.assert_allclose(knn_distances(pts, 2), [s(2), s(2), s(3.2), s(.8)], rtol=0, atol=1e-15)
    np.testing.assert_allclose(knn_distances(pts, 3), [2, s(2), 2, s(3.2)], rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="at least 5 rows"):
        knn_distances(pts, 4)


def test_knn_distances_duplicates_and_bad_rows():
    pts = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])  # rows 0 and 1 coincide once normalised
    np.testing.assert_array_equal(knn_distances(pts, 1), [0.0, 0.0, np.sqrt(2)])
    with pytest.raises(ValueError, match="all-zero"):
        knn_distances(np.array([[1.0, 0.0], [0.0, 0.0]]), 1)


# ---------------------------------------------------------------------------------------------
# Per-record indicators
# ---------------------------------------------------------------------------------------------

RECORDS = [
    rec("a", ("user", "Name three colors"), ("assistant", "red green blue")),
    rec("b", ("system", "Be brief"), ("user", "Say yes"), ("assistant", "yes yes yes yes")),
    rec("c", ("user", "hi"), ("assistant", "hello there"), ("user", "how are you"),
        ("assistant", "fine thanks fine")),
    rec("d", ("user", "x"), ("assistant", "  ")),
    rec("e", ("assistant", "no question asked")),
    rec("f", ("user", "only a question")),
    rec("g", ("user", "shout"), ("assistant", "!!!")),
    rec("h", ("user", "q"), ("assistant", "r"), ("user", "and then?")),
    rec("i", ("user", "  "), ("assistant", "an answer to nothing")),
]
KEPT = ["a", "b", "c"]
REASONS = {"d": "empty_response", "e": "no_user_turn", "f": "no_assistant_turn", "g": "response_without_words",
           "h": "turn_after_response", "i": "empty_instruction"}


def test_record_indicators_lengths_mtld_and_quarantine():
    rows, quarantined = record_indicators(RECORDS, WhitespaceTokenizer())
    assert len(RECORDS) == len(rows) + len(quarantined)
    assert {q["id"]: q["reason"] for q in quarantined} == REASONS
    assert {q["stage"] for q in quarantined} == {"instructmining_indicators"}
    assert [r["id"] for r in rows] == KEPT
    # input = every message before the last assistant turn, tokens counted per message and summed
    assert [(r["input_length"], r["output_length"]) for r in rows] == [(3, 3), (4, 4), (1 + 2 + 3, 3)]
    assert list(rows[0]) == ["id", "input_length", "output_length", "mtld"]  # nothing else given: absent
    assert rows[1]["mtld"] == 2.0
    assert rows[0]["mtld"] == 3.0


def test_record_indicators_merges_scores_and_knn():
    ppl = {"a": 2.5, "b": 1.5, "c": 4.0, "d": 9.0, "zzz": 1.0}
    scores = {k: {"reward": r, "naturalness": 0.5, "coherence": 0.25, "understandability": 0.75}
              for k, r in zip(KEPT, (1.0, -2.0, 0.5), strict=True)}
    emb = np.zeros((len(RECORDS), 2))  # quarantined rows stay zero: unused, else knn_distances raises
    emb[:3] = [[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0]]
    rows, quarantined = record_indicators(RECORDS, WhitespaceTokenizer(), knn_i=1, embeddings=emb, ppl=ppl,
                                          model_scores=scores)
    assert len(quarantined) == len(REASONS)
    assert list(rows[0]) == ["id", *indicator_names(1)]
    np.testing.assert_allclose([r["knn_1"] for r in rows], [np.sqrt(2)] * 3, rtol=0, atol=1e-15)
    assert [r["ppl"] for r in rows] == [2.5, 1.5, 4.0]
    assert [r["reward"] for r in rows] == [1.0, -2.0, 0.5]

    seen = []

    def embedder(texts):
        seen.extend(texts)
        return emb[:3]

    rows2, _ = record_indicators(RECORDS, WhitespaceTokenizer(), knn_i=1, embeddings=embedder)
    assert seen == [pair_text(r) for r in RECORDS[:3]]
    assert seen[2] == "hi\nhello there\nhow are you\nfine thanks fine"
    assert [r["knn_1"] for r in rows2] == [r["knn_1"] for r in rows]


def test_record_indicators_bad_scores():
    ok = RECORDS[:3]
    with pytest.raises(ValueError, match="no ppl for record c"):
        record_indicators(ok, WhitespaceTokenizer(), ppl={"a": 1.0, "b": 1.0})
    rows, quarantined = record_indicators(ok, WhitespaceTokenizer(), ppl={"a": 1.0, "b": math.nan, "c": 2.0})
    assert [r["id"] for r in rows] == ["a", "c"] and [q["reason"] for q in quarantined] == ["ppl_not_finite"]
    with pytest.raises(ValueError, match="model scores"):
        record_indicators(ok, WhitespaceTokenizer(), model_scores={"a": {"reward": 1.0}, "b": {"coherence": 1.0},
                                                                    "c": {"reward": 1.0}})
    with pytest.raises(ValueError, match="at least 7 rows"):
        record_indicators(ok, WhitespaceTokenizer(), embeddings=np.eye(3))  # knn_6 of 3 records
    with pytest.raises(ValueError, match="one row per record"):
        record_indicators(ok, WhitespaceTokenizer(), embeddings=np.eye(2))


def test_record_indicators_with_a_trained_tokenizer():
    from sftmix.basemodel import train_tokenizer

    tok = train_tokenizer(["Name three colors. red green blue", "Say yes. yes yes"], vocab_size=300)
    rows, _ = record_indicators(RECORDS[:2], tok)
    n = [len(tok(t, add_special_tokens=False)["input_ids"]) for t in ("Name three colors", "red green blue",
                                                                      "Be brief", "Say yes", "yes yes yes yes")]
    assert [(r["input_length"], r["output_length"]) for r in rows] == [(n[0], n[1]), (n[2] + n[3], n[4])]


# ---------------------------------------------------------------------------------------------
# Dataset means and TSV
# ---------------------------------------------------------------------------------------------

ROWS = [{"id": "a", "input_length": 3, "output_length": 5, "mtld": 2.0, "knn_6": 1.0, "ppl": 0.1},
        {"id": "b", "input_length": 4, "output_length": 8, "mtld": 4.5, "knn_6": 1.5, "ppl": 0.2},
        {"id": "c", "input_length": 9, "output_length": 1, "mtld": 30.0, "knn_6": 0.75, "ppl": 1 / 3}]


def test_dataset_indicators_means():
    got = dataset_indicators(ROWS, ["c", "a"])
    assert list(got) == ["input_length", "output_length", "mtld", "knn_6", "ppl"]
    assert got == {"input_length": 6.0, "output_length": 3.0, "mtld": 16.0, "knn_6": 0.875,
                   "ppl": (0.1 + 1 / 3) / 2}
    assert dataset_indicators(ROWS, ["a", "b", "c"])["input_length"] == pytest.approx(16 / 3)
    with pytest.raises(ValueError, match="no indicator row, e.g. zz"):
        dataset_indicators(ROWS, ["a", "zz"])
    with pytest.raises(ValueError, match="no ids"):
        dataset_indicators(ROWS, [])


def test_tsv_round_trip(tmp_path):
    path = tmp_path / "ind.tsv"
    rows = [{"id": r["id"], "mtld": r["mtld"], "ppl": r["ppl"], "input_length": r["input_length"],
             "output_length": r["output_length"], "knn_6": r["knn_6"]} for r in ROWS]  # any key order
    assert write_record_indicators(path, rows) == 3
    assert path.read_text().splitlines()[0] == "id\tinput_length\toutput_length\tmtld\tknn_6\tppl"
    back = read_record_indicators(path)
    assert back == ROWS and [list(r) for r in back] == [list(r) for r in ROWS]
    assert isinstance(back[0]["input_length"], int)
    for header in ("id\tppl\tmtld", "id\tmtld\tloss", "id\tknn_1\tknn_6"):  # order, unknown, two KNN
        path.write_text(header + "\nx\t1.0\t2.0\n")
        with pytest.raises(ValueError, match="not an instructmining indicators TSV"):
            read_record_indicators(path)
