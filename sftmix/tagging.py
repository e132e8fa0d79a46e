"""Open-vocabulary instruction tagging (Beyond IID, "automatic ability tagging system").

The paper prompts an LLM (Qwen-1.5-72B-Chat) to give each instruction tags naming the skills and
knowledge needed to complete it (InsTag-style); the tags are normalized afterwards
(:mod:`sftmix.normalize`). This module provides the taggers and the tolerant parser of LLM answers:

* :class:`LLMTagger` -- a local causal LM through ``transformers`` (batched greedy decoding);
* :class:`VLLMTagger` -- the same prompts on vLLM offline inference (``tag.engine: vllm``);
* :class:`OpenAITagger` -- any OpenAI-compatible ``/chat/completions`` server (e.g. vLLM);
* :class:`EmbeddingTagger` -- offline zero-shot stand-in: the nearest tags of a fixed vocabulary
  in a sentence-embedding space.

Every tagger returns, per text, a list of ``(tag, score)``; LLM backends give score 1.0.
:func:`tag_records` turns canonical records into rows ``{"id", "tags": [[tag, score], ...]}``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, runtime_checkable

import json_repair
import numpy as np

from .openai_api import chat_url, post_chat_completion, request_headers
from .records import Record, first_instruction

log = logging.getLogger(__name__)

MAX_TAG_CHARS = 60
_FALLBACK_MAX_WORDS = 6
_MAX_PARSE_CHARS = 8000  # answers are a few hundred characters; bounds the repair work

DEFAULT_TAG_PROMPT = """You are a helpful assistant. Please identify the skills and knowledge that are \
needed to complete the user instruction below, as tags. Give fine-grained, specific tags \
(for example "python programming", "arithmetic calculation", "biology knowledge", \
"sentiment analysis"), at most 5 of them. Do not answer the instruction itself.
Reply with a JSON list of strings and nothing else, e.g. ["tag 1", "tag 2"].

[begin of instruction]
{instruction}
[end of instruction]"""
"""Default tagging prompt; ``{instruction}`` is replaced by the instruction text (plain string
replacement, not ``str.format``: literal braces in a template are safe)."""


# --------------------------------------------------------------------------------------------
# parsing LLM answers
# --------------------------------------------------------------------------------------------

_FENCE_RE = re.compile(r"```[ \t]*[A-Za-z0-9_+-]*[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)
# where JSON starts: a bracket opening a quoted string or another bracket, or an object with a
# bare key. Bracketed asides in prose ("(e.g. [list])") are not JSON; json-repair would read them
# as lists of strings.
_JSON_START_RE = re.compile(r"""[\[{]\s*["'\[{]|\{\s*\w+\s*:""")
# json-repair wraps several top-level values in a list and logs these lines (its API has no flag
# for it); the first value that holds a tag wins, as trailing chatter may hold brackets too
_SEVERAL_VALUES_LOG = "The parser returned early"
_ONE_VALUE_LOG = "There were no more elements"
_BULLET_RE = re.compile(r"^\s*(?:[-*+\u2022\u2023\u25cf>]+|\(?\d{1,3}[.)\]:]|\(?[a-zA-Z][.)])\s*")
_WS_RE = re.compile(r"\s+")
_LETTER_RE = re.compile(r"[^\W\d_]", re.UNICODE)  # a tag must contain a letter
_DICT_KEYS = ("tag", "name", "skill", "label", "tags", "skills", "knowledge")


def clean_tag(tag: Any, max_chars: int = MAX_TAG_CHARS) -> str:
    """Lowercase, strip quotes/brackets/punctuation at the ends, collapse whitespace, cap length.

    Returns "" for non-strings and for strings without a letter (numbers, punctuation)."""
    if not isinstance(tag, str):
        return ""
    t = _WS_RE.sub(" ", tag).strip().lower()
    t = t.strip(" \t\"'`*_[](){}<>.,;:!?")
    if len(t) > max_chars:
        cut = t[:max_chars]
        # cut at a word boundary when there is one in the second half of the window
        space = cut.rfind(" ")
        t = cut[:space] if space >= max_chars // 2 else cut
        t = t.rstrip(" -,;:/")
    if not _LETTER_RE.search(t):
        return ""
    return t


def _strings_from(obj: Any, depth: int = 0) -> list[str]:
    """Tag strings from a parsed JSON/Python object (list of str, InsTag dicts, {"tags": [...]})."""
    if depth > 4:
        return []
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        lowered = {str(k).lower(): v for k, v in obj.items()}
        for key in _DICT_KEYS:
            if key in lowered:
                return _strings_from(lowered[key], depth + 1)
        # an unknown wrapper such as {"answer": [...]}: the list-valued fields
        out: list[str] = []
        for v in obj.values():
            if isinstance(v, list | tuple):
                out.extend(_strings_from(v, depth + 1))
        return out
    if isinstance(obj, list | tuple):
        out: list[str] = []
        for item in obj:
            out.extend(_strings_from(item, depth + 1))
        return out
    return []


def _json_values(text: str) -> list[Any]:
    """The top-level values ``json_repair`` reads from the first JSON opening on, in order.

    json-repair mends trailing commas, single quotes, missing quotes/brackets (truncation),
    comments and code fences, and skips chatter around the JSON. ``[]`` when there is no JSON
    opening or the parser gives up."""
    start = _JSON_START_RE.search(text)
    if not start:
        return []
    try:
        value, repairs = json_repair.loads(text[start.start():], logging=True)
    except Exception:  # noqa: BLE001 - e.g. RecursionError on "[[[[..."; the list fallback follows
        return []
    notes = [str(r.get("text", "")) for r in repairs if isinstance(r, dict)]
    several = any(n.startswith(_SEVERAL_VALUES_LOG) for n in notes) and not any(
        n.startswith(_ONE_VALUE_LOG) for n in notes)
    return list(value) if several and isinstance(value, list) else [value]


def _from_json(text: str) -> list[str]:
    """The tag strings of the first JSON value that holds any.

    An answer cut off inside a string (the generation limit) ends with that string's text; the
    half-written tag json-repair closed is dropped (``["math", "alge`` gives ``["math"]``)."""
    values = _json_values(text)
    for i, value in enumerate(values):
        if not isinstance(value, list | dict):
            continue  # a bare string or number is not a tag list
        found = [s for s in _strings_from(value) if clean_tag(s)]
        if found and i == len(values) - 1 and text.rstrip().endswith(found[-1].rstrip()):
            found.pop()
        if found:
            return found
    return []


def _from_plain_list(text: str) -> list[str]:
    """Last resort: comma/semicolon/newline-separated items, bullets and numbering stripped.

    Lines ending in ':' are headers (``Here are the tags:``) and dropped; so are items of more than
    six words (sentences, not tags). A lone sentence (no separators, ending in . ? !) gives []."""
    stripped = text.strip()
    if not stripped:
        return []
    has_structure = bool(re.search(r"[\n,;]", stripped)) or bool(_BULLET_RE.match(stripped))
    if not has_structure and stripped[-1] in ".?!":
        return []
    out: list[str] = []
    for line in stripped.splitlines():
        line = line.strip()
        if not line or line.endswith(":"):
            continue
        line = _BULLET_RE.sub("", line)
        if ":" in line:
            head, _, tail = line.partition(":")
            if head.strip().lower() in ("tags", "tag", "skills", "skills and knowledge", "answer"):
                line = tail
        for item in re.split(r"[,;]", line):
            item = _BULLET_RE.sub("", item.strip())
            if item and len(item.split()) <= _FALLBACK_MAX_WORDS:
                out.append(item)
    return out


def parse_tags(text: str, max_tags: int = 10) -> list[str]:
    """Parse an LLM's answer into at most ``max_tags`` clean tag strings. Never raises.

    Tried in order, the first that yields a tag wins:

    1. JSON, mended by ``json_repair`` (trailing commas, single quotes, code fences, comments,
       truncation, chatter before and after): a list of strings, InsTag style
       ``[{"tag": ..., "explanation": ...}]``, or ``{"tags": [...]}``; when the answer holds
       several JSON values, the first one with a tag; a tag cut off by the generation limit is
       dropped;
    2. a comma/semicolon/newline-separated (bullet) list (the first code block's body when there
       is one).

    Tags are lowercased and stripped, whitespace collapsed, capped at 60 characters; empties and
    duplicates are dropped (first occurrence kept). ``[]`` when nothing usable is found.
    """
    try:
        if not isinstance(text, str) or not text.strip():
            return []
        text = text[:_MAX_PARSE_CHARS]
        raw = _from_json(text)
        if not raw:
            fenced = _FENCE_RE.findall(text)
            raw = _from_plain_list(fenced[0] if fenced else text)
        out: list[str] = []
        seen: set[str] = set()
        for item in raw:
            tag = clean_tag(item)
            if tag and tag not in seen:
                seen.add(tag)
                out.append(tag)
                if len(out) >= max_tags:
                    break
        return out
    except Exception:  # noqa: BLE001 - a parser of free text must never take the pipeline down
        log.debug("parse_tags failed on a %d-char answer", len(text) if isinstance(text, str) else -1)
        return []


# --------------------------------------------------------------------------------------------
# taggers
# --------------------------------------------------------------------------------------------

TagList = list[tuple[str, float]]


@runtime_checkable
class Tagger(Protocol):
    """Anything that tags a batch of texts: one list of ``(tag, score)`` per text, input order."""

    def tag(self, texts: list[str]) -> list[TagList]: ...


def fill_prompt(template: str, instruction: str) -> str:
    """``template`` with ``{instruction}`` replaced (plain replacement; other braces untouched)."""
    if "{instruction}" not in template:
        raise ValueError("prompt template has no {instruction} placeholder")
    return template.replace("{instruction}", instruction)


class EmbeddingTagger:
    """Zero-shot tagger: the vocabulary tags nearest to each text in an embedding space.

    The vocabulary is embedded once; each text gets up to ``top_k`` tags whose cosine similarity is
    at least ``min_similarity``, best first, ties broken by vocabulary order; scores are the cosines
    rounded to 6 decimals. Deterministic for a given model. Blank texts get no tags.
    ``model`` is a SentenceTransformer-like object (``encode``) or a spec for
    :func:`sftmix.embedding.load_embedding_model`.
    """

    def __init__(self, model: Any, vocabulary: list[str], top_k: int = 3,
                 min_similarity: float = 0.25, batch_size: int = 64, progress: bool = False):
        from .embedding import embed, load_embedding_model

        if isinstance(model, str):
            model = load_embedding_model(model)
        vocab: list[str] = []
        for v in vocabulary:
            v = _WS_RE.sub(" ", str(v)).strip()
            if v and v not in vocab:
                vocab.append(v)
        if not vocab:
            raise ValueError("EmbeddingTagger needs a non-empty vocabulary")
        if top_k < 1:
            raise ValueError("top_k must be >= 1")
        self.model = model
        self.vocabulary = vocab
        self.top_k = int(top_k)
        self.min_similarity = float(min_similarity)
        self.batch_size = int(batch_size)
        self.progress = progress
        self._embed = embed
        self.vocab_embeddings = embed(model, vocab, batch_size=batch_size)

    def tag(self, texts: list[str]) -> list[TagList]:
        texts = list(texts)
        keep = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
        out: list[TagList] = [[] for _ in texts]
        if not keep:
            return out
        emb = self._embed(self.model, [texts[i] for i in keep], batch_size=self.batch_size,
                          progress=self.progress)
        sims = emb @ self.vocab_embeddings.T
        k = min(self.top_k, len(self.vocabulary))
        for row, i in zip(sims, keep, strict=True):
            row = np.round(row.astype(np.float64), 6)
            order = np.argsort(-row, kind="stable")[:k]  # stable: ties keep vocabulary order
            out[i] = [(self.vocabulary[j], float(row[j])) for j in order
                      if row[j] >= self.min_similarity]
        return out


def build_tag_prompt(tokenizer: Any, template: str, text: str, max_instruction_chars: int = 4000) -> str:
    """The tagging prompt of one instruction as text (the one home of the llm backend's prompt):
    ``template`` filled with ``text`` cut to ``max_instruction_chars``, sent as one user turn with
    the generation prompt when the tokenizer has a chat template, else as plain text."""
    prompt = fill_prompt(template, text[:max_instruction_chars])
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
    return prompt


def prompt_special_tokens(tokenizer: Any) -> bool:
    """Whether tokenizing a tagging prompt adds the tokenizer's special tokens: a chat template
    writes its own (bos), a plain prompt gets them from the tokenizer."""
    return not getattr(tokenizer, "chat_template", None)


def tag_prompt_ids(tokenizer: Any, template: str, text: str, max_instruction_chars: int = 4000) -> list[int]:
    """The token ids of :func:`build_tag_prompt`: what every llm engine feeds the model."""
    prompt = build_tag_prompt(tokenizer, template, text, max_instruction_chars)
    return list(tokenizer(prompt, add_special_tokens=prompt_special_tokens(tokenizer))["input_ids"])


def _resolve_dtype(dtype: Any) -> Any:
    if dtype is None or dtype == "auto" or not isinstance(dtype, str):
        return dtype
    import torch

    aliases = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "half": "float16"}
    name = aliases.get(dtype, dtype)
    value = getattr(torch, name, None)
    if not isinstance(value, torch.dtype):
        raise ValueError(f"unknown dtype {dtype!r}")
    return value


class LLMTagger:
    """Tags with a local causal LM (``transformers``), batched greedy decoding, CPU or GPU.

    Loads ``AutoTokenizer`` / ``AutoModelForCausalLM`` from ``model_dir`` with safetensors only.
    Prompts are ``prompt_template`` with ``{instruction}`` filled in; instructions longer than
    ``max_instruction_chars`` are cut. When the tokenizer has a chat template the prompt is sent as
    one user turn with the generation prompt added, else as plain text. Batches are left-padded and
    sorted by length (less padding); only the new tokens are decoded, then :func:`parse_tags`.
    """

    def __init__(self, model_dir: str, prompt_template: str = DEFAULT_TAG_PROMPT,
                 max_new_tokens: int = 64, batch_size: int = 8, device: str = "cpu",
                 trust_remote_code: bool = False, dtype: Any = "auto", max_tags: int = 10,
                 max_instruction_chars: int = 4000):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        fill_prompt(prompt_template, "")  # validate the placeholder early
        self.prompt_template = prompt_template
        self.max_new_tokens = int(max_new_tokens)
        self.batch_size = max(1, int(batch_size))
        self.device = device
        self.max_tags = max_tags
        self.max_instruction_chars = max_instruction_chars
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir),
                                                       trust_remote_code=trust_remote_code)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            if self.tokenizer.eos_token is None:
                raise ValueError(f"tokenizer in {model_dir} has neither a pad nor an eos token")
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(
            str(model_dir), use_safetensors=True, trust_remote_code=trust_remote_code,
            dtype=_resolve_dtype(dtype),
        )
        self.model.to(device)
        self.model.eval()
        self.uses_chat_template = bool(getattr(self.tokenizer, "chat_template", None))

    def build_prompt(self, text: str) -> str:
        return build_tag_prompt(self.tokenizer, self.prompt_template, text, self.max_instruction_chars)

    def _generate(self, prompts: list[str]) -> list[str]:
        """Greedy continuation of each prompt (one batch); only the new tokens are decoded."""
        import torch

        enc = self.tokenizer(prompts, return_tensors="pt", padding=True,
                             add_special_tokens=prompt_special_tokens(self.tokenizer))
        enc = {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
        with torch.inference_mode():
            out = self.model.generate(
                **enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        new_tokens = out[:, enc["input_ids"].shape[1]:]
        return self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)

    def generate_raw(self, texts: list[str]) -> list[str]:
        """The raw answers for ``texts`` (input order)."""
        prompts = [self.build_prompt(t if isinstance(t, str) else "") for t in texts]
        order = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]), i))
        answers: list[str] = [""] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            for i, ans in zip(idx, self._generate([prompts[i] for i in idx]), strict=True):
                answers[i] = ans
        return answers

    def tag(self, texts: list[str]) -> list[TagList]:
        return [[(t, 1.0) for t in parse_tags(ans, self.max_tags)]
                for ans in self.generate_raw(list(texts))]


class VLLMTagger:
    """The llm backend on vLLM offline inference (``tag.engine: vllm``; :mod:`sftmix.vllm_engine`).

    The prompts are :func:`tag_prompt_ids` with the model's own tokenizer: exactly the token ids
    :class:`LLMTagger` feeds its model. A shard's texts go to vLLM in one call
    (``whole_batch``: :func:`tag_records` does not chunk them; vLLM schedules its own batches),
    greedy, at most ``max_new_tokens`` tokens, then :func:`parse_tags`. ``settings``: a
    :class:`sftmix.vllm_engine.EngineSettings` (model, tensor parallelism, ...); ``llm``: an engine
    already built (else loaded from ``settings``). Raises
    :class:`sftmix.vllm_engine.VLLMUnavailable` naming ``tag.engine`` without vllm.
    """

    whole_batch = True

    def __init__(self, settings: Any, prompt_template: str = DEFAULT_TAG_PROMPT, *, max_new_tokens: int = 64,
                 max_tags: int = 10, max_instruction_chars: int = 4000, progress: bool = True, llm: Any = None):
        from transformers import AutoTokenizer

        from .vllm_engine import import_vllm, load_llm

        fill_prompt(prompt_template, "")  # validate the placeholder before loading anything
        import_vllm("tag.engine", "transformers")
        self.settings = settings
        self.prompt_template = prompt_template
        self.max_new_tokens = int(max_new_tokens)
        self.max_tags = max_tags
        self.max_instruction_chars = max_instruction_chars
        self.progress = progress
        self.tokenizer = AutoTokenizer.from_pretrained(settings.model,
                                                       trust_remote_code=settings.trust_remote_code)
        self.llm = llm if llm is not None else load_llm(settings, config_key="tag.engine", fallback="transformers")

    def prompt_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [tag_prompt_ids(self.tokenizer, self.prompt_template, t if isinstance(t, str) else "",
                               self.max_instruction_chars) for t in texts]

    def generate_raw(self, texts: list[str]) -> list[str]:
        """The raw answers for ``texts`` (input order), one ``generate`` call."""
        from .vllm_engine import generate_texts

        return generate_texts(self.llm, self.prompt_ids(texts), max_tokens=self.max_new_tokens,
                              seed=self.settings.seed, progress=self.progress, config_key="tag.engine",
                              fallback="transformers")

    def tag(self, texts: list[str]) -> list[TagList]:
        return [[(t, 1.0) for t in parse_tags(ans, self.max_tags)] for ans in self.generate_raw(list(texts))]


class OpenAITagger:
    """Tags through an OpenAI-compatible ``POST {base_url}/chat/completions`` (e.g. vLLM).

    ``urllib`` with retries by ``tenacity`` (:func:`sftmix.openai_api.post_chat_completion`);
    temperature 0. The API key is read from the environment variable ``api_key_env`` (none sent
    when unset or ``api_key_env`` is None) and is never logged or put in an exception message.
    HTTP 5xx/429, connection errors, timeouts and invalid JSON are retried up to ``retries`` times
    with exponential backoff (``backoff * 2**(attempt-1)`` seconds); other HTTP errors and
    exhausted retries raise ``RuntimeError``. ``max_workers`` > 1 sends requests concurrently.
    """

    def __init__(self, base_url: str, model: str, prompt_template: str = DEFAULT_TAG_PROMPT,
                 api_key_env: str | None = "OPENAI_API_KEY", max_tokens: int = 128,
                 timeout: float = 60, retries: int = 3, backoff: float = 1.0,
                 max_workers: int = 1, max_tags: int = 10, max_instruction_chars: int = 4000):
        fill_prompt(prompt_template, "")
        self.url = chat_url(base_url)
        self.model = model
        self.prompt_template = prompt_template
        self.max_tokens = int(max_tokens)
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.backoff = backoff
        self.max_workers = max(1, int(max_workers))
        self.max_tags = max_tags
        self.max_instruction_chars = max_instruction_chars
        self._api_key = os.environ.get(api_key_env) if api_key_env else None

    def __repr__(self) -> str:  # no key in reprs
        return f"OpenAITagger(url={self.url!r}, model={self.model!r})"

    def complete(self, text: str) -> str:
        """The raw answer of the server for one instruction."""
        prompt = fill_prompt(self.prompt_template, (text or "")[: self.max_instruction_chars])
        body = {"model": self.model, "messages": [{"role": "user", "content": prompt}], "temperature": 0,
                "max_tokens": self.max_tokens}
        return post_chat_completion(self.url, body, request_headers(self._api_key), timeout=self.timeout,
                                    retries=self.retries, backoff=self.backoff)

    def tag(self, texts: list[str]) -> list[TagList]:
        texts = list(texts)
        if self.max_workers > 1 and len(texts) > 1:
            with ThreadPoolExecutor(self.max_workers) as pool:
                answers = list(pool.map(self.complete, texts))
        else:
            answers = [self.complete(t) for t in texts]
        return [[(t, 1.0) for t in parse_tags(a, self.max_tags)] for a in answers]


def tagger_from_config(cfg: dict[str, Any], seed: int = 0) -> Tagger:
    """The tagger the ``tag`` config section asks for (``backend``: embedding, llm or openai; the
    llm backend on ``engine`` transformers or vllm, :class:`VLLMTagger`, seeded with ``seed``).

    Raises ``ValueError`` when a setting the backend needs is missing, and
    :class:`sftmix.vllm_engine.VLLMUnavailable` (naming ``tag.engine``) when vllm is selected but
    not installed. The openai backend warns (without failing) when the key's environment variable
    is unset: then no key is sent."""
    prompt = cfg.get("prompt") or DEFAULT_TAG_PROMPT
    if cfg["backend"] == "embedding":
        from .embedding import load_embedding_model

        if not cfg["vocabulary"]:
            raise ValueError("tag.vocabulary: the embedding backend needs a tag vocabulary")
        model = load_embedding_model(cfg["embedding_model"], device=cfg["device"])
        return EmbeddingTagger(model, cfg["vocabulary"], top_k=cfg["top_k"],
                               min_similarity=cfg["min_similarity"], batch_size=cfg["batch_size"])
    if cfg["backend"] == "llm":
        if not cfg.get("llm_model"):
            raise ValueError("tag.llm_model: the llm backend needs a model (local dir or hub id)")
        if cfg["engine"] == "vllm":
            from .vllm_engine import EngineSettings

            settings = EngineSettings.from_config(cfg["llm_model"], cfg["vllm"], seed=seed,
                                                  trust_remote_code=cfg["trust_remote_code"])
            return VLLMTagger(settings, prompt, max_new_tokens=cfg["max_new_tokens"])
        return LLMTagger(cfg["llm_model"], prompt, max_new_tokens=cfg["max_new_tokens"],
                         batch_size=cfg["batch_size"], device=cfg["device"],
                         trust_remote_code=cfg["trust_remote_code"])
    for key in ("openai_base_url", "openai_model"):
        if not cfg.get(key):
            raise ValueError(f"tag.{key}: required by the openai backend")
    if not os.environ.get(cfg["openai_api_key_env"]):
        log.warning("tag: environment variable %s is not set; sending no API key", cfg["openai_api_key_env"])
    return OpenAITagger(cfg["openai_base_url"], cfg["openai_model"], prompt,
                        api_key_env=cfg["openai_api_key_env"], max_tokens=cfg["max_new_tokens"])


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------

def default_tag_text(record: Record) -> str:
    """What a tagger looks at: the first user turn, plus the input part when there is one.

    The input part is any user turns that directly follow the first one (before an assistant
    turn), or else a non-empty string ``meta["input"]`` not already contained in the first turn.
    """
    first = first_instruction(record)
    parts = [first]
    messages = record.get("messages") or []
    seen_first = False
    for m in messages:
        if m.get("role") == "user":
            if not seen_first:
                seen_first = True
                continue
            parts.append(m.get("content") or "")
        elif seen_first and m.get("role") == "assistant":
            break
    if len(parts) == 1:
        extra = (record.get("meta") or {}).get("input")
        if isinstance(extra, str) and extra.strip() and extra.strip() not in first:
            parts.append(extra)
    return "\n\n".join(p for p in parts if p and p.strip())


def tag_records(records: Iterable[Record], tagger: Tagger, *,
                text_fn: Callable[[Record], str] | None = None, progress: bool = False,
                chunk_size: int = 256) -> list[dict[str, Any]]:
    """Tag records: rows ``{"id": ..., "tags": [[tag, score], ...]}`` in input order.

    ``text_fn`` defaults to :func:`default_tag_text`. The tagger is called on chunks of
    ``chunk_size`` texts (for the progress bar), or once on all of them when it schedules its own
    batches (a ``whole_batch`` attribute that is true: vLLM)."""
    text_fn = text_fn or default_tag_text
    records = list(records)
    texts = [text_fn(r) for r in records]
    if getattr(tagger, "whole_batch", False):
        chunk_size = max(1, len(texts))
    chunks: Sequence[int] = range(0, len(texts), max(1, chunk_size))
    if progress:
        from tqdm import tqdm

        chunks = tqdm(chunks, desc="tagging", unit="chunk")
    rows: list[dict[str, Any]] = []
    for start in chunks:
        block = texts[start : start + chunk_size]
        result = tagger.tag(block)
        if len(result) != len(block):
            raise RuntimeError(f"tagger returned {len(result)} results for {len(block)} texts")
        for rec, tags in zip(records[start : start + chunk_size], result, strict=True):
            rows.append({"id": rec["id"], "tags": [[str(t), float(s)] for t, s in tags]})
    return rows
