"""Seed derivation: every random stream is named, so adding one never shifts another."""

from __future__ import annotations

import hashlib
import random

import numpy as np


def derive_seed(seed: int, *names: object) -> int:
    """A 63-bit seed from a base seed and a path of names (stable across processes and Pythons)."""
    h = hashlib.sha256(str(seed).encode())
    for name in names:
        h.update(b"\x00" + str(name).encode())
    return int.from_bytes(h.digest()[:8], "little") >> 1


def rng(seed: int, *names: object) -> random.Random:
    return random.Random(derive_seed(seed, *names))


def np_rng(seed: int, *names: object) -> np.random.Generator:
    return np.random.default_rng(derive_seed(seed, *names))
