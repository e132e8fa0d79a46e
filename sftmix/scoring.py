"""Per-instance response log-likelihood under a causal LM (Beyond IID's rho; PPL for the
dependency test).

Each record is encoded with :func:`sftmix.chat.encode_conversation`, the same function SFT uses,
so the scored "response tokens" are exactly the tokens training puts a loss on: every assistant
turn of the conversation, including its end-of-turn token. For a record with labelled positions
``T`` (token ``x_t`` at position ``t``)::

    nll_sum  = - sum_{t in T} log p(x_t | x_<t)
    nll_mean = nll_sum / |T|
    ppl      = exp(nll_mean)

Batching is an implementation detail that never changes a score: sequences are right-padded, so
with a causal model every real token attends only to real tokens and keeps its logits (up to
floating-point differences between batch shapes, about 1e-6 relative in float32). Records are
sorted by length (descending) to cut padding and the output comes back in input order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from .chat import IGNORE_INDEX, encode_conversation

_DTYPES = ("float32", "float16", "bfloat16", "float64")
# Rows of labelled logits upcast to float64 at once: bounds the extra memory to about
# _LSE_CHUNK_ELEMENTS * 8 bytes (128 MiB) whatever the vocabulary size.
_LSE_CHUNK_ELEMENTS = 1 << 24


def load_causal_lm(model_dir: str, device: str = "cpu", dtype: str = "float32",
                   trust_remote_code: bool = False) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer from a local directory (or hub id) for scoring.

    ``AutoTokenizer`` + ``AutoModelForCausalLM.from_pretrained(..., use_safetensors=True)``;
    ``dtype`` is one of ``float32``, ``float16``, ``bfloat16``, ``float64``. The model is moved to
    ``device`` and put in eval mode (no dropout). Returns ``(model, tokenizer)``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if dtype not in _DTYPES:
        raise ValueError(f"dtype: unknown {dtype!r}; choose from {list(_DTYPES)}")
    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(model_dir, use_safetensors=True,
                                                 dtype=getattr(torch, dtype),
                                                 trust_remote_code=trust_remote_code)
    model.to(device)
    model.eval()
    return model, tokenizer


def _pad_id(tokenizer: Any) -> int:
    """Any id works for padding (attention-masked, never labelled, after every real token);
    prefer the tokenizer's pad token, then eos, then 0."""
    for tid in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if tid is not None:
            return int(tid)
    return 0


def _make_batches(lengths: Sequence[int], order: Sequence[int], batch_size: int,
                  max_tokens_per_batch: int | None) -> list[list[int]]:
    """Cut ``order`` (indices sorted by length, longest first) into consecutive batches of at most
    ``batch_size`` rows and, when given, at most ``max_tokens_per_batch`` padded tokens
    (rows x longest row). A single row longer than the token cap still gets its own batch."""
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        if cur:
            width = lengths[cur[0]]  # longest row of the batch: sorted descending
            full = len(cur) >= batch_size
            over = max_tokens_per_batch is not None and (len(cur) + 1) * width > max_tokens_per_batch
            if full or over:
                batches.append(cur)
                cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    return batches


def _chunked_nll_sums(labels: Any, logits_at: Any, vocab: int, n_rows: int, device: Any) -> Any:
    """Per-row ``-sum log p(label)`` over labelled positions, float64.

    ``labels``: (B, L) with ``IGNORE_INDEX`` where no loss applies. Position t predicts token
    t+1, so ``labels[:, 1:]`` pairs with position t. ``logits_at(rows, cols)`` returns the
    (n, V) logits at those positions; they are upcast to float64 in chunks for the log-softmax.
    """
    import torch

    shift_labels = labels[:, 1:]
    rows, cols = (shift_labels != IGNORE_INDEX).nonzero(as_tuple=True)
    sums = torch.zeros(n_rows, dtype=torch.float64, device=device)
    if rows.numel() == 0:
        return sums
    targets = shift_labels[rows, cols]
    chunk = max(1, _LSE_CHUNK_ELEMENTS // vocab)
    for s in range(0, rows.numel(), chunk):
        r, c, t = rows[s:s + chunk], cols[s:s + chunk], targets[s:s + chunk]
        x = logits_at(r, c).to(torch.float64)  # (n, V)
        nll = torch.logsumexp(x, dim=-1) - x.gather(1, t.unsqueeze(1)).squeeze(1)
        sums.index_add_(0, r, nll)
    return sums


def _row_nll_sums(logits: Any, labels: Any) -> Any:
    """Per-row NLL sums from full (B, L, V) logits."""
    return _chunked_nll_sums(labels, lambda r, c: logits[r, c], logits.shape[-1], logits.shape[0],
                             logits.device)


# Architectures whose causal-LM logits are exactly lm_head(last hidden state): for these the
# output layer can be applied at response positions only.
HEAD_ONLY_MODEL_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3"})


def _batch_nll_sums(model: Any, input_ids: Any, attention_mask: Any, labels: Any, *,
                    head_only: bool | None) -> Any:
    """Per-row NLL sums of one batch.

    ``head_only`` (default: on for ``HEAD_ONLY_MODEL_TYPES``) runs the decoder, then the output
    layer only at the positions that predict a response token, instead of materializing
    (B, L, V) logits: the same numbers, less compute, and far less memory for 150k-token
    vocabularies (16 x 2048 x 152k float32 logits would be ~20 GB).
    """

    if head_only is None:
        head_only = getattr(model.config, "model_type", "") in HEAD_ONLY_MODEL_TYPES
    if not head_only:
        out = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        return _row_nll_sums(out.logits, labels)
    hidden = model.get_decoder()(input_ids=input_ids, attention_mask=attention_mask,
                                 use_cache=False).last_hidden_state
    head = model.get_output_embeddings()
    return _chunked_nll_sums(labels, lambda r, c: head(hidden[r, c]), head.weight.shape[0],
                             input_ids.shape[0], hidden.device)


def _row(record: dict[str, Any], n_tokens: int, nll_sum: float) -> dict[str, Any]:
    meta = record.get("meta") or {}
    category = str(meta.get("category", "") or "")
    split = str(meta.get("split", "") or "")
    if n_tokens == 0:
        nan = float("nan")
        return {"id": record["id"], "category": category, "split": split, "n_tokens": 0,
                "nll_sum": nan, "nll_mean": nan, "ppl": nan}
    mean = nll_sum / n_tokens
    ppl = math.exp(mean) if mean < 709.0 else float("inf")
    return {"id": record["id"], "category": category, "split": split, "n_tokens": int(n_tokens),
            "nll_sum": float(nll_sum), "nll_mean": float(mean), "ppl": float(ppl)}


def batched_nll_sums(model: Any, tokenizer: Any, encoded: Sequence[tuple[list[int], list[int]]],
                     batches: Iterable[Sequence[int]], *, device: str, head_only: bool | None,
                     bar: Any = None) -> list[float]:
    """NLL sums of pre-encoded ``(input_ids, labels)`` sequences, one forward pass per batch.

    ``batches`` hold indices into ``encoded``, each batch longest first (``_make_batches``); rows
    are right-padded with the tokenizer's pad id under an ``attention_mask``, so padding never
    changes a score. Rows in no batch stay NaN. ``bar`` (tqdm) advances per batch.
    """
    import torch

    pad_id = _pad_id(tokenizer)
    lengths = [len(ids) for ids, _ in encoded]
    sums_out = [float("nan")] * len(encoded)
    with torch.inference_mode():
        for batch in batches:
            width = lengths[batch[0]]
            input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
            labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
            for j, i in enumerate(batch):
                ids, lab = encoded[i]
                input_ids[j, :len(ids)] = torch.tensor(ids, dtype=torch.long)
                attention_mask[j, :len(ids)] = 1
                labels[j, :len(lab)] = torch.tensor(lab, dtype=torch.long)
            sums = _batch_nll_sums(model, input_ids.to(device), attention_mask.to(device), labels.to(device),
                                   head_only=head_only).cpu().tolist()
            for j, i in enumerate(batch):
                sums_out[i] = sums[j]
            if bar is not None:
                bar.update(len(batch))
    return sums_out


def score_records(model: Any, tokenizer: Any, records: list[dict[str, Any]], *, batch_size: int = 16,
                  max_length: int = 512, device: str = "cpu", progress: bool = False,
                  max_tokens_per_batch: int | None = None, head_only: bool | None = None,
                  ) -> list[dict[str, Any]]:
    """Response log-likelihood of every record under ``model``.

    Each record's ``messages`` are encoded with ``encode_conversation(tokenizer, messages,
    max_length)`` (truncation keeps the start); the labelled (assistant) tokens are scored
    given everything before them. Returns one row per record, in input order::

        {"id": record["id"], "category": record["meta"].get("category", ""),
         "split": record["meta"].get("split", "") (dev/test of an eval item, see sftmix.subsets),
         "n_tokens": number of labelled response tokens after truncation,
         "nll_sum": -sum of log p over them (natural log), "nll_mean": nll_sum / n_tokens,
         "ppl": exp(nll_mean)}

    A record with **no response token left after truncation** (its prompt fills ``max_length``)
    gets ``n_tokens == 0`` and ``nll_sum``, ``nll_mean`` and ``ppl`` all NaN; it is not run through
    the model. Callers must drop or flag such rows.

    Batching: records are sorted by length (descending), grouped into batches of at most
    ``batch_size`` records and, if ``max_tokens_per_batch`` is set, at most that many padded
    tokens, right-padded with the tokenizer's pad id and run with an ``attention_mask``. Each
    sequence is first cut after its last labelled token (later tokens cannot influence earlier
    ones under a causal model). Scores do not depend on batching beyond float round-off.
    ``head_only``: see ``_batch_nll_sums`` (None = automatic by architecture).
    ``device`` is where the input tensors go; the model must already be there
    (``load_causal_lm(device=...)``). Runs under ``torch.inference_mode()``; ``progress`` shows
    a tqdm bar over records.
    """

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if max_tokens_per_batch is not None and max_tokens_per_batch < 1:
        raise ValueError(f"max_tokens_per_batch must be >= 1 or None, got {max_tokens_per_batch}")

    encoded: list[tuple[list[int], list[int]]] = []
    n_tokens: list[int] = []
    for rec in records:
        enc = encode_conversation(tokenizer, rec["messages"], max_length)
        ids, labels = enc["input_ids"], enc["labels"]
        labelled = [t for t, lab in enumerate(labels) if lab != IGNORE_INDEX]
        n_tokens.append(len(labelled))
        if labelled:  # tokens after the last labelled one never affect the score
            end = labelled[-1] + 1
            ids, labels = ids[:end], labels[:end]
        encoded.append((ids, labels))

    lengths = [len(ids) for ids, _ in encoded]
    todo = [i for i in range(len(records)) if n_tokens[i] > 0]
    todo.sort(key=lambda i: (-lengths[i], i))
    batches = _make_batches(lengths, todo, batch_size, max_tokens_per_batch)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(records), unit="rec", desc="scoring")
        bar.update(len(records) - len(todo))  # unscorable rows need no forward pass
    try:
        nll_sums = batched_nll_sums(model, tokenizer, encoded, batches, device=device, head_only=head_only,
                                    bar=bar)
    finally:
        if bar is not None:
            bar.close()

    return [_row(rec, n_tokens[i], nll_sums[i]) for i, rec in enumerate(records)]
