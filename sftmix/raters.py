"""External per-sample raters: UniEval dialogue scores and reward-model scores.

InstructMining (Cao et al. 2023, "Instruction Mining: Instruction Data Selection for Tuning Large
Language Models", Table 1) describes every (instruction, response) pair by indicators that two external
models compute. This module reads both kinds of model, each in two forms: the real model (named by
hub id in the paper configuration) and a stand-in the embedded default builds itself, the way the
real one was built, because no model hub is reachable there.

**UniEval dialogue** (Zhong et al. 2022, "Towards a Unified Multi-Dimensional Evaluator for Text
Generation"; ``MingZhong/unieval-dialog``, a T5 model) answers a yes/no question per dimension.
Its input text (:func:`unieval_input`) is::

    question: <dimension question> </s> response: <response>[ </s> dialogue history: <history>]

with the history only for ``coherence`` (UniEval's own dialogue convention: naturalness and
understandability judge the response alone). The score of a dimension is read at the first
decoder step: ``P("Yes") / (P("Yes") + P("No"))``, which equals the softmax over the two logits.
:func:`unieval_scores` with ``kind="seq2seq"`` reads the real model that way.

The stand-in (``kind="causal"``) is a causal LM fine-tuned by the workflow's SFT engine on
conversations that ask the same question (:func:`unieval_training_records`; the user turn is
:func:`unieval_input` with newlines instead of ``</s>``, the assistant answers ``"yes"`` or
``"no"``), trained on labels the world's rater gives (:mod:`sftmix.world.unieval`), like UniEval
was trained on Boolean QA labels. It is read where it learned to answer, at the start of its
response: ``P(yes) / (P(yes) + P(no))``, each answer's probability being that of its tokens after
the prompt (with one-token answers: the softmax over the two answer tokens' logits; a small
tokenizer trained on the world's text need not hold ``"yes"`` as one token).

**Reward score** (Köpf et al. 2023, "OpenAssistant Conversations"; the paper uses
``OpenAssistant/oasst-rm-2-pythia-1.4b-epoch-2.5``; ``OpenAssistant/reward-model-deberta-v3-large-v2``
is the same kind of model). :func:`reward_scores` with ``kind="classifier"`` reads a sequence
classifier with one output: its logit is the reward of the pair. Two documented input formats
(``reward_format``): ``"pair"`` encodes question and answer as a text pair
(``tokenizer(question, answer)``, the DeBERTa reward models' model card), ``"oasst"`` as one text
``<|prompter|>question<eos><|assistant|>answer<eos>`` (Open-Assistant's prompter/assistant tokens;
the Pythia models' eos is ``<|endoftext|>``). The Pythia reward models have their own model type
(``gpt_neox_reward_model``): Open-Assistant's ``model_training.models.reward_model`` must be
imported to register it before :func:`load_rater` can load one; the DeBERTa ones load as they are.

The stand-in (``kind="rating"``) is the workflow's trained DEITA-style rating scorer
(:mod:`sftmix.quality`): an LM fine-tuned on rated world responses, like a reward model trained on
human preference ratings, read as its expected rating (:func:`sftmix.quality.deita_scores` with
``chat=True``, a number in 1..6). It carries the same information as the DEITA score (the same
numbers for the same scorer and template): in the embedded default the reward indicator and the
DEITA score are one signal.

Records are read as a question/response pair: the **last** assistant turn is the response; the
turns before it are the dialogue history (UniEval) and the first user turn is the question (reward,
as :func:`sftmix.quality.deita_question_response`). A record without an assistant turn cannot be
rated: it is **absent** from the returned mapping and its id is logged; callers count it
(``set(ids) - set(scores)``). Every read-out is batched (right padding under an attention mask,
sorted by length) and deterministic; a score does not depend on batching beyond float round-off.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .chat import IGNORE_INDEX, encode_conversation
from .quality import (
    DEFAULT_DEITA_TEMPLATE,
    DEFAULT_SCORE_LABELS,
    deita_question_response,
    deita_scores,
    rating_repeats,
    score_token_ids,
)
from .records import read_typed_tsv, write_typed_tsv
from .scoring import _DTYPES, _make_batches, _pad_id, batched_nll_sums, load_causal_lm

log = logging.getLogger(__name__)

UNIEVAL_QUESTIONS: dict[str, str] = {
    "naturalness": "Is this a natural response in the dialogue?",
    "coherence": "Is this a coherent response given the dialogue history?",
    "understandability": "Is this an understandable response in the dialogue?",
}
"""UniEval dialogue's Boolean question of each dimension InstructMining uses (Table 1: Nat, Coh, Und)."""

UNIEVAL_DIMENSIONS: tuple[str, ...] = tuple(UNIEVAL_QUESTIONS)

UNIEVAL_HISTORY_DIMENSIONS = frozenset({"coherence"})
"""Dimensions whose input holds the dialogue history (UniEval's dialogue convention)."""

UNIEVAL_SEP = " </s> "
"""UniEval's field separator (T5's eos written out as text)."""

STANDIN_SEP = "\n"
"""The stand-in's field separator: the causal stand-in's tokenizer keeps ``</s>`` as its eos token,
so its prompts separate the fields by newlines instead."""

UNIEVAL_LABELS = ("Yes", "No")
"""The tokens UniEval reads (``tokenizer("Yes")``: ``"▁Yes"`` for T5's SentencePiece)."""

STANDIN_LABELS = ("yes", "no")
"""The stand-in's answers: its assistant turn is one of these words, read as one token each."""

UNIEVAL_KINDS = ("seq2seq", "causal")
REWARD_KINDS = ("classifier", "rating")
REWARD_FORMATS = ("pair", "oasst")
RATER_KINDS = ("seq2seq", "causal", "classifier", "rating")


# ---------------------------------------------------------------------------------------------
# UniEval inputs
# ---------------------------------------------------------------------------------------------

def _check_dimension(dimension: str) -> None:
    if dimension not in UNIEVAL_QUESTIONS:
        raise ValueError(f"unknown UniEval dimension {dimension!r}; choose from {list(UNIEVAL_DIMENSIONS)}")


def unieval_input(dimension: str, history: str, response: str, *, sep: str = UNIEVAL_SEP) -> str:
    """UniEval dialogue's input text for ``dimension``::

        question: <question> </s> response: <response>                              naturalness,
                                                                                    understandability
        question: <question> </s> response: <response> </s> dialogue history: <history>   coherence

    ``history`` is ignored by the dimensions that do not read it. ``sep`` joins the fields
    (:data:`UNIEVAL_SEP` for the real model, :data:`STANDIN_SEP` for the stand-in)."""
    _check_dimension(dimension)
    text = f"question: {UNIEVAL_QUESTIONS[dimension]}{sep}response: {response}"
    if dimension in UNIEVAL_HISTORY_DIMENSIONS:
        text += f"{sep}dialogue history: {history}"
    return text


def unieval_history_response(record: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(history, response)`` of a record: the last assistant turn is the response; the user and
    assistant turns before it, one per line, are the dialogue history (system turns are not part
    of the dialogue). No assistant turn: None (cannot be rated)."""
    messages = record["messages"]
    last = max((k for k, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last is None:
        return None
    history = "\n".join(m["content"] for m in messages[:last] if m["role"] in ("user", "assistant"))
    return history, messages[last]["content"]


def unieval_conversation(dimension: str, history: str, response: str, answer: str) -> list[dict[str, str]]:
    """The stand-in's chat form of one judgement: :func:`unieval_input` (newline-separated) as the
    user turn, ``answer`` (``"yes"``/``"no"``) as the assistant turn."""
    return [{"role": "user", "content": unieval_input(dimension, history, response, sep=STANDIN_SEP)},
            {"role": "assistant", "content": answer}]


def unieval_training_records(records: Iterable[Mapping[str, Any]], labels: Iterable[Mapping[str, Any]], *,
                             answers: Sequence[str] = STANDIN_LABELS, max_repeat: int = 1) -> list[dict[str, Any]]:
    """The UniEval stand-in's training set: one conversation (:func:`unieval_conversation`) per
    label row ``{"id", "dimension", "label" ("yes"/"no")}`` (:func:`sftmix.world.unieval.unieval_seed_labels`),
    id ``unieval_seed:<dimension>:<id>``, the answer ``answers[0]`` for yes and ``answers[1]`` for
    no, ``meta`` holding the record's id, category, dimension and label. Rows in label order.

    Class balance by repetition, per dimension (:func:`sftmix.quality.rating_repeats`: the rarer
    answer of a dimension is repeated up to ``max_repeat`` times; 1 = no balancing). A label row
    whose record is not in ``records`` or has no assistant turn gives no conversation; their number
    is logged. Raises ``ValueError`` on an unknown dimension or a label other than yes/no.
    """
    if len(answers) != 2 or answers[0] == answers[1]:
        raise ValueError(f"unieval_training_records: answers must be two distinct words, got {list(answers)}")
    by_id = {str(r["id"]): r for r in records}
    usable: list[tuple[Mapping[str, Any], str, int, tuple[str, str]]] = []
    n_missing = 0
    for row in labels:
        dim, label = str(row["dimension"]), str(row["label"])
        _check_dimension(dim)
        if label not in ("yes", "no"):
            raise ValueError(f"unieval_training_records: label {label!r} of {row['id']!r} is not yes/no")
        rec = by_id.get(str(row["id"]))
        hr = None if rec is None else unieval_history_response(rec)
        if rec is None or hr is None:
            n_missing += 1
            continue
        usable.append((rec, dim, 1 if label == "yes" else 0, hr))
    repeats = {dim: rating_repeats((y for _, d, y, _ in usable if d == dim), max_repeat)
               for dim in {d for _, d, _, _ in usable}}
    out: list[dict[str, Any]] = []
    for rec, dim, y, (history, response) in usable:
        rid = str(rec["id"])
        row = {"id": f"unieval_seed:{dim}:{rid}",
               "messages": unieval_conversation(dim, history, response, answers[0] if y else answers[1]),
               "meta": {"source_id": rid, "category": (rec.get("meta") or {}).get("category"), "dimension": dim,
                        "label": "yes" if y else "no"}}
        out.extend([row] * repeats[dim][y])
    if n_missing:
        log.warning("unieval_training_records: %d label row(s) without a record or an assistant turn give "
                    "no conversation", n_missing)
    return out


# ---------------------------------------------------------------------------------------------
# batched read-outs
# ---------------------------------------------------------------------------------------------

def _tensors(rows: Sequence[Mapping[str, list[int]]], pad_id: int) -> dict[str, Any]:
    """Right-padded ``input_ids`` (``pad_id``), ``attention_mask`` and, when the rows carry them,
    ``token_type_ids`` (padded with 0) of a batch of encoded rows."""
    import torch

    width = max(len(r["input_ids"]) for r in rows)
    out = {"input_ids": torch.full((len(rows), width), pad_id, dtype=torch.long),
           "attention_mask": torch.zeros((len(rows), width), dtype=torch.long)}
    if all("token_type_ids" in r for r in rows):
        out["token_type_ids"] = torch.zeros((len(rows), width), dtype=torch.long)
    for j, r in enumerate(rows):
        n = len(r["input_ids"])
        out["input_ids"][j, :n] = torch.tensor(r["input_ids"], dtype=torch.long)
        out["attention_mask"][j, :n] = 1
        if "token_type_ids" in out:
            out["token_type_ids"][j, :n] = torch.tensor(r["token_type_ids"], dtype=torch.long)
    return out


def _batches(encoded: Sequence[Mapping[str, list[int]]], batch_size: int) -> list[list[int]]:
    lengths = [len(e["input_ids"]) for e in encoded]
    order = sorted(range(len(encoded)), key=lambda i: (-lengths[i], i))
    return _make_batches(lengths, order, batch_size, None)


def _yes_share(logits: Any, index: Any) -> Any:
    """``P(yes) / (P(yes) + P(no))`` per row: the softmax (float64) over the two label logits
    (equal to the ratio of the two full-vocabulary probabilities)."""
    import torch

    return torch.softmax(logits[:, index.to(logits.device)].to(torch.float64), dim=-1)[:, 0].cpu()


def _seq2seq_yes(model: Any, tokenizer: Any, texts: Sequence[str], *, batch_size: int, max_length: int,
                 device: str) -> list[float]:
    """UniEval's read-out: encode each text (the tokenizer's special tokens, cut from the right at
    ``max_length`` as UniEval does), one decoder step from the decoder start token, the share of
    ``"Yes"`` among ``"Yes"``/``"No"``."""
    import torch

    index = torch.tensor(score_token_ids(tokenizer, UNIEVAL_LABELS), dtype=torch.long)
    encoded = [{"input_ids": tokenizer(t, truncation=True, max_length=max_length)["input_ids"]} for t in texts]
    n_cut = sum(len(tokenizer(t)["input_ids"]) > max_length for t in texts)
    if n_cut:
        log.info("unieval: %d input(s) longer than max_length=%d were cut at their end", n_cut, max_length)
    start = model.config.decoder_start_token_id
    if start is None:
        raise ValueError("unieval: the seq2seq model's config has no decoder_start_token_id")
    out = [float("nan")] * len(texts)
    pad = _pad_id(tokenizer)
    with torch.inference_mode():
        for batch in _batches(encoded, batch_size):
            t = _tensors([encoded[i] for i in batch], pad)
            decoder = torch.full((len(batch), 1), int(start), dtype=torch.long)
            logits = model(input_ids=t["input_ids"].to(device), attention_mask=t["attention_mask"].to(device),
                           decoder_input_ids=decoder.to(device), use_cache=False).logits[:, 0]
            for j, p in zip(batch, _yes_share(logits, index).tolist(), strict=True):
                out[j] = float(p)
    return out


def _shorten(tokenizer: Any, text: str, n: int, *, from_start: bool) -> str:
    """``text`` less ``n`` tokens at its start or end (by tokens, decoded back)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    keep = ids[n:] if from_start else ids[:max(0, len(ids) - n)]
    return tokenizer.decode(keep)


def _answer_ids(tokenizer: Any, answers: Sequence[str]) -> list[list[int]]:
    """The token ids of each stand-in answer (no special tokens): two distinct, non-empty sequences."""
    if len(answers) != 2:
        raise ValueError(f"unieval: the stand-in needs two answers (yes, no), got {list(answers)}")
    ids = [list(tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers]
    if not all(ids) or ids[0] == ids[1]:
        raise ValueError(f"unieval: the answers {list(answers)} do not encode to two distinct token sequences")
    return ids


def _standin_prompt(tokenizer: Any, dimension: str, history: str, response: str, answers: Sequence[str],
                    answer_ids: Sequence[list[int]], max_length: int) -> tuple[list[int], bool]:
    """The stand-in's prompt ids up to (not including) its answer, as it saw them in training.
    Over ``max_length``, the history loses tokens from its start (the oldest context), then the
    response loses tokens from its end, until the prompt fits. Raises ``ValueError`` unless the
    chat template renders each answer as the first tokens of the response."""
    uses_history = dimension in UNIEVAL_HISTORY_DIMENSIONS
    cut = False
    for _ in range(16):
        enc = encode_conversation(tokenizer, unieval_conversation(dimension, history, response, answers[0]), None)
        first = next(k for k, lab in enumerate(enc["labels"]) if lab != IGNORE_INDEX)
        if first <= max_length:
            prompt = enc["input_ids"][:first]
            for answer, ids in zip(answers, answer_ids, strict=True):
                full = encode_conversation(tokenizer, unieval_conversation(dimension, history, response, answer),
                                           None)["input_ids"]
                if full[:first] != prompt or full[first:first + len(ids)] != ids:
                    raise ValueError(f"the chat template does not render the answer {answer!r} as the response's "
                                     "first tokens; choose other answers or another stand-in")
            return prompt, cut
        over = first - max_length + 1
        if uses_history and history:
            history, cut = _shorten(tokenizer, history, over, from_start=True), True
        elif response:
            response, cut = _shorten(tokenizer, response, over, from_start=False), True
        else:
            break
    raise ValueError(f"max_length={max_length} cannot hold the UniEval stand-in's prompt for {dimension!r}")


def _causal_yes(model: Any, tokenizer: Any, items: Sequence[tuple[str, str, str]], *, answers: Sequence[str],
                batch_size: int, max_length: int, device: str, head_only: bool | None) -> list[float]:
    """The stand-in's read-out of ``(dimension, history, response)`` items: the log-likelihood of
    each answer's tokens after the prompt (:func:`sftmix.scoring.batched_nll_sums`), and
    ``P(yes) / (P(yes) + P(no)) = 1 / (1 + exp(nll_yes - nll_no))``. With one-token answers this is
    the softmax over the two answer tokens' logits at the first response position."""
    answer_ids = _answer_ids(tokenizer, answers)
    budget = max_length - max(len(ids) for ids in answer_ids)  # the prompt and its longest answer fit
    encoded: list[tuple[list[int], list[int]]] = []
    n_cut = 0
    for dim, history, response in items:
        prompt, cut = _standin_prompt(tokenizer, dim, history, response, answers, answer_ids, budget)
        n_cut += cut
        for ids in answer_ids:
            encoded.append(([*prompt, *ids], [IGNORE_INDEX] * len(prompt) + ids))
    if n_cut:
        log.info("unieval: %d stand-in prompt(s) longer than max_length=%d were shortened", n_cut, max_length)
    lengths = [len(ids) for ids, _ in encoded]
    order = sorted(range(len(encoded)), key=lambda i: (-lengths[i], i))
    nll = batched_nll_sums(model, tokenizer, encoded, _make_batches(lengths, order, batch_size, None), device=device,
                           head_only=head_only)
    out = []
    for k in range(len(items)):
        d = nll[2 * k] - nll[2 * k + 1]
        out.append(1.0 / (1.0 + math.exp(d)) if d < 709.0 else 0.0)
    return out


def _log_unrated(what: str, ids: Sequence[str]) -> None:
    if ids:
        log.warning("%s: %d record(s) without an assistant turn are not rated: %s%s", what, len(ids),
                    ", ".join(ids[:10]), " ..." if len(ids) > 10 else "")


def _split_rateable(records: Iterable[Mapping[str, Any]], extract: Any, what: str
                    ) -> tuple[dict[str, tuple[Mapping[str, Any], Any]], list[str]]:
    """``({id: (record, extract(record))}, unrated ids)``: the records a rater can read (``extract``
    gives their parts, None when a record has none) in input order; a duplicate id raises."""
    parts: dict[str, tuple[Mapping[str, Any], Any]] = {}
    unrated: list[str] = []
    seen: set[str] = set()
    for rec in records:
        rid = str(rec["id"])
        if rid in seen:
            raise ValueError(f"{what}: duplicate id {rid!r}")
        seen.add(rid)
        got = extract(rec)
        if got is None:
            unrated.append(rid)
        else:
            parts[rid] = (rec, got)
    return parts, unrated


def unieval_scores(model: Any, tokenizer: Any, records: Sequence[Mapping[str, Any]],
                   dimensions: Sequence[str] = UNIEVAL_DIMENSIONS, *, kind: str, batch_size: int = 16,
                   max_length: int = 1024, device: str = "cpu", answers: Sequence[str] = STANDIN_LABELS,
                   head_only: bool | None = None) -> dict[str, dict[str, float]]:
    """UniEval dialogue scores ``{id: {dimension: score in (0, 1)}}`` of every rateable record.

    ``kind="seq2seq"``: the real UniEval (``MingZhong/unieval-dialog``): the encoder reads
    :func:`unieval_input` (cut from its end at ``max_length`` tokens, as UniEval does; UniEval's
    default is 1024), the decoder runs one step from its start token, and the score is
    ``P("Yes") / (P("Yes") + P("No"))`` there. ``kind="causal"``: the stand-in fine-tuned on
    :func:`unieval_training_records`; the prompt is the user turn under the chat template and the
    score is ``P(answers[0]) / (P(answers[0]) + P(answers[1]))``, each answer's probability that
    of its tokens at the start of the response (an over-long prompt loses its oldest history, then
    the end of its response, until it and its longest answer fit ``max_length``). ``head_only`` as in
    :mod:`sftmix.scoring` (causal only).

    Records without an assistant turn are absent from the result (their ids are logged). Raises
    ``ValueError`` on an unknown kind or dimension or a duplicate id.
    """
    if kind not in UNIEVAL_KINDS:
        raise ValueError(f"unieval_scores: unknown kind {kind!r}; choose from {list(UNIEVAL_KINDS)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for dim in dimensions:
        _check_dimension(dim)
    parts, unrated = _split_rateable(records, unieval_history_response, "unieval_scores")
    rated = [(rid, *hr) for rid, (_, hr) in parts.items()]
    items = [(dim, history, response) for _, history, response in rated for dim in dimensions]
    if kind == "seq2seq":
        flat = _seq2seq_yes(model, tokenizer, [unieval_input(d, h, r) for d, h, r in items], batch_size=batch_size,
                            max_length=max_length, device=device)
    else:
        flat = _causal_yes(model, tokenizer, items, answers=answers, batch_size=batch_size, max_length=max_length,
                           device=device, head_only=head_only)
    _log_unrated("unieval", unrated)
    n = len(dimensions)
    return {rid: dict(zip(dimensions, flat[k * n:(k + 1) * n], strict=True)) for k, (rid, _, _) in enumerate(rated)}


# ---------------------------------------------------------------------------------------------
# reward scores
# ---------------------------------------------------------------------------------------------

def reward_encoding(tokenizer: Any, question: str, answer: str, *, reward_format: str = "pair",
                    max_length: int = 512) -> dict[str, list[int]]:
    """The reward model's input for one pair (see the module docstring): ``"pair"`` =
    ``tokenizer(question, answer)`` (the tokenizer's pair template; over ``max_length`` the longer
    text loses tokens, ``longest_first``); ``"oasst"`` = ``tokenizer("<|prompter|>" + question + eos
    + "<|assistant|>" + answer + eos)`` with the tokenizer's eos token (``<|endoftext|>`` when it has
    none), cut from its end at ``max_length``."""
    if reward_format == "pair":
        enc = tokenizer(question, answer, truncation="longest_first", max_length=max_length)
    elif reward_format == "oasst":
        eos = tokenizer.eos_token or "<|endoftext|>"
        enc = tokenizer(f"<|prompter|>{question}{eos}<|assistant|>{answer}{eos}", truncation=True,
                        max_length=max_length)
    else:
        raise ValueError(f"reward_format: unknown {reward_format!r}; choose from {list(REWARD_FORMATS)}")
    out = {"input_ids": list(enc["input_ids"])}
    if "token_type_ids" in enc:
        out["token_type_ids"] = list(enc["token_type_ids"])
    return out


def _classifier_rewards(model: Any, tokenizer: Any, pairs: Sequence[tuple[str, str]], *, reward_format: str,
                        batch_size: int, max_length: int, device: str) -> list[float]:
    import torch

    if int(getattr(model.config, "num_labels", 1)) != 1:
        raise ValueError(f"reward: the classifier has {model.config.num_labels} outputs; a reward model has one")
    encoded = [reward_encoding(tokenizer, q, a, reward_format=reward_format, max_length=max_length) for q, a in pairs]
    pad_id = model.config.pad_token_id
    pad = int(pad_id) if pad_id is not None else _pad_id(tokenizer)
    out = [float("nan")] * len(pairs)
    with torch.inference_mode():
        for batch in _batches(encoded, batch_size):
            t = {k: v.to(device) for k, v in _tensors([encoded[i] for i in batch], pad).items()}
            logits = model(**t).logits[:, 0].to(torch.float64).cpu().tolist()
            for j, v in zip(batch, logits, strict=True):
                out[j] = float(v)
    return out


def reward_scores(model: Any, tokenizer: Any, records: Sequence[Mapping[str, Any]], *, kind: str,
                  batch_size: int = 16, max_length: int = 512, device: str = "cpu", reward_format: str = "pair",
                  template: str = DEFAULT_DEITA_TEMPLATE, labels: Sequence[str] = DEFAULT_SCORE_LABELS,
                  head_only: bool | None = None) -> dict[str, float]:
    """Reward score ``{id: reward}`` of every rateable record's (first question, last answer) pair.

    ``kind="classifier"``: the real reward model (a one-output sequence classifier): the logit of
    :func:`reward_encoding` (``reward_format``). ``kind="rating"``: the stand-in, the workflow's
    trained rating scorer, an LM fine-tuned on rated world responses like a reward model trained on
    human preference ratings; the reward is its expected rating
    (:func:`sftmix.quality.deita_scores` with ``chat=True``, ``template`` and ``labels`` as it was
    trained), the same information as the DEITA score. ``head_only`` as in :mod:`sftmix.scoring`
    (rating only).

    Records without an assistant turn are absent from the result (their ids are logged). Raises
    ``ValueError`` on an unknown kind or a duplicate id.
    """
    if kind not in REWARD_KINDS:
        raise ValueError(f"reward_scores: unknown kind {kind!r}; choose from {list(REWARD_KINDS)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    parts, unrated = _split_rateable(records, deita_question_response, "reward_scores")
    pairs = {rid: qr for rid, (_, qr) in parts.items()}
    rateable = [rec for rec, _ in parts.values()]
    _log_unrated("reward", unrated)
    if kind == "classifier":
        values = _classifier_rewards(model, tokenizer, list(pairs.values()), reward_format=reward_format,
                                     batch_size=batch_size, max_length=max_length, device=device)
        return dict(zip(pairs, values, strict=True))
    got = deita_scores(model, tokenizer, [dict(r) for r in rateable], template=template, labels=labels,
                       batch_size=batch_size, max_length=max_length, device=device, progress=False,
                       head_only=head_only, chat=True)
    return {rid: float(got[rid]) for rid in pairs}


# ---------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------

def load_rater(path: str, kind: str, *, device: str = "cpu", dtype: str = "float32",
               trust_remote_code: bool = False) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of a rater from a local directory (or hub id), on ``device``, in eval
    mode. ``kind``: ``"seq2seq"`` (UniEval: ``AutoModelForSeq2SeqLM``), ``"classifier"`` (a reward
    model: ``AutoModelForSequenceClassification``; a tokenizer without a pad token pads with eos,
    and a model config without a pad id takes the tokenizer's, so batches can be padded),
    ``"causal"`` or ``"rating"`` (the stand-ins: :func:`sftmix.scoring.load_causal_lm`)."""
    if kind not in RATER_KINDS:
        raise ValueError(f"load_rater: unknown kind {kind!r}; choose from {list(RATER_KINDS)}")
    if kind in ("causal", "rating"):
        return load_causal_lm(path, device=device, dtype=dtype, trust_remote_code=trust_remote_code)
    if dtype not in _DTYPES:
        raise ValueError(f"dtype: unknown {dtype!r}; choose from {list(_DTYPES)}")
    import torch
    from transformers import (
        AutoModelForSeq2SeqLM,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    auto = AutoModelForSeq2SeqLM if kind == "seq2seq" else AutoModelForSequenceClassification
    model = auto.from_pretrained(path, dtype=getattr(torch, dtype), trust_remote_code=trust_remote_code)
    if kind == "classifier":
        if tokenizer.pad_token is None and tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        if model.config.pad_token_id is None and tokenizer.pad_token_id is not None:
            model.config.pad_token_id = int(tokenizer.pad_token_id)
    model.to(device)
    model.eval()
    return model, tokenizer


# ---- the raters' table (rule raters) ----------------------------------------------------------

RATER_COLUMNS = ("id", "reward", *UNIEVAL_DIMENSIONS)
"""The per-record raters' table: the reward score and the UniEval dimensions (NaN when not rated)."""


def write_raters(path: str | Path, reward: Mapping[str, float],
                 unieval: Mapping[str, Mapping[str, float]]) -> int:
    """Write the raters' table: one row per id rated by either rater (sorted), NaN where a rater
    did not rate it (not configured, or the record had no assistant turn)."""
    ids = sorted(set(reward) | set(unieval))
    rows = [{"id": i, "reward": reward.get(i, math.nan),
             **{d: unieval.get(i, {}).get(d, math.nan) for d in UNIEVAL_DIMENSIONS}} for i in ids]
    return write_typed_tsv(path, rows, RATER_COLUMNS, floats=frozenset(RATER_COLUMNS[1:]), what="raters")


def read_raters(path: str | Path) -> dict[str, dict[str, float]]:
    """The raters' table as ``{id: {column: value}}``."""
    return {r["id"]: {c: r[c] for c in RATER_COLUMNS[1:]}
            for r in read_typed_tsv(path, RATER_COLUMNS, floats=frozenset(RATER_COLUMNS[1:]), what="raters")}
