"""Memory plan of one fine-tune: what each device holds, before the job waits in a queue.

Full fine-tuning with AdamW (:mod:`sftmix.sft`) keeps, per parameter: the fp32 master weight (4
bytes), its fp32 gradient (4) and Adam's two fp32 moments (8): 16 bytes, whether or not the
forward runs under bf16 autocast (``train.bf16`` never stores weights in bf16). A 7B model thus
needs ~112 GB before activations. Replicated data parallelism (DDP, ``torchrun`` without
``train.fsdp``) holds all of it on every GPU; a sharded run (``train.fsdp``: FSDP2) divides it by
the number of devices.

Activations follow the usual transformer estimate (Korthikanti et al., 2022, "Reducing Activation
Recomputation in Large Transformer Models", Eq. 2 without the attention-score term that
flash/SDPA attention never materializes): ``34 * h`` bytes per token and layer in 16-bit
(twice that in fp32); with gradient checkpointing each layer keeps only its 16-bit input (``2 * h``)
plus one layer recomputed in full. The output layer holds ``10`` bytes per vocabulary entry and
position (16-bit logits, their fp32 upcast and its gradient). Tokens per device step: the per-device
batch times ``max_length`` (an upper bound: packed rows never exceed it). A fixed allowance covers
the CUDA context and allocator (~2 GiB) and 10% is added for fragmentation.

These are estimates for refusing what cannot fit, not for packing a GPU to the last byte.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

GIB = 1024**3
BYTES_PER_PARAM_ADAMW = 16  # fp32 master weight + fp32 gradient + Adam m and v
CONTEXT_BYTES = 2 * GIB
FRAGMENTATION = 1.10


def shape_of_config(cfg: Any, trust_remote_code: bool = False) -> dict[str, Any]:
    """Parameter count and shape of a causal LM from its transformers config alone: the model is
    built on PyTorch's meta device, so no weight is read or allocated."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg, trust_remote_code=trust_remote_code)
    layers = model.get_decoder().layers
    return {
        "n_params": sum(p.numel() for p in model.parameters()),
        "n_layers": len(layers),
        "hidden_size": int(cfg.hidden_size),
        "vocab_size": int(cfg.vocab_size),
        "layer_params": sum(p.numel() for p in layers[0].parameters()),
        "model_type": cfg.model_type,
    }


def model_shape(path: str | Path, trust_remote_code: bool = False) -> dict[str, Any]:
    """:func:`shape_of_config` of a local model directory or a hub id (its config.json only, from
    the cache or the network)."""
    from transformers import AutoConfig

    return shape_of_config(AutoConfig.from_pretrained(str(path), trust_remote_code=trust_remote_code),
                           trust_remote_code)


# The config.json fields that fix the shape of the hub models the paper configs name, so that the
# plans (`snakemake plan`, the onstart memory check) run offline, where config.json cannot be
# fetched: copied from each repository's config.json (an id not listed here is read from its
# config.json as before). Models that are not causal LMs (the reward model, UniEval) need only their
# parameter count: the compute plan charges them 2 N FLOPs per token and their weights' memory.
_QWEN15 = {"model_type": "qwen2", "tie_word_embeddings": False}
_LLAMA2 = {"model_type": "llama", "vocab_size": 32000, "tie_word_embeddings": False}
_LLAMA3 = {"model_type": "llama", "vocab_size": 128256, "num_key_value_heads": 8}
KNOWN_SHAPES: dict[str, dict[str, Any]] = {
    "Qwen/Qwen1.5-7B": {**_QWEN15, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
                        "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 151936},
    "Qwen/Qwen1.5-14B": {**_QWEN15, "hidden_size": 5120, "intermediate_size": 13696, "num_hidden_layers": 40,
                         "num_attention_heads": 40, "num_key_value_heads": 40, "vocab_size": 152064},
    "Qwen/Qwen1.5-32B": {**_QWEN15, "hidden_size": 5120, "intermediate_size": 27392, "num_hidden_layers": 64,
                         "num_attention_heads": 40, "num_key_value_heads": 8, "vocab_size": 152064},
    "Qwen/Qwen1.5-72B-Chat": {**_QWEN15, "hidden_size": 8192, "intermediate_size": 24576, "num_hidden_layers": 80,
                              "num_attention_heads": 64, "num_key_value_heads": 64, "vocab_size": 152064},
    "meta-llama/Llama-2-7b-hf": {**_LLAMA2, "hidden_size": 4096, "intermediate_size": 11008,
                                 "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32},
    "meta-llama/Llama-2-13b-hf": {**_LLAMA2, "hidden_size": 5120, "intermediate_size": 13824,
                                  "num_hidden_layers": 40, "num_attention_heads": 40, "num_key_value_heads": 40},
    "meta-llama/Meta-Llama-3-8B": {**_LLAMA3, "hidden_size": 4096, "intermediate_size": 14336,
                                   "num_hidden_layers": 32, "num_attention_heads": 32, "tie_word_embeddings": False},
    "meta-llama/Llama-3.2-1B": {**_LLAMA3, "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
                                "num_attention_heads": 32, "tie_word_embeddings": True},
    # DEITA's quality scorer: fine-tuned from LLaMA-1 13B (its model card), the Llama-2-13B shape
    "hkust-nlp/deita-quality-scorer": {**_LLAMA2, "hidden_size": 5120, "intermediate_size": 13824,
                                       "num_hidden_layers": 40, "num_attention_heads": 40, "num_key_value_heads": 40},
    "OpenAssistant/reward-model-deberta-v3-large-v2": {"n_params": 435_000_000},  # DeBERTa-v3-large
    "MingZhong/unieval-dialog": {"n_params": 738_000_000},  # T5-large
    "BAAI/bge-large-en-v1.5": {"n_params": 335_000_000},  # BERT-large
}


def known_shape(hub_id: str) -> dict[str, Any] | None:
    """The shape of a hub model listed in :data:`KNOWN_SHAPES` (built from its config.json fields on
    the meta device, no download), or None when it is not listed."""
    if hub_id not in KNOWN_SHAPES:
        return None
    return dict(_known_shape(hub_id))


@cache
def _known_shape(hub_id: str) -> dict[str, Any]:
    fields = KNOWN_SHAPES[hub_id]
    if "model_type" not in fields:
        return dict(fields)
    from transformers import AutoConfig

    return shape_of_config(AutoConfig.for_model(**fields))


def resolve_shape(path: str, key: str, trust_remote_code: bool = False) -> dict[str, Any]:
    """The shape of the model at ``path`` (config key ``key``): a local directory's config.json, a
    hub id of :data:`KNOWN_SHAPES`, else its config.json from the hub cache or the network; a config
    error naming ``key`` when none of them has it (offline, an unlisted hub id)."""
    if not Path(path).is_dir():
        known = known_shape(path)
        if known is not None:
            return known
    try:
        return model_shape(path, trust_remote_code)
    except (OSError, ValueError) as err:
        raise ValueError(f"{key}: no shape for {path!r}: not a local model directory, not in "
                         f"sftmix.memplan.KNOWN_SHAPES, and its config.json cannot be read here ({err})") from err


def memory_plan(shape: dict[str, Any], train: dict[str, Any], *, sharded: bool | None = None) -> dict[str, Any]:
    """Bytes per device of one fine-tune of a model of ``shape`` (:func:`model_shape`) under the
    validated ``train`` section; the limit is ``train.gpu_memory_gb`` on GPUs, ``train.mem_mb`` on
    the CPU. ``sharded``: parameters, gradients and optimizer state divided over every device
    (FSDP full shard / ZeRO-3), otherwise each device holds all of it (DDP); None: as the engine
    runs, sharded when ``train.fsdp`` is on and there is more than one device."""
    gpus = int(train["gpus"])
    devices = max(1, gpus) * int(train["nodes"])
    if sharded is None:
        sharded = bool(train["fsdp"]) and devices > 1
    h, n_layers, vocab = shape["hidden_size"], shape["n_layers"], shape["vocab_size"]
    act_bytes = 2 if train["bf16"] else 4  # 16-bit activations under autocast
    tokens = train["batch_size"] * train["max_length"]
    states = BYTES_PER_PARAM_ADAMW * shape["n_params"] / (devices if sharded else 1)
    gathered = 2 * act_bytes * shape["layer_params"] if sharded else 0  # one layer unsharded + prefetch
    per_layer_token = 17 * h * act_bytes  # 34 h bytes in 16-bit
    if train["gradient_checkpointing"]:
        activations = tokens * h * act_bytes * n_layers + tokens * per_layer_token
    else:
        activations = tokens * per_layer_token * n_layers
    logits = tokens * vocab * (act_bytes + 8)
    fixed = CONTEXT_BYTES if gpus else 0
    total = (states + gathered + activations + logits + fixed) * FRAGMENTATION
    limit = train["gpu_memory_gb"] * 1e9 if gpus else train["mem_mb"] * 1e6
    return {
        "device": "gpu" if gpus else "cpu", "devices": devices, "sharded": sharded,
        "n_params": shape["n_params"], "tokens_per_device_step": tokens,
        "gib": {"weights_grads_adam": round(states / GIB, 2), "gathered_layers": round(gathered / GIB, 2),
                "activations": round(activations / GIB, 2), "logits": round(logits / GIB, 2),
                "context": round(fixed / GIB, 2), "total_with_margin": round(total / GIB, 2)},
        "limit_gib": round(limit / GIB, 2), "limit_key": "train.gpu_memory_gb" if gpus else "train.mem_mb",
        "fits": total <= limit,
    }


def refusal(plan: dict[str, Any], model: str) -> str | None:
    """Why a fine-tune of ``model`` cannot fit (naming the keys that change it), or None."""
    if plan["fits"]:
        return None
    g = plan["gib"]
    advice = ("train.gradient_checkpointing: true, a smaller train.batch_size or train.max_length, "
              "more train.gpus" + ("" if plan["sharded"] else " with train.fsdp: true (DDP replicates the 16 "
                                                             "bytes/parameter of weights, gradients and AdamW on every GPU)"))
    if plan["device"] == "gpu":
        advice += ", or a GPU with more memory (train.gpu_memory_gb)"
    else:
        advice += ", or a larger train.mem_mb"
    return (f"memory plan: a fine-tune of {model} needs ~{g['total_with_margin']} GiB per {plan['device']} "
            f"(weights+grads+AdamW {g['weights_grads_adam']}, activations {g['activations']}, logits {g['logits']}) "
            f"> {plan['limit_gib']} GiB ({plan['limit_key']}); try {advice}")


def plan_for_model(spec: dict[str, Any], train: dict[str, Any], base_model: dict[str, Any],
                   name: str = "*") -> dict[str, Any]:
    """The plan of one ``models.<name>`` entry's fine-tunes: a built model's shape comes from
    ``base_model`` (vocabulary and arch, with the entry's own ``arch`` keys over it), any other from
    :func:`resolve_shape` of its ``path``."""
    if spec.get("build"):
        from .basemodel import llama_config, sized_config

        sized = sized_config(base_model, spec.get("arch"), "models.*.arch")
        shape = shape_of_config(llama_config(sized["arch"], sized["vocab_size"]))
    else:
        shape = resolve_shape(spec["path"], f"models.{name}.path", train["trust_remote_code"])
    return {**memory_plan(shape, train), "shape": shape}


def inference_gib(n_params: float, dtype: str, gpu: bool = True) -> float:
    """GiB one inference job holds: the weights in ``dtype`` plus, on a GPU, the CUDA context, with
    the fragmentation margin (activations of a scoring batch are small beside a 7B model's weights)."""
    per_param = {"float32": 4, "bfloat16": 2, "float16": 2}[dtype]
    return round((per_param * n_params + (CONTEXT_BYTES if gpu else 0)) * FRAGMENTATION / GIB, 2)


def plan_table(plans: dict[str, dict[str, Any]]) -> str:
    """A markdown table of the plans, one row per model."""
    keys = ("weights_grads_adam", "gathered_layers", "activations", "logits", "context", "total_with_margin")
    lines = ["| model | params | device x n | " + " | ".join(f"{k} GiB" for k in keys) + " | limit GiB | fits |",
             "|---|---|---|" + "---|" * len(keys) + "---|---|"]
    for name, p in plans.items():
        lines.append(f"| {name} | {p['n_params'] / 1e6:,.1f}M | {p['device']} x {p['devices']} | "
                     + " | ".join(str(p["gib"][k]) for k in keys) + f" | {p['limit_gib']} | {p['fits']} |")
    return "\n".join(lines)
