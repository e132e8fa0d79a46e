"""The embedded default's base model M: a local tokenizer and a small Llama pretrained on CPU.

No causal LM is reachable here, so the default run trains its own: a byte-level BPE tokenizer
(``tokenizers``) on the world's text, with bos/eos/pad/unk, role tags and the chat template saved
in it; a Llama-architecture model built from a config; and plain causal-LM pretraining on the
world's *raw* text (the user side of records: questions, passages, code; never the responses,
which carry the latent facts the experiments are about). Saved as a normal HF model directory
(safetensors) that every downstream rule loads like a hub model.
"""

from __future__ import annotations

import logging
import math
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .chat import DEFAULT_CHAT_TEMPLATE
from .sft import last_checkpoint

log = logging.getLogger(__name__)

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>", "<|system|>", "<|user|>", "<|assistant|>"]


def train_tokenizer(texts: Iterable[str], vocab_size: int, out_dir: str | Path | None = None):
    """Train a byte-level BPE tokenizer and wrap it as a ``PreTrainedTokenizerFast``.

    Role tags are special tokens (atomic), so the chat template renders prefix-consistently.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>",
                                   additional_special_tokens=["<|system|>", "<|user|>", "<|assistant|>"])
    fast.chat_template = DEFAULT_CHAT_TEMPLATE
    fast.padding_side = "right"
    if out_dir is not None:
        fast.save_pretrained(str(out_dir))
    return fast


def sized_config(base_model: dict[str, Any], arch: dict[str, Any] | None, where: str) -> dict[str, Any]:
    """``base_model`` (the config section) with ``arch`` keys over its ``arch``: one size of the same
    architecture (a built model's ``models.<name>.arch``, IterIT's proxy). An unknown key raises
    ValueError naming ``where``."""
    over = dict(arch or {})
    unknown = sorted(set(over) - set(base_model["arch"]))
    if unknown:
        raise ValueError(f"{where}: unknown base_model.arch key(s) {unknown}; known: {sorted(base_model['arch'])}")
    return {**base_model, "arch": {**base_model["arch"], **over}}


def llama_config(arch: dict[str, Any], vocab_size: int, bos: int | None = None, eos: int | None = None,
                 pad: int | None = None):
    """The ``LlamaConfig`` of the configured small model (``base_model.arch``)."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=arch["hidden_size"],
        intermediate_size=arch["intermediate_size"],
        num_hidden_layers=arch["num_layers"],
        num_attention_heads=arch["num_heads"],
        num_key_value_heads=arch.get("num_kv_heads", arch["num_heads"]),
        max_position_embeddings=arch["max_length"],
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=bos,
        eos_token_id=eos,
        pad_token_id=pad,
    )


def build_model(tokenizer: Any, arch: dict[str, Any], seed: int):
    """A randomly initialized ``LlamaForCausalLM`` of the configured size."""
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    return LlamaForCausalLM(llama_config(arch, len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id,
                                         tokenizer.pad_token_id))


def pack_texts(tokenizer: Any, texts: Iterable[str], block_size: int) -> list[list[int]]:
    """Concatenate ``<s> text </s>`` streams and cut them into ``block_size`` blocks."""
    stream: list[int] = []
    for t in texts:
        stream.extend([tokenizer.bos_token_id, *tokenizer(t, add_special_tokens=False)["input_ids"],
                       tokenizer.eos_token_id])
    n = len(stream) // block_size
    return [stream[i * block_size:(i + 1) * block_size] for i in range(n)]


def pretrain(model: Any, tokenizer: Any, texts: list[str], out_dir: str | Path, *, steps: int,
             batch_size: int, lr: float, block_size: int, seed: int, warmup_ratio: float = 0.05,
             threads: int = 1, checkpoint_dir: str | Path | None = None, save_steps: int = 0) -> dict[str, Any]:
    """Causal-LM pretraining with HF Trainer on packed blocks; saves the model (safetensors)."""
    import torch
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments, default_data_collator

    torch.set_num_threads(max(1, threads))
    blocks = pack_texts(tokenizer, texts, block_size)
    if not blocks:
        raise ValueError("pretraining corpus is shorter than one block")
    ds = Dataset.from_dict({"input_ids": blocks, "labels": blocks})
    args = TrainingArguments(
        output_dir=str(checkpoint_dir or Path(out_dir).with_suffix(".ckpt")),
        max_steps=steps, per_device_train_batch_size=batch_size, learning_rate=lr,
        lr_scheduler_type="cosine", warmup_steps=max(1, int(warmup_ratio * steps)), weight_decay=0.01,
        logging_steps=max(1, steps // 20), save_strategy="steps" if save_steps else "no",
        save_steps=save_steps or steps, save_total_limit=1, report_to=[], seed=seed, data_seed=seed,
        use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0, disable_tqdm=False,
    )
    trainer = Trainer(model=model, args=args, train_dataset=ds, data_collator=default_data_collator)
    resume = last_checkpoint(args.output_dir) if save_steps else None
    result = trainer.train(resume_from_checkpoint=resume)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(out_dir))
    shutil.rmtree(args.output_dir, ignore_errors=True)  # checkpoints only matter until success
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"steps": steps, "n_blocks": len(blocks), "tokens_per_step": batch_size * block_size,
            "train_loss": result.training_loss, "final_logged_loss": losses[-1] if losses else math.nan,
            "n_params": sum(p.numel() for p in model.parameters()), "resumed_from": resume}
