"""Loaders, quarantine reasons and accounting (in = kept + quarantined)."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sftmix.filters import filter_records
from sftmix.ingest import ingest, iter_source
from sftmix.world import FORMAT_EXT, generate_world, write_source

from .defaults import defaults

MAX = 2000


def run_ingest(path, fmt, fields=None):
    return ingest(iter_source({}, str(path), MAX), source="src", fmt=fmt, fields=fields)


def write_lines(path, lines):
    path.write_bytes(b"".join((ln if isinstance(ln, bytes) else ln.encode()) + b"\n" for ln in lines))


GOOD = {"instruction": "Say hi.", "input": "", "output": "Hi there!"}


def test_each_malformed_kind_is_quarantined_with_its_reason(tmp_path):
    p = tmp_path / "a.jsonl"
    lines = [
        json.dumps(GOOD),                                              # 0 ok
        '{"instruction": "x", "output": ',                              # 1 broken json
        b'{"instruction": "caf\xff\xfe", "output": "y"}',               # 2 invalid utf-8
        json.dumps({"instruction": "Say hi."}),                         # 3 missing output
        json.dumps({"instruction": "Say hi.", "output": 42}),           # 4 mistyped
        json.dumps({"instruction": "Say hi.", "output": "x" * 5000}),   # 5 overlong
        json.dumps(["not", "an", "object"]),                            # 6 not an object
        json.dumps({"instruction": "Say hi.", "output": "   "}),        # 7 empty response (filter)
        json.dumps({"instruction": "Say hi.", "output": "N/A"}),        # 8 trivial (filter)
        json.dumps({"instruction": "Say hi.", "output": "\x01\x02\x03\x04\x05ok"}),  # 9 garbled
    ]
    write_lines(p, lines)
    recs, quarantine, counts = run_ingest(p, "alpaca")
    got = {q["row"]: q["reason"] for q in quarantine}
    assert got == {1: "invalid_json", 2: "invalid_utf8", 3: "missing_field:output",
                   4: "wrong_type:output", 5: "overlong_record", 6: "not_an_object"}
    assert counts.n_in == 10 and counts.kept == 4 and counts.quarantined == 6
    assert "in=10 = kept=4 + quarantined=6" in counts.line()
    kept, fq, fcounts = filter_records(recs, defaults("filter"))
    assert {q["id"]: q["reason"] for q in fq} == {"src-0000007": "empty_response",
                                                  "src-0000008": "trivial_response",
                                                  "src-0000009": "garbled"}
    assert [r["id"] for r in kept] == ["src-0000000"]
    fcounts.check()
    assert all(q["raw"] for q in quarantine + fq), "a quarantine entry keeps a preview of the row"


def test_formats_to_canonical_messages(tmp_path):
    alpaca = tmp_path / "a.json"
    alpaca.write_text(json.dumps([{"instruction": "Add.", "input": "2 + 2", "output": "4"}]))
    dolly = tmp_path / "d.jsonl"
    write_lines(dolly, [json.dumps({"instruction": "Sum up.", "context": "Text.", "response": "Short.",
                                    "category": "summarization"})])
    orca = tmp_path / "o.jsonl"
    write_lines(orca, [json.dumps({"id": "x1", "system_prompt": "Be brief.", "question": "Q?", "response": "A."})])
    share = tmp_path / "s.jsonl"
    write_lines(share, [
        json.dumps({"id": "c1", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"},
                                                  {"from": "human", "value": "Bye"}, {"from": "gpt", "value": "Bye!"},
                                                  {"from": "human", "value": "dangling"}]}),
        json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}),
        json.dumps({"conversations": [{"from": "gpt", "value": "I start"}, {"from": "human", "value": "?"}]}),
        json.dumps({"conversations": [{"from": "robot", "value": "x"}]}),
        json.dumps({"conversations": [{"from": "human", "value": "only a question"}]}),
    ])
    r, _, _ = run_ingest(alpaca, "alpaca")
    assert r[0]["messages"] == [{"role": "user", "content": "Add.\n\n2 + 2"}, {"role": "assistant", "content": "4"}]
    assert r[0]["id"] == "src-0000000" and r[0]["source"] == "src"
    r, _, _ = run_ingest(dolly, "dolly")
    assert r[0]["messages"][0]["content"] == "Sum up.\n\nText." and r[0]["meta"]["orig_category"] == "summarization"
    r, _, _ = run_ingest(orca, "openorca")
    assert [m["role"] for m in r[0]["messages"]] == ["system", "user", "assistant"]
    assert r[0]["meta"]["orig_id"] == "x1"
    r, q, c = run_ingest(share, "sharegpt")
    assert len(r) == 2 and len(r[0]["messages"]) == 4, "trailing unanswered user turn is dropped"
    assert [x["reason"] for x in q] == ["bad_role", "bad_role", "empty_conversation"]
    c.check()


def test_parquet_and_field_remap(tmp_path):
    p = tmp_path / "m.parquet"
    pq.write_table(pa.Table.from_pylist([{"query": "What is 3*3?", "response": "9"},
                                         {"query": "Bad", "response": None}]), p)
    recs, q, c = run_ingest(p, "alpaca", fields={"instruction": "query", "output": "response"})
    assert recs[0]["messages"][1]["content"] == "9"
    assert q[0]["reason"] == "wrong_type:response"
    c.check()


def test_broken_json_array_fails_loudly(tmp_path):
    p = tmp_path / "a.json"
    p.write_text('[{"instruction": "x", "output": "y"},')
    with pytest.raises(ValueError, match="not a valid JSON array"):
        run_ingest(p, "alpaca")


def test_world_malformed_rows_match_ground_truth(smoke_config, tmp_path):
    """Every planted malformed row is quarantined, with the reason the world planted."""
    world = smoke_config["world"]
    rows, truth = generate_world(world, smoke_config["seed"])
    expect = {"broken_json": "invalid_json", "empty_response": "empty_response"}
    n_seen = 0
    for s, rs in rows.items():
        fmt = world["sources"][s]["format"]
        p = tmp_path / f"{s}.{FORMAT_EXT[fmt]}"
        write_source(p, fmt, rs)
        recs, quarantine, counts = ingest(iter_source({}, str(p), smoke_config["ingest"]["max_record_chars"]),
                                          source=s, fmt=fmt)
        kept, fq, fcounts = filter_records(recs, smoke_config["filter"])
        flagged = {f"{s}-{q['row']:07d}": q["reason"] for q in quarantine}
        flagged.update({q["id"]: q["reason"] for q in fq})
        for rid, t in truth["records"].items():
            if not rid.startswith(s + "-"):
                continue
            if t["malformed"]:
                n_seen += 1
                assert rid in flagged, (rid, t["malformed"])
                assert flagged[rid].split(":")[0] == expect.get(t["malformed"], t["malformed"])
            else:
                assert rid not in flagged, (rid, flagged.get(rid))
        assert counts.n_in == len(rs)
        assert fcounts.n_in == counts.kept
    assert n_seen > 0


def test_hub_loader_on_a_local_dataset_repo(tmp_path):
    """The hub code path (datasets.load_dataset) run on a local dataset directory, offline."""
    from sftmix.ingest import iter_hub

    repo = tmp_path / "my_org__dolly_like"
    repo.mkdir()
    write_lines(repo / "train.jsonl", [
        json.dumps({"instruction": "Name a color.", "context": "", "response": "Blue.", "category": "open_qa"}),
        json.dumps({"instruction": "Name a fruit.", "context": "", "response": "Apple.", "category": "open_qa"}),
    ])
    rows = iter_hub(str(repo), split="train", max_record_chars=MAX)
    recs, q, c = ingest(rows, source="dolly_hub", fmt="dolly")
    assert [r["messages"][1]["content"] for r in recs] == ["Blue.", "Apple."]
    assert recs[0]["id"] == "dolly_hub-0000000" and not q


def test_two_user_turns_without_an_answer_are_quarantined():
    """Found by hypothesis: dropping the trailing answerless user turn of [user, user] left a
    conversation with no assistant turn that was kept."""
    from sftmix.ingest import RowError, validate_turns

    with pytest.raises(RowError, match="empty_conversation"):
        validate_turns([{"role": "user", "content": ""}, {"role": "user", "content": ""}])
    with pytest.raises(RowError, match="bad_role"):
        validate_turns([{"role": "user", "content": "a"}] * 3)
    ok = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}, {"role": "user", "content": "q2"}]
    assert validate_turns(ok) == ok[:2]
