"""Per-instance quality scores: the quality-based selection baselines Beyond IID compares with.

Four scores, one row per record (:func:`quality_table`), saved as a TSV (:func:`write_quality`):

**IFD** -- Instruction-Following Difficulty (Li et al. 2023, "From Quantity to Quality: Boosting
LLM Performance with Self-Guided Data Selection for Instruction Tuning", the Cherry LLM method)::

    IFD(x, y) = PPL(y | x) / PPL(y)

both perplexities over the same response tokens under the *base* model. ``PPL(y | x)`` is
:func:`sftmix.scoring.score_records`' ``ppl`` (every assistant turn given the whole conversation
before it). ``PPL(y)`` scores each assistant turn alone: see :func:`response_only_conversations`
for how "alone" is rendered and why the two token sets are identical. A high IFD means the
instruction helps the model little to produce the response (a hard, informative example); Cherry
LLM selects high IFD but discards IFD >= 1, where the instruction does not help at all
(:func:`ifd_valid`).

**#InsTag complexity** (Lu et al. 2023, "#InsTag: Instruction Tagging for Analyzing Supervised
Fine-tuning of Large Language Models"): the number of distinct normalized tags of a record.

**Length**: characters of the response (a strong, cheap baseline in the data-selection literature).

**DEITA quality** (Liu et al. 2024, "What Makes Good Data for Alignment? A Comprehensive Study of
Automatic Data Selection in Instruction Tuning"): a scorer LM reads a quality-rating prompt that
holds the instruction and the response; the score is the expected rating under the scorer's
next-token distribution restricted to the rating tokens ``"1"`` .. ``"6"``::

    deita = sum_{k=1..6} k * softmax(logits[label_ids])_k

The paper's scorer is ``hkust-nlp/deita-quality-scorer``, a Llama model fine-tuned on a seed set
of ChatGPT-rated responses. The embedded default builds its scorer the same way: a seed set rated
by the world's ground truth with noise (:mod:`sftmix.world.ratings`, standing in for ChatGPT),
turned into conversations (:func:`scorer_training_records`) and fine-tuned from the base model by
the workflow's own SFT engine (:func:`sftmix.sft.finetune`); :func:`deita_scores` with ``chat=True``
reads it. (The untrained base model can still be configured as the scorer: it exercises the
interface and knows nothing of quality.)

Direction ("higher = better", :func:`quality_map`): ``ifd`` higher = harder = better (only
``ifd < 1`` is eligible), ``instag`` higher = more complex, ``length`` higher = longer, ``deita``
higher = better rated.

Everything here is plain functions over plain data (records as in :mod:`sftmix.records`); models
are loaded with :func:`sftmix.scoring.load_causal_lm`.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .chat import IGNORE_INDEX, encode_conversation
from .normalize import apply_normalization_scored
from .records import Record, read_typed_tsv, write_typed_tsv
from .scoring import HEAD_ONLY_MODEL_TYPES, _make_batches, _pad_id, batched_nll_sums, score_records

log = logging.getLogger(__name__)

QUALITY_COLUMNS = ("id", "category", "ifd", "ppl_cond", "ppl_uncond", "instag", "length", "deita")
_INT_COLUMNS = frozenset({"instag", "length"})
_FLOAT_COLUMNS = frozenset({"ifd", "ppl_cond", "ppl_uncond", "deita"})

QUALITY_DIRECTIONS = {
    "ifd": "higher = harder instruction-following = better (Cherry LLM); IFD >= 1 or NaN is not eligible",
    "instag": "higher = more distinct normalized tags = more complex (#InsTag)",
    "length": "higher = longer response",
    "deita": "higher = better rated by the DEITA quality scorer",
}
"""The columns :func:`quality_map` accepts, and what "higher" means for each."""

DEFAULT_SCORE_LABELS = ("1", "2", "3", "4", "5", "6")

DEFAULT_DEITA_TEMPLATE = (
    "You are a helpful assistant. Please identify the quality score of the Response corresponding "
    "to the Question, on a scale from 1 (very poor) to 6 (excellent). Answer with the number only.\n"
    "#Question#:\n{instruction}\n#Response#:\n{response}\n##Quality: "
)
"""Quality prompt modeled on DEITA's (own wording). The prompt ends with ``"##Quality: "`` (a
trailing space), so the rating that follows is a bare digit token (see :func:`score_token_ids`).
The real ``hkust-nlp/deita-quality-scorer`` was trained on DEITA's exact prompt: configure that
text as ``deita_template`` when using it."""

_PLACEHOLDER = re.compile(r"\{(instruction|response)\}")


# ---------------------------------------------------------------------------------------------
# IFD
# ---------------------------------------------------------------------------------------------

def response_only_conversations(record: Mapping[str, Any]) -> list[list[dict[str, str]]]:
    """One conversation per assistant turn of ``record``, holding that response and no instruction.

    "Response alone" is rendered as an **empty user turn followed by the assistant turn**::

        [{"role": "user", "content": ""}, {"role": "assistant", "content": response}]

    Why: (1) the assistant turn is preceded by the same chat-template header as in the full
    conversation (bos, role tag), so the only thing the two perplexities differ in is the content
    of the context (instruction, system prompt, earlier turns), not the template; (2) its labelled
    tokens (:func:`sftmix.chat.encode_conversation`) are the same token ids as that turn's labelled
    tokens in the full conversation, response text plus end-of-turn token, which
    :func:`ifd_scores` verifies per record; (3) strict templates that require a conversation to
    open with a user turn (Llama-2, Mistral) accept it. Each turn is scored alone: a later
    response is not conditioned on an earlier one. (Cherry LLM scores the raw response text after
    bos; with a chat model the template-aware rendering keeps the two token sets identical.)
    """
    return [[{"role": "user", "content": ""}, {"role": "assistant", "content": m["content"]}]
            for m in record["messages"] if m["role"] == "assistant"]


def _labelled(labels: Sequence[int]) -> list[int]:
    return [t for t in labels if t != IGNORE_INDEX]


def _cut_after_labelled(ids: list[int], labels: list[int], k: int) -> tuple[list[int], list[int]]:
    """Keep the first ``k`` labelled tokens: unlabel the rest and cut after the k-th."""
    pos = [t for t, lab in enumerate(labels) if lab != IGNORE_INDEX]
    end = pos[k - 1] + 1
    return ids[:end], labels[:end]


def _nll_sums_encoded(model: Any, tokenizer: Any, encoded: Sequence[tuple[list[int], list[int]]], *,
                      batch_size: int, device: str, head_only: bool | None, bar: Any = None) -> list[float]:
    """NLL sums of pre-encoded ``(input_ids, labels)`` sequences, batched exactly as
    :func:`sftmix.scoring.score_records` does (longest first, right-padded, its NLL routine)."""
    lengths = [len(ids) for ids, _ in encoded]
    order = sorted(range(len(encoded)), key=lambda i: (-lengths[i], i))
    return batched_nll_sums(model, tokenizer, encoded, _make_batches(lengths, order, batch_size, None),
                            device=device, head_only=head_only, bar=bar)


def _ppl(nll_sum: float, n: int) -> float:
    mean = nll_sum / n
    return math.exp(mean) if mean < 709.0 else float("inf")


def ifd_scores(model: Any, tokenizer: Any, records: list[dict[str, Any]], *, batch_size: int = 16,
               max_length: int = 512, device: str = "cpu", progress: bool = True,
               head_only: bool | None = None) -> dict[str, dict[str, float]]:
    """Instruction-Following Difficulty (Li et al. 2023) of every record under the base ``model``.

    Per record id::

        {"ppl_cond": PPL(y | x), "ppl_uncond": PPL(y), "ifd": ppl_cond / ppl_uncond,
         "n_tokens": number of response tokens both perplexities average over}

    ``ppl_cond`` is :func:`sftmix.scoring.score_records`' ``ppl`` (assistant tokens given the whole
    conversation, cut at ``max_length`` from the end). ``ppl_uncond`` scores the same tokens with
    every assistant turn alone (:func:`response_only_conversations`): the per-turn NLL sums are
    added and divided by the same token count. When ``max_length`` cut the response in the full
    conversation, the response-only sequences keep exactly the surviving tokens (first turns
    whole, the cut turn up to the cut, later turns dropped), so both perplexities always average
    over one identical token set.

    NaN (all three values) and a warning naming the ids, never a dropped id, for: a record with no
    response token within ``max_length`` (no assistant turn, or a prompt that fills it); a record
    whose response tokens differ once the instruction is removed (a chat template that renders an
    assistant turn depending on its context); a non-finite perplexity (overflow). Batching as in
    ``score_records``; ``progress`` shows tqdm bars.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    ids = [str(r["id"]) for r in records]
    cond = score_records(model, tokenizer, records, batch_size=batch_size, max_length=max_length,
                         device=device, progress=progress, head_only=head_only)

    nan = float("nan")
    bad: dict[str, list[str]] = {"no_response_tokens": [], "template_mismatch": [], "non_finite": []}
    pieces: list[tuple[list[int], list[int]]] = []
    owner: list[int] = []
    for i, rec in enumerate(records):
        n = int(cond[i]["n_tokens"])
        if n == 0:
            bad["no_response_tokens"].append(ids[i])
            continue
        cond_tokens = _labelled(encode_conversation(tokenizer, rec["messages"], max_length)["labels"])
        turns = [encode_conversation(tokenizer, conv, None) for conv in response_only_conversations(rec)]
        alone = [t for enc in turns for t in _labelled(enc["labels"])]
        if alone[:n] != cond_tokens:
            bad["template_mismatch"].append(ids[i])
            continue
        remaining = n
        for enc in turns:
            k = min(remaining, len(_labelled(enc["labels"])))
            if k == 0:
                continue
            pieces.append(_cut_after_labelled(enc["input_ids"], enc["labels"], k))
            owner.append(i)
            remaining -= k
            if remaining == 0:
                break

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(pieces), unit="turn", desc="ifd: responses alone")
    try:
        sums = _nll_sums_encoded(model, tokenizer, pieces, batch_size=batch_size, device=device,
                                 head_only=head_only, bar=bar)
    finally:
        if bar is not None:
            bar.close()
    uncond_sum: dict[int, float] = {}
    for i, s in zip(owner, sums, strict=True):
        uncond_sum[i] = uncond_sum.get(i, 0.0) + s

    out: dict[str, dict[str, float]] = {}
    for i, rid in enumerate(ids):
        n = int(cond[i]["n_tokens"])
        row = {"ppl_cond": nan, "ppl_uncond": nan, "ifd": nan, "n_tokens": n}
        if i in uncond_sum:
            p_c, p_u = float(cond[i]["ppl"]), _ppl(uncond_sum[i], n)
            ratio = p_c / p_u if math.isfinite(p_c) and math.isfinite(p_u) and p_u > 0 else nan
            if math.isfinite(ratio):
                row.update(ppl_cond=p_c, ppl_uncond=p_u, ifd=ratio)
            else:
                bad["non_finite"].append(rid)
        out[rid] = row
    for reason, which in bad.items():
        if which:
            log.warning("ifd: %d record(s) get NaN (%s): %s%s", len(which), reason, ", ".join(which[:10]),
                        " ..." if len(which) > 10 else "")
    return out


def ifd_valid(value: float) -> bool:
    """Cherry LLM's eligibility rule: an IFD is usable only when finite and below 1 (at or above 1
    the instruction does not make the response any easier: misaligned pairs)."""
    return isinstance(value, (int, float)) and math.isfinite(value) and value < 1.0


# ---------------------------------------------------------------------------------------------
# #InsTag complexity, length
# ---------------------------------------------------------------------------------------------

def instag_scores(records: Iterable[Mapping[str, Any]], tag_map: Mapping[str, str]) -> dict[str, int]:
    """#InsTag complexity (Lu et al. 2023): the number of distinct normalized tags of each record.

    Tags come from ``meta["tags"]``, ``[tag, score]`` pairs or plain strings, and are mapped with
    ``tag_map`` (raw -> normalized; unmapped tags map to themselves) through
    :func:`sftmix.normalize.apply_normalization_scored`, so raw synonyms count once. Empty tags
    are ignored; a record without tags scores 0. (Records past ``categorize`` already carry
    normalized tags; mapping them again changes nothing, since a group's representative maps to
    itself.)
    """
    out: dict[str, int] = {}
    for rec in records:
        tags = (rec.get("meta") or {}).get("tags") or []
        kept = [t for t in tags if (t if isinstance(t, str) else t[0]).strip()]
        out[str(rec["id"])] = len(apply_normalization_scored(kept, tag_map))
    return out


def length_scores(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Response length: the total number of characters (Unicode code points, ``len``) of the
    assistant turns' contents, summed over turns with no separator. No assistant turn: 0."""
    return {str(rec["id"]): sum(len(m["content"]) for m in rec["messages"] if m["role"] == "assistant")
            for rec in records}


# ---------------------------------------------------------------------------------------------
# DEITA quality scorer
# ---------------------------------------------------------------------------------------------

def deita_prompt(instruction: str, response: str, template: str = DEFAULT_DEITA_TEMPLATE) -> str:
    """``template`` with ``{instruction}`` and ``{response}`` filled in (one pass: braces inside the
    texts are never substituted; other braces of the template stay as they are)."""
    missing = [p for p in ("{instruction}", "{response}") if p not in template]
    if missing:
        raise ValueError(f"deita template lacks the placeholder(s) {' '.join(missing)}")
    values = {"instruction": instruction, "response": response}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def score_token_ids(tokenizer: Any, labels: Sequence[str] = DEFAULT_SCORE_LABELS) -> list[int]:
    """The token id of each rating label, in order.

    A label's id is the single token the tokenizer encodes it to (no special tokens); failing that
    (e.g. SentencePiece tokenizers that prepend a word-boundary piece), the vocabulary entry whose
    text is exactly the label. Either way it is the **bare** token, without a leading space: the
    quality prompt ends with a space (``"##Quality: "``) and DEITA reads the bare digit tokens
    there. Byte-level BPE tokenizers also have a leading-space variant (``"Ġ5"``); it is not used.
    Pass labels such as ``(" 1", ...)`` to read that variant instead.

    Raises ``ValueError`` if a label is neither encoded as one token nor a vocabulary entry, maps
    to the unknown token, or two labels share an id.
    """
    if not labels:
        raise ValueError("score_token_ids: no labels")
    vocab = tokenizer.get_vocab()
    unk = getattr(tokenizer, "unk_token_id", None)
    out: list[int] = []
    for label in labels:
        enc = tokenizer(label, add_special_tokens=False)["input_ids"]
        if len(enc) == 1 and enc[0] != unk:
            out.append(int(enc[0]))
        elif label in vocab and vocab[label] != unk:
            out.append(int(vocab[label]))
        else:
            pieces = tokenizer.convert_ids_to_tokens(enc)
            raise ValueError(f"score label {label!r} is not a single token for this tokenizer "
                             f"(encodes to {len(enc)} tokens {pieces}); choose other labels or another scorer")
    if len(set(out)) != len(out):
        raise ValueError(f"score labels {list(labels)} do not map to distinct tokens: {out}")
    return out


def deita_question_response(record: Mapping[str, Any]) -> tuple[str, str] | None:
    """What the scorer reads: the first user turn as the question and the **last** assistant turn
    as the response (multi-turn records are rated on their final answer to the opening request,
    the closest single-turn reading of DEITA's prompt). No user turn: empty question. No
    assistant turn: None (unscorable)."""
    question = next((m["content"] for m in record["messages"] if m["role"] == "user"), "")
    answers = [m["content"] for m in record["messages"] if m["role"] == "assistant"]
    if not answers:
        return None
    return question, answers[-1]


def deita_conversation(question: str, response: str, rating: str,
                       template: str = DEFAULT_DEITA_TEMPLATE) -> list[dict[str, str]]:
    """The chat form of a rating: the quality prompt as the user turn, ``rating`` (a label such as
    ``"5"``) as the assistant's answer. A scorer fine-tuned on these (:func:`scorer_training_records`)
    is read by :func:`deita_scores` with ``chat=True`` at the same position: the first response
    token."""
    return [{"role": "user", "content": deita_prompt(question, response, template)},
            {"role": "assistant", "content": rating}]


def rating_repeats(ratings: Iterable[int], max_repeat: int) -> dict[int, int]:
    """How often each rating's records enter the scorer's training set so that every rating
    weighs about as much as the most frequent one (class balancing by repetition):
    ``min(max_repeat, round(n_max / n_k))`` for a rating with ``n_k`` records. ``max_repeat`` 1 =
    no balancing."""
    if max_repeat < 1:
        raise ValueError(f"rating_repeats: max_repeat must be >= 1, got {max_repeat}")
    counts: dict[int, int] = {}
    for k in ratings:
        counts[int(k)] = counts.get(int(k), 0) + 1
    top = max(counts.values(), default=0)
    return {k: max(1, min(max_repeat, round(top / n))) for k, n in sorted(counts.items())}


def scorer_training_records(records: Iterable[Mapping[str, Any]], ratings: Mapping[str, int], *,
                            template: str = DEFAULT_DEITA_TEMPLATE, labels: Sequence[str] = DEFAULT_SCORE_LABELS,
                            max_repeat: int = 1) -> list[dict[str, Any]]:
    """The DEITA scorer's training set (Liu et al. 2024, Sec. 2.3: a model fine-tuned to emit the
    rating of a seed set's responses): one conversation (:func:`deita_conversation`) per rated
    record, id ``deita_seed:<id>``, rating ``k`` written as ``labels[k - 1]``, ``meta`` holding the
    record's id, category and rating. Only records with a rating and an assistant turn (in
    ``records`` order); a record is repeated as :func:`rating_repeats` says (rare ratings, the
    defective answers, weigh as much as common ones; the engine's order keeps repeats apart,
    :func:`sftmix.sft.order_keys`). Raises ``ValueError`` on a rating outside 1..len(labels)."""
    rated = [rec for rec in records if str(rec["id"]) in ratings]
    repeats = rating_repeats((ratings[str(rec["id"])] for rec in rated), max_repeat)
    out: list[dict[str, Any]] = []
    for rec in rated:
        rid = str(rec["id"])
        qr = deita_question_response(rec)
        if qr is None:
            continue
        k = int(ratings[rid])
        if not 1 <= k <= len(labels):
            raise ValueError(f"scorer_training_records: rating {k} of {rid!r} is not in 1..{len(labels)}")
        row = {"id": f"deita_seed:{rid}", "messages": deita_conversation(*qr, labels[k - 1], template),
               "meta": {"source_id": rid, "category": (rec.get("meta") or {}).get("category"), "rating": k}}
        out.extend([row] * repeats[k])
    return out


def _encode_chat_prompt(tokenizer: Any, question: str, response: str, template: str, label: str,
                        label_id: int, max_length: int) -> tuple[list[int], bool]:
    """The chat-form prompt's ids up to (not including) the rating token, as the scorer saw them in
    training. Over ``max_length``, the response is cut from its end (by tokens, then decoded)
    until the prompt fits, so the template's closing cue and the chat template survive; when the
    question alone is too long (one token of the response left), the question is cut from its end
    too."""
    cut = False
    for _ in range(12):
        enc = encode_conversation(tokenizer, deita_conversation(question, response, label, template), None)
        first = next(k for k, lab in enumerate(enc["labels"]) if lab != IGNORE_INDEX)
        if enc["input_ids"][first] != label_id:
            raise ValueError(f"the chat template does not render rating {label!r} as its own first response "
                             "token; choose other labels or another scorer template")
        if first <= max_length:
            return enc["input_ids"][:first], cut
        over = first - max_length
        r_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
        keep = len(r_ids) - over - 1
        if keep >= 1:
            response, cut = tokenizer.decode(r_ids[:keep]), True
            continue
        q_ids = tokenizer(question, add_special_tokens=False)["input_ids"]
        q_keep = len(q_ids) - (over - (len(r_ids) - 1)) - 1
        if q_keep < 1:
            raise ValueError(f"max_length={max_length} cannot hold the scorer's template without the question")
        response, question, cut = tokenizer.decode(r_ids[:1]), tokenizer.decode(q_ids[:q_keep]), True
    raise ValueError("the scorer's prompt does not fit max_length after cutting its response and question")


def _encode_prompt(tokenizer: Any, prompt: str, max_length: int, n_tail: int) -> tuple[list[int], bool]:
    """bos (when the tokenizer has one) + the prompt's tokens; over ``max_length``, the middle is cut
    so that the last ``n_tail`` tokens (the rating cue) survive."""
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token_id
    if bos is not None:
        ids = [int(bos), *ids]
    if len(ids) <= max_length:
        return ids, False
    return ids[:max_length - n_tail] + ids[len(ids) - n_tail:], True


@dataclass(frozen=True)
class DeitaPrompts:
    """The DEITA scorer's prompts as token ids (:func:`deita_prompt_ids`): ``encoded`` maps a
    record's position to its prompt ids (records without an assistant turn are left out and
    named in ``unscorable``), ``label_ids`` are the rating tokens, ``n_truncated`` the prompts
    that were cut to ``max_length``."""

    encoded: dict[int, list[int]]
    label_ids: list[int]
    unscorable: list[str]
    n_truncated: int


def deita_prompt_ids(tokenizer: Any, records: Sequence[Mapping[str, Any]], *,
                     template: str = DEFAULT_DEITA_TEMPLATE, labels: Sequence[str] = DEFAULT_SCORE_LABELS,
                     max_length: int = 512, chat: bool = False) -> DeitaPrompts:
    """The token ids every DEITA engine feeds the scorer (the one home of its prompt).

    Plain (``chat`` False): bos + :func:`deita_prompt` on :func:`deita_question_response`, an
    over-long prompt losing tokens from its middle (the end of the response) so that the
    template's closing cue survives. ``chat``: the user turn of :func:`deita_conversation` under
    the tokenizer's chat template, up to where the scorer learned to write the rating; an over-long
    prompt loses the end of its response (then of its question, when the question alone is too
    long). See :func:`deita_scores`."""
    label_ids = score_token_ids(tokenizer, labels)
    tail = template.split("{response}")[-1] if "{response}" in template else ""
    n_tail = len(tokenizer(tail, add_special_tokens=False)["input_ids"]) if tail else 0
    if max_length < n_tail + 2:
        raise ValueError(f"max_length={max_length} cannot hold the template's closing cue ({n_tail} tokens)")
    encoded: dict[int, list[int]] = {}
    unscorable: list[str] = []
    n_truncated = 0
    for i, rec in enumerate(records):
        qr = deita_question_response(rec)
        if qr is None:
            unscorable.append(str(rec["id"]))
            continue
        if chat:
            enc, cut = _encode_chat_prompt(tokenizer, *qr, template, labels[0], label_ids[0], max_length)
        else:
            enc, cut = _encode_prompt(tokenizer, deita_prompt(*qr, template=template), max_length, n_tail)
        encoded[i] = enc
        n_truncated += cut
    return DeitaPrompts(encoded, label_ids, unscorable, n_truncated)


def expected_ratings(label_scores: Any) -> list[float]:
    """DEITA's score of each row of ``label_scores`` (a torch tensor, rows x rating tokens, in
    label order): ``sum_k k * softmax(row)_k`` in float64. The rows may be logits or
    log-probabilities (they differ by a constant per row, which the softmax removes); ``-inf``
    (a token whose value is unknown) counts as probability 0."""
    import torch

    probs = torch.softmax(label_scores.to(torch.float64), dim=-1).cpu()
    values = torch.arange(1, probs.shape[-1] + 1, dtype=torch.float64)
    return [float(row @ values) for row in probs]


def deita_scores(model: Any, tokenizer: Any, records: list[dict[str, Any]], *,
                 template: str = DEFAULT_DEITA_TEMPLATE, labels: Sequence[str] = DEFAULT_SCORE_LABELS,
                 batch_size: int = 16, max_length: int = 512, device: str = "cpu", progress: bool = True,
                 padding_side: str = "right", head_only: bool | None = None, chat: bool = False) -> dict[str, float]:
    """DEITA quality score (Liu et al. 2024) of every record: ``sum_k k * p_k``.

    ``p`` is the softmax (float64) of the scorer's next-token logits after the prompt, restricted
    to the ``labels`` tokens (:func:`score_token_ids`); the k-th label is worth k, so the default
    score lies in [1, 6]. The prompt is :func:`deita_prompt` on :func:`deita_question_response`,
    tokenized as plain text (no chat template, as DEITA's scorer reads it) after the tokenizer's
    bos token. Prompts longer than ``max_length`` tokens lose tokens from their middle (the end of
    the response) so that the template's closing cue survives; their number is logged.

    In the paper configuration ``model`` is ``hkust-nlp/deita-quality-scorer``; the embedded default
    passes its small locally pretrained base model, a stand-in that exercises the interface.

    Batching: prompts sorted by length, padded on ``padding_side`` (``"right"`` or ``"left"``; with
    left padding explicit ``position_ids`` keep every real token at its unpadded position) with an
    attention mask; the logits are taken at each row's last real token, so a score does not depend
    on batching beyond float round-off. ``head_only`` as in :mod:`sftmix.scoring`: apply the output
    layer only at those positions. Records with no assistant turn get NaN (logged).

    ``chat``: read a scorer fine-tuned by this workflow (:func:`scorer_training_records`): the
    prompt is the user turn of :func:`deita_conversation` under the tokenizer's chat template, and
    the distribution is read where the scorer learned to write the rating (the first response
    token); an over-long prompt loses the end of its response instead.
    """
    import torch

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if padding_side not in ("right", "left"):
        raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
    prompts = deita_prompt_ids(tokenizer, records, template=template, labels=labels, max_length=max_length,
                               chat=chat)
    label_ids, encoded, unscorable, n_truncated = (prompts.label_ids, prompts.encoded, prompts.unscorable,
                                                   prompts.n_truncated)
    if head_only is None:
        head_only = getattr(model.config, "model_type", "") in HEAD_ONLY_MODEL_TYPES

    ids_by_row: list[str] = [str(r["id"]) for r in records]
    lengths = [len(encoded.get(i, ())) for i in range(len(records))]
    order = sorted(encoded, key=lambda i: (-lengths[i], i))
    pad_id = _pad_id(tokenizer)
    index = torch.tensor(label_ids, dtype=torch.long)
    scores = [float("nan")] * len(records)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(order), unit="rec", desc="deita")
    try:
        with torch.inference_mode():
            for batch in _make_batches(lengths, order, batch_size, None):
                width = lengths[batch[0]]
                input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
                attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
                for j, i in enumerate(batch):
                    n = lengths[i]
                    sl = slice(0, n) if padding_side == "right" else slice(width - n, width)
                    input_ids[j, sl] = torch.tensor(encoded[i], dtype=torch.long)
                    attention_mask[j, sl] = 1
                kwargs: dict[str, Any] = {"input_ids": input_ids.to(device),
                                          "attention_mask": attention_mask.to(device), "use_cache": False}
                if padding_side == "left":
                    kwargs["position_ids"] = (attention_mask.cumsum(-1) - 1).clamp(min=0).to(device)
                rows = torch.arange(len(batch), device=device)
                last = (attention_mask.sum(-1) - 1 if padding_side == "right"
                        else torch.full((len(batch),), width - 1, dtype=torch.long)).to(device)
                if head_only:
                    hidden = model.get_decoder()(**kwargs).last_hidden_state
                    logits = model.get_output_embeddings()(hidden[rows, last])
                else:
                    logits = model(**kwargs).logits[rows, last]
                for i, value in zip(batch, expected_ratings(logits[:, index.to(logits.device)]), strict=True):
                    scores[i] = value
                if bar is not None:
                    bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()
    if unscorable:
        log.warning("deita: %d record(s) without an assistant turn get NaN: %s%s", len(unscorable),
                    ", ".join(unscorable[:10]), " ..." if len(unscorable) > 10 else "")
    if n_truncated:
        log.info("deita: %d prompt(s) longer than max_length=%d were cut in the middle", n_truncated, max_length)
    return dict(zip(ids_by_row, scores, strict=True))


def deita_scores_vllm(settings: Any, records: list[dict[str, Any]], *, template: str = DEFAULT_DEITA_TEMPLATE,
                      labels: Sequence[str] = DEFAULT_SCORE_LABELS, max_length: int = 512, chat: bool = False,
                      logprobs: int = 20, progress: bool = True, llm: Any = None) -> dict[str, float]:
    """:func:`deita_scores` on vLLM offline inference (``quality.deita_engine: vllm``;
    :mod:`sftmix.vllm_engine`).

    The same prompt token ids (:func:`deita_prompt_ids`, the same cut of an over-long prompt) and
    the same expectation (:func:`expected_ratings`) over the rating tokens, read from the
    log-probabilities of one generated token (greedy, restricted to the rating tokens, vLLM's top
    ``logprobs`` of the full vocabulary plus the chosen one): a log-probability differs from its
    logit by a constant per prompt, which the softmax over the rating tokens removes, so the score
    equals the transformers reading whenever every rating token is among the returned ones. One
    outside them counts as probability 0, and the records where that happened are counted in the
    log (raise ``quality.deita_logprobs``). Records without an assistant turn get NaN (logged).
    ``settings``: a :class:`sftmix.vllm_engine.EngineSettings`; ``llm``: an engine already built
    (else loaded, allowing ``logprobs`` per token). Raises
    :class:`sftmix.vllm_engine.VLLMUnavailable` naming ``quality.deita_engine`` without vllm."""
    import torch
    from transformers import AutoTokenizer

    from .vllm_engine import first_token_logprobs, import_vllm, load_llm

    import_vllm("quality.deita_engine", "transformers")
    tokenizer = AutoTokenizer.from_pretrained(settings.model, trust_remote_code=settings.trust_remote_code)
    prompts = deita_prompt_ids(tokenizer, records, template=template, labels=labels, max_length=max_length,
                               chat=chat)
    if llm is None:
        llm = load_llm(settings, config_key="quality.deita_engine", fallback="transformers",
                       max_logprobs=max(20, int(logprobs)))
    rows = sorted(prompts.encoded)
    top = first_token_logprobs(llm, [prompts.encoded[i] for i in rows], prompts.label_ids, logprobs=logprobs,
                               seed=settings.seed, progress=progress, config_key="quality.deita_engine",
                               fallback="transformers")
    table = [[lp.get(t, -math.inf) for t in prompts.label_ids] for lp in top]
    scores = [math.nan] * len(records)
    if rows:
        for i, value in zip(rows, expected_ratings(torch.tensor(table, dtype=torch.float64)), strict=True):
            scores[i] = value
    missing = sum(1 for row in table if any(math.isinf(v) for v in row))
    if prompts.unscorable:
        log.warning("deita (vllm): %d record(s) without an assistant turn get NaN: %s%s", len(prompts.unscorable),
                    ", ".join(prompts.unscorable[:10]), " ..." if len(prompts.unscorable) > 10 else "")
    if prompts.n_truncated:
        log.info("deita (vllm): %d prompt(s) longer than max_length=%d were cut", prompts.n_truncated, max_length)
    if missing:
        log.warning("deita (vllm): %d of %d record(s) had a rating token outside the top %d log-probabilities "
                    "(counted as probability 0); raise quality.deita_logprobs for the exact score",
                    missing, len(rows), logprobs)
    return {str(r["id"]): v for r, v in zip(records, scores, strict=True)}


# ---------------------------------------------------------------------------------------------
# Table, TSV, maps
# ---------------------------------------------------------------------------------------------

def quality_table(records: Iterable[Mapping[str, Any]], *, ifd: Mapping[str, Mapping[str, float]] | None,
                  instag: Mapping[str, int], length: Mapping[str, int],
                  deita: Mapping[str, float] | None) -> list[dict[str, Any]]:
    """One row per record, sorted by id, columns :data:`QUALITY_COLUMNS`::

        id, category (meta["category"] or ""), ifd, ppl_cond, ppl_uncond (from :func:`ifd_scores`),
        instag (:func:`instag_scores`), length (:func:`length_scores`), deita (:func:`deita_scores`)

    ``ifd`` or ``deita`` None (not computed): those columns are NaN. Raises ``ValueError`` on a
    duplicate id or a record missing from a given score mapping.
    """
    nan = float("nan")
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for rec in records:
        rid = str(rec["id"])
        if rid in seen:
            raise ValueError(f"quality_table: duplicate id {rid!r}")
        seen.add(rid)
        for name, scores in (("ifd", ifd), ("instag", instag), ("length", length), ("deita", deita)):
            if scores is not None and rid not in scores:
                raise ValueError(f"quality_table: record {rid!r} has no {name} score")
        f = ifd[rid] if ifd is not None else {}
        rows.append({"id": rid, "category": str((rec.get("meta") or {}).get("category", "") or ""),
                     "ifd": float(f.get("ifd", nan)), "ppl_cond": float(f.get("ppl_cond", nan)),
                     "ppl_uncond": float(f.get("ppl_uncond", nan)), "instag": int(instag[rid]),
                     "length": int(length[rid]),
                     "deita": float(deita[rid]) if deita is not None and deita[rid] is not None else nan})
    rows.sort(key=lambda r: r["id"])
    return rows


def write_quality(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write rows as UTF-8 TSV with header :data:`QUALITY_COLUMNS` (in that order).

    Floats are written with ``repr`` (shortest round-trip form, ``nan``/``inf`` as such; None is
    written as ``nan``), ints as ints, so :func:`read_quality` gives back the same values and the
    same rows give the same bytes (:func:`sftmix.records.write_typed_tsv`). Returns the row count.
    """
    return write_typed_tsv(path, rows, QUALITY_COLUMNS, ints=_INT_COLUMNS, floats=_FLOAT_COLUMNS,
                           what="quality TSV")


IFD_COLUMNS = ("id", "ifd", "ppl_cond", "ppl_uncond", "n_tokens")
_IFD_INTS = frozenset({"n_tokens"})
_IFD_FLOATS = frozenset({"ifd", "ppl_cond", "ppl_uncond"})


def write_ifd_table(path: str | Path, ifd: Mapping[str, Mapping[str, float]]) -> int:
    """Write :func:`ifd_scores`' output as a TSV (columns :data:`IFD_COLUMNS`, sorted by id; NaN
    as such: a record is never dropped). Returns the row count."""
    nan = float("nan")
    rows = [{"id": rid, "ifd": v.get("ifd", nan), "ppl_cond": v.get("ppl_cond", nan),
             "ppl_uncond": v.get("ppl_uncond", nan), "n_tokens": int(v.get("n_tokens", 0) or 0)}
            for rid, v in sorted(ifd.items())]
    return write_typed_tsv(path, rows, IFD_COLUMNS, ints=_IFD_INTS, floats=_IFD_FLOATS, what="IFD TSV")


def read_ifd_table(path: str | Path) -> dict[str, float]:
    """``{id: IFD}`` of a table written by :func:`write_ifd_table` (NaN kept)."""
    rows = read_typed_tsv(path, IFD_COLUMNS, ints=_IFD_INTS, floats=_IFD_FLOATS, what="IFD TSV")
    return {r["id"]: r["ifd"] for r in rows}


def read_quality(path: str | Path) -> list[dict[str, Any]]:
    """Read a TSV written by :func:`write_quality` (typed: ``instag``/``length`` int, scores float)."""
    return read_typed_tsv(path, QUALITY_COLUMNS, ints=_INT_COLUMNS, floats=_FLOAT_COLUMNS, what="quality TSV")


def quality_map(rows: Iterable[Mapping[str, Any]], column: str, *, drop_invalid: bool = True) -> dict[str, float]:
    """``{id: score}`` for selecting by ``column`` with **higher = better** (see
    :data:`QUALITY_DIRECTIONS`), ready for :func:`sftmix.studies.beyond_iid.mixture.quality_mixture`.

    Ineligible rows -- NaN in any column, and for ``ifd`` also IFD >= 1 (:func:`ifd_valid`) -- are
    left out (``drop_invalid``; restrict the candidates to the returned ids) or mapped to ``-inf``
    so that they rank last. The map never holds NaN.
    """
    if column not in QUALITY_DIRECTIONS:
        raise ValueError(f"quality_map: {column!r} is not a quality score; choose from {sorted(QUALITY_DIRECTIONS)}")
    out: dict[str, float] = {}
    for r in rows:
        v = r[column]
        v = float("nan") if v is None else float(v)
        ok = ifd_valid(v) if column == "ifd" else not math.isnan(v)
        if ok:
            out[str(r["id"])] = v
        elif not drop_invalid:
            out[str(r["id"])] = float("-inf")
    return out


def candidate_pool(records: Iterable[Record], eval_ids: Iterable[str], categories: Iterable[str], *,
                   held_out: Iterable[str] = ()) -> tuple[list[Record], dict[str, Any]]:
    """The candidate pool every selection study draws from (Beyond IID's mixtures, IterIT's
    selections): the categorized ``records`` of
    ``categories`` that are neither eval items (``eval_ids``) nor ``held_out`` (the trained DEITA
    scorer's seed set: the scorer saw their ratings), sorted by id.

    Returns ``(pool, counts)`` with ``counts = {"in", "kept", "eval_items" (records that are eval
    items), "held_out", "other_or_no_category", "per_category": {category: n} (sorted)}``; ``in``
    = ``kept + eval_items + held_out + other_or_no_category``.
    """
    cats, evals, held = set(categories), set(eval_ids), set(held_out)
    n_in = n_eval = n_held = n_other = 0
    kept = []
    for r in records:
        n_in += 1
        if r["id"] in evals:
            n_eval += 1
        elif r["id"] in held:
            n_held += 1
        elif r.get("meta", {}).get("category") not in cats:
            n_other += 1
        else:
            kept.append(r)
    per_cat = dict(sorted(Counter(r["meta"]["category"] for r in kept).items()))
    return sorted(kept, key=lambda r: r["id"]), {"in": n_in, "kept": len(kept), "eval_items": n_eval,
                                                  "held_out": n_held, "other_or_no_category": n_other,
                                                  "per_category": per_cat}
