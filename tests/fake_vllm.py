"""A stand-in for the ``vllm`` package on machines without it (every CPU machine here).

:func:`fake_vllm_module` builds a module with vLLM's offline API shape (``LLM``, ``SamplingParams``,
``RequestOutput`` / ``CompletionOutput`` / ``Logprob``) that computes real outputs with a local
transformers model: greedy decoding one token at a time (argmax of the raw logits, restricted to
``allowed_token_ids`` when given), stopping at the model's end-of-sequence token, and, as vLLM's
default ``raw_logprobs`` mode does, the top ``logprobs`` entries of the full vocabulary's
log-softmax plus the chosen token. Outputs come back shuffled (seeded) with vLLM-style numeric
request ids, so callers must map them back to their inputs. Every ``LLM`` built is recorded in
``module.built`` (its keyword arguments) and every ``generate`` call in ``module.calls``.
"""

from __future__ import annotations

import random
import types
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    logprobs: list[dict[int, Logprob]] | None
    finish_reason: str | None = None


@dataclass
class RequestOutput:
    request_id: str
    prompt: str | None
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput]
    finished: bool = True


@dataclass
class SamplingParams:
    temperature: float = 1.0
    max_tokens: int | None = 16
    seed: int | None = None
    logprobs: int | None = None
    allowed_token_ids: list[int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def fake_vllm_module(shuffle_seed: int = 0) -> types.ModuleType:
    """A fresh fake ``vllm`` module (put it in ``sys.modules["vllm"]``)."""
    mod = types.ModuleType("vllm")
    mod.built = []
    mod.calls = []
    counter = iter(range(10**9))

    class LLM:
        def __init__(self, model: str, **kwargs: Any):
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            mod.built.append({"model": model, **kwargs})
            assert kwargs.get("load_format") == "safetensors"
            self.tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=False)
            self.model = AutoModelForCausalLM.from_pretrained(model, use_safetensors=True, trust_remote_code=False,
                                                              dtype=torch.float32).eval()
            eos = self.model.generation_config.eos_token_id
            self.eos = set(eos if isinstance(eos, list) else [eos]) - {None}

        def _one(self, ids: list[int], params: SamplingParams) -> CompletionOutput:
            import torch

            seq, out, lps = list(ids), [], []
            with torch.inference_mode():
                for _ in range(int(params.max_tokens or 16)):
                    logits = self.model(torch.tensor([seq])).logits[0, -1].float()
                    logprobs = torch.log_softmax(logits, dim=-1)
                    masked = logits
                    if params.allowed_token_ids:
                        masked = torch.full_like(logits, -torch.inf)
                        masked[params.allowed_token_ids] = logits[params.allowed_token_ids]
                    tok = int(torch.argmax(masked))
                    if params.logprobs:
                        top = torch.topk(logprobs, min(params.logprobs, logprobs.numel()))
                        entry = {int(t): Logprob(float(v), r + 1) for r, (v, t) in
                                 enumerate(zip(top.values, top.indices, strict=True))}
                        entry.setdefault(tok, Logprob(float(logprobs[tok])))
                        lps.append(entry)
                    out.append(tok)
                    seq.append(tok)
                    if tok in self.eos:
                        break
            return CompletionOutput(0, self.tokenizer.decode(out, skip_special_tokens=True), out,
                                    lps if params.logprobs else None)

        def generate(self, prompts: list[dict[str, Any]], sampling_params: SamplingParams,
                     use_tqdm: bool = True) -> list[RequestOutput]:
            assert sampling_params.temperature == 0.0
            mod.calls.append({"n": len(prompts), "params": sampling_params,
                              "prompt_token_ids": [list(p["prompt_token_ids"]) for p in prompts]})
            outs = [RequestOutput(str(next(counter)), None, list(p["prompt_token_ids"]),
                                  [self._one(list(p["prompt_token_ids"]), sampling_params)]) for p in prompts]
            random.Random(shuffle_seed).shuffle(outs)
            return outs

    def sampling_params(**kwargs: Any) -> SamplingParams:
        known = {k: kwargs.pop(k) for k in ("temperature", "max_tokens", "seed", "logprobs", "allowed_token_ids")
                 if k in kwargs}
        return SamplingParams(**known, extra=kwargs)

    mod.LLM = LLM
    mod.SamplingParams = sampling_params
    return mod
