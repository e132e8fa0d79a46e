"""A tiny random Llama with a locally trained tokenizer, for unit tests that need a real model."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from sftmix.basemodel import build_model, train_tokenizer


def sentences(words: Sequence[str], n: int, seed: int = 0, max_words: int = 12) -> list[str]:
    """``n`` seeded pseudo-sentences of 3..``max_words`` words from ``words``."""
    r = random.Random(seed)
    return [" ".join(r.choice(words) for _ in range(r.randint(3, max_words))).capitalize() + r.choice(".?!")
            for _ in range(n)]


def save_tiny_lm(path: str | Path, texts: Sequence[str], arch: dict, *, seed: int, vocab_size: int = 300) -> Path:
    """Train a tokenizer on ``texts``, build a random model of ``arch`` and save both (safetensors)."""
    path = Path(path)
    tok = train_tokenizer(list(texts), vocab_size=vocab_size)
    build_model(tok, arch, seed=seed).save_pretrained(str(path), safe_serialization=True)
    tok.save_pretrained(str(path))
    return path
