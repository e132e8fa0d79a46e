"""Tests for sftmix.dedup: fast MinHash signatures, exact and near dedup."""

from __future__ import annotations

import random
import string

import numpy as np
import pytest
from datasketch import MinHash

import sftmix.dedup as dd
from sftmix.dedup import (
    dedup_records as _dedup_records,
)
from sftmix.dedup import (
    minhash_signatures,
    near_dedup_reference,
    normalize_text,
    record_text,
    shingle_set,
)

from .defaults import defaults

# The schema's dedup defaults, verified by MinHash estimate (the reference these tests compare
# against estimates too); the library itself has no defaults of its own.
# (`shards` is how many jobs the workflow scatters over: the scatter/gather tests below)
DEDUP = {k: v for k, v in defaults("dedup", verify="minhash", seed=1).items() if k != "shards"}


def dedup_records(records, **kw):
    return _dedup_records(records, **{**DEDUP, **kw})

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qu", "do", "fe",
             "gi", "ha", "ju", "be", "wo", "xi", "ar", "en", "or", "ul", "st"]

TEMPLATES = [
    "Write a short story about {w} and {w} in {n} words.",
    "Explain how {w} relates to {w}, step by step.",
    "Summarize the following paragraph: {p}",
    "What is {n} multiplied by {n}? Show your work.",
    "Translate this sentence into French: {p}",
    "List the main differences between {w} and {w}.",
]


def make_vocab(rng: random.Random, size: int = 3000) -> list[str]:
    vocab: set[str] = set()
    while len(vocab) < size:
        vocab.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(vocab)


def sentence(rng: random.Random, vocab: list[str], k: int) -> str:
    words = [rng.choice(vocab) + ("," if rng.random() < 0.08 else "") for _ in range(k)]
    text = " ".join(words)
    return text[0].upper() + text[1:] + "."


def original(rng: random.Random, vocab: list[str], rid: str) -> dict:
    """A templated instruction plus a random response, 30-80 words in total."""
    template = rng.choice(TEMPLATES)
    user = template
    while "{" in user:
        i = user.index("{")
        slot = user[i + 1]
        value = {"w": lambda: rng.choice(vocab), "n": lambda: str(rng.randint(2, 9999)),
                 "p": lambda: sentence(rng, vocab, rng.randint(5, 10))}[slot]()
        user = user[:i] + value + user[i + 3:]
    n_words = rng.randint(30, 80)
    response = sentence(rng, vocab, max(8, n_words - len(user.split())))
    return {"id": rid, "source": "t", "meta": {},
            "messages": [{"role": "user", "content": user},
                         {"role": "assistant", "content": response}]}


def small_edit(rng: random.Random, text: str, kind: str) -> str:
    words = text.split(" ")
    j = rng.randrange(len(words) - 1)
    if kind == "typo":
        w = words[j]
        p = rng.randrange(len(w))
        words[j] = w[:p] + rng.choice([c for c in string.ascii_lowercase if c != w[p]]) + w[p + 1:]
    elif kind == "swap":
        words[j], words[j + 1] = words[j + 1], words[j]
    elif kind == "punct":
        words[j] = words[j].rstrip(",.") + rng.choice(["!", ";", " -", "?"])
    else:
        raise ValueError(kind)
    return " ".join(words)


def near_copy(rng: random.Random, rec: dict, rid: str, kinds: list[str]) -> dict:
    messages = [dict(m) for m in rec["messages"]]
    m = messages[-1]  # the response: the longer turn
    for kind in kinds:
        m["content"] = small_edit(rng, m["content"], kind)
    return {"id": rid, "source": "t", "meta": {}, "messages": messages}


def make_corpus(seed: int, n_originals: int, n_near: int) -> tuple[list[dict], dict[str, str]]:
    """Originals interleaved with near copies of earlier originals (one or two small edits:
    typo, swapped words, changed punctuation); returns records and {dup_id: source_id}."""
    rng = random.Random(seed)
    vocab = make_vocab(rng)
    records: list[dict] = []
    originals: list[dict] = []
    truth: dict[str, str] = {}
    for i in range(n_originals + n_near):
        rid = f"t-{i:05d}"
        if originals and len(truth) < n_near and rng.random() < n_near / (n_originals + n_near) * 1.5:
            src = rng.choice(originals)
            kinds = rng.sample(["typo", "swap", "punct"], rng.choice([1, 1, 2]))
            records.append(near_copy(rng, src, rid, kinds))
            truth[rid] = src["id"]
        else:
            rec = original(rng, vocab, rid)
            records.append(rec)
            originals.append(rec)
    return records, truth


def rec(rid: str, *contents: str) -> dict:
    roles = ["user", "assistant"]
    return {"id": rid, "source": "t", "meta": {},
            "messages": [{"role": roles[i % 2], "content": c} for i, c in enumerate(contents)]}


def datasketch_signature(text: str, unit: str, size: int, num_perm: int, seed: int,
                         scheme: str | None = None) -> np.ndarray:
    m = MinHash(num_perm=num_perm, seed=seed) if scheme is None else \
        MinHash(num_perm=num_perm, seed=seed, scheme=scheme)
    for s in shingle_set(normalize_text(text), unit, size):
        m.update(s.encode("utf-8"))
    return m.hashvalues


EDGE_TEXTS = [
    "", " ", "a", "ab", "abcd", "abcde", "abcdef", "Hello, World!", "...",
    "The quick brown fox jumps over the lazy dog. " * 4,
    "one two", "one two three four five six seven",
    "Ünïcode ﬁ ligatures, ＦＵＬＬＷＩＤＴＨ and café",
    "emoji 😀 and snow ☃ mixed in", "中文文本没有空格但是有很多字符" * 3,
]


# ----------------------------------------------------------------------------- text


def test_normalize_text():
    assert normalize_text("  Hello,\tWORLD!!\n  How's it   going? ") == "hello world hows it going"
    assert normalize_text("ＦＵＬＬ ﬁne") == "full fine"  # NFKC
    assert normalize_text("a+b = c $5") == "a+b = c $5"  # symbols are not punctuation
    assert normalize_text("") == ""
    assert normalize_text("«quoted» — dash") == "quoted dash"


def test_record_text_skips_system_prompts():
    r = {"id": "x", "source": "s", "meta": {},
         "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"},
                      {"role": "assistant", "content": "A"}]}
    assert record_text(r) == "U\nA"
    same = {**r, "id": "y", "messages": r["messages"][1:]}
    kept, dups = dedup_records([r, same])
    assert [d["id"] for d in dups] == ["y"] and dups[0]["kind"] == "exact"


def test_shingle_set():
    assert shingle_set("abcdef", "char", 5) == {"abcde", "bcdef"}
    assert shingle_set("abc", "char", 5) == {"abc"}
    assert shingle_set("", "char", 5) == {""}
    assert shingle_set("a b c", "word", 2) == {"a b", "b c"}
    assert shingle_set("a b", "word", 3) == {"a b"}
    assert shingle_set("", "word", 1) == {""}
    with pytest.raises(ValueError):
        shingle_set("abc", "token", 2)


# ----------------------------------------------------------------------- signatures


@pytest.mark.parametrize("unit,size", [("char", 5), ("char", 1), ("char", 3), ("char", 9),
                                       ("word", 1), ("word", 3)])
def test_signatures_match_datasketch(unit, size):
    rng = random.Random(size)
    texts = EDGE_TEXTS + ["".join(rng.choice("ab cdé☃😀中") for _ in range(rng.randint(0, 25)))
                          for _ in range(40)]
    sigs = minhash_signatures(texts, num_perm=64, seed=7, shingle_unit=unit, shingle_size=size,
                              chunk_size=16)
    assert sigs.shape == (len(texts), 64) and sigs.dtype == np.uint64
    for text, sig in zip(texts, sigs, strict=True):
        np.testing.assert_array_equal(sig, datasketch_signature(text, unit, size, 64, 7))


@pytest.mark.parametrize("scheme", ["legacy", "affine64"])
def test_signatures_match_datasketch_other_schemes(scheme):
    for unit, size in [("char", 5), ("word", 2)]:
        sigs = minhash_signatures(EDGE_TEXTS, num_perm=32, seed=3, shingle_unit=unit,
                                  shingle_size=size, scheme=scheme)
        for text, sig in zip(EDGE_TEXTS, sigs, strict=True):
            np.testing.assert_array_equal(sig, datasketch_signature(text, unit, size, 32, 3, scheme))


def test_signatures_numpy_factorize_fallback(monkeypatch):
    monkeypatch.setattr(dd, "_FORCE_NUMPY_FACTORIZE", True)
    sigs = minhash_signatures(EDGE_TEXTS, num_perm=32, seed=1, shingle_unit="char", shingle_size=4)
    for text, sig in zip(EDGE_TEXTS, sigs, strict=True):
        np.testing.assert_array_equal(sig, datasketch_signature(text, "char", 4, 32, 1))


def test_signatures_independent_of_workers_and_chunks():
    records, _ = make_corpus(seed=3, n_originals=120, n_near=0)
    texts = [record_text(r) for r in records]
    kw = {"num_perm": 64, "seed": 1, "shingle_unit": "char", "shingle_size": 5}
    one = minhash_signatures(texts, **kw)
    many = minhash_signatures(texts, workers=2, chunk_size=25, **kw)
    np.testing.assert_array_equal(one, many)
    pre = minhash_signatures([normalize_text(t) for t in texts], normalized=True, **kw)
    np.testing.assert_array_equal(one, pre)


# ---------------------------------------------------------------------------- dedup


def dup_table(dups: list[dict]) -> dict[str, tuple]:
    return {d["id"]: (d["duplicate_of"], d["kind"], d["similarity"]) for d in dups}


@pytest.mark.parametrize("threshold,unit,size", [(0.8, "char", 5), (0.5, "word", 2),
                                                 (0.3, "char", 3)])
def test_fast_equals_reference(threshold, unit, size):
    records, _ = make_corpus(seed=11, n_originals=250, n_near=120)
    kw = {"threshold": threshold, "num_perm": 64, "shingle_unit": unit, "shingle_size": size,
          "seed": 5}
    kept_ref, dups_ref = near_dedup_reference(records, **kw)
    kept_fast, dups_fast = dedup_records(records, exact=False, chunk_size=64, **kw)
    assert [r["id"] for r in kept_fast] == [r["id"] for r in kept_ref]
    assert dups_fast == dups_ref
    assert len(dups_ref) > 50  # the comparison is not vacuous


def test_fast_equals_reference_with_workers():
    records, _ = make_corpus(seed=12, n_originals=200, n_near=100)
    kept_ref, dups_ref = near_dedup_reference(records, threshold=0.8, num_perm=128,
                                              shingle_unit="char", shingle_size=5, seed=1)
    kept_fast, dups_fast = dedup_records(records, exact=False, workers=2, chunk_size=50)
    assert [r["id"] for r in kept_fast] == [r["id"] for r in kept_ref]
    assert dups_fast == dups_ref


def test_exact_duplicates_found():
    base = ("Write a haiku about the autumn moon over the quiet harbor, then explain "
            "the imagery you chose in two sentences.")
    answer = "Pale moon on the water; boats asleep. The imagery contrasts stillness and light."
    records = [
        rec("a", base, answer),
        rec("b", base.upper(), answer.lower()),
        rec("c", "  " + base.replace(" ", "\t  "), answer + "\n\n"),
        rec("d", base.replace(",", "").replace(".", "!"), answer.replace(";", ",")),
        rec("e", base + "\n" + answer),  # role-agnostic: same text in a single turn
    ]
    kept, dups = dedup_records(records, near=False)
    assert [r["id"] for r in kept] == ["a"]
    assert dup_table(dups) == {k: ("a", "exact", 1.0) for k in "bcde"}


def test_distinct_templated_texts_not_merged():
    rng = random.Random(5)
    vocab = make_vocab(rng)
    records = [original(rng, vocab, f"o-{i}") for i in range(300)]
    kept, dups = dedup_records(records)
    assert dups == []
    assert len(kept) == 300


def test_precision_recall_defaults():
    records, truth = make_corpus(seed=2024, n_originals=400, n_near=200)
    assert len(truth) == 200
    kept, dups = dedup_records(records)
    predicted = {d["id"] for d in dups}
    tp = len(predicted & set(truth))
    precision, recall = tp / len(predicted), tp / len(truth)
    assert precision >= 0.95, precision
    assert recall >= 0.95, recall
    # a detected near copy points at the original it was made from
    table = dup_table(dups)
    correct_target = sum(table[d][0] == truth[d] for d in predicted & set(truth))
    assert correct_target == tp
    assert {r["id"] for r in kept} == {r["id"] for r in records} - predicted


def test_deterministic():
    records, _ = make_corpus(seed=9, n_originals=150, n_near=80)
    first = dedup_records(records)
    second = dedup_records(records)
    parallel = dedup_records(records, workers=2, chunk_size=40)
    assert first == second == parallel


def test_exact_twin_of_near_duplicate_points_to_kept_record():
    text = ("Describe a sunny walk through the old market square, mentioning the fruit "
            "stalls, the fountain, the pigeons and the clock tower that rings at noon.")
    near = text.replace("pigeons", "pigeon")
    records = [rec("orig", text), rec("near", near), rec("exact", near.upper())]
    kept, dups = dedup_records(records)
    assert [r["id"] for r in kept] == ["orig"]
    table = dup_table(dups)
    assert table["near"][:2] == ("orig", "near")
    assert table["exact"] == ("orig", "exact", table["near"][2])
    assert 0.8 <= table["near"][2] < 1.0


def test_best_candidate_and_accounting():
    text = " ".join(f"word{i}" for i in range(60))
    records = [rec("a", text), rec("b", text + " extra"), rec("c", text + " extra tail"),
               rec("d", "something completely different and unrelated to the others at all")]
    kept, dups = dedup_records(records, exact=False)
    assert [r["id"] for r in kept] == ["a", "d"]
    assert all(d["duplicate_of"] == "a" and d["kind"] == "near" for d in dups)
    assert len(kept) + len(dups) == len(records)


def test_switches_and_empty_input():
    records = [rec("a", "Same text here."), rec("b", "same text here")]
    kept, dups = dedup_records(records, exact=False, near=False)
    assert [r["id"] for r in kept] == ["a", "b"] and dups == []
    kept, dups = dedup_records(records, exact=False)
    assert dup_table(dups) == {"b": ("a", "near", 1.0)}
    assert dedup_records([]) == ([], [])
    with pytest.raises(ValueError):
        dedup_records(records, shingle_unit="token")


# ---- scatter (dedup_signatures per shard) / gather (dedup_gather) ------------------------------

SIGNATURE_ARGS = ("exact", "near", "num_perm", "shingle_unit", "shingle_size", "seed")


def scattered(records, shards, tmp_path, *, reverse=False, **kw):
    """What the workflow does with dedup.shards = ``shards``: record k -> shard k mod n, one
    signatures file per shard (written and read back), one gather over all of them."""
    p = {**DEDUP, **kw}
    paths = []
    for s in range(shards):
        sig = dd.dedup_signatures(records[s::shards], **{k: p[k] for k in SIGNATURE_ARGS})
        path = tmp_path / f"{shards}-{s:03d}.npz"
        dd.write_signatures(path, sig)
        paths.append(path)
    return dd.dedup_gather(records, dd.read_signatures(paths[::-1] if reverse else paths), **p)


def corpus_with_exact_copies(seed, n_originals, n_near, n_exact):
    """make_corpus plus case/space/punctuation variants of earlier records (originals and near
    copies) spread through the corpus; ids stay in input order."""
    records, _ = make_corpus(seed, n_originals, n_near)
    rng = random.Random(seed)
    out = []
    for r in records:
        out.append(r)
        if rng.random() < n_exact / len(records):
            src = rng.choice(out)
            out.append({**src, "messages": [{**m, "content": "  " + m["content"].upper() + "!"}
                                            for m in src["messages"]]})
    for i, r in enumerate(out):
        out[i] = {**r, "id": f"x-{i:05d}"}
    return out


@pytest.mark.parametrize("verify", ["minhash", "exact"])
def test_scatter_gather_equals_single_job(tmp_path, verify):
    """Same kept ids in the same order, same duplicate map (targets, kinds, similarities), for 1, 2
    and 3 shards, more shards than records, and shard files read in another order."""
    records = corpus_with_exact_copies(seed=31, n_originals=70, n_near=35, n_exact=25)
    single = dedup_records(records, verify=verify)
    kinds = [d["kind"] for d in single[1]]
    assert kinds.count("exact") > 15 and kinds.count("near") > 15  # not vacuous
    for shards in (1, 2, 3, len(records) + 5):
        assert scattered(records, shards, tmp_path, verify=verify) == single, shards
    assert scattered(records, 3, tmp_path, reverse=True, verify=verify) == single
    assert scattered(records, 2, tmp_path, exact=False, verify=verify) == dedup_records(
        records, exact=False, verify=verify)


def test_shard_boundaries_do_not_change_which_record_is_kept(tmp_path):
    """The first record of a duplicate group in input order is kept whichever shard each copy
    lands in: with 2-4 shards its copies fall in shards before and after the original's, and
    some in the original's own shard."""
    text = ("Describe a sunny walk through the old market square, mentioning the fruit "
            "stalls, the fountain, the pigeons and the clock tower that rings at noon.")
    near = text.replace("pigeons", "pigeon")
    filler = [rec(f"f{i}", f"unrelated filler number {i} " * 3) for i in range(2)]
    records = [*filler, rec("k0", text), rec("k1", near), rec("k2", text.upper()),
               rec("k3", near.lower()), rec("k4", text + "!")]
    for shards in (1, 2, 3, 4):
        kept, dups = scattered(records, shards, tmp_path)
        assert [r["id"] for r in kept] == ["f0", "f1", "k0"], shards
        table = dup_table(dups)
        assert table["k1"][:2] == ("k0", "near")
        assert table["k2"] == table["k4"] == ("k0", "exact", 1.0)
        assert table["k3"] == ("k0", "exact", table["k1"][2])  # twin of a near duplicate
    # 4 shards: shard 2 holds k0 and k4, an exact repeat inside the shard, which gets no signature
    sig = dd.dedup_signatures(records[2::4], **{k: DEDUP[k] for k in SIGNATURE_ARGS})
    assert list(sig.ids) == ["k0", "k4"] and sig.rows.tolist() == [0, -1]


def test_signatures_file_is_deterministic_and_checked(tmp_path):
    records = corpus_with_exact_copies(seed=5, n_originals=30, n_near=10, n_exact=5)
    sig = dd.dedup_signatures(records, **{k: DEDUP[k] for k in SIGNATURE_ARGS})
    assert sig.signatures.dtype == np.uint32 and sig.signatures.shape[1] == DEDUP["num_perm"]
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    dd.write_signatures(a, sig)
    dd.write_signatures(b, dd.dedup_signatures(records, **{k: DEDUP[k] for k in SIGNATURE_ARGS}))
    assert a.read_bytes() == b.read_bytes()
    back = dd.read_signatures([a])
    assert (back.signatures == sig.signatures).all() and list(back.ids) == [r["id"] for r in records]
    # the gather refuses signatures of other parameters, naming the key, and missing records
    gather = dict(DEDUP)
    with pytest.raises(ValueError, match="dedup.num_perm"):
        dd.dedup_gather(records, back, **{**gather, "num_perm": 64})
    with pytest.raises(ValueError, match="dedup.shingle_size"):
        dd.dedup_gather(records, back, **{**gather, "shingle_size": 4})
    with pytest.raises(ValueError, match="records without one"):
        dd.dedup_gather([*records, rec("zz", "a record no shard has seen")], back, **gather)


def test_dry_run_schedules_one_signatures_job_per_shard(tmp_path):
    """dedup.shards: 2 on the smoke config: a split, 2 signature jobs and the gather."""
    import re

    from . import smk

    override = tmp_path / "shards.yaml"
    override.write_text("dedup: {shards: 2}\n")
    # the dedup output as the target: only the data half's DAG is built (~3.5 CPU-s)
    out = smk.snakemake(tmp_path, "results/smoke/dedup/records.jsonl", "-n", "--quiet", "rules",
                        "--configfile", str(smk.SMOKE_CONFIG), str(override)).stdout
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out, re.M))
    assert (counts["split_for_dedup"], counts["dedup_signatures"], counts["dedup"]) == ("1", "2", "1")
