"""Benchmarks through the LM Evaluation Harness (``lm_eval``, EleutherAI; pinned 0.4.13).

Two kinds of evaluation run through the harness's ``simple_evaluate``:

* **Local per-category tasks** built from the world's held-out eval records
  (:func:`write_lmeval_tasks`), so every category of the taxonomy gets its own score:

  - ``sftmix_mc_<slug>`` (``output_type: multiple_choice``): the prompt is the conversation up to
    its final assistant turn; the choices are that turn's true response plus ``n_choices - 1``
    distractor responses of *other* eval items of the *same category* (different text), drawn
    with a seeded RNG; the gold position is shuffled with the same RNG. Metrics ``acc`` and
    ``acc_norm`` (length-normalized log-likelihood) as in the harness's ARC/HellaSwag tasks.
  - ``sftmix_gen_<slug>`` (``output_type: generate_until``): greedy generation of the final
    response, scored by ``exact_match`` (the harness's own local implementation, ported from HF
    ``evaluate``; it never downloads anything) with ``ignore_case``, ``ignore_punctuation`` and
    leading/trailing whitespace removed (``regexes_to_ignore``).
  - groups ``sftmix_mc`` and ``sftmix_gen`` aggregate their category tasks (unweighted mean over
    categories, ``weight_by_size: false``: every category counts once whatever its size); group
    ``sftmix`` holds both and reports ``acc``, ``acc_norm`` and ``exact_match`` over the leaves
    that have each metric.

  Data stays local: each task reads its JSONL with ``dataset_path: json`` and
  ``dataset_kwargs: {data_files: {test: <absolute path>}}`` (the ``datasets`` packaged JSON
  builder, which works with ``HF_DATASETS_OFFLINE=1``).

  **Prompt and chat template.** A document's ``prompt`` is the last user message for a
  single-turn record; for a multi-turn record the earlier turns are written as a plain transcript
  (``User: ...`` / ``Assistant: ...``) before ``User: <final user message>``. A system message
  goes to the document's ``system`` field, which the task uses as its ``description``: with a
  chat template the harness sends it as a ``system`` turn. :func:`run_lmeval` evaluates with
  ``apply_chat_template=True`` by default: lm-eval 0.4.13's ``HFLM`` then renders
  ``[{"role": "system"?}, {"role": "user", "content": prompt}]`` with the model's own
  ``tokenizer.apply_chat_template(..., add_generation_prompt=True)``, so each model is asked in
  the format it was fine-tuned on (tokenizers from :mod:`sftmix.basemodel` carry
  :data:`sftmix.chat.DEFAULT_CHAT_TEMPLATE`, which starts with ``bos``; ``HFLM`` then adds no
  second ``bos``). For ``multiple_choice`` with a chat template the harness joins prompt and choice
  with an empty delimiter, so a choice is scored as the tokens of the assistant turn's content
  right after the generation prompt, as SFT trained them (without the end-of-turn token).
  Generation stops at the tokenizer's eos
  (always added by ``HFLM``) or at one of :data:`GEN_UNTIL` (turn markers of common chat
  templates); ``max_gen_toks`` is bounded by the longest target (see :func:`write_lmeval_tasks`).
  Without a chat template (``apply_chat_template=False``, or automatically when the tokenizer
  has none) the raw prompt is followed by the choice after one space, as in the harness's plain
  tasks, and a system text is glued to the prompt without a separator (the harness's plain
  rendering of ``description``): plain mode is a fallback for base models, not the intended use.

* **Standard benchmarks by name** (``task_dir=None``): ``mmlu``, ``arc_challenge``, ``hellaswag``,
  ``truthfulqa_mc2``, ``gsm8k``, ``bbh``, ``humaneval`` ... from the harness's own task registry
  (these need their hub datasets in the local cache when running offline).

:func:`flatten_results` turns the harness's results dict into rows ``{task, metric, value, stderr,
n}`` for a TSV (:func:`write_results_tsv`); :func:`clean_results` drops the fields that change from
run to run (dates, timings, environment dumps) so a rerun gives the same JSON.
"""

from __future__ import annotations

import logging
import math
import os
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .experiments import slugify
from .records import Record, write_jsonl

MC_PREFIX = "sftmix_mc_"
GEN_PREFIX = "sftmix_gen_"
GROUP_MC = "sftmix_mc"
GROUP_GEN = "sftmix_gen"
GROUP_ALL = "sftmix"
UNCATEGORIZED = "uncategorized"
# Stop strings for chat output besides the model's eos (which HFLM always adds): the turn markers
# of common chat templates (sftmix default, ChatML/Qwen, Llama-3, Llama-2/Mistral, Phi/Gemma).
GEN_UNTIL = ("<|user|>", "<|system|>", "<|im_end|>", "<|im_start|>", "<|eot_id|>", "<|end|>",
             "<|endoftext|>", "</s>", "[INST]", "<end_of_turn>")
MC_METRICS = ("acc", "acc_norm", "acc_mutual_info")
"""Metrics of the multiple-choice tasks: the harness's accuracy by log-likelihood, by
length-normalized log-likelihood, and by mutual information (log p(choice | prompt) - log
p(choice), its unconditional request): the last removes each choice's prior, which otherwise
favours short and generic answers over the one the prompt asks for."""
# exact_match normalization: case, punctuation and surrounding whitespace do not count.
EXACT_MATCH_KWARGS = {"ignore_case": True, "ignore_punctuation": True, "regexes_to_ignore": [r"^\s+", r"\s+$"]}
TASK_VERSION = 1.0
# results-dict fields that differ between otherwise identical runs
# (library versions and the model's parameter count stay: fixed for a pinned environment, and provenance)
VOLATILE_KEYS = ("date", "total_evaluation_time_seconds", "start_time", "end_time", "pretty_env_info",
                 "git_hash", "upper_git_hash", "samples")
TSV_COLUMNS = ("task", "metric", "value", "stderr", "n")

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# documents
# --------------------------------------------------------------------------------------------

def record_category(record: Record) -> str:
    return str((record.get("meta") or {}).get("category", "") or "")


def split_prompt(messages: list[dict[str, str]]) -> tuple[str, str, str] | None:
    """``(system, prompt, target)`` of a conversation, or None when it has no usable final turn.

    ``target`` is the final assistant turn; ``prompt`` is the user message(s) after the previous
    assistant turn, preceded (multi-turn) by the earlier turns as a ``User:``/``Assistant:``
    transcript; ``system`` joins the system messages before the target.
    """
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
    if last < 0 or not str(messages[last].get("content") or "").strip():
        return None
    before = messages[:last]
    system = "\n\n".join(m["content"] for m in before if m.get("role") == "system" and m.get("content"))
    turns = [m for m in before if m.get("role") in ("user", "assistant")]
    prev = max((i for i, m in enumerate(turns) if m["role"] == "assistant"), default=-1)
    final = [m["content"] for m in turns[prev + 1:] if m.get("content")]
    if not final:
        return None
    final_text = "\n\n".join(final)
    if prev < 0:
        prompt = final_text
    else:
        names = {"user": "User", "assistant": "Assistant"}
        transcript = "\n\n".join(f"{names[m['role']]}: {m['content']}" for m in turns[: prev + 1])
        prompt = f"{transcript}\n\nUser: {final_text}"
    return system, prompt, str(messages[last]["content"])


def _rng(seed: int, *parts: str) -> random.Random:
    """A RNG seeded by a string (``random.seed(str)`` is stable across processes and platforms)."""
    return random.Random(":".join([str(seed), *parts]))


def build_documents(eval_records: Iterable[Record], *, n_choices: int = 4, seed: int = 0,
                    max_items_per_category: int | None = None, same_category: int | None = None,
                    ) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """Per category: its slug, generation documents and multiple-choice documents.

    Returns ``(by_category, skipped)``; ``by_category[name] = {"slug", "gen": [...], "mc": [...]}``
    (documents sorted by id) and ``skipped`` counts records left out by reason.
    A generation document is ``{"id", "category", "system", "prompt", "target"}``; a
    multiple-choice one adds ``"choices"`` and ``"gold"`` (index of the target in ``choices``).
    Distractors of an item are responses of other usable eval items (not only the ones kept by
    ``max_items_per_category``) whose text differs from the target, distinct, drawn with an RNG
    seeded by ``(seed, category, id)``: ``same_category`` of them from the item's own category and
    the rest from the other categories (None: all from its own category, the original design).
    Same-category distractors ask what the answer to *this* instruction is; other-category ones
    ask which kind of answer the instruction calls for. An item with fewer candidates than it needs
    gets as many as exist; an item with none has no MC document.
    """
    if n_choices < 2:
        raise ValueError(f"n_choices must be >= 2, got {n_choices}")
    if max_items_per_category is not None and max_items_per_category < 1:
        raise ValueError(f"max_items_per_category must be >= 1 or None, got {max_items_per_category}")
    skipped: dict[str, int] = defaultdict(int)
    pools: dict[str, list[dict[str, Any]]] = defaultdict(list)
    seen: set[str] = set()
    for rec in eval_records:
        if rec["id"] in seen:
            raise ValueError(f"duplicate eval record id {rec['id']!r}")
        seen.add(rec["id"])
        parts = split_prompt(rec.get("messages") or [])
        if parts is None:
            skipped["no_final_assistant_turn_or_user_prompt"] += 1
            continue
        system, prompt, target = parts
        cat = record_category(rec) or UNCATEGORIZED
        pools[cat].append({"id": rec["id"], "category": cat, "system": system, "prompt": prompt,
                           "target": target})
    slugs: dict[str, str] = {}
    for cat in sorted(pools):
        slug = slugify(cat) or UNCATEGORIZED
        if slug in slugs.values():
            other = next(c for c, s in slugs.items() if s == slug)
            raise ValueError(f"categories {other!r} and {cat!r} share the slug {slug!r}")
        slugs[cat] = slug
    out: dict[str, dict[str, Any]] = {}
    for cat in sorted(pools):
        pool = sorted(pools[cat], key=lambda d: d["id"])
        kept = pool
        if max_items_per_category is not None and len(pool) > max_items_per_category:
            order = list(range(len(pool)))
            _rng(seed, "subsample", cat).shuffle(order)
            kept = [pool[i] for i in sorted(order[:max_items_per_category])]
            skipped["over_max_items_per_category"] += len(pool) - len(kept)
        responses = sorted({d["target"] for d in pool})
        others = sorted({d["target"] for c, docs in pools.items() if c != cat for d in docs} - set(responses))
        n_same = n_choices - 1 if same_category is None else min(same_category, n_choices - 1)
        mc: list[dict[str, Any]] = []
        for doc in kept:
            rng = _rng(seed, "choices", cat, doc["id"])
            candidates = [r for r in responses if r != doc["target"]]
            choices = rng.sample(candidates, min(n_same, len(candidates)))
            foreign = [r for r in others if r != doc["target"]]
            choices += rng.sample(foreign, min(n_choices - 1 - n_same, len(foreign)))
            k = len(choices)
            if k == 0:
                skipped["mc_no_distractor"] += 1
                continue
            gold = rng.randrange(k + 1)
            choices.insert(gold, doc["target"])
            mc.append({**doc, "choices": choices, "gold": gold})
        out[cat] = {"slug": slugs[cat], "gen": kept, "mc": mc}
    return out, dict(sorted(skipped.items()))


# --------------------------------------------------------------------------------------------
# task YAMLs
# --------------------------------------------------------------------------------------------

def _dump_yaml(path: Path, obj: dict[str, Any]) -> None:
    text = yaml.safe_dump(obj, sort_keys=True, allow_unicode=True, default_flow_style=False, width=1000)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _dataset(data_path: Path) -> dict[str, Any]:
    return {"dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(data_path)}},
            "test_split": "test"}


def gen_token_budget(targets: Iterable[str], cap: int) -> int:
    """``max_gen_toks`` of a generation task: the longest target's UTF-8 byte length + 1 (every
    byte-level BPE / byte-fallback token covers at least one byte, so this never cuts a correct
    answer short), at most ``cap``."""
    longest = max((len(t.encode("utf-8")) for t in targets), default=0)
    return max(1, min(int(cap), longest + 1))


def mc_task_config(name: str, category: str, data_path: Path) -> dict[str, Any]:
    return {
        "task": name, "task_alias": f"mc {category}", **_dataset(data_path),
        "output_type": "multiple_choice",
        "doc_to_text": "prompt", "doc_to_choice": "choices", "doc_to_target": "gold",
        "description": "system",
        "num_fewshot": 0,
        "metric_list": [{"metric": m, "aggregation": "mean", "higher_is_better": True} for m in MC_METRICS],
        "metadata": {"version": TASK_VERSION, "category": category},
    }


def gen_task_config(name: str, category: str, data_path: Path, max_gen_toks: int) -> dict[str, Any]:
    return {
        "task": name, "task_alias": f"gen {category}", **_dataset(data_path),
        "output_type": "generate_until",
        "doc_to_text": "prompt", "doc_to_target": "target",
        "description": "system",
        "num_fewshot": 0,
        "generation_kwargs": {"until": list(GEN_UNTIL), "do_sample": False, "temperature": 0.0,
                              "max_gen_toks": int(max_gen_toks)},
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True,
                         **EXACT_MATCH_KWARGS}],
        "metadata": {"version": TASK_VERSION, "category": category},
    }


def _agg(metrics: Iterable[str]) -> list[dict[str, Any]]:
    return [{"metric": m, "aggregation": "mean", "weight_by_size": False, "filter_list": ["none"]} for m in metrics]


def write_lmeval_tasks(eval_records: Iterable[Record], out_dir: str | Path, *, n_choices: int = 4, seed: int = 0,
                       max_items_per_category: int | None = None, max_gen_toks: int = 256,
                       same_category: int | None = None) -> dict[str, Any]:
    """Write lm-eval task YAMLs and their JSONL data for every category of ``eval_records``.

    Layout of ``out_dir`` (made absolute; readable by ``TaskManager(include_path=out_dir)``)::

        sftmix_mc_<slug>.yaml, sftmix_gen_<slug>.yaml     one per category (see module docstring)
        sftmix_mc.yaml, sftmix_gen.yaml, sftmix.yaml      groups
        data/sftmix_mc_<slug>.jsonl, data/sftmix_gen_<slug>.jsonl

    Existing ``*.yaml`` files and ``data/*.jsonl`` files in ``out_dir`` are removed first, so
    the directory holds exactly this task set. Bytes depend only on the records, the arguments and
    the absolute ``out_dir`` (the YAMLs name their data by absolute path). ``max_gen_toks`` caps
    the generation budget (:func:`gen_token_budget`); keep it below the models' context length.

    Returns the manifest ``{"tasks": {name: {"category", "output_type", "n_items", "data",
    "yaml", ...}}, "groups": {group: [members]}, "categories": {category: slug}, "skipped": {...},
    "n_choices", "same_category", "seed", "max_items_per_category", "max_gen_toks"}`` (paths relative to
    ``out_dir``). A category whose items have no distractor gets no MC task.
    """
    out = Path(out_dir).resolve()
    data_dir = out / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("*.yaml"), *data_dir.glob("*.jsonl")]:
        old.unlink()
    by_cat, skipped = build_documents(eval_records, n_choices=n_choices, seed=seed,
                                      max_items_per_category=max_items_per_category, same_category=same_category)
    if not by_cat:
        raise ValueError("write_lmeval_tasks: no usable eval record (none ends with an assistant turn)")
    tasks: dict[str, dict[str, Any]] = {}
    mc_names: list[str] = []
    gen_names: list[str] = []
    for cat, entry in by_cat.items():
        slug = entry["slug"]
        for kind, docs in (("mc", entry["mc"]), ("gen", entry["gen"])):
            if not docs:
                continue
            name = (MC_PREFIX if kind == "mc" else GEN_PREFIX) + slug
            data_path = data_dir / f"{name}.jsonl"
            write_jsonl(data_path, docs)
            if kind == "mc":
                cfg = mc_task_config(name, cat, data_path)
                mc_names.append(name)
                info = {"output_type": "multiple_choice",
                        "n_choices": sorted({len(d["choices"]) for d in docs})}
            else:
                budget = gen_token_budget((d["target"] for d in docs), max_gen_toks)
                cfg = gen_task_config(name, cat, data_path, budget)
                gen_names.append(name)
                info = {"output_type": "generate_until", "max_gen_toks": budget}
            _dump_yaml(out / f"{name}.yaml", cfg)
            tasks[name] = {"category": cat, "n_items": len(docs), "data": f"data/{name}.jsonl",
                           "yaml": f"{name}.yaml", **info}
    groups: dict[str, list[str]] = {}
    if mc_names:
        groups[GROUP_MC] = mc_names
        _dump_yaml(out / f"{GROUP_MC}.yaml", {"group": GROUP_MC, "task": mc_names,
                                                "aggregate_metric_list": _agg(MC_METRICS),
                                                "metadata": {"version": TASK_VERSION}})
    groups[GROUP_GEN] = gen_names
    _dump_yaml(out / f"{GROUP_GEN}.yaml", {"group": GROUP_GEN, "task": gen_names,
                                             "aggregate_metric_list": _agg(("exact_match",)),
                                             "metadata": {"version": TASK_VERSION}})
    members = [g for g in (GROUP_MC, GROUP_GEN) if g in groups]
    groups[GROUP_ALL] = members
    metrics = (MC_METRICS if mc_names else ()) + ("exact_match",)
    _dump_yaml(out / f"{GROUP_ALL}.yaml", {"group": GROUP_ALL, "task": members,
                                             "aggregate_metric_list": _agg(metrics),
                                             "metadata": {"version": TASK_VERSION}})
    return {"tasks": tasks, "groups": groups,
            "categories": {cat: entry["slug"] for cat, entry in by_cat.items()},
            "skipped": skipped, "n_choices": n_choices, "same_category": same_category, "seed": seed,
            "max_items_per_category": max_items_per_category, "max_gen_toks": max_gen_toks}


# --------------------------------------------------------------------------------------------
# running the harness
# --------------------------------------------------------------------------------------------

def task_manager(task_dir: str | Path | None, tasks: Iterable[str] = ()) -> Any:
    """A ``TaskManager`` for ``tasks``: only ``task_dir``'s tasks when they are all there
    (indexing the harness's thousands of built-in YAMLs takes seconds), else built-ins + ``task_dir``."""
    from lm_eval.tasks import TaskManager

    if task_dir is None:
        return TaskManager()
    local = TaskManager(include_path=str(task_dir), include_defaults=False)
    if all(t in local.all_tasks for t in tasks):
        return local
    return TaskManager(include_path=str(task_dir))


LMEVAL_MODELS = ("hf", "vllm")


def lmeval_model_args(model: str, model_dir: str | Path, *, trust_remote_code: bool = False, seed: int = 0,
                      vllm: Mapping[str, Any] | None = None,
                      model_args: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """lm-eval's ``model_args`` for ``model`` (``benchmarks.lmeval.model``), weights from
    safetensors only either way.

    ``hf``: ``pretrained=model_dir, dtype=float32, use_safetensors, trust_remote_code``. ``vllm``
    (lm-eval's ``VLLM`` model, which hands unknown arguments to ``vllm.LLM``): ``pretrained``,
    ``tensor_parallel_size``, ``dtype``, ``gpu_memory_utilization``, ``max_model_len`` (when set),
    ``seed``, ``trust_remote_code`` and ``load_format=safetensors`` from ``vllm`` (the
    ``benchmarks.lmeval.vllm`` block), as :class:`sftmix.vllm_engine.EngineSettings` builds them for
    the workflow's own vLLM stages. ``model_args`` adds or overrides (e.g. ``max_length``)."""
    if model == "hf":
        args: dict[str, Any] = {"pretrained": str(model_dir), "dtype": "float32", "use_safetensors": True,
                                "trust_remote_code": bool(trust_remote_code)}
    elif model == "vllm":
        if vllm is None:
            raise ValueError("benchmarks.lmeval.vllm: the vllm model type needs its engine settings")
        from .vllm_engine import EngineSettings

        args = EngineSettings.from_config(str(model_dir), vllm, seed=seed,
                                          trust_remote_code=trust_remote_code).llm_kwargs()
        args["pretrained"] = args.pop("model")
    else:
        raise ValueError(f"benchmarks.lmeval.model: {model!r} is not one of {', '.join(LMEVAL_MODELS)}")
    args.update(model_args or {})
    return args


def run_lmeval(model_dir: str | Path, task_dir: str | Path | None, tasks: list[str], *, device: str = "cpu",
               batch_size: int | str = 8, limit: int | float | None = None, seed: int = 0,
               apply_chat_template: bool = True, trust_remote_code: bool = False,
               model_args: dict[str, Any] | None = None, num_fewshot: int | None = None,
               confirm_run_unsafe_code: bool = False, log_samples: bool = True, model: str = "hf",
               vllm: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate the causal LM in ``model_dir`` on ``tasks`` with ``lm_eval.simple_evaluate``.

    ``model`` is lm-eval's model type, ``hf`` or ``vllm``, with :func:`lmeval_model_args`
    (``model_args`` adds or overrides, e.g. ``max_length``). With ``vllm`` the batch size is
    ``auto`` (vLLM schedules the requests), ``device`` is not passed (vLLM uses the job's GPUs) and a
    missing vllm package raises :class:`sftmix.vllm_engine.VLLMUnavailable` naming
    ``benchmarks.lmeval.model``; the per-item records are kept as with ``hf``. ``task_dir`` is a directory written by
    :func:`write_lmeval_tasks` (tasks resolved there first), or None for the harness's built-in
    tasks by name. Every seed (python, numpy, torch, few-shot sampler) is ``seed``;
    ``log_samples`` keeps the harness's per-item records in ``results["samples"]``
    (:func:`sample_rows`); ``limit`` is the harness's per-task limit (int: first n documents,
    float < 1: fraction). When everything is local (``model_dir`` a directory and ``task_dir``
    given) the hub switches ``HF_HUB_OFFLINE``/``HF_DATASETS_OFFLINE``/``TRANSFORMERS_OFFLINE`` are
    set (unless already set) before the harness is imported; built-in tasks need their datasets
    downloaded or cached, which is the caller's choice (``humaneval`` also executes generated code:
    it needs ``confirm_run_unsafe_code=True``, ``HF_ALLOW_CODE_EVAL=1`` and HF ``evaluate``'s
    ``code_eval`` metric, which the harness loads from the hub). ``apply_chat_template`` falls back to
    plain prompts (with a warning) when the model's tokenizer has no chat template. Returns the
    harness's results dict plus ``results["sftmix_run"] = {tasks, task_dir, apply_chat_template
    (as used), seed}`` (see :func:`clean_results` before writing it).
    """
    if model == "vllm":
        from .vllm_engine import import_vllm

        import_vllm("benchmarks.lmeval.model", "hf")
    if task_dir is not None and os.path.isdir(str(model_dir)):
        from .logutil import offline_env

        offline_env()
    import lm_eval

    tasks = list(tasks)
    if not tasks:
        raise ValueError("run_lmeval: no task given")
    if apply_chat_template and not has_chat_template(model_dir, trust_remote_code):
        log.warning("run_lmeval: the tokenizer of %s has no chat template; evaluating with plain prompts",
                    model_dir)
        apply_chat_template = False
    # weights from safetensors only (a pickle checkpoint can run code on load)
    args = lmeval_model_args(model, model_dir, trust_remote_code=trust_remote_code, seed=seed, vllm=vllm,
                             model_args=model_args)
    if model == "vllm":
        batch_size, device = "auto", None
    results = lm_eval.simple_evaluate(
        model=model, model_args=args, tasks=tasks, num_fewshot=num_fewshot, batch_size=batch_size,
        device=device, limit=limit, log_samples=log_samples, apply_chat_template=apply_chat_template,
        task_manager=task_manager(task_dir, tasks), random_seed=seed, numpy_random_seed=seed,
        torch_random_seed=seed, fewshot_random_seed=seed, bootstrap_iters=1000,
        confirm_run_unsafe_code=confirm_run_unsafe_code,
    )
    if results is None:  # only non-zero ranks of a distributed run
        raise RuntimeError("lm_eval.simple_evaluate returned no results")
    results["sftmix_run"] = {"tasks": tasks, "task_dir": str(task_dir) if task_dir is not None else None,
                             "apply_chat_template": bool(apply_chat_template), "seed": seed}
    return results


def has_chat_template(model_dir: str | Path, trust_remote_code: bool = False) -> bool:
    """Whether the tokenizer of ``model_dir`` carries a chat template."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=trust_remote_code)
    return bool(getattr(tok, "chat_template", None))


def _jsonable(obj: Any) -> Any:
    """Plain JSON types: numpy scalars -> python, tuples -> lists, sets -> sorted lists, NaN/inf and
    anything else (dtypes, callables) -> string."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, set):
        return sorted(_jsonable(v) for v in obj)
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if hasattr(obj, "item") and callable(obj.item):
        try:
            obj = obj.item()
        except (TypeError, ValueError):
            return str(obj)
        if not isinstance(obj, (int, float, bool)):
            return str(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    return str(obj)


def clean_results(results: dict[str, Any]) -> dict[str, Any]:
    """A JSON-ready copy of a harness results dict without run-to-run noise: drops the top-level
    :data:`VOLATILE_KEYS` (date, timings, git hash of the working directory, environment dump,
    samples) and converts numpy scalars, NaN/inf and other non-JSON values."""
    return _jsonable({k: v for k, v in results.items() if k not in VOLATILE_KEYS})


def flatten_results(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows ``{"task", "metric", "value", "stderr", "n"}`` of every task and group score.

    ``metric`` keeps the harness's filter suffix (``"acc,none"``, ``"exact_match,none"``);
    ``stderr`` is None when the harness gives ``"N/A"``; ``n`` is the number of scored documents
    (``n-samples.effective`` for tasks; for groups the documents of the leaves that have the
    metric, ``sample_count``). Sorted by task, metric.
    """
    rows: list[dict[str, Any]] = []
    n_samples = results.get("n-samples") or {}
    sections = [results.get("results") or {}, results.get("groups") or {}]
    done: set[tuple[str, str]] = set()
    for section in sections:
        for task, metrics in section.items():
            if task in n_samples:
                n = n_samples[task].get("effective")
            else:
                n = metrics.get("sample_len")
            for key, value in metrics.items():
                if key in ("alias", "name", "sample_len", "sample_count", "samples") or "_stderr," in key:
                    continue
                if "," not in key or (task, key) in done:
                    continue
                try:
                    val = float(value)
                except (TypeError, ValueError):
                    continue
                metric, filt = key.split(",", 1)
                err = metrics.get(f"{metric}_stderr,{filt}")
                try:
                    err = float(err) if err is not None else None
                except (TypeError, ValueError):
                    err = None
                n_key = (metrics.get("sample_count") or {}).get(key, n)  # groups: leaves with this metric
                rows.append({"task": task, "metric": key, "value": val, "stderr": err,
                             "n": int(n_key) if n_key is not None else None})
                done.add((task, key))
    rows.sort(key=lambda r: (r["task"], r["metric"]))
    return rows


def _fmt(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return "nan" if math.isnan(x) else f"{x:.6f}"
    return str(x)


def write_results_tsv(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write :func:`flatten_results` rows as a TSV (header ``task metric value stderr n``; floats
    with 6 decimals, empty cell for None): the same rows give the same bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(TSV_COLUMNS)]
    lines += ["\t".join(_fmt(r.get(c)) for c in TSV_COLUMNS) for r in rows]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)


# --------------------------------------------------------------------------------------------
# per-item records
def sample_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per task and document of a run with ``log_samples``: which items a model got right
    or wrong (written with ``sftmix.records.write_jsonl``). ``{"task", "doc_id", "id", "category",
    "target", "response", "metrics"}``: ``id`` and
    ``category`` are the document's (the eval item's, for :func:`write_lmeval_tasks` tasks; None for
    a built-in task without them); ``response`` is the harness's filtered response (per choice
    ``[loglikelihood, is_greedy]`` for a multiple-choice item, the generated text for a generation
    item); ``metrics`` the item's score under each of the task's metrics (``acc``, ``acc_norm``,
    ``exact_match``, ...), whose mean over the rows is the task's score. Sorted by task, then
    ``doc_id``; plain JSON values."""
    rows: list[dict[str, Any]] = []
    samples = results.get("samples") or {}
    for task in sorted(samples):
        for s in sorted(samples[task], key=lambda x: x["doc_id"]):
            doc = s.get("doc") or {}
            rows.append(_jsonable({
                "task": task, "doc_id": s["doc_id"], "id": doc.get("id"), "category": doc.get("category"),
                "target": s.get("target"), "response": s.get("filtered_resps"),
                "metrics": {m: s[m] for m in s.get("metrics", []) if m in s},
            }))
    return rows

