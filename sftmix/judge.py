"""LLM-as-a-judge single-answer grading (MT-Bench / AlpacaEval style) over an OpenAI-compatible API.

Following MT-Bench's single-answer grading (Zheng et al. 2023, "Judging LLM-as-a-Judge with
MT-Bench and Chatbot Arena") a strong judge model reads a question and the fine-tuned model's
answer (optionally with a reference answer) and rates the answer on a 1-10 scale in a fixed
``Rating: [[x]]`` format; AlpacaEval (Li et al. 2023) runs the same kind of judge over an
instruction-following eval set. The prompt wording here is our own.

Pipeline:

* :func:`generate_answers` -- greedy answers of the fine-tuned model to the eval prompts (the
  conversation up to its final assistant turn, rendered with the model's chat template and
  ``add_generation_prompt=True``; batched with left padding, deterministic);
* :func:`judge_answers` -- one ``POST {base_url}/chat/completions`` per answer (standard library
  ``urllib``, temperature 0, retries with exponential backoff on 5xx/429/connection errors, the
  API key read from the environment variable ``api_key_env`` and sent as a Bearer token, never
  logged), rows ``{id, category, rating, raw}``; an answer whose rating cannot be parsed keeps
  ``rating=None`` and is counted (:func:`summarize_judgements`), not dropped;
* :func:`summarize_judgements` -- mean rating per category and overall.

With no endpoint configured (``base_url`` None) the rule writes ``{"skipped": true, "reason":
SKIP_REASON}`` instead.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from typing import Any

from .openai_api import chat_url, post_chat_completion, request_headers
from .records import Record

log = logging.getLogger(__name__)

SKIP_REASON = "no judge endpoint configured (benchmarks.judge.base_url)"
RATING_MIN, RATING_MAX = 1.0, 10.0

JUDGE_SYSTEM = (
    "You are an impartial and careful evaluator of AI assistants. You judge how well a single answer "
    "serves the user who asked the question."
)
JUDGE_INSTRUCTION = (
    "Read the user's question and the assistant's answer below and grade the answer. Weigh how helpful, "
    "relevant, accurate, deep, creative and detailed it is, and whether it actually does what was asked. "
    "{reference_note}Do not let the length of the answer or its style sway you, and be as objective as "
    "possible. First explain your judgement in a few sentences. Then give a score from 1 (useless) to 10 "
    "(excellent) on the last line, exactly in this format: \"Rating: [[x]]\", for example \"Rating: [[6]]\"."
)
REFERENCE_NOTE = ("A reference answer is given: use it to check correctness, but an answer may differ from it "
                  "and still be excellent. ")


@dataclass
class JudgeConfig:
    """Where and how to call the judge. ``base_url`` None disables judging.

    ``api_key_env`` names the environment variable holding the API key (None or unset: no
    ``Authorization`` header); the key itself is never stored in the config or logged.
    """

    base_url: str | None = None
    model: str = "gpt-4o"
    api_key_env: str | None = "OPENAI_API_KEY"
    max_tokens: int = 512
    timeout: float = 120.0
    retries: int = 3
    backoff: float = 1.0
    temperature: float = 0.0
    max_workers: int = 1

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> JudgeConfig:
        """From a config mapping; unknown keys raise (a typo must not silently disable a setting)."""
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"judge config: unknown keys {unknown}; known: {sorted(known)}")
        return cls(**d)

    @property
    def enabled(self) -> bool:
        return bool(self.base_url)

    def describe(self) -> dict[str, Any]:
        """The settings worth recording next to results (no key: only the variable's name)."""
        return asdict(self)


class ChatClient:
    """Minimal OpenAI-compatible ``/chat/completions`` client (the approach of
    :class:`sftmix.tagging.OpenAITagger`: ``urllib``, retries on HTTP 5xx/429, connection errors,
    timeouts and invalid JSON with ``backoff * 2**(attempt-1)`` s sleeps; other HTTP errors and
    exhausted retries raise ``RuntimeError``; the key never appears in logs, reprs or errors)."""

    def __init__(self, cfg: JudgeConfig):
        if not cfg.base_url:
            raise ValueError(SKIP_REASON)
        self.url = chat_url(cfg.base_url)
        self.cfg = cfg
        self._api_key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None

    def __repr__(self) -> str:
        return f"ChatClient(url={self.url!r}, model={self.cfg.model!r})"

    def chat(self, messages: list[dict[str, str]]) -> str:
        """The content of the first choice for ``messages`` ("" when the response has none)."""
        body = {"model": self.cfg.model, "messages": messages, "temperature": self.cfg.temperature,
                "max_tokens": int(self.cfg.max_tokens)}
        return post_chat_completion(self.url, body, request_headers(self._api_key), timeout=self.cfg.timeout,
                                    retries=self.cfg.retries, backoff=self.cfg.backoff)


# --------------------------------------------------------------------------------------------
# prompts and ratings
# --------------------------------------------------------------------------------------------

def judge_prompt(question: str, answer: str, reference: str | None = None) -> list[dict[str, str]]:
    """The chat messages asking the judge to rate ``answer`` to ``question`` (1-10, ``Rating: [[x]]``)."""
    parts = [JUDGE_INSTRUCTION.format(reference_note=REFERENCE_NOTE if reference else ""),
             f"[Question]\n{question}"]
    if reference:
        parts.append(f"[Reference Answer Start]\n{reference}\n[Reference Answer End]")
    parts.append(f"[Assistant's Answer Start]\n{answer}\n[Assistant's Answer End]")
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


_NUM = r"(\d+(?:\.\d+)?)"
_BRACKETED = re.compile(r"\[\[\s*" + _NUM + r"\s*(?:/\s*10\s*)?\]\]")
_LABELLED = re.compile(r"\brating\s*(?:\*\*)?\s*[:=]\s*(?:\*\*)?\s*\[?\s*" + _NUM + r"(?!\d)", re.IGNORECASE)


def parse_rating(text: str | None) -> float | None:
    """The rating in a judge's answer: the last ``[[x]]`` (``[[7]]``, ``[[7.5]]``, ``[[7/10]]``),
    else the last ``Rating: x``; None when there is none or it is outside 1-10."""
    if not text:
        return None
    for pattern in (_BRACKETED, _LABELLED):
        found = pattern.findall(text)
        if found:
            value = float(found[-1])
            return value if RATING_MIN <= value <= RATING_MAX else None
    return None


# --------------------------------------------------------------------------------------------
# answers of the fine-tuned model
# --------------------------------------------------------------------------------------------

def prompt_messages(record: Record) -> list[dict[str, str]] | None:
    """The conversation up to (not including) its final assistant turn; None when it has none."""
    messages = record.get("messages") or []
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
    if last <= 0 or not any(m.get("role") == "user" for m in messages[:last]):
        return None
    return [{"role": m["role"], "content": m["content"]} for m in messages[:last]]


def reference_answer(record: Record) -> str | None:
    messages = record.get("messages") or []
    for m in reversed(messages):
        if m.get("role") == "assistant":
            return m.get("content")
    return None


def question_text(record: Record) -> str:
    """What the judge reads as the question: the prompt of :func:`sftmix.benchmarks.split_prompt`
    (earlier turns as a transcript), after the system message when there is one."""
    from .benchmarks import split_prompt

    parts = split_prompt(record.get("messages") or [])
    if parts is None:
        return ""
    system, prompt, _ = parts
    return f"[System]\n{system}\n\n{prompt}" if system else prompt


def generate_answers(model: Any, tokenizer: Any, records: list[Record], *, max_new_tokens: int = 256,
                     batch_size: int = 8, device: str = "cpu", max_prompt_tokens: int | None = None,
                     ) -> dict[str, str]:
    """Greedy answers of ``model`` to every record's prompt (:func:`prompt_messages`), by id.

    Each prompt is ``tokenizer.apply_chat_template(messages, add_generation_prompt=True)`` tokenized
    without extra special tokens (the template adds its own), left-truncated to
    ``max_prompt_tokens`` (default: the model's ``max_position_embeddings - max_new_tokens`` when
    known). Prompts are sorted by length and batched (``batch_size``) with left padding and an
    attention mask; decoding is greedy (``do_sample=False``) and stops at the eos token(s) of the
    model's generation config (or the tokenizer's). The answer is the decoded new tokens without
    special tokens, stripped. Records without a prompt are left out. Greedy decoding makes answers
    deterministic; batching changes them only through float round-off of padded attention.
    """
    import torch
    from transformers import GenerationConfig

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if max_prompt_tokens is None:
        n_pos = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        if isinstance(n_pos, int) and n_pos > max_new_tokens:
            max_prompt_tokens = n_pos - max_new_tokens
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad_id is None:
        pad_id = 0
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if eos is None:
        eos = tokenizer.eos_token_id
    gen_cfg = GenerationConfig(max_new_tokens=int(max_new_tokens), do_sample=False, num_beams=1,
                               pad_token_id=int(pad_id), eos_token_id=eos)

    encoded: list[tuple[str, list[int]]] = []
    for rec in records:
        msgs = prompt_messages(rec)
        if msgs is None:
            continue
        text = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if max_prompt_tokens is not None and len(ids) > max_prompt_tokens:
            ids = ids[-max_prompt_tokens:]
        encoded.append((rec["id"], ids))
    order = sorted(range(len(encoded)), key=lambda i: (-len(encoded[i][1]), encoded[i][0]))
    answers: dict[str, str] = {}
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        for s in range(0, len(order), batch_size):
            batch = [encoded[i] for i in order[s:s + batch_size]]
            width = max(len(ids) for _, ids in batch)
            input_ids = torch.full((len(batch), width), int(pad_id), dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, (_, ids) in enumerate(batch):
                input_ids[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
                mask[row, width - len(ids):] = 1
            with torch.inference_mode():
                out = model.generate(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                                     generation_config=gen_cfg)
            for row, (rid, _) in enumerate(batch):
                new = out[row, width:].tolist()
                answers[rid] = tokenizer.decode(new, skip_special_tokens=True).strip()
    finally:
        if was_training:
            model.train()
    return {rid: answers[rid] for rid, _ in encoded}


def select_items(records: Iterable[Record], max_items: int | None) -> list[Record]:
    """At most ``max_items`` records with a prompt, spread evenly over categories: records sorted by
    id within each category, taken round-robin over categories in name order. None: all."""
    by_cat: dict[str, list[Record]] = defaultdict(list)
    for rec in records:
        if prompt_messages(rec) is not None:
            by_cat[str((rec.get("meta") or {}).get("category", "") or "")].append(rec)
    queues = [sorted(by_cat[c], key=lambda r: r["id"]) for c in sorted(by_cat)]
    total = sum(len(q) for q in queues)
    limit = total if max_items is None else min(int(max_items), total)
    out: list[Record] = []
    depth = 0
    while len(out) < limit:
        for q in queues:
            if depth < len(q) and len(out) < limit:
                out.append(q[depth])
        depth += 1
    return sorted(out, key=lambda r: r["id"])


def judge_items(records: list[Record], answers: dict[str, str], *, use_reference: bool = False,
                ) -> list[dict[str, Any]]:
    """Items for :func:`judge_answers`: ``{id, category, question, answer, reference}``."""
    items = []
    for rec in records:
        if rec["id"] not in answers:
            continue
        items.append({"id": rec["id"], "category": str((rec.get("meta") or {}).get("category", "") or ""),
                      "question": question_text(rec), "answer": answers[rec["id"]],
                      "reference": reference_answer(rec) if use_reference else None})
    return items


# --------------------------------------------------------------------------------------------
# judging
# --------------------------------------------------------------------------------------------

def judge_answers(cfg: JudgeConfig, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ask the judge about every item ``{id, category, question, answer[, reference]}``.

    Returns rows ``{"id", "category", "rating", "raw"}`` in item order; ``rating`` is
    :func:`parse_rating` of the judge's answer ``raw`` (None when unparseable: kept and counted by
    :func:`summarize_judgements`). Raises ``ValueError`` when ``cfg.base_url`` is None and
    ``RuntimeError`` when the endpoint fails after its retries.
    """
    client = ChatClient(cfg)

    def one(item: dict[str, Any]) -> str:
        return client.chat(judge_prompt(item["question"], item["answer"], item.get("reference")))

    if cfg.max_workers > 1 and len(items) > 1:
        with ThreadPoolExecutor(int(cfg.max_workers)) as pool:
            raws = list(pool.map(one, items))
    else:
        raws = [one(it) for it in items]
    rows = [{"id": it["id"], "category": it.get("category", ""), "rating": parse_rating(raw), "raw": raw}
            for it, raw in zip(items, raws, strict=True)]
    n_bad = sum(1 for r in rows if r["rating"] is None)
    if n_bad:
        log.warning("judge: %d/%d answers without a parseable rating (kept with rating None)", n_bad, len(rows))
    return rows


def _stats(ratings: list[float | None]) -> dict[str, Any]:
    rated = [r for r in ratings if r is not None and math.isfinite(r)]
    return {"mean": sum(rated) / len(rated) if rated else None, "n": len(ratings), "n_rated": len(rated),
            "n_unparsed": len(ratings) - len(rated)}


def summarize_judgements(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"overall": stats, "per_category": {category: stats}, "n", "n_unparsed"}`` where stats is
    ``{"mean" (over parsed ratings; None if none), "n", "n_rated", "n_unparsed"}``."""
    by_cat: dict[str, list[float | None]] = defaultdict(list)
    for r in rows:
        by_cat[str(r.get("category", ""))].append(r.get("rating"))
    overall = _stats([r.get("rating") for r in rows])
    return {"overall": overall, "per_category": {c: _stats(v) for c, v in sorted(by_cat.items())},
            "n": overall["n"], "n_unparsed": overall["n_unparsed"]}


def skipped_result() -> dict[str, Any]:
    return {"skipped": True, "reason": SKIP_REASON}
