"""Decontamination (sftmix.decontam): the n-gram rule, the quarantine, the planted contamination."""

import copy
import json

import pytest

from sftmix.decontam import (
    EvalItem,
    benchmark_items,
    benchmark_task_names,
    build_index,
    decontaminate,
    eval_items,
    item_ngrams,
    normalize,
)
from sftmix.ingest import ingest, iter_source
from sftmix.records import dumps, write_jsonl
from sftmix.subsets import split_category
from sftmix.validation import decontam_scores
from sftmix.world import FORMAT_EXT, generate_world, write_source

WORDS = [f"w{i}" for i in range(40)]  # 40 distinct words: a run of k shared words is k words, no more


def rec(rid, text, split=None):
    meta = {"split": split} if split else {}
    return {"id": rid, "source": "t", "messages": [{"role": "user", "content": text},
                                                   {"role": "assistant", "content": "ok"}], "meta": meta}


def index_of(*texts, n=13, min_words=8):
    return build_index([EvalItem(f"e{k}", "eval:test", t) for k, t in enumerate(texts)], n, min_words)


def test_normalization_drops_case_and_punctuation():
    assert normalize("Hello, WORLD!  It's 3.5%\n(ok)_x") == ["hello", "world", "it", "s", "3", "5", "ok", "x"]


def test_13_gram_overlap_is_flagged_12_is_not():
    item = " ".join(WORDS[:13])  # one 13-gram: any candidate holding it holds all of the item's n-grams
    index = index_of(item)
    wrap = "alpha beta gamma "
    hit = rec("c13", wrap + " ".join(WORDS[:13]) + " delta")
    miss = rec("c12", wrap + " ".join(WORDS[:12]) + " delta " + " ".join(WORDS[1:13]))  # 12 + 12, never 13
    kept, quarantine, counts = decontaminate([hit, miss], index, 0.5)
    assert [r["id"] for r in kept] == ["c12"] and [q["id"] for q in quarantine] == ["c13"]
    assert counts["matched_below_threshold"] == 0  # c12 shares no 13-gram at all


def test_overlap_ratio_threshold_and_case_punctuation():
    item = " ".join(WORDS[:26])  # 14 13-grams
    index = index_of(item)
    upper = rec("upper", ", ".join(w.upper() for w in WORDS[:26]) + "!")  # same words after normalization
    half = rec("half", " ".join(WORDS[:20]))  # 8 of 14 n-grams: 0.571
    little = rec("little", " ".join(WORDS[:15]))  # 3 of 14: 0.214
    kept, quarantine, counts = decontaminate([upper, half, little], index, 0.5)
    assert [q["id"] for q in quarantine] == ["upper", "half"]
    assert [q["match"]["overlap"] for q in quarantine] == [14, 8]
    assert quarantine[1]["match"]["ratio"] == pytest.approx(8 / 14, abs=1e-6)
    assert [r["id"] for r in kept] == ["little"] and counts["matched_below_threshold"] == 1
    # GPT-3's any-overlap rule (min_overlap 0) flags the third too
    assert len(decontaminate([upper, half, little], index, 0.0)[1]) == 3


def test_short_items_are_one_ngram_and_too_short_ones_unchecked():
    assert item_ngrams(WORDS[:10], 13, 8) == frozenset({tuple(WORDS[:10])})
    assert item_ngrams(WORDS[:7], 13, 8) == frozenset()
    assert len(item_ngrams(WORDS[:15], 13, 8)) == 3
    index = index_of(" ".join(WORDS[:10]), " ".join(WORDS[20:27]))  # 10 words: whole text; 7: too short
    assert index.too_short == ["e1"] and len(index.items) == 1
    whole = rec("whole", "see: " + " ".join(WORDS[:10]) + " done")
    part = rec("part", " ".join(WORDS[:9]) + " and " + " ".join(WORDS[20:27]))
    kept, quarantine, counts = decontaminate([whole, part], index, 0.5)
    assert [q["id"] for q in quarantine] == ["whole"] and quarantine[0]["match"]["item_id"] == "e0"
    assert counts["index"]["too_short"] == 1


def test_quarantine_names_the_item_and_counts_add_up():
    evals = [rec("ev-1", " ".join(WORDS[:20]), "dev"), rec("ev-2", " ".join(WORDS[20:40]), "test")]
    cands = [evals[0], rec("a", "x " + " ".join(WORDS[20:40]) + " y"), rec("b", "nothing shared here"),
             evals[1]]
    index = build_index(eval_items(evals), 13, 8)
    kept, quarantine, counts = decontaminate(cands, index, 0.5, [r["id"] for r in evals])
    assert [r["id"] for r in kept] == ["ev-1", "b", "ev-2"]  # eval items are never removed
    (q,) = quarantine
    assert q["id"] == "a" and q["reason"] == "contamination" and q["stage"] == "decontam"
    assert q["match"]["item_id"] == "ev-2" and q["match"]["item_source"] == "eval:test"
    assert q["match"]["ngram"] == " ".join(WORDS[20:33]) and q["match"]["overlap"] == 8
    assert counts["in"] == counts["kept"] + counts["quarantined"] == 4 and counts["eval_items"] == 2
    assert counts["by_item_source"] == {"eval:test": 1}
    with pytest.raises(ValueError, match="min_overlap"):
        decontaminate(cands, index, 1.5)


def test_subsets_skip_excluded_records_and_keep_the_eval_cut():
    recs = [rec(f"r{i:03d}", f"text {i}") for i in range(40)]
    for r in recs:
        r["meta"]["category"] = "C"
    sizes = {"base": 10, "added": 10, "eval": 8, "dev_fraction": 0.5, "on_shortfall": "error"}
    plain, _ = split_category(recs, "C", sizes, 3)
    drop = {plain["base"][0]["id"], plain["added"][0]["id"]}
    sets, counts = split_category(recs, "C", sizes, 3, drop)
    assert [r["id"] for r in sets["eval"]] == [r["id"] for r in plain["eval"]]
    assert not drop & {r["id"] for r in sets["base"] + sets["added"]}
    assert len(sets["base"]) == 10 and len(sets["added"]) == 10 and counts["decontaminated"] == 2
    assert counts["eval"] + counts["base"] + counts["added"] + counts["unused"] + counts["decontaminated"] == 40
    with pytest.raises(ValueError, match="on_shortfall"):
        split_category(recs, "C", sizes, 3, {r["id"] for r in recs[:20]} - {r["id"] for r in plain["eval"]})


@pytest.fixture(scope="module")
def small_world(smoke_config, tmp_path_factory):
    """A small generated world with planted contamination, ingested (no filter or dedup needed)."""
    cfg = copy.deepcopy(smoke_config["world"])
    cfg["n_per_category"] = 20
    cfg["contamination"] = {"n": 12, "near_misses": 6}
    rows, truth = generate_world(cfg, smoke_config["seed"])
    tmp = tmp_path_factory.mktemp("world")
    records = []
    for s, rs in rows.items():
        fmt = cfg["sources"][s]["format"]
        path = tmp / f"{s}.{FORMAT_EXT[fmt]}"
        write_source(path, fmt, rs)
        recs, _, _ = ingest(iter_source({"format": fmt}, path, 20000), source=s, fmt=fmt)
        records += recs
    return cfg, truth, records


def test_planted_contamination_is_caught_and_near_misses_kept(small_world):
    cfg, truth, records = small_world
    planted = truth["contamination"]
    assert sum(p["kind"] == "contamination" for p in planted) == 12 and len(planted) == 18
    # every copied item made an eval item (the pipeline's eval cut decides which; here all of them)
    by_id = {r["id"]: r for r in records}
    eval_ids = sorted({i for p in planted for i in p["copies_ids"] if i in by_id})
    evals = [{**by_id[i], "meta": {**by_id[i]["meta"], "split": "test"}} for i in eval_ids]
    index = build_index(eval_items(evals), 13, 8)
    kept, quarantine, counts = decontaminate(records, index, 0.5, eval_ids)
    scores = decontam_scores(planted, eval_ids, [r["id"] for r in records], quarantine)
    assert scores["expected"] >= 10  # a copied item's rows may all be malformed
    assert scores["recall"] == 1.0 and scores["precision"] == 1.0, scores
    assert scores["near_misses"] >= 5 and scores["near_misses_flagged"] == 0
    assert counts["in"] == len(records) == counts["kept"] + counts["quarantined"]
    # the near misses share n-grams only below the 13-word run
    near = [p["id"] for p in planted if p["kind"] == "contamination_near_miss" and p["id"] in by_id]
    near_q = decontaminate([by_id[i] for i in near], build_index(eval_items(evals), 10, 8), 0.0)[1]
    assert not near_q, [q["detail"] for q in near_q]


def test_planting_keeps_the_other_rows_and_reruns_give_the_same_bytes(smoke_config, small_world, tmp_path):
    cfg, truth, records = small_world
    plain_cfg = {**cfg, "contamination": {"n": 0, "near_misses": 0}}
    plain_rows, plain_truth = generate_world(plain_cfg, smoke_config["seed"])
    rows, truth2 = generate_world(cfg, smoke_config["seed"])
    for s in plain_rows:  # the planted rows come after the source's own, which are unchanged
        assert rows[s][:len(plain_rows[s])] == plain_rows[s]
    assert json.dumps(truth2, sort_keys=True) == json.dumps(truth, sort_keys=True)
    by_id = {r["id"]: r for r in records}
    eval_ids = sorted({i for p in truth["contamination"] for i in p["copies_ids"] if i in by_id})
    evals = [{**by_id[i], "meta": {**by_id[i]["meta"], "split": "dev"}} for i in eval_ids]
    outs = []
    for k in range(2):
        kept, quarantine, counts = decontaminate(records, build_index(eval_items(evals), 13, 8), 0.5, eval_ids)
        write_jsonl(tmp_path / f"{k}.jsonl", kept + quarantine)
        outs.append((tmp_path / f"{k}.jsonl").read_bytes() + dumps(counts).encode())
    assert outs[0] == outs[1]


def test_benchmark_tasks_follow_the_config_and_a_missing_one_is_skipped(tmp_path):
    lm = {"enabled": True, "local_tasks": False, "tasks": ["mmlu", "gsm8k"]}
    assert benchmark_task_names({"benchmarks": None}, lm) == ["mmlu", "gsm8k"]
    assert benchmark_task_names({"benchmarks": None}, {**lm, "local_tasks": True}) == []
    assert benchmark_task_names({"benchmarks": ["arc_easy"]}, {**lm, "enabled": False}) == ["arc_easy"]
    assert benchmark_items([]) == ([], {})
    # a local lm-eval task (the harness's loader, offline): its test docs become protected items
    data = tmp_path / "toy.jsonl"
    data.write_text("".join(json.dumps({"q": f"q{i} " + " ".join(WORDS[:14]), "a": "yes"}) + "\n" for i in range(2)))
    (tmp_path / "toy.yaml").write_text(
        f"task: toybench\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\ntest_split: test\n"
        "output_type: generate_until\ndoc_to_text: '{{q}}'\ndoc_to_target: '{{a}}'\n"
        "metric_list:\n  - metric: exact_match\n    higher_is_better: true\n")
    items, skipped = benchmark_items(["toybench"], str(tmp_path))
    assert [(i.id, i.source) for i in items] == [("toybench/0", "benchmark:toybench"), ("toybench/1", "benchmark:toybench")]
    assert items[0].text == "q0 " + " ".join(WORDS[:14]) + "\nyes" and skipped == {}
