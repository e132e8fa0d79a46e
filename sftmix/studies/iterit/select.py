"""IterIT data selection (Jia et al. 2025, "Boosting LLM via Learning from Data Iteratively and
Selectively", Sec. 2, Algorithm 1) and the baselines the paper compares with.

IterIT scores a sample by **complexity** x **diversity** and picks greedily:

* complexity ``S_COM`` is the IFD of the sample under the model being trained (Eq. 1-3,
  :func:`sftmix.quality.ifd_scores`); a sample is *aligned* only when IFD < 1 (Eq. 4, :func:`aligned`);
* diversity ``S_DIV`` is the alpha-weighted sum of the TF-IDF of the n-grams (1-3) of the sample's
  **response** (Eq. 5 :func:`tfidf_matrix`, Eq. 6), where the weight ``alpha_g`` of every n-gram of
  a picked sample is multiplied by ``b`` (Eq. 7), so that uncovered n-grams are preferred;
* the greedy pick is the argmax of ``S = S_COM x S_DIV`` (Eq. 8, :func:`greedy_select`).

Algorithm 1 as functions: epoch 0 scores all N samples and keeps the top ``a x M`` by IFD
(lines 4-6, :func:`iterit_candidates`); before every epoch the pool is re-scored with the current
model, unaligned samples are dropped and ``M`` are picked greedily (lines 8-15,
:func:`iterit_select`). Models and training live elsewhere: everything here is plain functions over
plain data (records as in :mod:`sftmix.records`, IFD as ``{id: float}``).

Baselines (Sec. 3.3; see the "IFD and friends" notes): :func:`longest` (Zhao et al. 2024,
Shen 2024), :func:`top_ifd` (Superfiltering, Li et al. 2024b), :func:`graphfilter` (Wu et al.
2024a), :func:`deita_select` (DEITA, Liu et al. 2024b), :func:`random_subset`; :func:`jaccard`
compares selections (Sec. 5.3, Table 5).

Choices where the paper is silent or cannot be followed literally:

* tokenization is scikit-learn's ``CountVectorizer`` default (lowercased; tokens are runs of >= 2
  word characters, punctuation dropped); the paper does not say how it tokenizes;
* ``N'`` of Eq. 5 is the number of samples being scored, i.e. the aligned pool ``D'`` (line 11);
* when fewer than ``M`` samples are aligned, Algorithm 1's ``while |D_t| < M`` never ends:
  :func:`iterit_select` selects all of them and reports the shortfall;
* ties (equal scores, e.g. every remaining sample fully covered with ``b = 0``) are broken by a
  seeded key per id, never by input order; see :func:`greedy_select` for the round-off tolerance.

The authors' released code differs from the paper in ways this module does not follow: it uses
scikit-learn's default ``TfidfVectorizer`` (smoothed IDF + 1, L2-normalized rows) on the response
plus the eos token, and it drops IFD >= 1 before ranking instead of after the ``a x M`` cut.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from ...embedding import l2_normalize
from ...quality import ifd_valid, length_scores
from ...ranking import top_n
from ...rng import derive_seed, rng

PARTS = ("response", "instruction", "both")
"""What :func:`record_text` can extract (Sec. 5.2's ablations: ``o``, ``i``, ``i + o``)."""

TIE_RTOL = 1e-9
"""Relative tolerance of a tie in :func:`greedy_select` (times the largest initial score)."""

_INSTRUCTION_ROLES = frozenset({"user", "system"})


# ---------------------------------------------------------------------------------------------
# Text and TF-IDF
# ---------------------------------------------------------------------------------------------

def record_text(record: Mapping[str, Any], part: str) -> str:
    """The text of ``record`` that TF-IDF is computed on.

    ``"response"``: the assistant turns' contents joined with ``"\\n"`` (``Y_i``, IterIT's choice);
    ``"instruction"``: the user and system turns' contents, in conversation order, joined with
    ``"\\n"`` (``X_i``, GraphFilter's choice); ``"both"``: instruction + ``"\\n"`` + response
    (the ``i + o`` ablation of Sec. 5.2). A part with no turn is the empty string.
    """
    if part not in PARTS:
        raise ValueError(f"record_text: part must be one of {PARTS}, got {part!r}")
    messages = record["messages"]
    response = "\n".join(m["content"] for m in messages if m["role"] == "assistant")
    if part == "response":
        return response
    instruction = "\n".join(m["content"] for m in messages if m["role"] in _INSTRUCTION_ROLES)
    if part == "instruction":
        return instruction
    return instruction + "\n" + response


def tfidf_matrix(texts: Sequence[str], ngram_range: tuple[int, int] = (1, 3)) -> tuple[sp.csr_matrix, list[str]]:
    """TF-IDF of every n-gram in every text, IterIT Eq. 5::

        TF-IDF(g, Y_i) = f_g / sum_k f_k  x  ln(N' / N_g)

    ``f_g`` is the count of n-gram ``g`` in text ``i`` and ``sum_k f_k`` the total count of all its
    n-grams (all orders of ``ngram_range`` together); ``N'`` the number of texts, ``N_g`` the number
    of texts holding ``g``. Natural log, no smoothing and no +1: an n-gram in every text weighs 0
    (such entries are not stored). Counting is scikit-learn's ``CountVectorizer(ngram_range=...,
    lowercase=True)``. A text with no n-gram (empty, or only punctuation and 1-character tokens)
    gets an all-zero row; when no text has any, the matrix has no column.

    Returns ``(X, vocabulary)``: ``X`` a float64 CSR matrix of shape ``(len(texts), len(vocabulary))``,
    column ``j`` being the n-gram ``vocabulary[j]``.

    How it differs from scikit-learn's ``TfidfVectorizer``: with ``smooth_idf=False`` that computes
    raw counts x ``(ln(n/df) + 1)`` and then L2-normalizes each row (``norm="l2"``); here TF is the
    relative frequency, IDF has no +1, and rows are not normalized. With ``norm=None`` the two are
    related exactly by::

        ours = (sklearn_unnormalized - counts) / row_total
    """
    from sklearn.feature_extraction.text import CountVectorizer

    texts = [str(t) for t in texts]
    n = len(texts)
    vectorizer = CountVectorizer(ngram_range=tuple(ngram_range), lowercase=True)
    try:
        counts = vectorizer.fit_transform(texts)
    except ValueError as err:  # no n-gram in any text (or no text at all)
        if n and "empty vocabulary" not in str(err):
            raise
        return sp.csr_matrix((n, 0), dtype=np.float64), []
    counts = sp.csr_matrix(counts, dtype=np.float64)
    counts.sum_duplicates()
    vocabulary = [str(g) for g in vectorizer.get_feature_names_out()]

    df = np.bincount(counts.indices, minlength=counts.shape[1])  # canonical CSR: one entry per (text, n-gram)
    idf = np.log(n / df)
    row_total = np.asarray(counts.sum(axis=1)).ravel()
    rows = np.repeat(np.arange(n), np.diff(counts.indptr))
    x = counts.copy()
    x.data = counts.data * idf[counts.indices] / row_total[rows]  # a stored entry implies row_total > 0
    x.eliminate_zeros()
    return x, vocabulary


# ---------------------------------------------------------------------------------------------
# Greedy complexity x diversity selection
# ---------------------------------------------------------------------------------------------

def _tie_keys(ids: Sequence[str], seed: int, name: str) -> list[tuple[int, str]]:
    return [(derive_seed(seed, name, i), i) for i in ids]


def _tie_rank(ids: Sequence[str], seed: int, name: str) -> np.ndarray:
    """Position of each id in the seeded order (independent of the order of ``ids``)."""
    keys = _tie_keys(ids, seed, name)
    rank = np.empty(len(ids), dtype=np.int64)
    rank[sorted(range(len(ids)), key=keys.__getitem__)] = np.arange(len(ids))
    return rank


def _check_unique(ids: Sequence[str], what: str) -> None:
    if len(set(ids)) != len(ids):
        dup = sorted(i for i, count in Counter(ids).items() if count > 1)
        raise ValueError(f"{what}: duplicate id(s) {', '.join(dup[:10])}")


def greedy_select(ids: Sequence[str], complexity: Sequence[float] | np.ndarray | None,
                  features: sp.spmatrix | None, m: int, *, b: float, seed: int,
                  alpha: Sequence[float] | np.ndarray | None = None) -> list[int]:
    """Greedy complexity x diversity selection, IterIT Eq. 6-8: indices into ``ids``, in pick order.

    ``features`` holds one row per id (``ids[i]`` is row ``i``), e.g. :func:`tfidf_matrix`. With the
    n-gram weights ``alpha`` (ones unless given):

    * ``S_DIV^i = sum_g alpha_g x features[i, g]``  (Eq. 6, ``features @ alpha``);
    * ``S^i = complexity[i] x S_DIV^i``  (Eq. 8); the unpicked sample with the highest ``S`` is picked;
    * ``alpha_g <- b x alpha_g`` for every n-gram ``g`` stored in the picked row (Eq. 7).

    ``S_DIV`` is updated incrementally after a pick: only the picked row's columns change weight,
    so ``S_DIV -= features[:, cols] @ (alpha_old[cols] - alpha_new[cols])`` over a column slice
    (cost: the entries of those columns, not of the matrix). Stops after ``min(m, len(ids))`` picks;
    once every remaining score is 0 the picks go on in the seeded tie order (the paper collects
    exactly ``M``).

    ``complexity=None``: diversity only (all ones). ``features=None``: complexity only (diversity 1
    for every sample, no update): the "w/o div" ablation of Sec. 5.2, i.e. the top ``m`` by
    complexity. ``b`` in ``[0, 1]`` (the paper: ``0 <= b < 1``; ``b = 1`` means no decay).

    Ties: among the unpicked samples whose score is within ``TIE_RTOL`` x (largest initial |S|) of
    the best, the one with the smallest ``derive_seed(seed, "iterit_tie", id)`` is picked, so the
    picks depend on the seed and not on the order of ``ids``. The tolerance absorbs the round-off
    the incremental update leaves (a sample whose n-grams are all covered with ``b = 0`` scores
    ~1e-17 instead of 0 and would otherwise win by round-off); without ``features`` nothing is
    updated and ties are exact.
    """
    ids = [str(i) for i in ids]
    n = len(ids)
    _check_unique(ids, "greedy_select")
    b = float(b)
    if not 0.0 <= b <= 1.0:
        raise ValueError(f"greedy_select: b must lie in [0, 1], got {b}")
    if complexity is None:
        c = np.ones(n, dtype=np.float64)
    else:
        c = np.asarray(complexity, dtype=np.float64).ravel()
        if c.shape != (n,):
            raise ValueError(f"greedy_select: {c.size} complexity values for {n} ids")
        if not np.all(np.isfinite(c)):
            raise ValueError("greedy_select: complexity must be finite (drop NaN/inf IFD first)")
    k = max(0, min(int(m), n))
    tie = _tie_rank(ids, seed, "iterit_tie")

    if features is None:
        if alpha is not None:
            raise ValueError("greedy_select: alpha given without features")
        return sorted(range(n), key=lambda i: (-c[i], tie[i]))[:k]

    x = sp.csr_matrix(features, dtype=np.float64, copy=True)
    x.sum_duplicates()
    x.eliminate_zeros()
    if x.shape[0] != n:
        raise ValueError(f"greedy_select: features has {x.shape[0]} rows for {n} ids")
    if alpha is None:
        a = np.ones(x.shape[1], dtype=np.float64)
    else:
        a = np.array(alpha, dtype=np.float64).ravel()
        if a.shape != (x.shape[1],):
            raise ValueError(f"greedy_select: {a.size} alpha values for {x.shape[1]} features")
    s_div = np.asarray(x @ a, dtype=np.float64).ravel()
    if not np.all(np.isfinite(s_div)):
        raise ValueError("greedy_select: non-finite diversity score (check features and alpha)")
    x_cols = x.tocsc() if b != 1.0 else None

    initial = c * s_div
    tol = TIE_RTOL * float(np.max(np.abs(initial))) if n else 0.0
    picked = np.zeros(n, dtype=bool)
    out: list[int] = []
    for _ in range(k):
        score = c * s_div
        score[picked] = -np.inf
        best = score.max()
        tied = np.flatnonzero(score >= best - tol)
        i = int(tied[np.argmin(tie[tied])])
        out.append(i)
        picked[i] = True
        if x_cols is not None:
            cols = x.indices[x.indptr[i]:x.indptr[i + 1]]
            if cols.size:
                old = a[cols]
                new = old * b
                a[cols] = new
                s_div -= np.asarray(x_cols[:, cols] @ (old - new)).ravel()
    return out


# ---------------------------------------------------------------------------------------------
# Algorithm 1
# ---------------------------------------------------------------------------------------------

def aligned(ifd: Any) -> bool:
    """IterIT Eq. 4: ``PPL_cond < PPL_prior``, i.e. IFD < 1, and finite (NaN, None: not aligned).
    The same rule as Cherry LLM's :func:`sftmix.quality.ifd_valid` (which this calls), also for
    numpy scalars and numeric strings."""
    if ifd is None or isinstance(ifd, bool):
        return False
    try:
        value = float(ifd)
    except (TypeError, ValueError):
        return False
    return ifd_valid(value)


def _ifd_values(ids: Sequence[str], ifd: Mapping[str, Any], what: str) -> list[float]:
    missing = [i for i in ids if i not in ifd]
    if missing:
        raise ValueError(f"{what}: no IFD for {len(missing)} id(s): {', '.join(missing[:10])}")
    out: list[float] = []
    for i in ids:
        v = ifd[i]
        try:
            out.append(float("nan") if v is None else float(v))
        except (TypeError, ValueError):
            out.append(float("nan"))
    return out


CANDIDATE_ORDERS = ("aligned_first", "published")
"""How epoch 0 keeps ``a x M`` candidates (:func:`iterit_candidates`)."""


def iterit_candidates(ids: Sequence[str], ifd: Mapping[str, Any], n_keep: int, seed: int,
                      order: str = "published") -> list[str]:
    """IterIT Algorithm 1 lines 4-6 (epoch 0): sort the samples by IFD (``S_COM``) descending and
    keep the first ``n_keep`` (``a x M``); returns ids in that order.

    ``published``: all samples are sorted and the IFD >= 1 filter comes later (line 8,
    :func:`iterit_select`), so unaligned samples, whose IFD is the highest, take kept slots: when
    more than ``a x M`` samples are unaligned the selection is empty. ``aligned_first`` (the
    authors' released code): unaligned samples (Eq. 4) are dropped before the cut. Non-finite IFD
    (NaN, None, inf) sorts last; equal IFD are ordered by ``derive_seed(seed, "iterit_candidates", id)``.
    """
    if order not in CANDIDATE_ORDERS:
        raise ValueError(f"iterit_candidates: order {order!r} is not one of {CANDIDATE_ORDERS}")
    ids = [str(i) for i in ids]
    _check_unique(ids, "iterit_candidates")
    values = dict(zip(ids, _ifd_values(ids, ifd, "iterit_candidates"), strict=True))
    if order == "aligned_first":
        ids = [i for i in ids if aligned(values[i])]
    keys = dict(zip(ids, _tie_keys(ids, seed, "iterit_candidates"), strict=True))

    def key(i: str) -> tuple[int, float, tuple[int, str]]:
        v = values[i]
        return (0, -v, keys[i]) if math.isfinite(v) else (1, 0.0, keys[i])

    return sorted(ids, key=key)[: max(0, int(n_keep))]


def iterit_select(records: Sequence[Mapping[str, Any]], ifd: Mapping[str, Any], m: int, *, b: float,
                  part: str | None, ngram_range: tuple[int, int], seed: int) -> dict[str, Any]:
    """One epoch's IterIT selection, Algorithm 1 lines 8-15.

    ``records`` is the candidate pool (``D``, the :func:`iterit_candidates` of epoch 0), ``ifd`` its
    IFD under the current model. Records not :func:`aligned` (Eq. 4) are dropped (line 8); TF-IDF
    (Eq. 5) is fit on the remaining ``D'``'s ``part`` text (:func:`record_text`; ``"response"`` in
    the paper, ``None`` = the "w/o div" ablation) and :func:`greedy_select` picks ``m`` by
    IFD x diversity with decay ``b`` (Eq. 6-8, lines 10-15). Returns::

        {"selected": [ids in pick order], "n_candidates": len(records), "n_aligned": |D'|,
         "n_unaligned": records dropped, "shortfall": max(0, m - len(selected))}

    With fewer than ``m`` aligned records all of them are selected and ``shortfall`` says how many
    are missing (the paper's loop would never end).
    """
    ids = [str(r["id"]) for r in records]
    _check_unique(ids, "iterit_select")
    values = _ifd_values(ids, ifd, "iterit_select")
    keep = [j for j, v in enumerate(values) if aligned(v)]
    kept_ids = [ids[j] for j in keep]
    complexity = np.array([values[j] for j in keep], dtype=np.float64)
    features = None
    if part is not None and keep:
        features, _ = tfidf_matrix([record_text(records[j], part) for j in keep], ngram_range)
    picks = greedy_select(kept_ids, complexity, features, m, b=b, seed=seed) if keep else []
    selected = [kept_ids[i] for i in picks]
    return {"selected": selected, "n_candidates": len(ids), "n_aligned": len(keep),
            "n_unaligned": len(ids) - len(keep), "shortfall": max(0, int(m) - len(selected))}


# ---------------------------------------------------------------------------------------------
# Baselines
# ---------------------------------------------------------------------------------------------

def longest(records: Sequence[Mapping[str, Any]], m: int, seed: int) -> list[str]:
    """Longest (Zhao et al. 2024, "Long Is More for Alignment"; Shen 2024): the ``m`` records with
    the longest responses (:func:`sftmix.quality.length_scores`, characters of the assistant
    turns), ties by :func:`sftmix.ranking.rank_key`'s seeded draw."""
    scores = length_scores(records)
    return [str(r["id"]) for r in top_n(records, scores, m, seed=seed)]


def top_ifd(records: Sequence[Mapping[str, Any]], ifd: Mapping[str, Any], m: int, seed: int) -> list[str]:
    """Superfiltering (Li et al. 2024b, "Superfiltering: Weak-to-Strong Data Filtering"): the ``m``
    aligned records (IFD < 1, Eq. 4) with the highest IFD; ``ifd`` comes from a small proxy model
    (GPT-2 in that paper). Ties by :func:`sftmix.ranking.rank_key`'s seeded draw. Fewer than ``m``
    aligned records: all of them (the caller sees the shorter list)."""
    ids = [str(r["id"]) for r in records]
    values = dict(zip(ids, _ifd_values(ids, ifd, "top_ifd"), strict=True))
    eligible = [r for r in records if aligned(values[str(r["id"])])]
    return [str(r["id"]) for r in top_n(eligible, values, m, seed=seed)]


def graphfilter(records: Sequence[Mapping[str, Any]], ifd: Mapping[str, Any], m: int, *,
                ngram_range: tuple[int, int], seed: int) -> list[str]:
    """GraphFilter (Wu et al. 2024a, "The Best of Both Worlds: Bridging Quality and Diversity in Data
    Selection with Bipartite Graph") as IterIT describes it (Sec. 3.3): priority = IFD x TF-IDF
    diversity of the **instruction**, picked greedily; the n-grams a pick covers are removed
    (decay ``b = 0``), aligned records only.

    Reuses :func:`tfidf_matrix` (IterIT's Eq. 5 TF-IDF, not GraphFilter's own weighting) and
    :func:`greedy_select`; GraphFilter's optional exponents on the two factors are 1. Fewer than
    ``m`` aligned records: all of them.
    """
    ids = [str(r["id"]) for r in records]
    _check_unique(ids, "graphfilter")
    values = _ifd_values(ids, ifd, "graphfilter")
    keep = [j for j, v in enumerate(values) if aligned(v)]
    if not keep:
        return []
    features, _ = tfidf_matrix([record_text(records[j], "instruction") for j in keep], ngram_range)
    kept_ids = [ids[j] for j in keep]
    picks = greedy_select(kept_ids, [values[j] for j in keep], features, m, b=0.0, seed=seed)
    return [kept_ids[i] for i in picks]


def deita_select(ids: Sequence[str], scores: Sequence[float] | Mapping[str, float], embeddings: np.ndarray,
                 m: int, *, threshold: float, seed: int) -> list[str]:
    """DEITA's score-first, diversity-aware selection (Liu et al. 2024b, "What Makes Good Data for
    Alignment?", the Repr Filter): visit the samples by score descending (ties by
    ``derive_seed(seed, "deita_tie", id)``) and admit one only if its cosine similarity to every
    sample already admitted is <= ``threshold`` (0.9 in the paper), until ``m`` are admitted.

    ``scores`` is aligned with ``ids`` or a ``{id: score}`` mapping (DEITA: complexity x quality);
    NaN scores are skipped. ``embeddings`` has one row per id (L2-normalized here once more, so
    the dot product is the cosine). Each candidate costs one matrix-vector product against the
    admitted block. Fewer than ``m`` pass: what passed is returned (the caller logs the shortfall).
    """
    ids = [str(i) for i in ids]
    _check_unique(ids, "deita_select")
    n = len(ids)
    if isinstance(scores, Mapping):
        vals = np.array([float(scores[i]) for i in ids], dtype=np.float64)
    else:
        vals = np.asarray(scores, dtype=np.float64).ravel()
    if vals.shape != (n,):
        raise ValueError(f"deita_select: {vals.size} scores for {n} ids")
    emb = l2_normalize(np.asarray(embeddings)) if n else np.zeros((0, 1), dtype=np.float32)
    if emb.shape[0] != n:
        raise ValueError(f"deita_select: {emb.shape[0]} embedding rows for {n} ids")
    k = max(0, min(int(m), n))
    tie = _tie_rank(ids, seed, "deita_tie")
    order = sorted((j for j in range(n) if not math.isnan(vals[j])), key=lambda j: (-vals[j], tie[j]))

    admitted = np.empty((k, emb.shape[1]), dtype=emb.dtype)
    out: list[str] = []
    for j in order:
        if len(out) >= k:
            break
        if out and float(np.max(admitted[: len(out)] @ emb[j])) > threshold:
            continue
        admitted[len(out)] = emb[j]
        out.append(ids[j])
    return out


def random_subset(ids: Iterable[str], m: int, seed: int) -> list[str]:
    """Random baseline: ``min(m, n)`` ids drawn uniformly without replacement by a named seeded
    stream (``rng(seed, "iterit_random")``); the draw does not depend on the order of ``ids``."""
    pool = sorted(str(i) for i in ids)
    _check_unique(pool, "random_subset")
    return rng(seed, "iterit_random").sample(pool, max(0, min(int(m), len(pool))))


def jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    """Jaccard similarity ``|A n B| / |A u B|`` of two id collections (as sets); two empty: 1.0."""
    sa, sb = set(a), set(b)
    union = sa | sb
    return 1.0 if not union else len(sa & sb) / len(union)
