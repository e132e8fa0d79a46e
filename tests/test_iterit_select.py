"""IterIT selection (sftmix.studies.iterit.select): Eq. 5 TF-IDF, the greedy Eq. 6-8 selection,
Algorithm 1's candidate cut and epoch selection, and the baselines. No model is loaded."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from sftmix.rng import derive_seed
from sftmix.studies.iterit.select import (
    aligned,
    deita_select,
    graphfilter,
    greedy_select,
    iterit_candidates,
    iterit_select,
    jaccard,
    longest,
    random_subset,
    record_text,
    tfidf_matrix,
    top_ifd,
)

LN2 = math.log(2.0)


def rec(rid: str, instruction: str, response: str, system: str | None = None) -> dict:
    messages = [{"role": "system", "content": system}] if system is not None else []
    messages += [{"role": "user", "content": instruction}, {"role": "assistant", "content": response}]
    return {"id": rid, "messages": messages, "category": "c", "meta": {}}


# ---------------------------------------------------------------------------------------------
# record_text
# ---------------------------------------------------------------------------------------------

def test_record_text_parts():
    r = {"id": "x", "category": "c", "meta": {}, "messages": [
        {"role": "system", "content": "sys"}, {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"}, {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2"}]}
    assert record_text(r, "response") == "a1\na2"
    assert record_text(r, "instruction") == "sys\nq1\nq2"
    assert record_text(r, "both") == "sys\nq1\nq2\na1\na2"
    with pytest.raises(ValueError):
        record_text(r, "output")


# ---------------------------------------------------------------------------------------------
# TF-IDF (Eq. 5)
# ---------------------------------------------------------------------------------------------

CORPUS = ["the cat sat on the mat", "the dog sat", "a cat and a dog, and the cat!", "",
          "Dogs and cats: the dog and THE cat sat on a mat."]


def test_tfidf_matches_sklearn_identity():
    x, vocab = tfidf_matrix(CORPUS, ngram_range=(1, 3))
    sk = TfidfVectorizer(ngram_range=(1, 3), smooth_idf=False, norm=None)
    unnorm = sk.fit_transform(CORPUS).toarray()
    counts = CountVectorizer(ngram_range=(1, 3), lowercase=True).fit_transform(CORPUS).toarray().astype(float)
    assert vocab == list(sk.get_feature_names_out())
    total = counts.sum(axis=1, keepdims=True)
    expected = np.divide(unnorm - counts, total, out=np.zeros_like(counts), where=total > 0)
    assert x.shape == expected.shape
    np.testing.assert_allclose(x.toarray(), expected, rtol=0, atol=1e-12)
    assert not x.toarray()[3].any()  # the empty text: an all-zero row, no division by zero
    assert x.dtype == np.float64 and sp.isspmatrix_csr(x)


def test_tfidf_one_entry_by_hand():
    x, vocab = tfidf_matrix(CORPUS, ngram_range=(1, 3))
    dense = x.toarray()
    # text 0 "the cat sat on the mat": 6 tokens -> 6 unigrams + 5 bigrams + 4 trigrams = 15 n-grams;
    # "the" occurs twice; it is in texts 0, 1, 2, 4 (not the empty text 3): df = 4 of N' = 5.
    assert dense[0, vocab.index("the")] == pytest.approx(2 / 15 * math.log(5 / 4), abs=1e-15)
    # text 1 "the dog sat": 3 + 2 + 1 = 6 n-grams; "dog sat" once; only text 1 has it: df = 1.
    assert dense[1, vocab.index("dog sat")] == pytest.approx(1 / 6 * math.log(5), abs=1e-15)
    # single-character tokens ("a") are not n-grams under CountVectorizer's default pattern
    assert "a" not in vocab


def test_tfidf_ngram_in_every_text_weighs_zero_and_empty_corpus():
    x, vocab = tfidf_matrix(["aa bb", "aa cc", "cc aa"], ngram_range=(1, 1))
    assert vocab == ["aa", "bb", "cc"]
    np.testing.assert_allclose(x.toarray()[:, 0], 0.0)  # ln(3/3) = 0
    assert x.toarray()[0, 1] == pytest.approx(0.5 * math.log(3))
    empty, v = tfidf_matrix(["", "!!", "a b"], ngram_range=(1, 2))
    assert empty.shape == (3, 0) and v == []
    none, v = tfidf_matrix([], ngram_range=(1, 3))
    assert none.shape == (0, 0) and v == []


# ---------------------------------------------------------------------------------------------
# Greedy selection (Eq. 6-8)
# ---------------------------------------------------------------------------------------------

# Unigrams only. N' = 4. Document frequencies: aa, bb, cc (P, Q), ff (R, S): 2 -> IDF ln(4/2) = ln2;
# dd (P), ee (Q), gg (R), hh (S): 1 -> IDF ln 4 = 2 ln2. In units of ln2, with alpha = 1 (Eq. 6):
#   P "aa bb cc dd dd":    (1 + 1 + 1 + 2*2) / 5 = 7/5  = 1.4
#   Q "aa bb cc ee":       (1 + 1 + 1 + 2)   / 4 = 5/4  = 1.25
#   R "ff ff ff ff gg":    (4*1 + 2)         / 5 = 6/5  = 1.2
#   S "ff ff ff ff ff hh": (5*1 + 2)         / 6 = 7/6 ~= 1.1667
GREEDY_IDS = ["P", "Q", "R", "S"]
GREEDY_TEXTS = ["aa bb cc dd dd", "aa bb cc ee", "ff ff ff ff gg", "ff ff ff ff ff hh"]


def test_greedy_hand_worked_example():
    x, vocab = tfidf_matrix(GREEDY_TEXTS, ngram_range=(1, 1))
    assert vocab == ["aa", "bb", "cc", "dd", "ee", "ff", "gg", "hh"]
    np.testing.assert_allclose(np.asarray(x.sum(axis=1)).ravel() / LN2, [7 / 5, 5 / 4, 6 / 5, 7 / 6], atol=1e-12)

    # b = 1 (no decay): the initial order P (1.4) > Q (1.25) > R (1.2) > S (1.1667).
    picks = greedy_select(GREEDY_IDS, None, x, 4, b=1.0, seed=0)
    assert [GREEDY_IDS[i] for i in picks] == ["P", "Q", "R", "S"]

    # b = 0.1: pick P; alpha(aa, bb, cc, dd) = 0.1 (Eq. 7). Then
    #   Q = (0.1 * 3 + 2) / 4 = 0.575,  R = 1.2,  S = 1.1667   -> R, although Q was second initially.
    # alpha(ff, gg) = 0.1:  Q = 0.575,  S = (0.1 * 5 + 2) / 6 = 0.4167  -> Q, then S.
    picks = greedy_select(GREEDY_IDS, None, x, 4, b=0.1, seed=0)
    assert [GREEDY_IDS[i] for i in picks] == ["P", "R", "Q", "S"]
    assert [GREEDY_IDS[i] for i in greedy_select(GREEDY_IDS, None, x, 2, b=0.1, seed=0)] == ["P", "R"]

    # Eq. 8 with complexity (0.5, 1, 1, 1), b = 0.1: S = P 0.7, Q 1.25, R 1.2, S 1.1667 -> Q;
    # alpha(aa, bb, cc, ee) = 0.1: P = 0.5 * (0.1 * 3 + 2 * 2) / 5 = 0.43, R = 1.2, S = 1.1667 -> R;
    # alpha(ff, gg) = 0.1: P = 0.43, S = 0.4167 -> P, then S.
    picks = greedy_select(GREEDY_IDS, [0.5, 1.0, 1.0, 1.0], x, 4, b=0.1, seed=0)
    assert [GREEDY_IDS[i] for i in picks] == ["Q", "R", "P", "S"]


def test_greedy_without_diversity_is_top_by_complexity():
    ids = ["a", "b", "c", "d", "e"]
    picks = greedy_select(ids, [0.3, 0.9, 0.1, 0.5, 0.7], None, 3, b=0.1, seed=1)
    assert [ids[i] for i in picks] == ["b", "e", "d"]
    assert len(greedy_select(ids, None, None, 99, b=0.1, seed=1)) == 5
    assert greedy_select(ids, None, None, 0, b=0.1, seed=1) == []


def naive_greedy(ids, complexity, x, m, b, seed, alpha=None):
    """Slow reference: recompute S = c * (X @ alpha) from scratch for every pick; exact ties
    broken by the documented key derive_seed(seed, "iterit_tie", id)."""
    dense = x.toarray()
    a = np.ones(dense.shape[1]) if alpha is None else np.array(alpha, dtype=float)
    c = np.ones(len(ids)) if complexity is None else np.asarray(complexity, dtype=float)
    picked: list[int] = []
    for _ in range(min(m, len(ids))):
        score = c * (dense @ a)
        rest = [j for j in range(len(ids)) if j not in picked]
        best = max(score[j] for j in rest)
        tied = [j for j in rest if score[j] == best]
        j = min(tied, key=lambda j: (derive_seed(seed, "iterit_tie", ids[j]), ids[j]))
        picked.append(j)
        a[dense[j] != 0] *= b
    return picked


@pytest.mark.parametrize("b", [0.0, 0.1, 0.5, 1.0])
def test_greedy_incremental_equals_naive_recomputation(b):
    gen = np.random.default_rng(7)
    n, v = 120, 300
    x = sp.random(n, v, density=0.03, format="csr", random_state=gen,
                  data_rvs=lambda k: gen.uniform(0.1, 1.0, k))
    keep = np.ones(n)
    keep[5] = 0.0  # an empty row (diversity 0 from the start): ranks by the seeded tie key
    x = sp.csr_matrix(sp.diags(keep) @ x)
    x.eliminate_zeros()
    assert x[5].nnz == 0
    ids = [f"id{j:03d}" for j in range(n)]
    complexity = gen.uniform(0.2, 1.0, n)
    for seed in (0, 3):
        got = greedy_select(ids, complexity, x, n, b=b, seed=seed)
        assert got == naive_greedy(ids, complexity, x, n, b, seed)
        assert sorted(got) == list(range(n))
    alpha = gen.uniform(0.5, 2.0, v)
    assert greedy_select(ids, None, x, 40, b=b, seed=1, alpha=alpha) == naive_greedy(ids, None, x, 40, b, 1, alpha)


def test_greedy_ties_follow_seed_not_input_order():
    ids = [f"r{j}" for j in range(12)]
    x = sp.csr_matrix(np.ones((12, 3)))  # every row identical: all scores tie at every step
    base = {seed: [ids[i] for i in greedy_select(ids, None, x, 12, b=0.1, seed=seed)] for seed in range(5)}
    perm = list(range(12))
    random.Random(3).shuffle(perm)
    shuffled = [ids[j] for j in perm]
    xs = x[perm]
    for seed, order in base.items():
        assert [shuffled[i] for i in greedy_select(shuffled, None, xs, 12, b=0.1, seed=seed)] == order
        assert [shuffled[i] for i in greedy_select(shuffled, None, None, 12, b=0.1, seed=seed)] == \
            [ids[i] for i in greedy_select(ids, None, None, 12, b=0.1, seed=seed)]
    assert len({tuple(o) for o in base.values()}) > 1


def test_greedy_rejects_bad_input():
    x = sp.csr_matrix(np.ones((2, 2)))
    with pytest.raises(ValueError):
        greedy_select(["a", "a"], None, x, 1, b=0.1, seed=0)
    with pytest.raises(ValueError):
        greedy_select(["a", "b"], [0.5, float("nan")], x, 1, b=0.1, seed=0)
    with pytest.raises(ValueError):
        greedy_select(["a", "b"], None, x, 1, b=1.5, seed=0)
    with pytest.raises(ValueError):
        greedy_select(["a", "b", "c"], None, x, 1, b=0.1, seed=0)


# ---------------------------------------------------------------------------------------------
# Algorithm 1
# ---------------------------------------------------------------------------------------------

def test_aligned():
    assert aligned(0.99) and aligned(np.float32(0.5)) and aligned(0)
    assert not aligned(1.0) and not aligned(1.3) and not aligned(float("nan"))
    assert not aligned(None) and not aligned(float("-inf")) and not aligned("x")


def test_iterit_candidates_keep_unaligned_as_published():
    ids = ["a", "b", "c", "d", "e", "f"]
    ifd = {"a": 1.5, "b": 0.9, "c": 0.8, "d": float("nan"), "e": 2.0, "f": 0.3}
    assert iterit_candidates(ids, ifd, 3, seed=0) == ["e", "a", "b"]  # two of three are unaligned
    assert iterit_candidates(ids, ifd, 6, seed=0) == ["e", "a", "b", "c", "f", "d"]  # NaN last
    assert iterit_candidates(ids, ifd, 0, seed=0) == []
    ties = {f"t{j}": 0.5 for j in range(8)}
    ordered = iterit_candidates(sorted(ties), ties, 8, seed=4)
    assert iterit_candidates(sorted(ties, reverse=True), ties, 8, seed=4) == ordered
    assert any(iterit_candidates(sorted(ties), ties, 8, seed=s) != ordered for s in range(5))
    with pytest.raises(ValueError):
        iterit_candidates(["a", "zz"], ifd, 1, seed=0)
    # the authors' released code: unaligned (and NaN) samples go before the a x M cut
    assert iterit_candidates(ids, ifd, 3, seed=0, order="aligned_first") == ["b", "c", "f"]
    assert iterit_candidates(ids, ifd, 6, seed=0, order="aligned_first") == ["b", "c", "f"]
    with pytest.raises(ValueError, match="order"):
        iterit_candidates(ids, ifd, 3, seed=0, order="best")


def test_iterit_select_never_picks_unaligned_and_reports_shortfall():
    texts = ["alpha beta gamma", "delta epsilon zeta", "eta theta iota kappa", "lambda mu nu",
             "xi omicron pi", "rho sigma tau"]
    records = [rec(f"r{j}", f"question {j}", t) for j, t in enumerate(texts)]
    ifd = {"r0": 0.5, "r1": 1.0, "r2": 1.7, "r3": float("nan"), "r4": 0.9, "r5": 0.2}
    for part in ("response", "instruction", "both", None):
        out = iterit_select(records, ifd, 10, b=0.1, part=part, ngram_range=(1, 3), seed=0)
        assert sorted(out["selected"]) == ["r0", "r4", "r5"]
        assert out["n_candidates"] == 6 and out["n_aligned"] == 3 and out["n_unaligned"] == 3
        assert out["shortfall"] == 7
    out = iterit_select(records, ifd, 2, b=0.1, part="response", ngram_range=(1, 3), seed=0)
    assert len(out["selected"]) == 2 and out["shortfall"] == 0
    assert set(out["selected"]) <= {"r0", "r4", "r5"}
    out = iterit_select(records, {k: 1.2 for k in ifd}, 2, b=0.1, part="response", ngram_range=(1, 3), seed=0)
    assert out["selected"] == [] and out["shortfall"] == 2 and out["n_unaligned"] == 6


def test_iterit_select_uses_responses_and_is_order_independent():
    # equal IFD; r2's response is the only one with unshared n-grams, so it is picked first
    records = [rec("r0", "q zz", "same answer here"), rec("r1", "q yy", "same answer here"),
               rec("r2", "q xx", "completely different words"), rec("r3", "q ww", "same answer here")]
    ifd = {r["id"]: 0.5 for r in records}
    out = iterit_select(records, ifd, 4, b=0.1, part="response", ngram_range=(1, 3), seed=2)
    assert out["selected"][0] == "r2"
    again = iterit_select(records[::-1], ifd, 4, b=0.1, part="response", ngram_range=(1, 3), seed=2)
    assert again["selected"] == out["selected"]
    orders = {tuple(iterit_select(records, ifd, 4, b=0.1, part="response", ngram_range=(1, 3),
                                  seed=s)["selected"]) for s in range(6)}
    assert len(orders) > 1  # r0, r1, r3 tie; the seed decides


# ---------------------------------------------------------------------------------------------
# Baselines
# ---------------------------------------------------------------------------------------------

def test_longest_and_top_ifd():
    records = [rec("a", "q", "x" * 5), rec("b", "q", "x" * 50), rec("c", "q", "x" * 20), rec("d", "q", "x" * 20)]
    assert longest(records, 1, seed=0) == ["b"]
    assert longest(records, 3, seed=0)[:1] == ["b"] and set(longest(records, 3, seed=0)) == {"b", "c", "d"}
    ifd = {"a": 0.95, "b": 1.4, "c": float("nan"), "d": 0.3}
    assert top_ifd(records, ifd, 3, seed=0) == ["a", "d"]  # IFD >= 1 and NaN are not eligible


def test_graphfilter_uses_instructions():
    inst = ["aa bb", "aa bb", "cc dd", "aa bb", "ee ff gg"]
    resp = ["one two", "three four", "five six", "seven eight", "nine ten"]
    ifd = {"g0": 0.5, "g1": 0.5, "g2": 0.5, "g3": 0.5, "g4": 1.2}  # g4 (most distinct) is unaligned
    recs = [rec(f"g{j}", inst[j], resp[j]) for j in range(5)]
    picks = graphfilter(recs, ifd, 4, ngram_range=(1, 3), seed=0)
    assert picks[0] == "g2" and "g4" not in picks and len(picks) == 4

    new_resp = ["rare words only here " * 3, "x", "same same", "y"]
    changed_resp = [rec(f"g{j}", inst[j], (new_resp + ["z"])[j]) for j in range(5)]
    assert graphfilter(changed_resp, ifd, 4, ngram_range=(1, 3), seed=0) == picks

    new_inst = ["cc dd", "aa bb", "aa bb", "aa bb", "ee ff gg"]
    changed_inst = [rec(f"g{j}", new_inst[j], resp[j]) for j in range(5)]
    assert graphfilter(changed_inst, ifd, 4, ngram_range=(1, 3), seed=0)[0] == "g0"


def test_deita_skips_near_duplicates():
    e = np.array([[1.0, 0.0, 0.0], [1.0, 0.1, 0.0], [0.0, 1.0, 0.0], [0.6, 0.8, 0.0]])
    e /= np.linalg.norm(e, axis=1, keepdims=True)  # cos(0, 1) = 0.995; cos(3, 0) = 0.6; cos(3, 2) = 0.8
    ids = ["d0", "d1", "d2", "d3"]
    scores = [0.9, 0.8, 0.7, 0.6]
    assert deita_select(ids, scores, e, 3, threshold=0.9, seed=0) == ["d0", "d2", "d3"]
    assert deita_select(ids, scores, e, 4, threshold=0.9, seed=0) == ["d0", "d2", "d3"]  # shortfall: 3 pass
    assert deita_select(ids, scores, e, 3, threshold=0.999, seed=0) == ["d0", "d1", "d2"]
    assert deita_select(ids, dict(zip(ids, scores, strict=True)), e, 2, threshold=0.9, seed=0) == ["d0", "d2"]
    # a higher-scored near-duplicate wins instead
    assert deita_select(ids, [0.8, 0.9, 0.7, 0.6], e, 2, threshold=0.9, seed=0) == ["d1", "d2"]


def test_random_subset_and_jaccard():
    ids = [f"i{j}" for j in range(30)]
    a = random_subset(ids, 10, seed=5)
    assert len(a) == len(set(a)) == 10 and set(a) <= set(ids)
    assert random_subset(ids[::-1], 10, seed=5) == a
    assert random_subset(ids, 10, seed=6) != a
    assert len(random_subset(ids, 99, seed=5)) == 30
    assert jaccard([], []) == 1.0
    assert jaccard(["a", "b"], ["b", "c"]) == pytest.approx(1 / 3)
    assert jaccard(["a"], []) == 0.0
