"""InstructMining's natural-language indicators of instruction quality (Cao et al., Table 1) per
record, and a dataset's indicator values as the means over its samples.

Each record is viewed as one instruction-response pair (Table 1: "each data sample is viewed as a
pair of instruction and response, i.e. input and output"): the **response** is the content of the
last assistant turn, the **input** is every message before it (system, user and earlier
assistant turns). The indicators, named as in the paper's published tables (Appendix G), in that
order (:data:`INDICATORS`):

=====================  =========================================================================
``input_length``       ``Len_in``: tokens of the input (:func:`record_indicators` says how counted)
``output_length``      ``Len_out``: tokens of the response
``understandability``  ``Und``: UniEval dialogue understandability of the response
``naturalness``        ``Nat``: UniEval dialogue naturalness of the response
``coherence``          ``Coh``: UniEval dialogue coherence of the response with the conversation
``reward``             ``Rew``: reward-model score of the pair
``mtld``               ``MTLD`` (McCarthy & Jarvis 2010) of the response, :func:`mtld`
``knn_<i>``            ``KNN_i``: distance to the i-th nearest neighbour in a sentence-embedding
                       space (``knn_6`` in the paper), :func:`knn_distances`
``ppl``                ``PPL``: perplexity of the response (``PPL`` in the paper's tables)
=====================  =========================================================================

The model-based values are computed elsewhere and only merged here: ``reward`` comes from a
stand-in for oasst-rm-pythia-1.4b, the three UniEval scores from a stand-in UniEval scorer, and
``ppl`` from :func:`sftmix.scoring.score_records`. A dataset's indicator value ``I_i(D)`` (the
regressors of Eq. 3) is the mean of the per-record values over its samples
(:func:`dataset_indicators`).

Choices where the paper is silent:

* MTLD is computed here, not with the ``lexical-diversity`` package (see :func:`mtld` for its
  differences from McCarthy & Jarvis); words are lower-cased ``\\w+(?:'\\w+)*`` matches;
* KNN embeds the pair (input + response, :func:`pair_text`): Table 1 names the response for
  PPL and the UniEval scores but not for KNN-i, which it describes as a property of the sample
  (the pair), as it does for the reward;
* KNN is exact (brute force), not the approximate NN-descent of Dong et al. (2011), Euclidean on
  L2-normalised embeddings (so distances lie in [0, 2]; the paper's knn_6 means of about 1.05
  fit this scale), and the neighbours of a record are the other kept records of the same call.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ...records import quarantine_row, read_typed_tsv, write_typed_tsv

DEFAULT_KNN_I = 6
"""The ``i`` of ``KNN_i`` in the paper's tables (``knn_6``)."""

INDICATORS = ("input_length", "output_length", "understandability", "naturalness", "coherence",
              "reward", "mtld", f"knn_{DEFAULT_KNN_I}", "ppl")
"""Canonical indicator names, in the order of the paper's published tables (Appendix G, Tables 20-21;
``PPL`` lower-cased). With another ``i`` the KNN name is ``knn_<i>``: :func:`indicator_names`."""

MODEL_INDICATORS = ("understandability", "naturalness", "coherence", "reward")
"""The indicators that come from model scorers computed elsewhere (``model_scores``)."""

INDICATOR_DESCRIPTIONS = {
    "input_length": "Len_in: tokens of the input (every message before the last assistant turn)",
    "output_length": "Len_out: tokens of the response (the last assistant turn)",
    "understandability": "Und: UniEval dialogue understandability of the response (stand-in scorer)",
    "naturalness": "Nat: UniEval dialogue naturalness of the response (stand-in scorer)",
    "coherence": "Coh: UniEval dialogue coherence of the response with the conversation (stand-in)",
    "reward": "Rew: reward-model score of the instruction-response pair (stand-in reward model)",
    "mtld": "MTLD (McCarthy & Jarvis 2010) of the response's lower-cased words",
    f"knn_{DEFAULT_KNN_I}": (f"KNN_{DEFAULT_KNN_I}: Euclidean distance from the pair's L2-normalised "
                             f"sentence embedding to its {DEFAULT_KNN_I}th nearest other record's"),
    "ppl": "PPL: exp of the mean negative log-likelihood of the response tokens (sftmix.scoring)",
}
"""One line per canonical indicator name."""

INT_INDICATORS = frozenset({"input_length", "output_length"})

STAGE = "instructmining_indicators"
"""The stage name of quarantine entries written by :func:`record_indicators`."""

MTLD_THRESHOLD = Fraction(18, 25)
"""McCarthy & Jarvis's factor size: a factor is complete when its TTR reaches 0.72 (exactly)."""

WORD_PATTERN = re.compile(r"\w+(?:'\w+)*")
"""MTLD words: runs of word characters (Unicode letters, digits, ``_``) with inner apostrophes."""

_KNN_NAME = re.compile(r"knn_([1-9][0-9]*)")


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------

def knn_name(i: int) -> str:
    """The column name of ``KNN_i``: ``knn_<i>``."""
    if isinstance(i, bool) or not isinstance(i, int) or i < 1:
        raise ValueError(f"knn i must be an integer >= 1, got {i!r}")
    return f"knn_{i}"


def indicator_names(knn_i: int = DEFAULT_KNN_I) -> tuple[str, ...]:
    """:data:`INDICATORS` with the KNN column named for ``knn_i`` (Table 1's indicators, in the
    published tables' order)."""
    name = knn_name(knn_i)
    return tuple(name if _KNN_NAME.fullmatch(c) else c for c in INDICATORS)


def _rank(name: str) -> int:
    """Position of an indicator name in the canonical order; ValueError for an unknown name."""
    if _KNN_NAME.fullmatch(name):
        return INDICATORS.index(f"knn_{DEFAULT_KNN_I}")
    if name not in INDICATORS:
        raise ValueError(f"unknown indicator {name!r}; known: {', '.join(INDICATORS)} (knn_<i> for any i)")
    return INDICATORS.index(name)


def ordered_indicators(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` in the canonical order; an unknown name, or two KNN columns, raise ValueError."""
    names = set(names)
    if sum(1 for n in names if _KNN_NAME.fullmatch(n)) > 1:
        raise ValueError(f"more than one KNN indicator: {sorted(names)}")
    return tuple(sorted(names, key=_rank))


# ---------------------------------------------------------------------------------------------
# MTLD (Table 1; McCarthy & Jarvis 2010)
# ---------------------------------------------------------------------------------------------

def mtld_words(text: str) -> list[str]:
    """The words MTLD counts: :data:`WORD_PATTERN` matches of the lower-cased text."""
    return WORD_PATTERN.findall(text.lower())


def _mtld_factors(tokens: Sequence[str]) -> Fraction:
    """Factor count of one pass (McCarthy & Jarvis 2010, p. 384), exact.

    Walk the tokens keeping the TTR of the current segment; when it reaches the threshold
    (``TTR <= 0.72``) the factor count grows by 1 and the segment restarts empty. A non-empty
    segment left at the end adds the partial factor ``(1 - TTR) / (1 - 0.72)``.
    """
    num, den = MTLD_THRESHOLD.numerator, MTLD_THRESHOLD.denominator
    full = 0
    types: set[str] = set()
    count = 0
    for tok in tokens:
        types.add(tok)
        count += 1
        if len(types) * den <= count * num:  # TTR = types / count <= 18/25, in integers
            full += 1
            types = set()
            count = 0
    factors = Fraction(full)
    if count:
        factors += (1 - Fraction(len(types), count)) / (1 - MTLD_THRESHOLD)
    return factors


def mtld_pass(tokens: Sequence[str]) -> Fraction:
    """One directional MTLD: the number of tokens over the factor count (exact rational).

    A pass with no factor at all (every token distinct, so the TTR never drops below 1) is
    undefined in McCarthy & Jarvis; it is given the number of tokens here (the text is one
    unfinished factor at least that long), which keeps the value finite and monotone in length.
    """
    if not tokens:
        raise ValueError("MTLD of a text with no words is undefined")
    factors = _mtld_factors(tokens)
    return Fraction(len(tokens)) if factors == 0 else len(tokens) / factors


def mtld_tokens(tokens: Sequence[str]) -> float:
    """MTLD of a token sequence: the mean of the forward and the backward pass (McCarthy & Jarvis
    2010), computed exactly and rounded once. No tokens: ValueError."""
    tokens = list(tokens)
    return float((mtld_pass(tokens) + mtld_pass(tokens[::-1])) / 2)


def mtld(text: str) -> float:
    """MTLD (Measure of Textual Lexical Diversity, McCarthy & Jarvis 2010; Table 1's ``MTLD``) of
    ``text``'s words (:func:`mtld_words`): the mean over the forward and the backward pass of
    ``tokens / factors``, a factor being complete when the running TTR reaches 0.72 and the rest
    counting as the partial factor ``(1 - TTR_rest) / (1 - 0.72)``.

    A text with no words raises ValueError (callers quarantine it); a text whose words are all
    distinct has MTLD = its number of words (:func:`mtld_pass`).

    Not the ``lexical-diversity`` package (``lex_div.mtld``, 0.1.1), which differs from the
    definition: it closes a factor only at TTR < 0.72 *and* at least 10 tokens (a long run of
    one repeated word scores about 10, not 2); it adds the partial factor even when the last token closes
    a full one (a factor worth more than 1); it gives 0 when no factor forms (an all-distinct
    text counts as least diverse); and its module does not import without ``pkg_resources``.
    """
    return mtld_tokens(mtld_words(text))


# ---------------------------------------------------------------------------------------------
# KNN-i (Table 1)
# ---------------------------------------------------------------------------------------------

def knn_distances(embeddings: np.ndarray, i: int) -> np.ndarray:
    """``KNN_i`` (Table 1) of every row: the Euclidean distance from the row's L2-normalised
    embedding to its ``i``-th nearest *other* row's (the row itself excluded, a duplicate row not).

    Exact and deterministic: rows are normalised in float64, neighbours are found by brute force
    with :class:`sklearn.neighbors.NearestNeighbors` (``kneighbors()`` without a query, which
    leaves each row out of its own neighbours), and the distance to the neighbour found is then
    recomputed directly as ``||x - y||`` (no ``|x|^2 - 2xy + |y|^2`` round-off). Returns an
    ``(n,)`` float64 array. ValueError: not 2-D, fewer than ``i + 1`` rows, a non-finite value
    or an all-zero row (no direction to normalise).
    """
    from sklearn.neighbors import NearestNeighbors

    name = knn_name(i)
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name}: embeddings must be a 2-D array, got shape {x.shape}")
    if x.shape[0] < i + 1:
        raise ValueError(f"{name}: needs at least {i + 1} rows (a row and {i} others), got {x.shape[0]}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: embeddings hold non-finite values")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(f"{name}: {int((norms == 0).sum())} all-zero embedding row(s)")
    x = x / norms
    nn = NearestNeighbors(n_neighbors=i, algorithm="brute", metric="euclidean").fit(x)
    idx = nn.kneighbors(return_distance=False)  # (n, i), self excluded, nearest first
    return np.linalg.norm(x - x[idx[:, i - 1]], axis=1)


# ---------------------------------------------------------------------------------------------
# Per-record indicators
# ---------------------------------------------------------------------------------------------

def split_pair(record: Mapping[str, Any]) -> tuple[list[dict[str, str]], str] | str:
    """``(input messages, response)`` of a record, or the reason it has no such pair.

    The response is the last assistant turn's content; the input is every message before it.
    Reasons: ``no_assistant_turn``; ``turn_after_response`` (the conversation goes on after its
    last assistant turn); ``no_user_turn`` (no user turn before the response); ``empty_response``
    (blank response); ``empty_instruction`` (every user turn before the response is blank);
    ``response_without_words`` (no MTLD word in the response).
    """
    messages = record["messages"]
    last = max((k for k, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last is None:
        return "no_assistant_turn"
    if last != len(messages) - 1:
        return "turn_after_response"
    before = list(messages[:last])
    users = [m["content"] for m in before if m["role"] == "user"]
    if not users:
        return "no_user_turn"
    response = messages[last]["content"]
    if not response.strip():
        return "empty_response"
    if not any(u.strip() for u in users):
        return "empty_instruction"
    if not mtld_words(response):
        return "response_without_words"
    return before, response


def pair_text(record: Mapping[str, Any]) -> str:
    """The text KNN embeds: the input messages' contents and the response, in conversation order,
    joined with ``"\\n"``. ValueError for a record without a pair (:func:`split_pair`)."""
    pair = split_pair(record)
    if isinstance(pair, str):
        raise ValueError(f"{record.get('id')}: no instruction-response pair ({pair})")
    before, response = pair
    return "\n".join([*(m["content"] for m in before), response])


def _token_counts(tokenizer: Any, texts: list[str], chunk: int = 1024) -> list[int]:
    """Token counts of ``texts``: ``len(tokenizer(batch, add_special_tokens=False)["input_ids"][k])``."""
    out: list[int] = []
    for s in range(0, len(texts), chunk):
        out.extend(len(ids) for ids in tokenizer(texts[s:s + chunk], add_special_tokens=False)["input_ids"])
    return out


def _finite(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def record_indicators(
    records: Sequence[Mapping[str, Any]],
    tokenizer: Any,
    *,
    knn_i: int = DEFAULT_KNN_I,
    embeddings: np.ndarray | Callable[[list[str]], np.ndarray] | None = None,
    ppl: Mapping[str, float] | None = None,
    model_scores: Mapping[str, Mapping[str, float]] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Table 1's indicators of each record: ``(rows, quarantined)``, ``len(records) == len(rows)
    + len(quarantined)``.

    Each row is ``{"id": ..., indicator: value, ...}`` (kept records, input order) with:

    * ``input_length`` (int): the sum over the input messages (every message before the last
      assistant turn: system, user and earlier assistant turns) of the token count of each
      message's content, ``len(tokenizer(content, add_special_tokens=False)["input_ids"])``: no
      chat template, role tags, separators or special tokens;
    * ``output_length`` (int): the token count, counted the same way, of the response (the last
      assistant turn's content);
    * ``mtld``: :func:`mtld` of the response;
    * ``knn_<knn_i>`` (only with ``embeddings``): :func:`knn_distances` among the kept records of
      the embeddings of :func:`pair_text`. ``embeddings`` is either an array with one row per
      record of ``records`` (rows of quarantined records are not used) or a callable that is
      given the kept records' pair texts, in order, and returns their embeddings (e.g.
      ``lambda texts: sftmix.embedding.embed(model, texts)``);
    * ``ppl`` (only with ``ppl``): ``ppl[id]`` (from :func:`sftmix.scoring.score_records`, which
      scores every assistant turn: the same as the response for single-turn records);
    * ``reward``, ``naturalness``, ``coherence``, ``understandability`` (only with
      ``model_scores``): ``model_scores[id]``, which must hold the same subset of these names for
      every kept record.

    An indicator that is not given is absent from every row (never NaN-filled). A kept record
    missing from ``ppl`` or ``model_scores`` raises ValueError (ids there that are not kept are
    ignored). Quarantined (entries of :func:`sftmix.records.quarantine_row`, stage
    :data:`STAGE`): the reasons of :func:`split_pair`, and ``ppl_not_finite`` /
    ``model_score_not_finite`` for a NaN or infinite score (an unscorable record), decided before
    KNN so neighbours are always kept records. Duplicate ids raise ValueError.
    """
    name = knn_name(knn_i)
    ids = [str(r["id"]) for r in records]
    if len(set(ids)) != len(ids):
        raise ValueError("record_indicators: duplicate record ids")
    if embeddings is not None and not callable(embeddings):
        embeddings = np.asarray(embeddings)
        if embeddings.ndim != 2 or embeddings.shape[0] != len(records):
            raise ValueError(f"record_indicators: embeddings of shape {embeddings.shape} for "
                             f"{len(records)} records (one row per record expected)")

    quarantined: list[dict[str, Any]] = []
    kept: list[tuple[int, list[dict[str, str]], str]] = []
    score_names: tuple[str, ...] | None = None
    for k, (rec, rid) in enumerate(zip(records, ids, strict=True)):
        pair = split_pair(rec)
        reason = pair if isinstance(pair, str) else None
        if reason is None and ppl is not None:
            if rid not in ppl:
                raise ValueError(f"record_indicators: no ppl for record {rid}")
            if not _finite(ppl[rid]):
                reason = "ppl_not_finite"
        if reason is None and model_scores is not None:
            if rid not in model_scores:
                raise ValueError(f"record_indicators: no model scores for record {rid}")
            scores = model_scores[rid]
            names = ordered_indicators(scores)
            if score_names is None:
                unknown = set(names) - set(MODEL_INDICATORS)
                if unknown:
                    raise ValueError(f"record_indicators: model scores {sorted(unknown)} are not in "
                                     f"{MODEL_INDICATORS}")
                score_names = names
            elif names != score_names:
                raise ValueError(f"record_indicators: record {rid} has model scores {names}, "
                                 f"others {score_names}")
            if not all(_finite(v) for v in scores.values()):
                reason = "model_score_not_finite"
        if reason is not None:
            quarantined.append(quarantine_row(STAGE, reason, rec, source=str(rec.get("source", "")),
                                              record_id=rid))
            continue
        before, response = pair
        kept.append((k, before, response))

    texts = [m["content"] for _, before, _ in kept for m in before] + [resp for _, _, resp in kept]
    counts = _token_counts(tokenizer, texts)
    n_in = sum(len(before) for _, before, _ in kept)
    out_counts = counts[n_in:]
    rows: list[dict[str, Any]] = []
    pos = 0
    for (k, before, response), n_out in zip(kept, out_counts, strict=True):
        rid = ids[k]
        row: dict[str, Any] = {"id": rid, "input_length": sum(counts[pos:pos + len(before)]),
                               "output_length": n_out, "mtld": mtld(response)}
        pos += len(before)
        if model_scores is not None:
            row.update({c: float(model_scores[rid][c]) for c in score_names or ()})
        if ppl is not None:
            row["ppl"] = float(ppl[rid])
        rows.append(row)

    if embeddings is not None and kept:
        if callable(embeddings):
            vecs = np.asarray(embeddings([pair_text(records[k]) for k, _, _ in kept]))
            if vecs.shape[0] != len(kept):
                raise ValueError(f"record_indicators: the embedder returned {vecs.shape[0]} rows "
                                 f"for {len(kept)} texts")
        else:
            vecs = embeddings[[k for k, _, _ in kept]]
        for row, d in zip(rows, knn_distances(vecs, knn_i), strict=True):
            row[name] = float(d)

    order = ("id", *ordered_indicators(rows[0].keys() - {"id"})) if rows else ("id",)
    return [{c: r[c] for c in order} for r in rows], quarantined


# ---------------------------------------------------------------------------------------------
# Dataset indicators (Table 1: a dataset's value is the mean over its samples)
# ---------------------------------------------------------------------------------------------

def _columns(rows: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The indicator columns shared by all ``rows``, canonical order; ValueError if they differ."""
    if not rows:
        return ()
    cols = ordered_indicators(set(rows[0]) - {"id"})
    for r in rows:
        if ordered_indicators(set(r) - {"id"}) != cols:
            raise ValueError(f"indicator rows differ in columns: {r.get('id')} has "
                             f"{sorted(set(r) - {'id'})}, the first row {list(cols)}")
    return cols


def dataset_indicators(rows: Iterable[Mapping[str, Any]], ids: Iterable[str]) -> dict[str, float]:
    """``I(D)`` of Eq. 3 for the dataset ``D`` given by ``ids``: the mean over its samples of
    every indicator present in ``rows`` (canonical order), each id counted as often as it occurs
    in ``ids``. Sums are exact (:func:`math.fsum`), so the result does not depend on the order of
    ``ids``. ValueError: no ids, an id with no row, duplicate row ids, rows with other columns.
    """
    rows = list(rows)
    by_id: dict[str, Mapping[str, Any]] = {}
    for r in rows:
        if str(r["id"]) in by_id:
            raise ValueError(f"dataset_indicators: duplicate row id {r['id']}")
        by_id[str(r["id"])] = r
    ids = [str(i) for i in ids]
    if not ids:
        raise ValueError("dataset_indicators: no ids (the mean of an empty dataset is undefined)")
    missing = sorted(set(ids) - by_id.keys())
    if missing:
        raise ValueError(f"dataset_indicators: {len(missing)} id(s) have no indicator row, e.g. "
                         f"{', '.join(missing[:5])}")
    return {c: math.fsum(float(by_id[i][c]) for i in ids) / len(ids) for c in _columns(rows)}


# ---------------------------------------------------------------------------------------------
# TSV
# ---------------------------------------------------------------------------------------------

def _types(columns: Sequence[str]) -> tuple[frozenset[str], frozenset[str]]:
    ints = frozenset(c for c in columns if c in INT_INDICATORS)
    return ints, frozenset(c for c in columns if c != "id" and c not in ints)


def write_record_indicators(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> int:
    """Write per-record indicators as UTF-8 TSV: header ``id`` then the indicators the rows hold,
    in canonical order; lengths as ints, the rest as floats in ``repr`` form (exact round trip).
    No rows: a header of ``id`` alone. Returns the number of rows."""
    rows = list(rows)
    columns = ("id", *_columns(rows))
    ints, floats = _types(columns)
    return write_typed_tsv(path, rows, columns, ints=ints, floats=floats, what="instructmining indicators")


def read_record_indicators(path: str | Path) -> list[dict[str, Any]]:
    """Read a TSV written by :func:`write_record_indicators` (its header must be ``id`` then
    known indicators in canonical order)."""
    with open(path, encoding="utf-8") as fh:
        header = tuple(fh.readline().rstrip("\n").split("\t"))
    try:
        ok = header[0] == "id" and len(set(header)) == len(header) \
            and header[1:] == ordered_indicators(header[1:])
    except ValueError:  # an unknown name or two KNN columns
        ok = False
    if not ok:
        raise ValueError(f"{path}: not an instructmining indicators TSV (header {' '.join(header)})")
    ints, floats = _types(header)
    return read_typed_tsv(path, header, ints=ints, floats=floats, what="instructmining indicators")
