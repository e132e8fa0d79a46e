"""Quality scores (sftmix.quality): IFD, #InsTag complexity, length, DEITA interface, TSV I/O."""

from __future__ import annotations

import copy
import logging
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from sftmix.chat import IGNORE_INDEX, encode_conversation
from sftmix.normalize import mapping_from_rows, read_tag_map
from sftmix.quality import (
    QUALITY_COLUMNS,
    candidate_pool,
    deita_prompt,
    deita_scores,
    ifd_scores,
    ifd_valid,
    instag_scores,
    length_scores,
    quality_map,
    quality_table,
    read_quality,
    response_only_conversations,
    score_token_ids,
    write_quality,
)
from sftmix.records import write_jsonl
from sftmix.scoring import load_causal_lm, score_records

from .scripts import run_rule_script
from .tinylm import save_tiny_lm, sentences

ARCH = {"hidden_size": 64, "intermediate_size": 128, "num_layers": 2, "num_heads": 4, "max_length": 256}
WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "to", "river", "what", "is", "two",
         "plus", "three", "five", "answer", "please", "tell", "me", "about", "moon", "red", "green",
         "quality", "score", "question", "response", "1", "2", "3", "4", "5", "6", "rate", "helpful"]


def _sentences(n: int, seed: int = 0) -> list[str]:
    return sentences(WORDS, n, seed)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return save_tiny_lm(tmp_path_factory.mktemp("tiny_lm"), _sentences(200), ARCH, seed=11)


@pytest.fixture(scope="module")
def lm(model_dir):
    return load_causal_lm(str(model_dir))


def _rec(i: int, messages: list[dict[str, str]], category: str = "c", tags=None) -> dict:
    meta: dict = {"category": category}
    if tags is not None:
        meta["tags"] = tags
    return {"id": f"q-{i:03d}", "source": "q", "messages": messages, "meta": meta}


def _ua(u: str, a: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": u}, {"role": "assistant", "content": a}]


@pytest.fixture(scope="module")
def records() -> list[dict]:
    s = _sentences(40, seed=3)
    recs = [_rec(i, _ua(" ".join(s[i:i + 1 + i % 3]), " ".join(s[i + 10:i + 11 + i % 4])), f"c{i % 2}")
            for i in range(6)]
    recs.append(_rec(6, [{"role": "system", "content": s[20]}, *_ua(s[21], s[22]),
                         {"role": "user", "content": s[23]}, {"role": "assistant", "content": s[24] + " " + s[25]}],
                     "dialogue"))
    return recs


def _close(a: float, b: float, rel: float = 1e-5) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


# ---------------------------------------------------------------------------------------------
# IFD
# ---------------------------------------------------------------------------------------------

def test_ifd_is_ratio_of_two_score_records_calls(lm, records):
    model, tok = lm
    got = ifd_scores(model, tok, records, batch_size=4, progress=False)
    cond = score_records(model, tok, records, batch_size=4)
    assert list(got) == [r["id"] for r in records]
    for rec, c in zip(records, cond, strict=True):
        turns = [{"id": "x", "messages": conv, "meta": {}} for conv in response_only_conversations(rec)]
        alone = score_records(model, tok, turns, batch_size=1)
        n_alone = sum(r["n_tokens"] for r in alone)
        ppl_uncond = math.exp(sum(r["nll_sum"] for r in alone) / n_alone)
        g = got[rec["id"]]
        assert g["n_tokens"] == c["n_tokens"] == n_alone > 0  # one identical token set
        assert _close(g["ppl_cond"], c["ppl"])
        assert _close(g["ppl_uncond"], ppl_uncond)
        assert _close(g["ifd"], c["ppl"] / ppl_uncond)
        assert _close(g["ifd"], g["ppl_cond"] / g["ppl_uncond"], 1e-12)
    assert len(response_only_conversations(records[6])) == 2  # each turn scored alone


def test_response_only_has_the_same_response_tokens(lm, records):
    _, tok = lm
    rec = records[6]
    full = [t for t in encode_conversation(tok, rec["messages"])["labels"] if t != IGNORE_INDEX]
    alone = [t for conv in response_only_conversations(rec)
             for t in encode_conversation(tok, conv)["labels"] if t != IGNORE_INDEX]
    assert full == alone
    assert response_only_conversations(rec)[0] == [{"role": "user", "content": ""},
                                                   {"role": "assistant", "content": rec["messages"][2]["content"]}]


def test_ifd_truncation_keeps_identical_token_sets(lm, records):
    model, tok = lm
    rec = records[6]
    full = encode_conversation(tok, rec["messages"])
    labelled = [t for t, lab in enumerate(full["labels"]) if lab != IGNORE_INDEX]
    first_turn = len(encode_conversation(tok, response_only_conversations(rec)[0])["input_ids"])
    max_length = labelled[-1] - 2  # cuts inside the second response
    (c,) = score_records(model, tok, [rec], max_length=max_length)
    got = ifd_scores(model, tok, [rec], max_length=max_length, progress=False)[rec["id"]]
    assert got["n_tokens"] == c["n_tokens"] < len(labelled)
    # by hand: turn 1 whole, turn 2 cut to the surviving tokens
    convs = response_only_conversations(rec)
    (a1,) = score_records(model, tok, [{"id": "a", "messages": convs[0], "meta": {}}], max_length=first_turn)
    k2 = c["n_tokens"] - a1["n_tokens"]
    enc2 = encode_conversation(tok, convs[1])
    prefix2 = next(t for t, lab in enumerate(enc2["labels"]) if lab != IGNORE_INDEX)
    (a2,) = score_records(model, tok, [{"id": "b", "messages": convs[1], "meta": {}}], max_length=prefix2 + k2)
    assert a2["n_tokens"] == k2 > 0
    assert _close(got["ppl_uncond"], math.exp((a1["nll_sum"] + a2["nll_sum"]) / c["n_tokens"]))
    assert _close(got["ifd"], c["ppl"] / got["ppl_uncond"])


def test_ifd_nan_for_unscorable_records_never_dropped(lm, records, caplog):
    model, tok = lm
    no_answer = _rec(50, [{"role": "user", "content": "Tell me about the moon."}])
    long_prompt = _rec(51, _ua(" ".join(["the cat sat on a mat"] * 40), "Red."))
    with caplog.at_level(logging.WARNING, logger="sftmix.quality"):
        got = ifd_scores(model, tok, [records[0], no_answer, long_prompt], max_length=64, progress=False)
    assert list(got) == [records[0]["id"], no_answer["id"], long_prompt["id"]]
    assert math.isfinite(got[records[0]["id"]]["ifd"])
    for rid in (no_answer["id"], long_prompt["id"]):
        assert got[rid]["n_tokens"] == 0
        assert all(math.isnan(got[rid][k]) for k in ("ifd", "ppl_cond", "ppl_uncond"))
    assert "no_response_tokens" in caplog.text and no_answer["id"] in caplog.text


def test_ifd_nan_when_template_renders_responses_by_context(lm, records, caplog):
    model, tok = lm
    tok = copy.deepcopy(tok)  # a template that writes the turn's position into the assistant turn
    tok.chat_template = ("{{ bos_token }}{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' }}"
                         "{% if message['role'] == 'assistant' %}{{ loop.index0|string }}{% endif %}"
                         "{{ message['content'] + eos_token + '\\n' }}{% endfor %}"
                         "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}")
    with caplog.at_level(logging.WARNING, logger="sftmix.quality"):
        got = ifd_scores(model, tok, [records[0], records[6]], progress=False)
    assert math.isfinite(got[records[0]["id"]]["ifd"])  # assistant at index 1 in both renderings
    assert math.isnan(got[records[6]["id"]]["ifd"])  # second answer at index 4 vs 1 alone
    assert "template_mismatch" in caplog.text and records[6]["id"] in caplog.text


def test_ifd_valid():
    assert ifd_valid(0.5) and ifd_valid(0.999)
    assert not ifd_valid(1.0) and not ifd_valid(1.3)
    assert not ifd_valid(float("nan")) and not ifd_valid(float("inf"))


# ---------------------------------------------------------------------------------------------
# #InsTag, length
# ---------------------------------------------------------------------------------------------

def test_instag_counts_distinct_normalized_tags(tmp_path):
    tag_map_path = tmp_path / "tag_map.tsv"
    tag_map_path.write_text("tag\tnormalized\tcount\tgroup_count\tgroup_size\n"
                            "math\tmathematics\t3\t5\t2\nmathematics\tmathematics\t2\t5\t2\n"
                            "python\tpython\t4\t4\t1\n", encoding="utf-8")
    tag_map = mapping_from_rows(read_tag_map(tag_map_path))
    assert tag_map == {"math": "mathematics", "mathematics": "mathematics", "python": "python"}
    recs = [_rec(0, _ua("q", "a"), tags=[["math", 0.9], ["mathematics", 0.8], ["python", 0.5]]),
            _rec(1, _ua("q", "a"), tags=["math", "mathematics", "unmapped tag", ""]),
            _rec(2, _ua("q", "a"), tags=[]),
            {"id": "q-003", "source": "q", "messages": _ua("q", "a"), "meta": {}}]
    assert instag_scores(recs, tag_map) == {"q-000": 2, "q-001": 2, "q-002": 0, "q-003": 0}


def test_length_is_characters_of_assistant_turns():
    recs = [_rec(0, _ua("a long question here", "héllo")),
            _rec(1, [*_ua("q", "abc"), {"role": "user", "content": "more"}, {"role": "assistant", "content": "de"}]),
            _rec(2, [{"role": "user", "content": "only a question"}])]
    assert length_scores(recs) == {"q-000": 5, "q-001": 5, "q-002": 0}


# ---------------------------------------------------------------------------------------------
# DEITA
# ---------------------------------------------------------------------------------------------

def test_deita_prompt_fills_once():
    p = deita_prompt("What is {response}?", "It is {instruction}.")
    assert "#Question#:\nWhat is {response}?\n#Response#:\nIt is {instruction}.\n##Quality: " in p
    assert p.endswith("##Quality: ")
    assert deita_prompt("q", "r", template="Q={instruction} R={response} {other}") == "Q=q R=r {other}"
    with pytest.raises(ValueError, match="placeholder"):
        deita_prompt("q", "r", template="only {instruction}")


def test_score_token_ids(lm):
    _, tok = lm
    ids = score_token_ids(tok)
    assert tok.convert_ids_to_tokens(ids) == ["1", "2", "3", "4", "5", "6"]  # bare digits, no leading space
    with pytest.raises(ValueError, match="not a single token"):
        score_token_ids(tok, ("1", "2 3"))
    with pytest.raises(ValueError, match="distinct"):
        score_token_ids(tok, ("1", "1"))


def _deita_records() -> list[dict]:
    s = _sentences(30, seed=9)
    recs = [_rec(i, _ua(" ".join(s[i:i + 1 + i % 4]), " ".join(s[i + 8:i + 9 + (i * 3) % 5]))) for i in range(7)]
    recs.append(_rec(7, [*_ua(s[20], s[21]), {"role": "user", "content": s[22]},
                         {"role": "assistant", "content": s[23]}]))
    return recs


def test_deita_matches_hand_computation_and_range(lm):
    model, tok = lm
    recs = _deita_records()
    got = deita_scores(model, tok, recs, batch_size=4, progress=False)
    assert all(1.0 <= v <= 6.0 for v in got.values())
    rec = recs[7]  # multi-turn: first user turn, last assistant turn
    prompt = deita_prompt(rec["messages"][0]["content"], rec["messages"][3]["content"])
    ids = torch.tensor([[tok.bos_token_id, *tok(prompt, add_special_tokens=False)["input_ids"]]])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, -1].double()
    p = torch.softmax(logits[score_token_ids(tok)], dim=-1)
    expected = sum((k + 1) * p[k].item() for k in range(6))
    assert _close(got[rec["id"]], expected, 1e-6)
    # no head-only shortcut: the same numbers from the full logits
    full = deita_scores(model, tok, recs, batch_size=4, progress=False, head_only=False)
    assert all(_close(full[k], got[k], 1e-6) for k in got)


def test_deita_batched_equals_one_at_a_time(lm):
    model, tok = lm
    recs = _deita_records()
    lengths = {len(tok(deita_prompt(r["messages"][0]["content"], r["messages"][-1]["content"]))["input_ids"])
               for r in recs}
    assert len(lengths) > 4  # mixed lengths: padding really happens
    single = deita_scores(model, tok, recs, batch_size=1, progress=False)
    for side in ("right", "left"):
        batched = deita_scores(model, tok, recs, batch_size=5, progress=False, padding_side=side)
        assert list(batched) == [r["id"] for r in recs]
        for k in single:
            assert _close(batched[k], single[k], 1e-6), (side, k, batched[k], single[k])


def test_deita_truncation_and_unscorable(lm, caplog):
    model, tok = lm
    long = _rec(0, _ua("Tell me about the moon.", " ".join(["the dog ran to the river"] * 60)))
    none = _rec(1, [{"role": "user", "content": "Hello?"}])
    with caplog.at_level(logging.INFO, logger="sftmix.quality"):
        got = deita_scores(model, tok, [long, none], max_length=48, progress=False)
    assert 1.0 <= got["q-000"] <= 6.0
    assert math.isnan(got["q-001"])
    assert "cut in the middle" in caplog.text and "q-001" in caplog.text


# ---------------------------------------------------------------------------------------------
# table, TSV, maps
# ---------------------------------------------------------------------------------------------

def _rows() -> list[dict]:
    recs = [_rec(2, _ua("q", "abc"), "b"), _rec(0, _ua("q", "a"), "a"), _rec(1, _ua("q", "ab"))]
    ifd = {"q-000": {"ppl_cond": 3.0, "ppl_uncond": 4.0, "ifd": 0.75},
           "q-001": {"ppl_cond": 5.0, "ppl_uncond": 4.0, "ifd": 1.25},
           "q-002": {"ppl_cond": float("nan"), "ppl_uncond": float("nan"), "ifd": float("nan")}}
    return quality_table(recs, ifd=ifd, instag={"q-000": 1, "q-001": 3, "q-002": 2},
                         length=length_scores(recs), deita={"q-000": 4.123456789012345, "q-001": 2.5, "q-002": None})


def test_table_and_tsv_round_trip_byte_stable(tmp_path):
    rows = _rows()
    assert [r["id"] for r in rows] == ["q-000", "q-001", "q-002"]
    assert list(rows[0]) == list(QUALITY_COLUMNS)
    assert rows[0]["category"] == "a" and rows[0]["length"] == 1 and math.isnan(rows[2]["deita"])
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    assert write_quality(a, rows) == 3
    back = read_quality(a)
    write_quality(b, back)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_text().splitlines()[0] == "\t".join(QUALITY_COLUMNS)
    assert back[0]["deita"] == 4.123456789012345 and back[0]["instag"] == 1 and isinstance(back[0]["length"], int)
    assert math.isnan(back[2]["ifd"])
    no_deita = quality_table([_rec(0, _ua("q", "a"))], ifd=None, instag={"q-000": 0}, length={"q-000": 1},
                             deita=None)
    assert math.isnan(no_deita[0]["deita"]) and math.isnan(no_deita[0]["ifd"])
    with pytest.raises(ValueError, match="no instag score"):
        quality_table([_rec(0, _ua("q", "a"))], ifd=None, instag={}, length={"q-000": 1}, deita=None)


def test_quality_map_directions_and_ifd_eligibility():
    rows = _rows()
    assert quality_map(rows, "ifd") == {"q-000": 0.75}  # 1.25 >= 1 and NaN are not eligible
    assert quality_map(rows, "ifd", drop_invalid=False) == {"q-000": 0.75, "q-001": -math.inf, "q-002": -math.inf}
    assert quality_map(rows, "instag") == {"q-000": 1.0, "q-001": 3.0, "q-002": 2.0}
    assert quality_map(rows, "deita") == {"q-000": 4.123456789012345, "q-001": 2.5}
    assert quality_map(rows, "length") == {"q-000": 1.0, "q-001": 2.0, "q-002": 3.0}
    with pytest.raises(ValueError, match="not a quality score"):
        quality_map(rows, "ppl_cond")


# ---------------------------------------------------------------------------------------------
# the Snakemake script, run in-process with a stand-in snakemake object
# ---------------------------------------------------------------------------------------------

def test_script_writes_the_table(model_dir, records, tmp_path):
    pool = tmp_path / "pool.jsonl"
    recs = [dict(r, meta={**r["meta"], "tags": [["cat", 1.0], ["kitty", 0.5]]}) for r in records]
    write_jsonl(pool, recs)
    tag_map = tmp_path / "tag_map.tsv"
    tag_map.write_text("tag\tnormalized\tcount\tgroup_count\tgroup_size\nkitty\tcat\t1\t2\t2\n", encoding="utf-8")
    out, logf = tmp_path / "quality.tsv", tmp_path / "quality.log"
    smk = SimpleNamespace(
        input=SimpleNamespace(pool=str(pool), tag_map=str(tag_map)),
        params=SimpleNamespace(model=str(model_dir),
                               quality={"batch_size": 4, "max_length": 256, "device": "cpu",
                                        "deita_scorer": str(model_dir), "deita_template": None, "deita_chat": False,
                                        "deita_engine": "transformers"}, seed=1),
        output=[str(out)], log=[str(logf)], threads=1)
    run_rule_script("quality", smk)
    rows = read_quality(out)
    assert [r["id"] for r in rows] == sorted(r["id"] for r in records)
    assert all(r["instag"] == 1 for r in rows)
    assert all(math.isfinite(r["ifd"]) and 1.0 <= r["deita"] <= 6.0 for r in rows)
    text = logf.read_text()
    assert f"{len(records)} records in" in text and "NaN IFD" in text and "IFD >= 1" in text


def test_candidate_pool_drops_eval_items_and_other_categories() -> None:
    recs = [{"id": "r3", "meta": {"category": "A"}}, {"id": "r1", "meta": {"category": "B"}},
            {"id": "r2", "meta": {"category": "A"}}, {"id": "e1", "meta": {"category": "A"}},
            {"id": "x", "meta": {"category": "Other"}}, {"id": "y", "meta": {}}]
    pool, counts = candidate_pool(iter(recs), iter(["e1"]), ["A", "B"])
    assert [r["id"] for r in pool] == ["r1", "r2", "r3"]
    assert counts == {"in": 6, "kept": 3, "eval_items": 1, "held_out": 0, "other_or_no_category": 2,
                      "per_category": {"A": 2, "B": 1}}
    # the trained DEITA scorer's seed set is held out too, and counted
    pool, counts = candidate_pool(iter(recs), iter(["e1"]), ["A", "B"], held_out=["r2", "x"])
    assert [r["id"] for r in pool] == ["r1", "r3"]
    assert counts["held_out"] == 2 and counts["other_or_no_category"] == 1
    assert counts["in"] == counts["kept"] + counts["eval_items"] + counts["held_out"] + counts["other_or_no_category"]
