"""SFT: loss mask, data order invariants, fixed steps, resume from a checkpoint."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sftmix.basemodel import build_model, train_tokenizer
from sftmix.chat import IGNORE_INDEX, encode_conversation
from sftmix.sft import budget_config, finetune, order_keys, permutation_order, training_order
from sftmix.studies.beyond_iid.experiments import build_trainset

from . import smk
from .defaults import defaults

ARCH = {"hidden_size": 32, "intermediate_size": 64, "num_layers": 1, "num_heads": 2, "max_length": 128}


def rec(i, stage=None, turns=1):
    msgs = []
    for t in range(turns):
        msgs += [{"role": "user", "content": f"question {i} part {t}"}, {"role": "assistant", "content": f"answer {i} {t}"}]
    meta = {} if stage is None else {"stage": stage}
    return {"id": f"s-{i:07d}", "source": "s", "messages": msgs, "meta": meta}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    texts = [f"question {i} part {t} answer {i} {t}" for i in range(200) for t in range(2)]
    tok = train_tokenizer(texts, 300, d)
    model = build_model(tok, ARCH, seed=0)
    model.save_pretrained(str(d), safe_serialization=True)
    return d, tok


def test_loss_mask_covers_exactly_the_assistant_turns(tiny):
    _, tok = tiny
    msgs = [{"role": "system", "content": "be brief"}, *rec(1, turns=2)["messages"]]
    ex = encode_conversation(tok, msgs)
    labelled = [t for t in ex["labels"] if t != IGNORE_INDEX]
    text = tok.decode(labelled)
    assert "answer 1 0" in text and "answer 1 1" in text
    assert "question" not in text and "be brief" not in text
    assert text.count(tok.eos_token) == 2, "each response's end-of-turn token is learned"


def test_ablation_order_is_full_order_minus_removed():
    full = [rec(i) for i in range(50)]
    removed = {f"s-{i:07d}" for i in range(0, 50, 7)}
    ablated = [r for r in full if r["id"] not in removed]
    for epoch in range(3):
        a = permutation_order([r["id"] for r in full], seed=3, epoch=epoch)
        b = permutation_order([r["id"] for r in ablated], seed=3, epoch=epoch)
        assert [i for i in a if i not in removed] == b
    assert permutation_order([r["id"] for r in full], 3, 0) != permutation_order([r["id"] for r in full], 4, 0)


def _ids_in_order(records, **kw):
    return [records[k]["id"] for k in training_order(records, **kw)]


@pytest.mark.parametrize("budget", [{"epochs": 3}, {"n_examples": 137}])
def test_d_keeps_its_order_in_every_interaction_experiment(budget):
    """The trainer's own order (not only permutation_order): D's records come in the same relative
    order in base, add_c (the pool's records inserted) and drop_c (c's records skipped), epoch by
    epoch, whatever the sets' sizes and the records' positions in the set files."""
    cats = {c: [{**rec(100 * k + i), "meta": {"category": c}} for i in range(12)] for k, c in enumerate("xyz")}
    added = {c: [{**rec(100 * k + 50 + i), "meta": {"category": c}} for i in range(9)] for k, c in enumerate("xyz")}
    base = build_trainset("base", cats, added)
    d_ids = {r["id"] for r in base}
    ref = _ids_in_order(base, seed=7, epochs=10)
    n = len(base)
    for exp in ("add_y", "drop_y"):
        recs = build_trainset(exp, cats, added)
        ids = {r["id"] for r in recs}
        got = _ids_in_order(recs, seed=7, **budget)
        m = len(recs)
        for e in range(len(got) // m):  # every complete epoch (a steps budget cycles them)
            mine = [i for i in got[e * m:(e + 1) * m] if i in d_ids]
            theirs = [i for i in ref[e * n:(e + 1) * n] if i in ids]
            assert mine == theirs, (exp, e)
            assert len(mine) == (n if exp.startswith("add") else n - 12)
    # the order is the records', not their positions': shuffling the set file changes nothing
    shuffled = list(reversed(base))
    assert _ids_in_order(shuffled, seed=7, epochs=2) == _ids_in_order(base, seed=7, epochs=2)


def test_repeated_records_get_their_own_keys():
    r = [rec(1), rec(2), rec(1), rec(1)]
    assert order_keys(r) == ["s-0000001", "s-0000002", "s-0000001#1", "s-0000001#2"]
    assert sorted(training_order(r, seed=0)) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="collide"):
        order_keys([rec(1), {**rec(1), "id": "s-0000001#1"}, rec(1)])


def test_budgets():
    train = defaults("train")
    train = {**train, "max_steps": 150, "epochs": 3}
    assert budget_config(train, "steps")["max_steps"] == 150
    assert budget_config(train, "epochs")["max_steps"] is None and budget_config(train, "epochs")["epochs"] == 3
    staged = budget_config(train, "staged")
    assert staged["order"] == "staged" and staged["max_steps"] is None and staged["epochs"] == 1
    with pytest.raises(ValueError, match="budget"):
        budget_config(train, "tokens")


def test_fixed_steps_cycle_and_epochs():
    recs = [rec(i) for i in range(10)]
    order = training_order(recs, seed=1, epochs=3)
    assert len(order) == 30 and sorted(order) == sorted(list(range(10)) * 3)
    assert order[:10] != order[10:20], "each epoch reshuffles"
    assert len(training_order(recs, seed=1, n_examples=25)) == 25


def test_staged_order_shuffles_only_inside_stages():
    recs = [rec(i, stage=i % 3) for i in range(30)]
    recs += [rec(i, stage=2) for i in range(5)]  # a curriculum repeats samples
    order = training_order(recs, seed=5, mode="staged")
    stages = [recs[k]["meta"]["stage"] for k in order]
    assert stages == sorted(stages), "stages never interleave"
    assert len(order) == len(recs)
    within = [recs[k]["id"] for k in order if recs[k]["meta"]["stage"] == 0]
    assert within != sorted(within), "shuffled inside a stage"
    assert training_order(recs, seed=5, mode="staged") == order
    with pytest.raises(ValueError, match="meta.stage"):
        training_order([rec(1)], seed=1, mode="staged")


def test_finetune_fixed_steps_and_resume(tiny, tmp_path):
    base, _ = tiny
    recs = [rec(i, turns=1 + i % 2) for i in range(40)]
    cfg = defaults("train", max_steps=6, batch_size=4, lr=1e-3, save_steps=3, max_length=64)
    ck = tmp_path / "ck"
    s1 = finetune(str(base), recs, tmp_path / "m1", {**cfg, "keep_checkpoints": True}, seed=1, checkpoint_dir=ck)
    assert s1["steps"] == 6 and s1["n_trained_examples"] == 24
    assert (tmp_path / "m1" / "model.safetensors").exists()
    # a job killed after step 3: drop the last checkpoint, rerun, it resumes from step 3
    import shutil

    shutil.rmtree(ck / "checkpoint-6")
    s2 = finetune(str(base), recs, tmp_path / "m2", cfg, seed=1, checkpoint_dir=ck)
    assert s2["resumed_from"] and s2["resumed_from"].endswith("checkpoint-3")
    assert [h["step"] for h in s2["loss_history"]][-1] == 6
    assert not ck.exists(), "checkpoints are removed after success unless kept"
    # resumed training lands on the same weights as the uninterrupted run
    w1, w2 = load_file(str(tmp_path / "m1/model.safetensors")), load_file(str(tmp_path / "m2/model.safetensors"))
    for k in w1:
        assert (w1[k] - w2[k]).abs().max().item() < 1e-5, k
    assert json.dumps(s1["order_digest"]) == json.dumps(s2["order_digest"])
    assert os.path.isdir(base)


def test_matched_budget_trains_the_reference_sets_steps(tiny, tmp_path):
    """drop_* under the matched budget: as many steps as train.epochs passes over base take (here
    2 epochs over 30 reference records, batch 4: 15 steps) on its own smaller set (20 records)."""
    base, _ = tiny
    reference = [rec(i) for i in range(30)]
    dropped = reference[10:]
    cfg = budget_config(defaults("train", max_steps=99, epochs=2, batch_size=4, lr=1e-3, save_steps=0,
                                 max_length=64), "matched")
    s = finetune(str(base), dropped, tmp_path / "m", cfg, seed=1, checkpoint_dir=tmp_path / "ck",
                 reference=reference)
    assert s["steps"] == 15 and s["n_reference"] == 30 and s["n_trained_examples"] == 60
    epochs = finetune(str(base), dropped, tmp_path / "e", budget_config(cfg, "epochs"), seed=1,
                      checkpoint_dir=tmp_path / "ck2")
    assert epochs["steps"] == 10 and epochs["n_reference"] is None


def _weights(path):
    return load_file(str(path / "model.safetensors"))


def _max_diff(a, b):
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


def _varied(n=40):
    """Records whose responses differ in length, so per-token loss averaging matters."""
    return [{"id": f"v-{i:07d}", "source": "s", "meta": {},
             "messages": [{"role": "user", "content": f"question {i} part 0"},
                          {"role": "assistant", "content": " ".join([f"answer {i} {i % 7}"] * (1 + i % 3))}]}
            for i in range(n)]


def test_gradient_accumulation_equals_the_larger_batch(tiny, tmp_path):
    base, _ = tiny
    cfg = defaults("train", max_steps=4, lr=1e-3, save_steps=0, max_length=64)
    a = finetune(str(base), _varied(), tmp_path / "acc", {**cfg, "batch_size": 4, "grad_accum": 2}, seed=1,
                 checkpoint_dir=tmp_path / "ck_a")
    b = finetune(str(base), _varied(), tmp_path / "big", {**cfg, "batch_size": 8}, seed=1,
                 checkpoint_dir=tmp_path / "ck_b")
    assert a["examples_per_step"] == b["examples_per_step"] == 8
    assert a["order_digest"] == b["order_digest"]
    assert _max_diff(_weights(tmp_path / "acc"), _weights(tmp_path / "big")) < 1e-6
    assert _max_diff(_weights(tmp_path / "big"), _weights(base)) > 1e-4, "training moved the weights"


def test_bf16_training_on_cpu(tiny, tmp_path):
    """bf16 is a GPU setting; the same code path runs (slowly) on the CPU, so it is tested here."""
    base, _ = tiny
    cfg = defaults("train", max_steps=3, batch_size=4, lr=1e-3, save_steps=0, max_length=64, bf16=True)
    s = finetune(str(base), _varied(16), tmp_path / "m", cfg, seed=1, checkpoint_dir=tmp_path / "ck")
    assert s["autocast"] == "bfloat16" and all(math.isfinite(h["loss"]) for h in s["loss_history"])
    assert {t.dtype for t in _weights(tmp_path / "m").values()} == {torch.float32}, "fp32 master weights"


def test_torchrun_two_processes_equal_one_process_with_twice_the_batch(tiny, tmp_path, root):
    """Multi-GPU path (torchrun + DDP) exercised on the CPU with the gloo backend: two processes of
    batch 4 train the same examples in the same order as one process of batch 8, to fp32 rounding."""
    base, _ = tiny
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _varied()))
    cfg = defaults("train", max_steps=4, lr=1e-3, save_steps=2, max_length=64)
    runs = {"ddp": (["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"], 4),
            "one": ([], 8)}
    for name, (launcher, batch) in runs.items():
        (tmp_path / f"{name}.json").write_text(json.dumps({**cfg, "batch_size": batch}))
        cmd = [sys.executable, *launcher, str(root / "scripts/finetune.py"), "--base", str(base),
               "--trainset", str(tmp_path / "train.jsonl"), "--train-config", str(tmp_path / f"{name}.json"),
               "--seed", "1", "--out", str(tmp_path / name), "--summary", str(tmp_path / f"{name}.summary.json"),
               "--checkpoints", str(tmp_path / f"ck_{name}")]
        # Guarded like every process of a test run (tests/netguard/sitecustomize.py), launcher and
        # workers: torchrun --standalone's rendezvous store and gloo talk TCP on 127.0.0.1 from C++,
        # which the Python-level guard does not see, so no loopback exemption is needed; a Python
        # connect or name lookup from either would be refused and recorded here.
        env = smk.guarded_env(tmp_path / f"guard_{name}", {"OMP_NUM_THREADS": "1"})
        (tmp_path / f"guard_{name}").mkdir()
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        assert p.returncode == 0, p.stderr[-3000:]
        assert smk.network_attempts(tmp_path / f"guard_{name}") == []
    ddp, one = (json.loads((tmp_path / f"{n}.summary.json").read_text()) for n in ("ddp", "one"))
    assert ddp["world_size"] == 2 and one["world_size"] == 1
    assert ddp["examples_per_step"] == one["examples_per_step"] == 8
    assert ddp["n_trained_examples"] == one["n_trained_examples"] == 32
    assert ddp["order_digest"] == one["order_digest"]
    assert _max_diff(_weights(tmp_path / "ddp"), _weights(tmp_path / "one")) < 1e-6
    assert not (tmp_path / "ck_ddp").exists()


def test_a_checkpoint_cut_off_while_saving_is_discarded(tmp_path):
    """Resume takes the newest *complete* checkpoint; a newer one missing its optimizer state, its
    RNG state or a readable trainer state (a job killed while saving) is removed, not resumed."""
    from sftmix.sft import last_checkpoint

    def checkpoint(step: int, *, optimizer=True, rng=True, state="{}") -> Path:
        d = tmp_path / f"checkpoint-{step}"
        d.mkdir()
        (d / "model.safetensors").write_bytes(b"w")
        if optimizer:
            (d / "optimizer.pt").write_bytes(b"o")
        if rng:
            (d / "rng_state.pth").write_bytes(b"r")
        if state is not None:
            (d / "trainer_state.json").write_text(state)
        return d

    good = checkpoint(10)
    cut = [checkpoint(20, optimizer=False), checkpoint(30, rng=False), checkpoint(40, state='{"glob'),
           checkpoint(50, state=None)]
    assert last_checkpoint(tmp_path) == str(good)
    assert good.is_dir() and not any(d.exists() for d in cut)
    assert last_checkpoint(tmp_path / "absent") is None


def test_fsdp_checkpoints_count_as_complete(tmp_path):
    """accelerate's FSDP checkpoints keep the optimizer in optimizer.bin (full state dict) or an
    optimizer_0/ folder (sharded); both resume, a sharded one cut off before its optimizer does not."""
    from sftmix.sft import checkpoint_complete

    def checkpoint(name: str, files: dict[str, bytes]) -> Path:
        d = tmp_path / name
        for f, b in {"rng_state_0.pth": b"r", "trainer_state.json": b"{}", **files}.items():
            (d / f).parent.mkdir(parents=True, exist_ok=True)
            (d / f).write_bytes(b)
        return d

    assert checkpoint_complete(checkpoint("full", {"model.safetensors": b"w", "pytorch_model_fsdp.bin": b"w",
                                                   "optimizer.bin": b"o"}))
    assert checkpoint_complete(checkpoint("sharded", {"pytorch_model_fsdp_0/__0_0.distcp": b"w",
                                                      "optimizer_0/__0_0.distcp": b"o"}))
    assert not checkpoint_complete(checkpoint("cut", {"pytorch_model_fsdp_0/__0_0.distcp": b"w"}))
