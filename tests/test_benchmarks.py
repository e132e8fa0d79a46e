"""Offline lm-eval tasks from eval records (sftmix.benchmarks) on a tiny local random Llama."""

from __future__ import annotations

import json
import runpy
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from sftmix.benchmarks import (
    GEN_PREFIX,
    GROUP_ALL,
    GROUP_GEN,
    GROUP_MC,
    MC_PREFIX,
    build_documents,
    clean_results,
    flatten_results,
    run_lmeval,
    sample_rows,
    split_prompt,
    write_lmeval_tasks,
    write_results_tsv,
)
from sftmix.exclusions import write_excluded
from sftmix.records import read_jsonl, write_jsonl

from .tinylm import save_tiny_lm, sentences

ROOT = Path(__file__).resolve().parents[1]
ARCH = {"hidden_size": 64, "intermediate_size": 128, "num_layers": 2, "num_heads": 4, "max_length": 256}
WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "to", "river", "what", "is", "two",
         "plus", "three", "five", "answer", "please", "tell", "me", "about", "moon", "red", "green",
         "reverse", "string", "hello", "world", "python", "prints", "sum", "of", "and", "capital"]
CATEGORIES = {"Open QA": "open_qa", "Math": "math", "Multi-Turn Dialogue": "multi_turn_dialogue"}


def _sentences(n: int, seed: int = 0) -> list[str]:
    return sentences(WORDS, n, seed, max_words=10)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> str:
    return str(save_tiny_lm(tmp_path_factory.mktemp("tiny_lm"), _sentences(300), ARCH, seed=7))


def _rec(i: int, messages: list[dict[str, str]], category: str | None) -> dict:
    return {"id": f"ev-{i:07d}", "source": "ev", "messages": messages,
            "meta": {"category": category} if category is not None else {}}


def _ua(u: str, a: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": u}, {"role": "assistant", "content": a}]


@pytest.fixture(scope="module")
def records() -> list[dict]:
    s = _sentences(200, seed=1)
    recs = []
    for i in range(8):
        recs.append(_rec(i, _ua(s[i], s[20 + i]), "Open QA"))
        msgs = _ua(f"What is {i} plus {i}?", s[40 + i])
        if i == 0:
            msgs = [{"role": "system", "content": "Answer with numbers."}, *msgs]
        recs.append(_rec(100 + i, msgs, "Math"))
        recs.append(_rec(200 + i, [*_ua(s[60 + i], s[70 + i]), *_ua(s[80 + i], s[90 + i])], "Multi-Turn Dialogue"))
    recs.append(_rec(300, _ua(s[100], s[20]), "Open QA"))  # same response text as ev-0000000
    recs.append(_rec(301, [{"role": "user", "content": s[101]}], "Open QA"))  # no answer: skipped
    return recs


def test_split_prompt():
    assert split_prompt(_ua("Hi there.", "Hello.")) == ("", "Hi there.", "Hello.")
    multi = [{"role": "system", "content": "Be brief."}, *_ua("First?", "One."), *_ua("Second?", "Two.")]
    assert split_prompt(multi) == ("Be brief.", "User: First?\n\nAssistant: One.\n\nUser: Second?", "Two.")
    two_users = [{"role": "user", "content": "Do this."}, {"role": "user", "content": "Input."},
                 {"role": "assistant", "content": "Done."}]
    assert split_prompt(two_users) == ("", "Do this.\n\nInput.", "Done.")
    assert split_prompt([{"role": "user", "content": "x"}]) is None
    assert split_prompt([{"role": "assistant", "content": "x"}]) is None


def test_distractors_mix_own_and_other_categories(records, tmp_path):
    """same_category=1: one distractor answers another item of the item's category, the others
    answer items of other categories (the design the default uses; seeded, gold shuffled)."""
    man = write_lmeval_tasks(records, tmp_path / "t", n_choices=4, seed=3, same_category=1)
    assert man["same_category"] == 1
    own = {}
    for r in records:
        if r["messages"][-1]["role"] == "assistant":
            own.setdefault(r["meta"]["category"], set()).add(r["messages"][-1]["content"])
    golds = set()
    for info in man["tasks"].values():
        if info["output_type"] != "multiple_choice":
            continue
        for d in read_jsonl(tmp_path / "t" / info["data"]):
            distractors = [c for i, c in enumerate(d["choices"]) if i != d["gold"]]
            assert d["choices"][d["gold"]] == d["target"] and len(set(d["choices"])) == 4
            assert sum(c in own[info["category"]] for c in distractors) == 1
            golds.add(d["gold"])
    assert len(golds) > 1
    again = write_lmeval_tasks(records, tmp_path / "u", n_choices=4, seed=3, same_category=1)
    for info in again["tasks"].values():
        assert (tmp_path / "u" / info["data"]).read_bytes() == (tmp_path / "t" / info["data"]).read_bytes()


def test_write_tasks_layout(records, tmp_path):
    out = tmp_path / "tasks"
    man = write_lmeval_tasks(records, out, n_choices=4, seed=3)
    slugs = sorted(CATEGORIES.values())
    assert man["categories"] == CATEGORIES
    assert man["skipped"] == {"no_final_assistant_turn_or_user_prompt": 1}
    assert set(man["tasks"]) == {MC_PREFIX + s for s in slugs} | {GEN_PREFIX + s for s in slugs}
    assert man["groups"] == {GROUP_MC: [MC_PREFIX + s for s in slugs], GROUP_GEN: [GEN_PREFIX + s for s in slugs],
                             GROUP_ALL: [GROUP_MC, GROUP_GEN]}
    assert man["tasks"][MC_PREFIX + "open_qa"]["n_items"] == 9
    assert sorted(p.name for p in out.glob("*.yaml")) == sorted(
        [f"{t}.yaml" for t in man["tasks"]] + [f"{g}.yaml" for g in man["groups"]])
    by_cat = {c: {r["id"]: r for r in records if r["meta"].get("category") == c} for c in CATEGORIES}
    responses = {c: {r["messages"][-1]["content"] for r in rs.values()} for c, rs in by_cat.items()}
    for name, info in man["tasks"].items():
        cfg = yaml.safe_load((out / info["yaml"]).read_text())
        assert cfg["task"] == name and cfg["test_split"] == "test" and cfg["dataset_path"] == "json"
        data = Path(cfg["dataset_kwargs"]["data_files"]["test"])
        assert data.is_absolute() and data == (out / info["data"]).resolve()
        docs = list(read_jsonl(data))
        assert len(docs) == info["n_items"] and [d["id"] for d in docs] == sorted(d["id"] for d in docs)
        cat = info["category"]
        for d in docs:
            rec = by_cat[cat][d["id"]]
            assert d["target"] == rec["messages"][-1]["content"]
            if cat == "Multi-Turn Dialogue":
                assert d["prompt"].startswith("User: ") and "\n\nAssistant: " in d["prompt"]
        if cfg["output_type"] == "multiple_choice":
            assert cfg["doc_to_choice"] == "choices"
            assert [m["metric"] for m in cfg["metric_list"]] == ["acc", "acc_norm", "acc_mutual_info"]
            golds = set()
            for d in docs:
                assert len(d["choices"]) == 4 and len(set(d["choices"])) == 4
                assert d["choices"][d["gold"]] == d["target"]
                distractors = [c for i, c in enumerate(d["choices"]) if i != d["gold"]]
                assert d["target"] not in distractors  # also for ev-0000300 whose text ev-0000000 shares
                assert set(distractors) <= responses[cat] - {d["target"]}  # same category only
                golds.add(d["gold"])
            assert len(golds) > 1  # the gold position is shuffled
        else:
            assert cfg["output_type"] == "generate_until"
            (metric,) = cfg["metric_list"]
            assert metric["metric"] == "exact_match" and metric["ignore_case"] and metric["ignore_punctuation"]
            gk = cfg["generation_kwargs"]
            assert "<|user|>" in gk["until"] and gk["do_sample"] is False
            assert gk["max_gen_toks"] == max(len(d["target"].encode()) for d in docs) + 1
    system_docs = [d for d in read_jsonl(out / "data" / f"{GEN_PREFIX}math.jsonl") if d["system"]]
    assert [d["id"] for d in system_docs] == ["ev-0000100"]
    group = yaml.safe_load((out / f"{GROUP_ALL}.yaml").read_text())
    assert group["task"] == [GROUP_MC, GROUP_GEN]
    assert {a["metric"] for a in group["aggregate_metric_list"]} == {"acc", "acc_norm", "acc_mutual_info",
                                                                     "exact_match"}
    from lm_eval.tasks import TaskManager

    tm = TaskManager(include_path=str(out), include_defaults=False)
    assert set(man["tasks"]) <= set(tm.all_subtasks)
    assert set(man["groups"]) <= set(tm.all_groups)


def _tree(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_deterministic_bytes(records, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    man_a = write_lmeval_tasks(records, a, seed=5)
    first = _tree(a)
    assert write_lmeval_tasks(list(reversed(records)), a, seed=5) == man_a  # input order does not matter
    assert _tree(a) == first
    assert write_lmeval_tasks(records, b, seed=5) == man_a
    tree_b = _tree(b)
    assert set(tree_b) == set(first)
    for name, data in first.items():  # YAMLs differ only by the absolute data path
        assert data.replace(str(a.resolve()).encode(), b"") == tree_b[name].replace(str(b.resolve()).encode(), b"")
    write_lmeval_tasks(records, b, seed=6)
    changed = _tree(b)
    assert changed[f"data/{MC_PREFIX}open_qa.jsonl"] != tree_b[f"data/{MC_PREFIX}open_qa.jsonl"]
    assert changed[f"data/{GEN_PREFIX}open_qa.jsonl"] == tree_b[f"data/{GEN_PREFIX}open_qa.jsonl"]


def test_max_items_and_small_categories(records):
    by_cat, skipped = build_documents(records, n_choices=3, seed=0, max_items_per_category=5)
    assert {c: len(v["gen"]) for c, v in by_cat.items()} == {c: 5 for c in CATEGORIES}
    assert skipped["over_max_items_per_category"] == 9 - 5 + 2 * (8 - 5)
    again, _ = build_documents(records, n_choices=3, seed=0, max_items_per_category=5)
    assert again == by_cat
    lone = [_rec(1, _ua("a?", "Same."), "Tiny"), _rec(2, _ua("b?", "Same."), "Tiny"),
            _rec(3, _ua("c?", "Other."), "Tiny")]
    tiny, sk = build_documents(lone, n_choices=4)
    assert [len(d["choices"]) for d in tiny["Tiny"]["mc"]] == [2, 2, 2]  # as many distractors as exist
    none, sk = build_documents(lone[:2], n_choices=4)
    assert none["Tiny"]["mc"] == [] and sk == {"mc_no_distractor": 2}
    with pytest.raises(ValueError, match="slug"):
        build_documents([_rec(1, _ua("a", "b"), "Open QA"), _rec(2, _ua("a", "c"), "open-qa")])


def test_run_lmeval_offline(model_dir, records, tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf_datasets"))
    task_dir = tmp_path / "tasks"
    man = write_lmeval_tasks(records, task_dir, n_choices=4, seed=0, max_gen_toks=64)
    attempts: list = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guard(real):
        def connect(self, address):
            if self.family != socket.AF_UNIX:
                attempts.append(address)
                raise OSError(f"network disabled in this test: {address!r}")
            return real(self, address)
        return connect

    with monkeypatch.context() as m:
        m.setattr(socket.socket, "connect", guard(real_connect))
        m.setattr(socket.socket, "connect_ex", guard(real_connect_ex))
        res = run_lmeval(model_dir, task_dir, [GROUP_ALL], batch_size=4, limit=3, seed=0)
    assert attempts == []
    assert socket.socket.connect is real_connect
    assert res["sftmix_run"]["apply_chat_template"] is True
    for name, info in man["tasks"].items():
        metrics = res["results"][name]
        keys = (("acc,none", "acc_norm,none", "acc_mutual_info,none") if info["output_type"] == "multiple_choice"
                else ("exact_match,none",))
        for key in keys:
            assert 0.0 <= metrics[key] <= 1.0
        assert res["n-samples"][name]["effective"] == 3
    assert {"acc,none", "acc_norm,none", "acc_mutual_info,none"} <= set(res["groups"][GROUP_MC])
    assert "exact_match,none" in res["groups"][GROUP_GEN]
    assert {"acc,none", "exact_match,none"} <= set(res["groups"][GROUP_ALL])
    rows = flatten_results(res)
    assert [(r["task"], r["metric"]) for r in rows] == sorted((r["task"], r["metric"]) for r in rows)
    assert {r["task"] for r in rows} == set(man["tasks"]) | {GROUP_MC, GROUP_GEN, GROUP_ALL}
    assert all(0.0 <= r["value"] <= 1.0 for r in rows)
    assert {r["n"] for r in rows if r["task"] in man["tasks"]} == {3}
    n_of = {(r["task"], r["metric"]): r["n"] for r in rows}
    assert n_of[GROUP_MC, "acc,none"] == n_of[GROUP_ALL, "acc,none"] == n_of[GROUP_ALL, "exact_match,none"] == 9
    cleaned = clean_results(res)
    assert "date" not in cleaned and "pretty_env_info" not in cleaned
    assert cleaned["config"]["random_seed"] == 0
    json.dumps(cleaned, allow_nan=False)
    tsv_a, tsv_b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    write_results_tsv(tsv_a, rows)
    write_results_tsv(tsv_b, flatten_results(res))
    assert tsv_a.read_bytes() == tsv_b.read_bytes()
    lines = tsv_a.read_text().splitlines()
    assert lines[0] == "task\tmetric\tvalue\tstderr\tn" and len(lines) == len(rows) + 1
    # per-item records: every scored document of every task, named by its eval item, and the task's
    # score is their mean
    items = sample_rows(res)
    assert {(r["task"], r["doc_id"]) for r in items} == {(t, d) for t in man["tasks"] for d in range(3)}
    docs = {t: list(read_jsonl(task_dir / info["data"])) for t, info in man["tasks"].items()}
    assert all(r["id"] == docs[r["task"]][r["doc_id"]]["id"] and r["category"] for r in items)
    for name, info in man["tasks"].items():
        metric = "acc" if info["output_type"] == "multiple_choice" else "exact_match"
        got = [r["metrics"][metric] for r in items if r["task"] == name]
        assert sum(got) / len(got) == pytest.approx(res["results"][name][f"{metric},none"])
    assert write_jsonl(tmp_path / "s.jsonl", items) == len(items)
    write_jsonl(tmp_path / "t.jsonl", sample_rows(res))
    assert (tmp_path / "s.jsonl").read_bytes() == (tmp_path / "t.jsonl").read_bytes()

    # the rule scripts end to end, and the same bytes on a rerun
    eval_path = tmp_path / "eval.jsonl"  # an eval set has dev and test items: tasks take test items only
    write_jsonl(eval_path, [{**r, "meta": {**r["meta"], "split": "dev" if k % 4 == 0 else "test"}}
                            for k, r in enumerate(records)])

    class Files(list):
        def __init__(self, *items, **named):
            super().__init__([*items, *named.values()])
            self.__dict__.update(named)

    def run_script(name: str, **kw) -> None:
        smk = SimpleNamespace(log=[str(tmp_path / f"{name}.log")], threads=1, **kw)
        runpy.run_path(str(ROOT / "scripts" / f"{name}.py"), init_globals={"snakemake": smk})

    lm_params = {"lmeval": {"n_choices": 4, "seed": 0, "max_items_per_category": 3, "max_gen_toks": 64,
                            "same_category_distractors": None}}
    excluded = tmp_path / "excluded.tsv"  # an item every analysis leaves out is no task item either
    write_excluded(excluded, [{"id": "ev-0000103", "category": "Math", "split": "test", "reason": "planted_defect:filler"}])
    run_script("lmeval_tasks", input=Files(eval=str(eval_path), excluded=str(excluded)),
               params=SimpleNamespace(**lm_params),
               output=Files(tasks=str(tmp_path / "st"), manifest=str(tmp_path / "st.json")))
    manifest = json.loads((tmp_path / "st.json").read_text())
    assert not any(d["id"] == "ev-0000103" for t in manifest["tasks"].values()
                   for d in read_jsonl(tmp_path / "st" / t["data"]))
    assert "1 of them left out" in (tmp_path / "lmeval_tasks.log").read_text()
    assert {t["n_items"] for t in manifest["tasks"].values()} == {3}
    params = {"tasks": [GROUP_MC, GEN_PREFIX + "math"], "device": "cpu", "batch_size": 4, "limit": 2,
              "apply_chat_template": True, "seed": 0, "model": "hf"}
    outs = []
    for k in range(2):
        out = Files(json=str(tmp_path / f"r{k}.json"), tsv=str(tmp_path / f"r{k}.tsv"),
                    samples=str(tmp_path / f"r{k}.samples.jsonl"))
        run_script("lmeval", input=Files(model=model_dir, tasks=str(tmp_path / "st")),
                   params=SimpleNamespace(lmeval=params), output=out)
        outs.append((Path(out.json).read_bytes(), Path(out.tsv).read_bytes(), Path(out.samples).read_bytes()))
    assert outs[0] == outs[1]
    tasks_run = {line.split("\t")[0] for line in outs[0][1].decode().splitlines()[1:]}
    assert tasks_run == {GROUP_MC, GEN_PREFIX + "math"} | {MC_PREFIX + s for s in CATEGORIES.values()}


def test_run_lmeval_without_chat_template(model_dir, records, tmp_path, monkeypatch):
    import datasets
    from transformers import AutoTokenizer

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf_datasets"))
    plain = tmp_path / "plain_lm"
    plain.mkdir()
    for f in Path(model_dir).iterdir():
        if f.suffix in (".json", ".safetensors") and not f.name.startswith("tokenizer"):
            (plain / f.name).write_bytes(f.read_bytes())
    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.chat_template = None
    tok.save_pretrained(str(plain))
    task_dir = tmp_path / "tasks"
    write_lmeval_tasks(records, task_dir, max_gen_toks=32)
    res = run_lmeval(str(plain), task_dir, [MC_PREFIX + "math", GEN_PREFIX + "math"], batch_size=4, limit=2)
    assert res["sftmix_run"]["apply_chat_template"] is False  # falls back to plain prompts
    assert 0.0 <= res["results"][MC_PREFIX + "math"]["acc,none"] <= 1.0
    assert 0.0 <= res["results"][GEN_PREFIX + "math"]["exact_match,none"] <= 1.0
