"""Property-based: malformed rows thrown at the loaders and the filter never vanish.

Whatever a raw file holds (bytes that are not UTF-8, JSON that is not an object, objects with
missing or mistyped fields, conversations with odd roles, lone surrogates, control characters,
overlong lines), every non-blank row ends up either as a canonical record or as a quarantine
entry with a reason, the counts add up (in = kept + quarantined), and what is written can be read
back. The filter then keeps or quarantines every record it is given, with a reason.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sftmix.filters import filter_records
from sftmix.ingest import FORMATS, ingest, iter_json_array, iter_jsonl
from sftmix.records import read_jsonl, write_jsonl

from .defaults import defaults

MAX_CHARS = 400
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# text that includes what real dumps contain: control chars, U+FFFD, lone surrogates, emoji
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40) | st.sampled_from(
    ["", " ", "ok", "N/A", "\ufffd\ufffd\ufffd", "\x00\x01", "\ud800", "Summarize this text please.",
     "The answer is 42 because 6 x 7 = 42."])
SCALAR = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT
JSONISH = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8)
ROLES = st.sampled_from(["human", "gpt", "user", "assistant", "system", "bot", "", "GPT", "Human"])
TURN = st.fixed_dictionaries({}, optional={"from": ROLES | JSONISH, "value": TEXT | JSONISH,
                                           "role": ROLES, "content": TEXT | JSONISH})
FIELD_NAMES = ["instruction", "input", "output", "context", "response", "system_prompt", "question",
               "category", "id"]
ROW = st.one_of(
    JSONISH,
    st.dictionaries(st.sampled_from(FIELD_NAMES), TEXT | JSONISH, max_size=6),
    st.fixed_dictionaries({"conversations": st.lists(TURN, max_size=5) | JSONISH}),
    st.fixed_dictionaries({"messages": st.lists(TURN, max_size=5)}),
)


def _line(value) -> bytes:
    # lone surrogates cannot be encoded as UTF-8: they go out as JSON escapes, as real dumps have
    return json.dumps(value, ensure_ascii=True).encode()


RAW_LINE = st.one_of(ROW.map(_line), st.binary(max_size=60).filter(lambda b: b"\n" not in b),
                     st.just(b"{" + b"x" * (MAX_CHARS + 10) + b"}"), st.just(b"  "))


def _check_quarantine(entries, stage):
    for q in entries:
        assert q["stage"] == stage
        assert isinstance(q["reason"], str) and q["reason"].strip(), q


def _roundtrip(tmp: Path, name: str, rows: list) -> list:
    out = tmp / name
    assert write_jsonl(out, rows) == len(rows)
    back = list(read_jsonl(out))
    assert len(back) == len(rows)
    return back


@pytest.mark.parametrize("fmt", FORMATS)
@SETTINGS
@given(lines=st.lists(RAW_LINE, max_size=12))
def test_jsonl_rows_are_kept_or_quarantined(fmt, lines):
    with tempfile.TemporaryDirectory() as d:
        _check_jsonl(Path(d), fmt, lines)


def _check_jsonl(tmp: Path, fmt: str, lines: list[bytes]) -> None:
    path = tmp / "raw.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    non_blank = sum(1 for ln in lines if ln.strip())

    records, quarantine, counts = ingest(iter_jsonl(path, MAX_CHARS), source="s", fmt=fmt)
    assert counts.n_in == non_blank
    assert counts.kept == len(records) and counts.quarantined == len(quarantine)
    assert counts.n_in == counts.kept + counts.quarantined
    _check_quarantine(quarantine, "ingest")
    # each row is accounted for once: quarantined row indices and kept ids do not overlap
    kept_rows = {int(r["id"].rsplit("-", 1)[1]) for r in records}
    q_rows = [q["row"] for q in quarantine]
    assert len(set(q_rows)) == len(q_rows) and not kept_rows & set(q_rows)
    for rec in records:
        roles = [m["role"] for m in rec["messages"]]
        assert "assistant" in roles and all(isinstance(m["content"], str) for m in rec["messages"])
    records = _roundtrip(tmp, "records.jsonl", records)
    _roundtrip(tmp, "quarantine.jsonl", quarantine)

    kept, fq, fcounts = filter_records(records, defaults("filter"))
    assert fcounts.n_in == len(records) == len(kept) + len(fq)
    _check_quarantine(fq, "filter")
    _roundtrip(tmp, "kept.jsonl", kept)
    _roundtrip(tmp, "filtered_out.jsonl", fq)


@SETTINGS
@given(rows=st.lists(ROW, max_size=10), fmt=st.sampled_from(FORMATS))
def test_json_array_rows_are_kept_or_quarantined(rows, fmt):
    with tempfile.TemporaryDirectory() as d:
        _check_json_array(Path(d), rows, fmt)


def _check_json_array(tmp: Path, rows: list, fmt: str) -> None:
    path = tmp / "raw.json"
    path.write_text(json.dumps(rows, ensure_ascii=True))
    records, quarantine, counts = ingest(iter_json_array(path, MAX_CHARS), source="s", fmt=fmt)
    assert counts.n_in == len(rows) == len(records) + len(quarantine)
    _check_quarantine(quarantine, "ingest")
    _roundtrip(tmp, "records.jsonl", records)
    _roundtrip(tmp, "quarantine.jsonl", quarantine)


@SETTINGS
@given(contents=st.lists(st.tuples(st.sampled_from(["system", "user", "assistant"]), TEXT), min_size=1,
                         max_size=8),
       cfg=st.fixed_dictionaries({}, optional={"min_response_chars": st.integers(0, 20),
                                               "max_turns": st.integers(1, 10),
                                               "max_garbled_ratio": st.floats(0, 1),
                                               "min_instruction_chars": st.integers(0, 20),
                                               "drop_echo": st.booleans()}))
def test_filter_keeps_or_quarantines_every_record(contents, cfg):
    rec = {"id": "s:0", "source": "s", "messages": [{"role": r, "content": c} for r, c in contents],
           "meta": {}}
    kept, quarantine, counts = filter_records([rec], defaults("filter", **cfg))
    assert len(kept) + len(quarantine) == counts.n_in == 1
    _check_quarantine(quarantine, "filter")
