"""Exact and near (MinHash LSH) deduplication of canonical instruction records.

Both passes look at the same text: all message contents of a record joined with
``"\\n"`` (:func:`record_text`, role-agnostic) and normalized with
:func:`normalize_text` (NFKC, lowercase, punctuation removed, whitespace collapsed).

* **Exact pass**: SHA-1 of the normalized text; the first record (input order) with a
  given digest is kept, later ones are exact duplicates of it.
* **Near pass** (over the exact-pass survivors): every text becomes a set of shingles
  (character n-grams of the normalized text, or word n-grams of its words; a text shorter
  than one shingle is a single shingle, the whole text, also when empty) and a
  :class:`datasketch.MinHash` signature of that set. Records are visited in input order;
  each one queries a :class:`datasketch.MinHashLSH` index that holds only the records kept
  so far. Candidates are verified with the estimated Jaccard similarity
  (``MinHash.jaccard``: the fraction of equal hash values); if any candidate reaches
  ``threshold`` the record is a near duplicate of the best-scoring candidate (ties: the
  lowest input position), otherwise it is kept and inserted into the index.

Signatures are computed by a vectorized fast path (:func:`minhash_signatures`) whose
hash values are bit-identical to ``MinHash(num_perm, seed)`` updated with the UTF-8
bytes of every shingle, for the permutation scheme of the installed datasketch (the
default ``"affine32"`` of datasketch >= 2.0, or ``"legacy"`` / ``"affine64"`` when asked
for). :func:`near_dedup_reference` is the plain per-record datasketch loop with the same
semantics; the test suite checks that both give identical results.

**Scatter / gather** (the workflow's ``dedup_signatures`` jobs and its ``dedup`` job, as
datatrove splits its MinHash pipeline): :func:`dedup_signatures` computes, per shard of the
input (:func:`dedup_input`, every n-th record), the exact keys and the signatures
(:class:`Signatures`, one file per shard: :func:`write_signatures` / :func:`read_signatures`);
:func:`dedup_gather` runs the exact pass, LSH banding, verification and the duplicate map over
all shards in input order. :func:`dedup_records` is the two steps over one shard; any number of
shards gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import sys
import unicodedata
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH
from tqdm import tqdm

from .records import Record, StageCounts, read_jsonl

__all__ = [
    "normalize_text",
    "record_text",
    "shingle_set",
    "minhash_signatures",
    "dedup_records",
    "near_dedup_reference",
    "Signatures",
    "dedup_input",
    "dedup_signatures",
    "dedup_gather",
    "write_signatures",
    "read_signatures",
    "SIGNATURE_KEYS",
]

SHINGLE_UNITS = ("char", "word")
# Shingle occurrences processed per vectorized block (one uint32/uint64 buffer of this length).
_BLOCK_OCCURRENCES = 1 << 17
# A worker's shingle -> hash cache is cleared when it grows past this many entries.
_MAX_CACHE_ENTRIES = 2_000_000

_MERSENNE_PRIME = np.uint64((1 << 61) - 1)
_MAX_HASH_32 = np.uint64((1 << 32) - 1)


# --------------------------------------------------------------------------- text


@lru_cache(maxsize=1)
def _punctuation_table() -> dict[int, None]:
    """``str.translate`` table deleting every Unicode punctuation code point (category P*)."""
    return {cp: None for cp in range(sys.maxunicode + 1)
            if unicodedata.category(chr(cp)).startswith("P")}


def normalize_text(text: str) -> str:
    """Canonical form used by both dedup passes.

    Unicode NFKC, then lowercase, then delete every punctuation character (Unicode
    category P*, e.g. ``.,;:!?'"-()[]``; symbols such as ``+ = $`` are kept), then
    collapse runs of whitespace to one space and strip the ends.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.translate(_punctuation_table())
    return " ".join(text.split())


def record_text(record: Record) -> str:
    """The user and assistant contents of ``record`` joined with ``"\\n"``.

    System prompts are left out: they are boilerplate that sources add to the same
    instruction ("You are a helpful assistant."), and on short records they would push true
    copies below the near-duplicate threshold.
    """
    return "\n".join(m["content"] for m in record["messages"] if m["role"] != "system")


def shingle_set(text: str, unit: str, size: int) -> set[str]:
    """Shingles of an already normalized ``text``.

    ``unit="char"``: all character ``size``-grams of ``text``. ``unit="word"``: all
    ``size``-grams of its whitespace-separated words, joined with one space. A text with
    fewer than ``size`` characters (words) yields one shingle, the whole text (``""``
    for an empty text), so every text has at least one shingle.
    """
    if size < 1:
        raise ValueError(f"shingle_size must be >= 1, got {size}")
    if unit == "char":
        if len(text) <= size:
            return {text}
        return {text[i:i + size] for i in range(len(text) - size + 1)}
    if unit == "word":
        words = text.split()
        if len(words) <= size:
            return {" ".join(words)}
        if size == 1:
            return set(words)
        return {" ".join(words[i:i + size]) for i in range(len(words) - size + 1)}
    raise ValueError(f"shingle_unit must be one of {SHINGLE_UNITS}, got {unit!r}")


def _encode(shingle: str) -> bytes:
    """The bytes fed to the hash function for one shingle (UTF-8; lone surrogates kept)."""
    return shingle.encode("utf-8", "surrogatepass")


# ------------------------------------------------------------------ signatures


@dataclass(frozen=True)
class _SigParams:
    """Everything a (worker) process needs to compute signatures; picklable."""

    num_perm: int
    seed: int
    scheme: str
    unit: str
    size: int
    normalized: bool
    a: np.ndarray  # permutation multipliers, scheme dtype
    b: np.ndarray  # permutation offsets, scheme dtype

    @property
    def dtype(self) -> type:
        return np.uint32 if self.scheme == "affine32" else np.uint64

    @property
    def hash_bytes(self) -> int:
        return 8 if self.scheme == "affine64" else 4


def _new_minhash(num_perm: int, seed: int, scheme: str | None) -> MinHash:
    """``MinHash(num_perm, seed)`` with datasketch's default hash function and, unless
    ``scheme`` is given, its default permutation scheme."""
    if scheme is None:
        return MinHash(num_perm=num_perm, seed=seed)
    return MinHash(num_perm=num_perm, seed=seed, scheme=scheme)


@lru_cache(maxsize=16)
def _template_minhash(num_perm: int, seed: int, scheme: str | None) -> MinHash:
    """One MinHash whose ``scheme`` and ``permutations`` the fast path reuses (read only)."""
    return _new_minhash(num_perm, seed, scheme)


def _make_params(num_perm: int, seed: int, scheme: str | None, unit: str, size: int,
                 normalized: bool) -> _SigParams:
    if unit not in SHINGLE_UNITS:
        raise ValueError(f"shingle_unit must be one of {SHINGLE_UNITS}, got {unit!r}")
    if size < 1:
        raise ValueError(f"shingle_size must be >= 1, got {size}")
    template = _template_minhash(num_perm, seed, scheme)
    if template.scheme not in ("affine32", "affine64", "legacy"):
        raise ValueError(f"unsupported datasketch MinHash scheme {template.scheme!r}")
    dtype = np.uint32 if template.scheme == "affine32" else np.uint64
    a, b = template.permutations
    return _SigParams(num_perm=num_perm, seed=seed, scheme=template.scheme, unit=unit, size=size,
                      normalized=normalized, a=np.array(a, dtype=dtype), b=np.array(b, dtype=dtype))


class _HashCache(dict):
    """shingle -> datasketch's default hash of its UTF-8 bytes (sha1_hash32 / sha1_hash64:
    the first 4 / 8 bytes of the SHA-1 digest read as a little-endian unsigned integer),
    computed on first lookup."""

    def __init__(self, hash_bytes: int) -> None:
        super().__init__()
        self.hash_bytes = hash_bytes

    def __missing__(self, shingle: str) -> int:
        value = int.from_bytes(hashlib.sha1(_encode(shingle)).digest()[:self.hash_bytes], "little")
        self[shingle] = value
        return value


def _fmix(h: np.ndarray, dtype: type, shifts: tuple[int, int, int], mults: tuple[int, int]) -> np.ndarray:
    """MurmurHash3's finalizer: xor-shift, multiply, xor-shift, multiply, xor-shift."""
    h = h ^ (h >> dtype(shifts[0]))
    h = h * dtype(mults[0])
    h = h ^ (h >> dtype(shifts[1]))
    h = h * dtype(mults[1])
    return h ^ (h >> dtype(shifts[2]))


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3 32-bit finalizer (datasketch's pre-mix for "affine32"); uint32 in, out."""
    return _fmix(h, np.uint32, (16, 13, 16), (0x85EBCA6B, 0xC2B2AE35))


def _fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3 64-bit finalizer (datasketch's pre-mix for "affine64"); uint64 in, out."""
    return _fmix(h, np.uint64, (33, 33, 33), (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53))


# Tests set this to exercise the numpy fallback of _factorize.
_FORCE_NUMPY_FACTORIZE = False


def _factorize(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group equal ``keys``: ``(codes, reps)`` where ``codes[i]`` numbers the distinct value of
    ``keys[i]`` (0..U-1) and ``reps[c]`` is the index of one occurrence of distinct value ``c``.

    Uses pandas' hash-table ``factorize`` when pandas is installed (about 2x faster), a sort
    otherwise; which occurrence ``reps`` names does not matter to the callers.
    """
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a declared dependency
        pd = None
    if pd is not None and not _FORCE_NUMPY_FACTORIZE:
        codes, uniques = pd.factorize(keys, sort=False)
        reps = np.empty(len(uniques), dtype=np.int64)
        reps[codes] = np.arange(len(keys), dtype=np.int64)
        return np.asarray(codes, dtype=np.int64), reps
    order = np.argsort(keys)
    sorted_keys = keys[order]
    new = np.empty(len(keys), dtype=bool)
    new[:1] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=new[1:])
    codes = np.empty(len(keys), dtype=np.int64)
    codes[order] = np.cumsum(new) - 1
    return codes, order[new]


def _char_hashes_vectorized(texts: Sequence[str], size: int, cache: _HashCache
                            ) -> tuple[np.ndarray, np.ndarray] | None:
    """Raw shingle hashes of normalized ``texts`` for character ``size``-grams.

    Returns ``(hashes, lengths)``: ``hashes`` (uint64) holds one hash per n-gram occurrence,
    text after text, ``lengths[j]`` the number of occurrences of text ``j`` (a text shorter
    than ``size`` has one, the whole text). Repeats inside a text are kept (harmless for
    a minimum). Each n-gram is packed injectively into a uint64 (``size`` code points, or
    their ranks among the chunk's distinct code points, of ``64 // size`` bits each); the
    keys are grouped and only one string per distinct n-gram is built and looked up in
    ``cache``. Returns None when the n-grams cannot be packed into 64 bits (then the caller
    uses the per-string path).
    """
    bits = 64 // size
    if bits == 0:
        return None
    lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    joined = "".join(texts)
    cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    if bits < 32 and len(cps) and int(cps.max()) >> bits:
        alphabet = np.unique(cps)
        if len(alphabet) > (1 << bits):
            return None
        cps = np.searchsorted(alphabet, cps).astype(np.uint32)
    cps = cps.astype(np.uint64)

    counts = np.maximum(lens - size + 1, 1)
    offsets = np.cumsum(counts) - counts  # first occurrence of each text in the flat array
    hashes = np.empty(int(counts.sum()), dtype=np.uint64)
    lookup = cache.__getitem__

    regular = np.flatnonzero(lens >= size)
    if len(regular):
        # key of the window starting at every position of the joined string (windows that
        # cross a text boundary are computed but never used)
        n_windows = max(len(cps) - size + 1, 0)
        window_keys = cps[:n_windows].copy()
        for j in range(1, size):
            window_keys |= cps[j:n_windows + j] << np.uint64(bits * j)
        reg_counts = counts[regular]
        before = np.cumsum(reg_counts) - reg_counts
        step = np.arange(int(reg_counts.sum()), dtype=np.int64)
        text_starts = np.cumsum(lens) - lens
        positions = np.repeat(text_starts[regular] - before, reg_counts) + step
        flat_index = np.repeat(offsets[regular] - before, reg_counts) + step
        codes, reps = _factorize(window_keys[positions])
        starts = positions[reps].tolist()
        unique_hashes = np.array([lookup(joined[i:i + size]) for i in starts], dtype=np.uint64)
        hashes[flat_index] = unique_hashes[codes]
    short = np.flatnonzero(lens < size)
    if len(short):
        hashes[offsets[short]] = np.array([lookup(texts[j]) for j in short.tolist()],
                                          dtype=np.uint64)
    return hashes, counts


def _hashes_python(texts: Sequence[str], unit: str, size: int, cache: _HashCache
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Same contract as :func:`_char_hashes_vectorized`, one ``shingle_set`` per text."""
    flat: list[int] = []
    extend = flat.extend
    lookup = cache.__getitem__
    lengths = np.empty(len(texts), dtype=np.int64)
    for j, text in enumerate(texts):
        shingles = shingle_set(text, unit, size)
        lengths[j] = len(shingles)
        extend(map(lookup, shingles))
    return np.array(flat, dtype=np.uint64), lengths


def _signature_chunk(texts: Sequence[str], params: _SigParams, cache: _HashCache) -> np.ndarray:
    """Signatures of ``texts`` as an array (len(texts), num_perm) of the scheme's dtype.

    All shingle hashes of the chunk are gathered into one flat array (record after record);
    each permutation is then applied to the whole flat array at once and reduced per record
    with ``np.minimum.reduceat``, in blocks of about ``_BLOCK_OCCURRENCES`` shingles.
    """
    n = len(texts)
    out_t = np.empty((params.num_perm, n), dtype=params.dtype)  # transposed: one row per perm
    if n == 0:
        return out_t.T.copy()
    if not params.normalized:
        texts = [normalize_text(t) for t in texts]
    found = None
    if params.unit == "char":
        found = _char_hashes_vectorized(texts, params.size, cache)
    raw, lengths = found if found is not None else _hashes_python(texts, params.unit, params.size,
                                                                  cache)
    if len(cache) > _MAX_CACHE_ENTRIES:
        cache.clear()

    if params.scheme == "affine32":
        hashes = _fmix32(raw.astype(np.uint32))
    elif params.scheme == "affine64":
        hashes = _fmix64(raw)
    else:  # legacy: (a * h + b) % prime & max_hash, in wrapping uint64 like datasketch
        hashes = raw
    del raw

    ends = np.cumsum(lengths)
    starts = ends - lengths
    a, b = params.a, params.b
    legacy = params.scheme == "legacy"
    r0 = 0
    while r0 < n:
        # records r0..r1-1 whose shingles span at most ~_BLOCK_OCCURRENCES (at least one record)
        r1 = int(np.searchsorted(ends, starts[r0] + _BLOCK_OCCURRENCES, side="right"))
        r1 = min(max(r1, r0 + 1), n)
        lo, hi = int(starts[r0]), int(ends[r1 - 1])
        seg = hashes[lo:hi]
        local = starts[r0:r1] - lo
        tmp = np.empty(hi - lo, dtype=params.dtype)
        for k in range(params.num_perm):
            np.multiply(seg, a[k], out=tmp)
            np.add(tmp, b[k], out=tmp)
            if legacy:
                np.remainder(tmp, _MERSENNE_PRIME, out=tmp)
                np.bitwise_and(tmp, _MAX_HASH_32, out=tmp)
            np.minimum.reduceat(tmp, local, out=out_t[k, r0:r1])
        r0 = r1
    return np.ascontiguousarray(out_t.T)


_WORKER: dict[str, Any] = {}


def _worker_init(params: _SigParams) -> None:
    _WORKER["params"] = params
    _WORKER["cache"] = _HashCache(params.hash_bytes)


def _worker_chunk(texts: list[str]) -> np.ndarray:
    return _signature_chunk(texts, _WORKER["params"], _WORKER["cache"])


def _iter_signature_chunks(texts: Sequence[str], params: _SigParams, workers: int,
                           chunk_size: int) -> Iterator[np.ndarray]:
    """Signature arrays of consecutive chunks of ``texts``, in order.

    With ``workers > 1`` and more than one chunk, chunks are computed by a pool of
    ``workers`` processes (``imap``: results come back in input order, so the output
    does not depend on scheduling); the caller can consume early chunks while later ones
    are still being computed.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    bounds = [(i, min(i + chunk_size, len(texts))) for i in range(0, len(texts), chunk_size)]
    if workers <= 1 or len(bounds) <= 1:
        cache = _HashCache(params.hash_bytes)
        for lo, hi in bounds:
            yield _signature_chunk(texts[lo:hi], params, cache)
        return
    # fork (Linux): workers inherit the loaded modules and need no importable __main__
    # (scripts run from stdin, notebooks, Snakemake script directives); spawn elsewhere.
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("fork" if sys.platform.startswith("linux") and "fork" in methods
                         else "spawn")
    with ctx.Pool(min(workers, len(bounds)), initializer=_worker_init, initargs=(params,)) as pool:
        yield from pool.imap(_worker_chunk, (list(texts[lo:hi]) for lo, hi in bounds))


def minhash_signatures(texts: list[str], *, num_perm: int, seed: int, shingle_unit: str,
                       shingle_size: int, workers: int = 1, chunk_size: int = 20000,
                       normalized: bool = False, scheme: str | None = None) -> np.ndarray:
    """MinHash signatures of many texts at once.

    Row ``i`` equals ``MinHash(num_perm=num_perm, seed=seed).hashvalues`` after
    ``update(s.encode("utf-8"))`` for every shingle ``s`` of
    ``shingle_set(normalize_text(texts[i]), shingle_unit, shingle_size)``, bit for bit
    (datasketch's default hash function and the permutations of a datasketch MinHash with
    the same ``num_perm``/``seed``/``scheme``). ``normalized=True`` skips
    :func:`normalize_text` (the texts are already normalized). ``scheme=None`` means
    datasketch's default scheme ("affine32" in datasketch >= 2.0).

    Texts are processed ``chunk_size`` at a time (memory stays bounded), by ``workers``
    processes when ``workers > 1``; the result does not depend on ``workers`` or
    ``chunk_size``. Returns an array of shape ``(len(texts), num_perm)``, dtype uint64.
    """
    params = _make_params(num_perm, seed, scheme, shingle_unit, shingle_size, normalized)
    out = np.empty((len(texts), num_perm), dtype=np.uint64)
    pos = 0
    for sig in _iter_signature_chunks(texts, params, workers, chunk_size):
        out[pos:pos + len(sig)] = sig
        pos += len(sig)
    return out


# ------------------------------------------------------------------------ dedup


def _pick_best(candidates: list[int], sims: list[float], threshold: float) -> tuple[int, float] | None:
    """The passing candidate with the highest similarity, ties broken by lowest position."""
    best: tuple[int, float] | None = None
    for cand, sim in zip(candidates, sims, strict=True):
        if sim < threshold:
            continue
        if best is None or sim > best[1] or (sim == best[1] and cand < best[0]):
            best = (cand, sim)
    return best


def jaccard(a: set[str], b: set[str]) -> float:
    """Exact Jaccard similarity of two shingle sets."""
    return len(a & b) / len(a | b) if a or b else 1.0


def _near_greedy(sigs: np.ndarray, rows: np.ndarray, text_of: Callable[[int], str], *,
                 params: _SigParams, threshold: float, verify: str, lsh_threshold: float | None,
                 progress: bool, step: int = 10000) -> dict[int, tuple[int, float]]:
    """Greedy LSH near dedup over ``len(rows)`` texts in order (the exact-pass survivors).

    Text ``i``'s signature is ``sigs[rows[i]]`` and its normalized text ``text_of(i)`` (read only
    with ``verify="exact"``, for a query that has LSH candidates and for those candidates).
    Each text queries an LSH index of the texts kept so far; ``verify="minhash"`` accepts a
    candidate whose estimated Jaccard reaches ``threshold``, ``verify="exact"`` recomputes the
    true Jaccard of the shingle sets (only for the few LSH candidates), which removes the
    estimator's noise (sd ~0.035 at J=0.8 with 128 permutations) right at the decision boundary.
    ``lsh_threshold`` (default: ``threshold``) tunes the LSH banding: lower finds more candidates
    for the verifier. Returns ``{i: (kept_i, similarity)}`` for every near duplicate.
    """
    if verify not in ("minhash", "exact"):
        raise ValueError(f"dedup.verify: expected 'minhash' or 'exact', got {verify!r}")
    n = len(rows)
    lsh = MinHashLSH(threshold=lsh_threshold if lsh_threshold is not None else threshold,
                     num_perm=params.num_perm)
    unit, size, seed, scheme = params.unit, params.size, params.seed, params.scheme
    dups: dict[int, tuple[int, float]] = {}
    with tqdm(total=n, desc="dedup near", unit="rec", disable=not progress,
              mininterval=5.0) as bar:
        for i in range(n):
            row = sigs[rows[i]]
            lean = LeanMinHash(seed=seed, hashvalues=row, scheme=scheme)
            candidates = lsh.query(lean)
            if candidates:
                cands = sorted(candidates)
                if verify == "exact":
                    mine = shingle_set(text_of(i), unit, size)
                    sims = [jaccard(mine, shingle_set(text_of(c), unit, size)) for c in cands]
                else:
                    # identical to LeanMinHash.jaccard: fraction of equal hash values
                    equal = np.count_nonzero(sigs[rows[cands]] == row, axis=1)
                    sims = [float(c) / float(params.num_perm) for c in equal]
                best = _pick_best(cands, sims, threshold)
                if best is not None:
                    dups[i] = best
                else:
                    lsh.insert(i, lean, check_duplication=False)
            else:
                lsh.insert(i, lean, check_duplication=False)
            if (i + 1) % step == 0 or i + 1 == n:
                bar.update(i + 1 - bar.n)
    return dups


def near_dedup_reference(records: list[Record], *, threshold: float, num_perm: int, shingle_unit: str,
                         shingle_size: int, seed: int, scheme: str | None = None) -> tuple[list[Record], list[dict[str, Any]]]:
    """Plain per-record datasketch near dedup (no exact pass): the reference for the fast path.

    For each record in input order: ``m = MinHash(num_perm, seed)``, ``m.update`` with the
    UTF-8 bytes of every shingle of its normalized text, query the LSH index of kept
    records, verify candidates with ``m.jaccard``; a record with a candidate reaching
    ``threshold`` is a near duplicate of the best one (ties: lowest position), otherwise it
    is kept and inserted. Returns ``(kept_records, duplicate_rows)`` like
    :func:`dedup_records` with ``exact=False``.
    """
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    kept_minhash: dict[int, MinHash] = {}
    kept: list[Record] = []
    dup_rows: list[dict[str, Any]] = []
    for i, record in enumerate(records):
        m = _new_minhash(num_perm, seed, scheme)
        for shingle in shingle_set(normalize_text(record_text(record)), shingle_unit, shingle_size):
            m.update(_encode(shingle))
        cands = sorted(lsh.query(m))
        best = _pick_best(cands, [m.jaccard(kept_minhash[c]) for c in cands], threshold)
        if best is None:
            lsh.insert(i, m, check_duplication=False)
            kept_minhash[i] = m
            kept.append(record)
        else:
            dup_rows.append({"id": record["id"], "duplicate_of": records[best[0]]["id"],
                             "kind": "near", "similarity": best[1]})
    return kept, dup_rows




# ------------------------------------------------------------------ scatter / gather

# Bumped whenever the layout of a signatures file changes; a file of another version is refused.
SIGNATURES_VERSION = 1
# The parameters a signatures file must have been computed with to be usable by a gather (the
# config's dedup keys among them are the signatures jobs' params).
SIGNATURE_KEYS = ("exact", "near", "num_perm", "seed", "scheme", "shingle_unit", "shingle_size")


@dataclass
class Signatures:
    """The scatter step's output for one shard of the dedup input (or several, concatenated).

    ``ids[k]`` is the id of the shard's record ``k`` (the shard's order), ``keys[k]`` the SHA-1
    digest of its normalized text (the exact pass's key, ``(n, 20)`` uint8), ``rows[k]`` the row
    of ``signatures`` that holds its MinHash signature, or -1 when it has none: with the exact
    pass on, a record whose normalized text already occurred earlier in the shard is an exact
    repeat and can never be kept, so it gets no signature; with the near pass off none has one.
    ``signatures`` is ``(m, num_perm)`` in the scheme's dtype (uint32 for "affine32").
    ``meta`` holds the parameters they were computed with (``SIGNATURE_KEYS``).
    """

    ids: np.ndarray
    keys: np.ndarray
    rows: np.ndarray
    signatures: np.ndarray
    meta: dict[str, Any]

    def __len__(self) -> int:
        return len(self.ids)


def dedup_input(paths: Sequence[str | Path]) -> list[Record]:
    """The dedup input: the records of ``paths`` (JSONL, in order) sorted by id (stable).

    Input order decides which copy of a duplicate group is kept, so it is made explicit here,
    for the single job, the shard split and the gather alike.
    """
    records = [r for path in paths for r in read_jsonl(path)]
    records.sort(key=lambda r: r["id"])
    return records


def _digest(text: str) -> bytes:
    """The exact pass's key of a normalized text."""
    return hashlib.sha1(_encode(text)).digest()


def dedup_signatures(records: Sequence[Record], *, exact: bool, near: bool, num_perm: int,
                     shingle_unit: str, shingle_size: int, seed: int, workers: int = 1,
                     chunk_size: int = 10000, scheme: str | None = None, progress: bool = False,
                     ) -> Signatures:
    """Scatter step: exact keys and MinHash signatures of one shard of the dedup input.

    ``records`` must be in dedup input order (a shard of :func:`dedup_input` taken in order,
    e.g. every n-th record): the gather relies on "first in the shard" implying "first of the
    shard's records in the whole input" to skip the shard's exact repeats. Signatures are the
    fast path's (:func:`minhash_signatures`), by ``workers`` processes in chunks of
    ``chunk_size``; the result does not depend on either.
    """
    params = _make_params(num_perm, seed, scheme, shingle_unit, shingle_size, normalized=True)
    texts = [normalize_text(record_text(r)) for r in
             tqdm(records, desc="dedup normalize", unit="rec", disable=not progress, mininterval=5.0)]
    n = len(texts)
    keys = np.empty((n, 20), dtype=np.uint8)
    rows = np.full(n, -1, dtype=np.int64)
    signed: list[int] = []
    seen: set[bytes] = set()
    for k, text in enumerate(texts):
        key = _digest(text)
        keys[k] = np.frombuffer(key, dtype=np.uint8)
        if near and not (exact and key in seen):
            rows[k] = len(signed)
            signed.append(k)
        seen.add(key)
    sigs = np.empty((len(signed), num_perm), dtype=params.dtype)
    pos = 0
    with tqdm(total=len(signed), desc="dedup signatures", unit="rec", disable=not progress,
              mininterval=5.0) as bar:
        for chunk in _iter_signature_chunks([texts[k] for k in signed], params, workers, chunk_size):
            sigs[pos:pos + len(chunk)] = chunk
            pos += len(chunk)
            bar.update(len(chunk))
    meta = {"version": SIGNATURES_VERSION, "exact": exact, "near": near, "num_perm": num_perm,
            "seed": seed, "scheme": params.scheme, "shingle_unit": shingle_unit,
            "shingle_size": shingle_size}
    ids = np.array([str(r["id"]) for r in records], dtype=str)
    return Signatures(ids=ids, keys=keys, rows=rows, signatures=sigs, meta=meta)


def write_signatures(path: str | Path, sig: Signatures) -> None:
    """Write one shard's :class:`Signatures` (the one writer of the format).

    An uncompressed ``.npz`` (a zip of ``.npy`` arrays, read back with ``allow_pickle=False``):
    ``ids`` (unicode), ``keys``, ``rows``, ``signatures`` and ``meta`` (a JSON string). The zip
    entries carry a fixed timestamp, so the same shard gives the same bytes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"ids": sig.ids, "keys": sig.keys, "rows": sig.rows, "signatures": sig.signatures,
              "meta": np.array(json.dumps(sig.meta, sort_keys=True))}
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(array), allow_pickle=False)
    tmp.replace(path)


def _signature_meta(npz: Any, path: str | Path) -> dict[str, Any]:
    meta = json.loads(str(npz["meta"]))
    if meta.get("version") != SIGNATURES_VERSION:
        raise ValueError(f"{path}: signatures format version {meta.get('version')!r}, "
                         f"expected {SIGNATURES_VERSION}: rerun the dedup_signatures jobs")
    return meta


def read_signatures(paths: Sequence[str | Path]) -> Signatures:
    """Read shard files written by :func:`write_signatures` and concatenate them in order.

    Every file must have been computed with the same parameters. The signature rows of each file
    are copied straight into one preallocated array (no second copy of all signatures).
    """
    ids, keys, rows = [], [], []
    meta: dict[str, Any] | None = None
    n_rows = 0
    for path in paths:
        with np.load(path, allow_pickle=False) as npz:
            m = _signature_meta(npz, path)
            if meta is not None and m != meta:
                raise ValueError(f"{path}: computed with {m}, an earlier shard with {meta}")
            meta = m
            r = npz["rows"]
            ids.append(npz["ids"])
            keys.append(npz["keys"])
            rows.append(np.where(r >= 0, r + n_rows, -1))
            n_rows += int(np.count_nonzero(r >= 0))
    if meta is None:
        raise ValueError("read_signatures: no files given")
    dtype = np.uint32 if meta["scheme"] == "affine32" else np.uint64
    sigs = np.empty((n_rows, meta["num_perm"]), dtype=dtype)
    pos = 0
    for path in paths:
        with np.load(path, allow_pickle=False) as npz:
            part = npz["signatures"]
            sigs[pos:pos + len(part)] = part
            pos += len(part)
    return Signatures(ids=np.concatenate(ids), keys=np.concatenate(keys),
                      rows=np.concatenate(rows), signatures=sigs, meta=meta)


def dedup_gather(records: Sequence[Record], sig: Signatures, *, exact: bool, near: bool,
                 threshold: float, num_perm: int, shingle_unit: str, shingle_size: int, seed: int,
                 verify: str, lsh_threshold: float | None, scheme: str | None = None,
                 progress: bool = False) -> tuple[list[Record], list[dict[str, Any]]]:
    """Gather step: exact then near dedup of ``records`` (in dedup input order) from their
    shards' :class:`Signatures` (concatenated, any shard order).

    Exact pass over the stored keys, LSH banding over the stored signatures of its survivors,
    verification, the duplicate map and the kept records: see :func:`dedup_records`, which is
    this step over one shard holding every record. Every record must appear in ``sig`` exactly
    once (matched by id, so ids must be unique) and the signatures must have been computed with
    this call's parameters; otherwise a ``ValueError`` says what is wrong.
    """
    import pandas as pd

    params = _make_params(num_perm, seed, scheme, shingle_unit, shingle_size, normalized=True)
    wanted = {"exact": exact, "near": near, "num_perm": num_perm, "seed": seed,
              "scheme": params.scheme, "shingle_unit": shingle_unit, "shingle_size": shingle_size}
    for key in SIGNATURE_KEYS:
        if sig.meta.get(key) != wanted[key]:
            raise ValueError(f"dedup.{key}: the signatures were computed with "
                             f"{sig.meta.get(key)!r}, the gather runs with {wanted[key]!r}: "
                             "rerun the dedup_signatures jobs")
    n = len(records)
    index = pd.Index(sig.ids)
    if not index.is_unique:
        raise ValueError(f"dedup: record ids must be unique, {index[index.duplicated()][0]!r} "
                         "appears more than once")
    where = index.get_indexer([str(r["id"]) for r in records]) if n else np.empty(0, np.int64)
    if len(sig) != n or (where < 0).any():
        missing = [records[k]["id"] for k in np.flatnonzero(where < 0)[:3]]
        raise ValueError(f"dedup: {n} records but {len(sig)} signature rows; records without "
                         f"one: {missing}")

    # exact pass: exact_of[pos] = first position with the same normalized text
    exact_of: dict[int, int] = {}
    survivors: list[int] = []
    if exact:
        first: dict[bytes, int] = {}
        for pos, key in enumerate(map(bytes, sig.keys[where])):
            prev = first.setdefault(key, pos)
            if prev != pos:
                exact_of[pos] = prev
            else:
                survivors.append(pos)
    else:
        survivors = list(range(n))

    # near pass over the survivors: near_of[pos] = (kept position, similarity)
    near_of: dict[int, tuple[int, float]] = {}
    if near and survivors:
        rows = sig.rows[where[survivors]]
        if (rows < 0).any():
            raise ValueError("dedup: a record that is first of its text in the input has no "
                             "signature: the shards were not taken from the dedup input in order")
        texts: dict[int, str] = {}

        def text_of(i: int) -> str:
            if i not in texts:
                texts[i] = normalize_text(record_text(records[survivors[i]]))
            return texts[i]

        local = _near_greedy(sig.signatures, rows, text_of, params=params, threshold=threshold,
                             verify=verify, lsh_threshold=lsh_threshold, progress=progress)
        near_of = {survivors[i]: (survivors[j], s) for i, (j, s) in local.items()}

    kept: list[Record] = []
    dup_rows: list[dict[str, Any]] = []
    for pos, record in enumerate(records):
        if pos in exact_of:
            twin = exact_of[pos]
            target, s = near_of.get(twin, (twin, 1.0))
            dup_rows.append({"id": record["id"], "duplicate_of": records[target]["id"],
                             "kind": "exact", "similarity": s})
        elif pos in near_of:
            target, s = near_of[pos]
            dup_rows.append({"id": record["id"], "duplicate_of": records[target]["id"],
                             "kind": "near", "similarity": s})
        else:
            kept.append(record)

    counts = StageCounts("dedup", n_in=n, kept=len(kept), duplicates=len(dup_rows))
    counts.check()
    return kept, dup_rows


def dedup_records(records: list[Record], *, exact: bool, near: bool, threshold: float, num_perm: int,
                  shingle_unit: str, shingle_size: int, seed: int, verify: str, lsh_threshold: float | None,
                  workers: int = 1, progress: bool = False, chunk_size: int = 10000, scheme: str | None = None,
                  ) -> tuple[list[Record], list[dict[str, Any]]]:
    """Exact then near deduplication of canonical records, in one process.

    The scatter step (:func:`dedup_signatures`) over all ``records`` as one shard, then the
    gather step (:func:`dedup_gather`); the workflow runs the same two steps as separate jobs
    over any number of shards, with the same result. The algorithm's parameters are the config's
    ``dedup`` section (plus the run's ``seed``); their defaults live in the config schema only.

    Returns ``(kept_records_in_input_order, duplicate_map)``; ``duplicate_map`` has one row
    per removed record, in input order::

        {"id": dup_id, "duplicate_of": kept_id, "kind": "exact" | "near", "similarity": float}

    ``duplicate_of`` is always the id of a *kept* record. For ``"exact"`` rows the
    similarity is 1.0; if the exact twin that the record matched was itself removed by the
    near pass, the row points to that twin's kept near neighbour and carries the twin's
    (identical-text, so identical-signature) estimated Jaccard instead. ``"near"`` rows
    carry the Jaccard similarity to ``duplicate_of`` (estimated, or exact with
    ``verify="exact"``; see :func:`_near_greedy` for ``verify`` and ``lsh_threshold``).

    The exact pass (``exact=True``) keys records by the SHA-1 of
    ``normalize_text(record_text(r))``; the first occurrence is kept. The near pass
    (``near=True``) runs over the survivors: see the module docstring and
    :func:`minhash_signatures` (``workers`` processes compute the signatures in chunks of
    ``chunk_size``). Results do not depend on ``workers`` or ``chunk_size``. Record ids must be
    unique.

    Defaults: character 5-grams of the normalized text, 128 permutations, threshold 0.8
    (the usual instruction-data settings, kept because they work on this kind of data).
    On 30-80 word instruction-like texts one small edit (a typo, two swapped words, a
    changed word) touches at most ~10 of the 150-500 character 5-grams, so copies with
    one or two such edits keep an estimated Jaccard of about 0.83-0.97, while two
    different fillings of the same instruction template stay far below 0.8. On the test
    corpus (originals plus copies with 1-2 small edits) precision is 1.0 and recall
    0.99-1.0. Word n-grams are much more fragile at 0.8: one changed word breaks
    ``shingle_size`` of only 30-80 word shingles (word 3-grams reached about 0.6-0.9
    recall on the same kind of corpus), so they would need a lower threshold.
    """
    sig = dedup_signatures(records, exact=exact, near=near, num_perm=num_perm,
                           shingle_unit=shingle_unit, shingle_size=shingle_size, seed=seed,
                           workers=workers, chunk_size=chunk_size, scheme=scheme, progress=progress)
    return dedup_gather(records, sig, exact=exact, near=near, threshold=threshold, num_perm=num_perm,
                        shingle_unit=shingle_unit, shingle_size=shingle_size, seed=seed, verify=verify,
                        lsh_threshold=lsh_threshold, scheme=scheme, progress=progress)
