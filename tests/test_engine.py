"""The fine-tuning engine's fast path (issue 14): packed batches and the labelled-only output layer
give the padded path's loss and gradients; bf16 trains over fp32 master weights."""

from __future__ import annotations

import random

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from sftmix.basemodel import build_model, train_tokenizer
from sftmix.chat import IGNORE_INDEX, encode_conversation
from sftmix.sft import LabelledHead, PackCollator, PadCollator, finetune, pack_rows, packed_loss

from .defaults import defaults

ARCH = {"hidden_size": 32, "intermediate_size": 64, "num_layers": 2, "num_heads": 2, "max_length": 256}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("engine")
    texts = [f"question {i} part {t} answer {i} {t}" for i in range(200) for t in range(2)]
    tok = train_tokenizer(texts, 300, d)
    build_model(tok, ARCH, seed=0).save_pretrained(str(d), safe_serialization=True)
    return d, tok


def _records(n: int, seed: int = 0) -> list[dict]:
    """Conversations of very different lengths (1-3 turns, 1-12 repeats), so packing has work to do."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        msgs = []
        for t in range(rng.randint(1, 3)):
            msgs += [{"role": "user", "content": f"question {i} part {t}"},
                     {"role": "assistant", "content": " ".join([f"answer {i} {t}"] * rng.randint(1, 12))}]
        out.append({"id": f"e-{i:04d}", "source": "s", "meta": {}, "messages": msgs})
    return out


def _model(path):
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)


def _padded_loss_and_grads(model, batch, pad_id):
    model.zero_grad()
    inputs = PadCollator(pad_id)(batch)
    loss = model(**inputs).loss  # transformers' own loss over every position's logits
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters()}


def _packed_loss_and_grads(model, batch, pad_id, row_tokens):
    model.zero_grad()
    inputs = PackCollator(pad_id, row_tokens)(batch)
    with LabelledHead(model) as head:
        loss, out = packed_loss(model, head, inputs)
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters()}, inputs, out


def test_pack_rows_first_fit_decreasing():
    lengths = [5, 9, 3, 7, 2, 9]
    rows = pack_rows(lengths, 10)
    assert sorted(i for r in rows for i in r) == list(range(6))
    assert all(sum(lengths[i] for i in r) <= 10 for r in rows)
    assert rows == [[1], [5], [3, 2], [0, 4]]  # longest first, ties by index, first row that fits
    assert pack_rows([12, 3], 10) == [[0], [1]]  # too long for any row: a row of its own


@pytest.mark.parametrize("row_tokens", [0, 100_000])  # rows as long as the longest conversation; one row
def test_packed_loss_and_gradients_equal_padded(tiny, row_tokens):
    base, tok = tiny
    model = _model(base)
    batch = [encode_conversation(tok, r["messages"], 256) for r in _records(12)]
    lengths = [len(b["input_ids"]) for b in batch]
    assert max(lengths) > 2 * min(lengths), "the batch must need padding"
    padded, g_pad = _padded_loss_and_grads(model, batch, tok.pad_token_id)
    packed, g_pack, inputs, _ = _packed_loss_and_grads(model, batch, tok.pad_token_id, row_tokens)
    assert inputs["input_ids"].numel() < len(batch) * max(lengths), "packing removed padding"
    if row_tokens:
        assert inputs["input_ids"].shape[0] == 1
    assert abs(packed - padded) < 1e-5
    for n in g_pad:
        assert torch.allclose(g_pack[n], g_pad[n], atol=1e-5, rtol=1e-4), n
    assert max((g_pad[n]).abs().max().item() for n in g_pad) > 1e-3, "gradients are not trivially zero"


def test_no_attention_across_packed_conversations(tiny):
    """A conversation's logits do not depend on what it is packed with."""
    base, tok = tiny
    model = _model(base).eval()
    batch = [encode_conversation(tok, r["messages"], 256) for r in _records(6, seed=3)]
    alone = PackCollator(tok.pad_token_id)([batch[0]])
    together = PackCollator(tok.pad_token_id, 100_000)([batch[1], batch[0], batch[2]])
    n0, n1 = len(batch[0]["input_ids"]), len(batch[1]["input_ids"])
    # pack_rows puts the longest first: find batch[0]'s span from the lengths
    order = pack_rows([n1, n0, len(batch[2]["input_ids"])], 100_000)[0]
    start = sum([n1, n0, len(batch[2]["input_ids"])][i] for i in order[:order.index(1)])
    with torch.no_grad():
        a = model(input_ids=alone["input_ids"], position_ids=alone["position_ids"], use_cache=False).logits[0]
        b = model(input_ids=together["input_ids"], position_ids=together["position_ids"],
                  use_cache=False).logits[0, start:start + n0]
        # with a cache transformers does not read packed position ids: attention crosses conversations
        # (why packed_loss passes use_cache=False)
        crossed = model(input_ids=together["input_ids"], position_ids=together["position_ids"],
                        use_cache=True).logits[0, start:start + n0]
    assert torch.allclose(a, b, atol=1e-5)
    assert start > 0 and not torch.allclose(a, crossed, atol=1e-3)


def test_labelled_only_head_equals_full_head(tiny):
    base, tok = tiny
    model = _model(base).eval()
    batch = [encode_conversation(tok, r["messages"], 256) for r in _records(8, seed=1)]
    inputs = PackCollator(tok.pad_token_id)(batch)
    keep = inputs["shift_labels"].ne(IGNORE_INDEX)
    with torch.no_grad():
        full = model(input_ids=inputs["input_ids"], position_ids=inputs["position_ids"]).logits
        with LabelledHead(model) as head:
            head.keep = keep
            part = model(input_ids=inputs["input_ids"], position_ids=inputs["position_ids"]).logits
    assert part.shape == (int(keep.sum()), full.shape[-1]) and keep.float().mean() < 0.9
    assert torch.allclose(part, full[keep], atol=1e-6)
    # the hook is gone after the context: the full head again
    with torch.no_grad():
        again = model(input_ids=inputs["input_ids"], position_ids=inputs["position_ids"]).logits
    assert again.shape == full.shape


def test_finetune_packed_equals_padded(tiny, tmp_path):
    """The whole Trainer path, 3 AdamW steps with gradient accumulation: the same weights to rounding."""
    base, _ = tiny
    cfg = defaults("train", max_steps=3, batch_size=4, grad_accum=2, lr=1e-3, save_steps=0, max_length=256)
    recs = _records(24, seed=2)
    a = finetune(str(base), recs, tmp_path / "packed", {**cfg, "packing": True}, seed=1, checkpoint_dir=tmp_path / "a")
    b = finetune(str(base), recs, tmp_path / "padded", {**cfg, "packing": False}, seed=1, checkpoint_dir=tmp_path / "b")
    assert a["packing"] and not b["packing"] and a["order_digest"] == b["order_digest"]
    assert abs(a["train_loss"] - b["train_loss"]) < 1e-5
    wa, wb, w0 = (load_file(str(p / "model.safetensors")) for p in (tmp_path / "packed", tmp_path / "padded", base))
    assert max((wa[k] - wb[k]).abs().max().item() for k in wa) < 1e-5
    assert max((wa[k] - w0[k]).abs().max().item() for k in wa) > 1e-3, "training moved the weights"


def test_bf16_keeps_fp32_master_weights(tiny, tmp_path):
    """At lr 2e-5, bf16 *storage* rounds away AdamW's updates (~lr) for every weight above ~2^9 lr;
    train.bf16 (autocast over fp32 master weights) moves them."""
    base, tok = tiny
    w0 = load_file(str(base / "model.safetensors"))
    big = {k: v.abs() > 0.02 for k, v in w0.items()}  # weights whose bf16 spacing exceeds 2e-5 steps
    assert sum(int(m.sum()) for m in big.values()) > 1000
    cfg = defaults("train", max_steps=3, batch_size=4, lr=2e-5, warmup_ratio=0.0, save_steps=0, max_length=256,
                   bf16=True)
    recs = _records(12, seed=4)
    s = finetune(str(base), recs, tmp_path / "m", cfg, seed=1, checkpoint_dir=tmp_path / "ck")
    assert s["autocast"] == "bfloat16" and s["dtype"] == "float32"
    w1 = load_file(str(tmp_path / "m" / "model.safetensors"))
    moved_master = sum(int(((w1[k] != w0[k]) & big[k]).sum()) for k in w0) / sum(int(m.sum()) for m in big.values())

    # the path issue 14 replaced: the model stored in bf16, AdamW on bf16 weights
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.bfloat16)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.0)
    batch = PadCollator(tok.pad_token_id)([encode_conversation(tok, r["messages"], 256) for r in recs[:4]])
    for _ in range(3):
        opt.zero_grad()
        model(**batch).loss.backward()
        opt.step()
    w2 = {k: v.detach().float() for k, v in model.state_dict().items()}
    moved_bf16 = sum(int(((w2[k] != w0[k].bfloat16().float()) & big[k]).sum()) for k in w0 if k in w2) \
        / sum(int(m.sum()) for m in big.values())
    assert moved_master > 0.95, moved_master
    assert moved_bf16 < 0.05, moved_bf16


def test_fsdp2_sharded_step_equals_one_process(tiny, tmp_path):
    """The packed loss and the labelled-only head under FSDP2 (parameters sharded as DTensors over
    two gloo processes, each with half the batch) give one process's AdamW step on the whole batch.
    (accelerate enables FSDP on GPUs only, so the Trainer's train.fsdp path itself needs a GPU.)"""
    import json
    import subprocess
    import sys

    from . import smk

    base, tok = tiny
    recs = _records(8, seed=5)
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    env = smk.guarded_env(tmp_path, {"OMP_NUM_THREADS": "1"})
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(smk.ROOT / "tests/fsdp_step.py"), str(base), str(tmp_path / "r.jsonl"), "256", str(tmp_path / "sd.pt")]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert smk.network_attempts(tmp_path) == []
    sharded = torch.load(tmp_path / "sd.pt")

    model = _model(base)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    batch = [encode_conversation(tok, r["messages"], 256) for r in recs]
    with LabelledHead(model) as head:
        loss, _ = packed_loss(model, head, PackCollator(tok.pad_token_id)(batch))
    loss.backward()
    opt.step()
    one = model.state_dict()
    w0 = load_file(str(base / "model.safetensors"))
    assert max((sharded[k] - one[k]).abs().max().item() for k in w0) < 1e-6
    assert max((sharded[k] - w0[k]).abs().max().item() for k in w0) > 1e-4, "the step moved the weights"


def test_train_fsdp_builds_fsdp2_trainer_arguments(tmp_path):
    from transformers import TrainingArguments

    from sftmix.sft import fsdp_arguments

    assert fsdp_arguments(defaults("train")) == {}
    kw = fsdp_arguments(defaults("train", fsdp=True, fsdp_config={"cpu_offload": True}))
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[], **kw)
    plugin = args.fsdp_plugin_args
    assert plugin["fsdp_version"] == 2 and plugin["auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert plugin["cpu_offload"] is True and plugin["reshard_after_forward"] is True


def test_segments_resume_into_one_uninterrupted_run(tiny, tmp_path):
    """IterIT's epoch-wise training: three segments, each on its own set and resuming the previous
    one's full state (AdamW moments, LR schedule), train exactly the run that sees the segments'
    examples in one go: same losses, same weights."""
    from sftmix.rng import derive_seed
    from sftmix.sft import Segment, segment_bounds, training_order

    base, _ = tiny
    cfg = defaults("train", max_steps=7, batch_size=4, lr=3e-3, warmup_ratio=0.3, save_steps=0, max_length=256)
    sets = [_records(10, seed=s) for s in (3, 4, 5)]
    for k, s in enumerate(sets):  # distinct ids per set
        for r in s:
            r["id"] = f"{r['id']}-{k}"
    previous, summaries = None, []
    for k, recs in enumerate(sets):
        out = tmp_path / f"seg{k}"
        summaries.append(finetune(str(base), recs, out, cfg, seed=1, checkpoint_dir=tmp_path / "unused",
                                  segment=Segment(k, 3, previous)))
        previous = str(out)
    assert [s["segment"]["start_step"] for s in summaries] == [0, 2, 4]
    assert [s["steps_run"] for s in summaries] == [2, 2, 3]
    assert summaries[1]["resumed_from"].endswith("seg0/checkpoint-2")
    # the same examples in the same order, as one staged pass (each position its own stage)
    flat = []
    for k, recs in enumerate(sets):
        start, end = segment_bounds(7, 3, k)
        order = training_order(recs, seed=derive_seed(1, "segment", k), n_examples=(end - start) * 4)
        flat += [recs[i] for i in order]
    staged = [{**r, "meta": {"stage": n}} for n, r in enumerate(flat)]
    whole = finetune(str(base), staged, tmp_path / "whole", {**cfg, "max_steps": None, "order": "staged", "epochs": 1},
                     seed=1, checkpoint_dir=tmp_path / "w")
    assert whole["steps"] == 7
    seg_losses = [h["loss"] for s in summaries for h in s["loss_history"]]
    assert seg_losses == pytest.approx([h["loss"] for h in whole["loss_history"]], abs=1e-5)
    wa, wb = (load_file(str(p / "model.safetensors")) for p in (tmp_path / "seg2", tmp_path / "whole"))
    assert max((wa[k] - wb[k]).abs().max().item() for k in wa) < 1e-5
    # a later segment needs the previous state
    with pytest.raises(ValueError):
        Segment(1, 3, None)
