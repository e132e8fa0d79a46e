"""LLM-as-a-judge grading (sftmix.judge) against a local fake OpenAI-compatible server."""

from __future__ import annotations

import json
import logging
import runpy
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from sftmix.judge import (
    SKIP_REASON,
    ChatClient,
    JudgeConfig,
    generate_answers,
    judge_answers,
    judge_items,
    judge_prompt,
    parse_rating,
    select_items,
    summarize_judgements,
)
from sftmix.records import write_jsonl
from sftmix.scoring import load_causal_lm

from .tinylm import save_tiny_lm, sentences

ROOT = Path(__file__).resolve().parents[1]
SECRET = "sk-test-SECRET-4242"
# what the fake judge answers, by a marker the answer text contains
REPLIES = {
    "GOOD": "Clear and correct.\nRating: [[8]]",
    "HALF": "Decent. Rating: [[7.5]]",
    "PLAIN": "Some issues.\nRating: 4",
    "NONE": "I cannot decide on a score for this one.",
    "BOLD": "Fine.\n**Rating:** 6",
}


class FakeJudge:
    """A ``/v1/chat/completions`` endpoint on 127.0.0.1 recording every request."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.fail_next = 0  # answer that many requests with HTTP 500 first
        self.status = 200
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                if owner.fail_next > 0 or owner.status != 200:
                    code = 500 if owner.fail_next > 0 else owner.status
                    owner.fail_next -= 1
                    self.send_response(code)
                    self.end_headers()
                    self.wfile.write(b"boom")
                    return
                text = body["messages"][-1]["content"]
                reply = next((r for k, r in REPLIES.items() if f"<{k}>" in text), "Rating: [[5]]")
                out = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args) -> None:  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeJudge:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def judge_server():
    with FakeJudge() as srv:
        yield srv


def _cfg(url: str, **kw) -> JudgeConfig:
    return JudgeConfig.from_dict({"base_url": url, "model": "judge-x", "api_key_env": "SFTMIX_TEST_JUDGE_KEY",
                                  "retries": 2, "backoff": 0.0, "timeout": 10, **kw})


def test_parse_rating():
    assert parse_rating("Good.\nRating: [[7]]") == 7.0
    assert parse_rating("Rating: [[7.5]]") == 7.5
    assert parse_rating("Rating: 7") == 7.0
    assert parse_rating("rating = 9/10") == 9.0
    assert parse_rating("**Rating:** 6") == 6.0
    assert parse_rating("[[10/10]]") == 10.0
    assert parse_rating("Format is Rating: [[x]]. My verdict: [[3]]") == 3.0  # the last bracketed number
    assert parse_rating("I would say 7 out of 10") is None
    assert parse_rating("Rating: [[x]]") is None
    assert parse_rating("Rating: [[42]]") is None  # outside 1-10
    assert parse_rating("") is None and parse_rating(None) is None


def test_judge_prompt():
    msgs = judge_prompt("What is 2+2?", "4")
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert "What is 2+2?" in msgs[1]["content"] and "Rating: [[" in msgs[1]["content"]
    assert "Reference" not in msgs[1]["content"]
    assert "[Reference Answer Start]\nFour.\n" in judge_prompt("What is 2+2?", "4", reference="Four.")[1]["content"]


def test_judge_answers_counts_and_key(judge_server, monkeypatch, caplog):
    monkeypatch.setenv("SFTMIX_TEST_JUDGE_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    items = [{"id": f"i{k}", "category": cat, "question": f"Q{k}?", "answer": f"answer <{marker}>"}
             for k, (cat, marker) in enumerate([("a", "GOOD"), ("a", "HALF"), ("b", "PLAIN"), ("b", "NONE"),
                                                ("b", "BOLD")])]
    rows = judge_answers(_cfg(judge_server.url), items)
    assert [r["id"] for r in rows] == [it["id"] for it in items]
    assert [r["rating"] for r in rows] == [8.0, 7.5, 4.0, None, 6.0]
    assert rows[3]["raw"] == REPLIES["NONE"] and rows[3]["category"] == "b"
    summary = summarize_judgements(rows)
    assert summary["n"] == 5 and summary["n_unparsed"] == 1
    assert summary["overall"] == {"mean": pytest.approx((8 + 7.5 + 4 + 6) / 4), "n": 5, "n_rated": 4, "n_unparsed": 1}
    assert summary["per_category"]["a"]["mean"] == pytest.approx(7.75)
    assert summary["per_category"]["b"] == {"mean": 5.0, "n": 3, "n_rated": 2, "n_unparsed": 1}
    req = judge_server.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == f"Bearer {SECRET}"
    assert req["body"]["model"] == "judge-x" and req["body"]["temperature"] == 0
    assert req["body"]["messages"] == judge_prompt("Q0?", "answer <GOOD>")
    assert "without a parseable rating" in caplog.text
    assert SECRET not in caplog.text and SECRET not in repr(ChatClient(_cfg(judge_server.url)))
    assert SECRET not in json.dumps(_cfg(judge_server.url).describe())
    # concurrent requests give the same rows
    assert judge_answers(_cfg(judge_server.url, max_workers=3), items) == rows


def test_retries_and_errors(judge_server, monkeypatch, caplog):
    monkeypatch.setenv("SFTMIX_TEST_JUDGE_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    judge_server.fail_next = 2
    rows = judge_answers(_cfg(judge_server.url), [{"id": "x", "category": "c", "question": "Q", "answer": "<GOOD>"}])
    assert rows[0]["rating"] == 8.0 and len(judge_server.requests) == 3
    assert caplog.text.count("retrying") == 2
    judge_server.fail_next = 5
    with pytest.raises(RuntimeError, match="giving up after 3 attempts") as err:
        judge_answers(_cfg(judge_server.url), [{"id": "x", "category": "c", "question": "Q", "answer": "a"}])
    assert SECRET not in str(err.value)
    judge_server.fail_next, judge_server.status = 0, 401
    n = len(judge_server.requests)
    with pytest.raises(RuntimeError, match="HTTP 401"):
        judge_answers(_cfg(judge_server.url), [{"id": "x", "category": "c", "question": "Q", "answer": "a"}])
    assert len(judge_server.requests) == n + 1  # client errors are not retried
    assert SECRET not in caplog.text
    monkeypatch.delenv("SFTMIX_TEST_JUDGE_KEY")
    judge_server.status = 200
    judge_answers(_cfg(judge_server.url), [{"id": "x", "category": "c", "question": "Q", "answer": "a"}])
    assert judge_server.requests[-1]["auth"] is None  # no key set: no header


def test_config_and_skip():
    assert not JudgeConfig().enabled and JudgeConfig().temperature == 0.0
    with pytest.raises(ValueError, match="unknown keys"):
        JudgeConfig.from_dict({"base_url": "http://x", "modle": "typo"})
    with pytest.raises(ValueError, match="no judge endpoint"):
        judge_answers(JudgeConfig(), [])


# --------------------------------------------------------------------------------------------
# answers of a tiny local model, and the rule script
# --------------------------------------------------------------------------------------------

WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "to", "river", "what", "is", "two",
         "plus", "three", "five", "answer", "please", "tell", "me", "about", "moon", "red", "green"]


def _sentences(n: int, seed: int = 0) -> list[str]:
    return sentences(WORDS, n, seed)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> str:
    arch = {"hidden_size": 64, "intermediate_size": 128, "num_layers": 2, "num_heads": 4, "max_length": 256}
    return str(save_tiny_lm(tmp_path_factory.mktemp("tiny_judge_lm"), _sentences(300), arch, seed=11))


@pytest.fixture(scope="module")
def records() -> list[dict]:
    s = _sentences(60, seed=2)
    recs = []
    for i in range(9):
        msgs = [{"role": "user", "content": " ".join(s[i:i + 1 + i % 4])}, {"role": "assistant", "content": s[20 + i]}]
        if i == 4:
            msgs = [{"role": "system", "content": "Be terse."}, *msgs, {"role": "user", "content": s[40]},
                    {"role": "assistant", "content": s[41]}]
        recs.append({"id": f"j-{i:07d}", "source": "j", "messages": msgs, "meta": {"category": f"c{i % 3}"}})
    recs.append({"id": "j-noanswer", "source": "j", "messages": [{"role": "user", "content": "Hi."}],
                 "meta": {"category": "c0"}})
    return recs


def test_generate_answers_batched_equals_single(model_dir, records):
    import torch

    model, tok = load_causal_lm(model_dir)
    with torch.no_grad():  # sharpen the random model: small random weights only ever emit newlines
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(8.0)
    batched = generate_answers(model, tok, records, max_new_tokens=12, batch_size=4, device="cpu")
    single = generate_answers(model, tok, records, max_new_tokens=12, batch_size=1, device="cpu")
    assert list(batched) == [r["id"] for r in records if r["id"] != "j-noanswer"]
    assert batched == single
    assert generate_answers(model, tok, records, max_new_tokens=12, batch_size=3, device="cpu") == batched
    assert len(set(batched.values())) > 3 and all(batched.values())  # varied, non-empty answers
    model.generation_config.do_sample, model.generation_config.temperature = True, 1.5  # a sampling default
    assert generate_answers(model, tok, records, max_new_tokens=12, batch_size=4, device="cpu") == batched
    assert tok.padding_side == "right"  # the caller's tokenizer is left as it was


def test_select_items(records):
    picked = select_items(records, 4)
    assert [r["id"] for r in picked] == ["j-0000000", "j-0000001", "j-0000002", "j-0000003"]
    assert len(select_items(records, None)) == 9
    items = judge_items(picked, {"j-0000000": "A", "j-0000001": "B"}, use_reference=True)
    assert [it["id"] for it in items] == ["j-0000000", "j-0000001"]
    assert items[0]["reference"] == records[0]["messages"][-1]["content"]
    multi = judge_items([records[4]], {"j-0000004": "x"})[0]
    assert multi["question"].startswith("[System]\nBe terse.\n\nUser: ") and multi["reference"] is None


class _Files(list):
    def __init__(self, *items, **named):
        super().__init__([*items, *named.values()])
        self.__dict__.update(named)


def _run_script(tmp_path: Path, model_dir: str, records: list[dict], judge: dict) -> tuple[dict, str]:
    eval_path = tmp_path / "eval.jsonl"
    write_jsonl(eval_path, records)
    out, log = tmp_path / "judge.json", tmp_path / "judge.log"
    smk = SimpleNamespace(input=_Files(model=model_dir, eval=str(eval_path)), output=_Files(str(out)),
                          params=SimpleNamespace(judge=judge), log=[str(log)], threads=1)
    runpy.run_path(str(ROOT / "scripts" / "judge.py"), init_globals={"snakemake": smk})
    return json.loads(out.read_text()), log.read_text()


def test_script_skipped(tmp_path, model_dir, records):
    result, log = _run_script(tmp_path, model_dir, records, {"base_url": None, "model": "m", "max_new_tokens": 8,
                                                              "max_items": 3, "device": "cpu"})
    assert result == {"skipped": True, "reason": SKIP_REASON}
    assert SKIP_REASON == "no judge endpoint configured (benchmarks.judge.base_url)"
    assert SKIP_REASON in log


def test_script_end_to_end(tmp_path, model_dir, records, judge_server, monkeypatch):
    monkeypatch.setenv("SFTMIX_TEST_JUDGE_KEY", SECRET)
    judge_server.fail_next = 1
    params = {"base_url": judge_server.url, "model": "judge-x", "api_key_env": "SFTMIX_TEST_JUDGE_KEY",
              "retries": 2, "backoff": 0.0, "max_new_tokens": 8, "max_items": 5, "device": "cpu", "batch_size": 2}
    result, log = _run_script(tmp_path, model_dir, records, params)
    assert result["skipped"] is False
    assert [r["id"] for r in result["rows"]] == [f"j-000000{i}" for i in range(5)]
    assert all(r["rating"] == 5.0 for r in result["rows"])  # the fake judge's default reply
    assert result["summary"]["n"] == 5 and result["summary"]["n_unparsed"] == 0
    assert set(result["summary"]["per_category"]) == {"c0", "c1", "c2"}
    assert result["judge"]["api_key_env"] == "SFTMIX_TEST_JUDGE_KEY"
    assert SECRET not in log and SECRET not in json.dumps(result)
    assert all(req["auth"] == f"Bearer {SECRET}" for req in judge_server.requests)
