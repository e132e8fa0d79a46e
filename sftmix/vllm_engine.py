"""vLLM offline inference for the LLM stages: the one home of the vLLM API.

``vllm`` is imported lazily (:func:`import_vllm`): a machine without it (every CPU machine; vLLM
needs CUDA GPUs) never imports it, and selecting the engine there fails with a message naming the
config key that switches back and ``pip install vllm``. Nothing else in the library touches a
``vllm`` object:

* :class:`EngineSettings` / :func:`load_llm` -- ``vllm.LLM`` from a stage's ``vllm`` config block:
  tensor parallelism, dtype, memory share, context length, seed, safetensors-only weights;
* :func:`generate_texts` -- greedy completions of token-id prompts, all in one ``LLM.generate``
  call (vLLM schedules and batches itself), in input order (:func:`in_input_order`);
* :func:`first_token_logprobs` -- the top log-probabilities of one generated token per prompt,
  restricted to given tokens (the DEITA-style scorer's reading).

The stages build their prompts where the transformers engine does, so both engines see the same
token ids: :class:`sftmix.tagging.VLLMTagger` (``tag.engine``), :func:`sftmix.quality.deita_scores_vllm`
(``quality.deita_engine``), and lm-eval's own ``vllm`` model type through
:func:`sftmix.benchmarks.lmeval_model_args` (``benchmarks.lmeval.model``). This module imports no
other library module, so a stage that uses it does not rerun when another stage's code changes.
"""

from __future__ import annotations

import logging
import math
import re
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install vllm (a CUDA GPU machine; vLLM does not run on these CPUs)"


class VLLMUnavailable(ImportError):
    """The vllm engine was selected where the ``vllm`` package cannot be imported."""


def stage_gpus(engine: str, vllm_settings: Mapping[str, Any], device: str) -> int:
    """GPUs one job of an LLM stage holds: vLLM splits the model over ``tensor_parallel_size``
    GPUs; the transformers engine takes one when its device is cuda and none on the CPU. The one
    answer the rules' GPU requests and the compute plan (:mod:`sftmix.computeplan`) share."""
    if engine == "vllm":
        return int(vllm_settings["tensor_parallel_size"])
    return 1 if str(device).startswith("cuda") else 0


def import_vllm(config_key: str, fallback: str) -> ModuleType:
    """``import vllm``, or :class:`VLLMUnavailable` naming ``config_key`` (the key that selected
    vLLM) and ``fallback`` (the value that switches back), and how to install vLLM."""
    try:
        import vllm
    except ImportError as err:
        raise VLLMUnavailable(
            f"{config_key}: vllm is selected but the vllm package cannot be imported ({err}); "
            f"{INSTALL_HINT}, or set {config_key}: {fallback}") from err
    return vllm


@dataclass(frozen=True)
class EngineSettings:
    """What ``vllm.LLM`` is built with: the schema's ``vllm`` block of a stage (its defaults live
    there), plus the model, the run's seed and ``trust_remote_code``."""

    model: str
    tensor_parallel_size: int
    gpu_memory_utilization: float
    max_model_len: int | None
    dtype: str
    seed: int
    trust_remote_code: bool

    @classmethod
    def from_config(cls, model: str, vllm_cfg: Mapping[str, Any], *, seed: int,
                    trust_remote_code: bool) -> EngineSettings:
        return cls(model=str(model), tensor_parallel_size=int(vllm_cfg["tensor_parallel_size"]),
                   gpu_memory_utilization=float(vllm_cfg["gpu_memory_utilization"]),
                   max_model_len=vllm_cfg["max_model_len"], dtype=str(vllm_cfg["dtype"]),
                   seed=int(seed), trust_remote_code=bool(trust_remote_code))

    def llm_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``vllm.LLM`` (weights from safetensors only: a pickle checkpoint
        can run code on load)."""
        kw: dict[str, Any] = {"model": self.model, "tensor_parallel_size": self.tensor_parallel_size,
                              "gpu_memory_utilization": self.gpu_memory_utilization, "dtype": self.dtype,
                              "seed": self.seed, "trust_remote_code": self.trust_remote_code,
                              "load_format": "safetensors"}
        if self.max_model_len is not None:
            kw["max_model_len"] = int(self.max_model_len)
        return kw


def load_llm(settings: EngineSettings, *, config_key: str, fallback: str, **extra: Any) -> Any:
    """A ``vllm.LLM`` built from ``settings`` (``extra``: further engine arguments, e.g.
    ``max_logprobs``). Raises :class:`VLLMUnavailable` without vllm."""
    vllm = import_vllm(config_key, fallback)
    kwargs = {**settings.llm_kwargs(), **extra}
    log.info("vllm: loading %s (tensor_parallel_size=%d, dtype=%s, gpu_memory_utilization=%.2f)",
             settings.model, settings.tensor_parallel_size, settings.dtype, settings.gpu_memory_utilization)
    return vllm.LLM(**kwargs)


def greedy_params(vllm: ModuleType, *, max_tokens: int, seed: int, **extra: Any) -> Any:
    """``SamplingParams`` of greedy decoding (temperature 0), seeded."""
    return vllm.SamplingParams(temperature=0.0, max_tokens=int(max_tokens), seed=int(seed), **extra)


def _request_order(output: Any) -> tuple[float, str]:
    """Sort key of a ``RequestOutput``: vLLM's ``LLM.generate`` numbers requests in submission
    order (possibly with a suffix); non-numeric ids sort after, by text."""
    rid = str(getattr(output, "request_id", ""))
    m = re.match(r"\d+", rid)
    return (float(m.group()) if m else math.inf, rid)


def in_input_order(prompt_ids: Sequence[Sequence[int]], outputs: Sequence[Any]) -> list[Any]:
    """``outputs`` (``RequestOutput``-like: ``request_id``, ``prompt_token_ids``) rearranged to the
    order of ``prompt_ids``.

    Each output goes to the input with its prompt token ids; identical prompts are filled in request
    order. Raises ``RuntimeError`` when the counts differ or an output's prompt was not sent."""
    if len(outputs) != len(prompt_ids):
        raise RuntimeError(f"vllm returned {len(outputs)} outputs for {len(prompt_ids)} prompts")
    slots: dict[tuple[int, ...], deque[int]] = defaultdict(deque)
    for i, ids in enumerate(prompt_ids):
        slots[tuple(int(t) for t in ids)].append(i)
    ordered: list[Any] = [None] * len(prompt_ids)
    for out in sorted(outputs, key=_request_order):
        queue = slots.get(tuple(int(t) for t in out.prompt_token_ids))
        if not queue:
            raise RuntimeError(f"vllm returned request {getattr(out, 'request_id', '?')!r} for a prompt "
                               "that was not sent (or twice)")
        ordered[queue.popleft()] = out
    return ordered


def generate_in_order(llm: Any, prompt_ids: Sequence[Sequence[int]], sampling_params: Any, *,
                      progress: bool = True) -> list[Any]:
    """One ``llm.generate`` call over every prompt (token ids: no re-tokenization, no special
    tokens added), its ``RequestOutput`` objects in input order (:func:`in_input_order`)."""
    if not prompt_ids:
        return []
    prompts = [{"prompt_token_ids": [int(t) for t in ids]} for ids in prompt_ids]
    outputs = llm.generate(prompts, sampling_params, use_tqdm=progress)
    return in_input_order(prompt_ids, list(outputs))


def release_torch_memory() -> None:
    """Return the memory of deleted torch models to the GPU before vLLM plans its share of it."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def generate_texts(llm: Any, prompt_ids: Sequence[Sequence[int]], *, max_tokens: int, seed: int,
                   progress: bool = True, config_key: str, fallback: str) -> list[str]:
    """Greedy completions (special tokens left out of the text; vLLM stops at the model's
    end-of-sequence tokens, as transformers' ``generate`` does) of every prompt, input order."""
    vllm = import_vllm(config_key, fallback)
    params = greedy_params(vllm, max_tokens=max_tokens, seed=seed)
    return [out.outputs[0].text for out in generate_in_order(llm, prompt_ids, params, progress=progress)]


def first_token_logprobs(llm: Any, prompt_ids: Sequence[Sequence[int]], allowed: Sequence[int], *,
                         logprobs: int, seed: int, progress: bool = True, config_key: str,
                         fallback: str) -> list[dict[int, float]]:
    """Per prompt, ``{token id: log-probability}`` of the first generated position: vLLM's top
    ``logprobs`` of the full vocabulary plus the chosen token, which greedy decoding restricted to
    ``allowed`` (``allowed_token_ids``) makes the most likely allowed one. Input order."""
    vllm = import_vllm(config_key, fallback)
    params = greedy_params(vllm, max_tokens=1, seed=seed, logprobs=int(logprobs),
                           allowed_token_ids=[int(t) for t in allowed])
    outputs = generate_in_order(llm, prompt_ids, params, progress=progress)
    return [{int(t): float(getattr(v, "logprob", v)) for t, v in out.outputs[0].logprobs[0].items()}
            for out in outputs]
