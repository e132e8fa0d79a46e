"""Supervised fine-tuning: one function for every experiment (base, add_i, drop_i, mixtures, curricula).

* Loss on assistant tokens only, through the tokenizer's chat template (``sftmix.chat``);
  multi-turn conversations are supported.
* **Deterministic data order.** In ``permutation`` mode, epoch ``e`` visits the records sorted by
  ``sha256(seed:e:id)``. A record's position key does not depend on which other records are in
  the set, so an ablation's order is exactly the full set's permutation with the removed
  examples skipped, and an added pool interleaves with D the same way in every experiment.
* **Staged order** (curricula): records carry ``meta["stage"]``; stages are trained in
  ascending order and shuffled (seeded) only inside a stage, never across stages.
* **Training budget** (the experiment family's, see :mod:`sftmix.experiments`): ``steps`` trains
  ``max_steps`` optimizer steps, cycling its own order (equal compute across a family of
  equal-size sets); ``epochs`` trains ``epochs`` passes over the set, so steps grow with the set
  (an added pool does not displace D: every record of D is seen equally often in ``base``,
  ``add_*`` and ``drop_*``); ``staged`` is the curricula's one pass over the stages.
* Resumable: checkpoints every ``save_steps`` go to a directory outside the job's declared output
  (Snakemake deletes failed outputs); a rerun resumes from the last one.
* **Segments** (``segment=``, IterIT's epoch-wise re-selection): one run of ``count`` segments
  whose data is chosen between segments. Segment ``k`` trains the optimizer steps
  :func:`segment_bounds` gives it, on its own set, resuming the previous segment's full Trainer
  state (weights, AdamW moments, LR schedule, RNG); the schedule spans all segments. Its output
  is a complete checkpoint, the next segment's input. Equal to one uninterrupted run over the
  segments' examples in order (tests/test_engine.py).
* **Padding-free batches** (``train.packing``, the default): an optimizer step trains the same
  conversations as the padded path, packed first-fit-decreasing into rows (:func:`pack_rows`)
  whose position ids restart at every conversation. With no attention mask, transformers reads
  the position ids as packed sequences and attends block-diagonally, never across conversations
  (flash-attention's varlen path on GPUs). The output layer and the loss run on labelled positions
  only (:class:`LabelledHead`). Loss and gradients equal the padded path's to float rounding
  (tests/test_engine.py); ``packing: false`` is the padded path, kept as the benchmark's baseline
  (benchmarks/bench_engine.py).
* **Per-epoch evaluation** (``epoch_eval=``, DoIT's checkpoint per epoch, Sec. 4.2): a function of
  (model, tokenizer) returning rows runs before training (epoch 0) and after the optimizer step
  that completes each pass over the set (:func:`epoch_end_steps`); an epoch is at least one step
  (the batch is capped at the set's size). Each epoch's rows are kept under the checkpoint
  directory, so a resumed run keeps the epochs it evaluated before it was killed.
* HF Trainer does the optimization: CPU fp32 by default. ``train.bf16`` keeps fp32 master
  weights and AdamW state and runs the forward and backward under bf16 autocast (loading the
  weights *in* bf16 would round away every update below 2^-9 of a weight: at lr 2e-5 most of a
  7B model would never change). Gradient accumulation; multi-GPU when launched with ``torchrun``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .budgets import BUDGETS
from .chat import IGNORE_INDEX, encode_conversation, n_label_tokens
from .records import Record
from .rng import derive_seed

log = logging.getLogger(__name__)

def _key(*parts: object) -> str:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()


def permutation_order(ids: list[str], seed: int, epoch: int) -> list[str]:
    """Epoch ``epoch``'s order of ``ids``: sorted by a keyed hash, independent of the other ids."""
    return sorted(ids, key=lambda i: _key(seed, epoch, i))


def order_keys(records: list[Record]) -> list[str]:
    """The key each record's position is drawn from: its id, and for the n-th repeat of an id
    (n >= 1; a curriculum or an upsampled set lists a record twice) ``id#n``. A key never depends
    on the record's position or on the other records, so D keeps its relative order in every set
    that contains it (``add_*`` inserts the pool's records, ``drop_*`` skips a category's)."""
    seen: dict[str, int] = {}
    keys = []
    for r in records:
        n = seen.get(r["id"], 0)
        seen[r["id"]] = n + 1
        keys.append(r["id"] if n == 0 else f"{r['id']}#{n}")
    if len(set(keys)) != len(keys):  # an id that itself looks like "<other id>#<n>"
        raise ValueError("training order: record ids collide with repeat keys (an id ends in '#<n>')")
    return keys


def training_order(records: list[Record], *, seed: int, mode: str = "permutation", epochs: int = 1,
                   n_examples: int | None = None) -> list[int]:
    """Indices into ``records`` in the order they are trained.

    ``permutation``: ``epochs`` passes (or as many as ``n_examples`` needs, truncated), each a
    keyed permutation (see module docstring). ``staged``: one pass over the stages in ascending
    ``meta["stage"]`` order, shuffled inside each stage; a record listed twice (a curriculum
    repeats samples) keeps both occurrences. ``n_examples`` truncates or cycles either order.
    """
    if not records:
        raise ValueError("empty training set")
    if mode == "permutation":
        ids = order_keys(records)
        pos = {i: k for k, i in enumerate(ids)}
        order: list[int] = []
        epoch = 0
        while True:
            if n_examples is None and epoch >= epochs:
                break
            if n_examples is not None and len(order) >= n_examples:
                break
            order.extend(pos[i] for i in permutation_order(ids, seed, epoch))
            epoch += 1
    elif mode == "staged":
        stages: dict[int, list[int]] = {}
        for k, r in enumerate(records):
            if "stage" not in r.get("meta", {}):
                raise ValueError(f"staged order: record {r['id']} has no meta.stage")
            stages.setdefault(int(r["meta"]["stage"]), []).append(k)
        base: list[int] = []
        for s in sorted(stages):
            base.extend(sorted(stages[s], key=lambda k: _key(seed, "stage", s, records[k]["id"], k)))
        order = list(base)
        while n_examples is not None and len(order) < n_examples:
            order.extend(base)
    else:
        raise ValueError(f"train.order: unknown order mode {mode!r} (permutation, staged)")
    return order[:n_examples] if n_examples is not None else order


def segment_bounds(total_steps: int, count: int, index: int) -> tuple[int, int]:
    """Global steps ``[start, end)`` of segment ``index`` of ``count`` equal segments of a
    ``total_steps`` run (sizes differ by at most one step). Every segment gets at least one step,
    so ``count`` must not exceed ``total_steps``."""
    if not 0 <= index < count:
        raise ValueError(f"segment {index} of {count}: out of range")
    if count > total_steps:
        raise ValueError(f"{count} segments of a {total_steps}-step run: each needs a step; train longer")
    return index * total_steps // count, (index + 1) * total_steps // count


def budget_config(train: dict[str, Any], budget: str) -> dict[str, Any]:
    """The train section as one experiment's budget (see the module docstring) applies it:
    ``steps`` keeps ``max_steps`` (when it is null, ``epochs`` passes: the same steps for sets of
    equal size); ``epochs`` drops it (``epochs`` passes decide the steps); ``staged`` trains one
    pass in stage order."""
    if budget == "steps":
        return dict(train)
    if budget in ("epochs", "matched"):  # matched: finetune(reference=...) sets the steps
        return {**train, "max_steps": None}
    if budget == "staged":
        return {**train, "order": "staged", "max_steps": None, "epochs": 1}
    raise ValueError(f"unknown training budget {budget!r}; choose from {BUDGETS}")


def encode_records(tokenizer: Any, records: list[Record], max_length: int) -> tuple[list[dict[str, list[int]]], list[str]]:
    """Encode every record; returns (examples aligned with records, ids with no response token left)."""
    examples, unusable = [], []
    for r in records:
        ex = encode_conversation(tokenizer, r["messages"], max_length)
        if n_label_tokens(ex["labels"]) == 0:
            unusable.append(r["id"])
        examples.append(ex)
    return examples, unusable


def pack_rows(lengths: list[int], capacity: int) -> list[list[int]]:
    """First-fit-decreasing: the indices of ``lengths`` grouped into rows whose lengths sum to at
    most ``capacity`` (an item longer than it gets a row of its own). Deterministic: longer first,
    ties in index order."""
    rows: list[list[int]] = []
    fill: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        for k, used in enumerate(fill):
            if used + lengths[i] <= capacity:
                rows[k].append(i)
                fill[k] += lengths[i]
                break
        else:
            rows.append([i])
            fill.append(lengths[i])
    return rows


class PackCollator:
    """A padding-free batch: the batch's conversations packed into rows (:func:`pack_rows`) of at
    most ``row_tokens`` tokens (0 or less than the longest conversation: the longest one's length).

    Returns ``input_ids``, ``position_ids`` (restarting at 0 for every conversation, and for the
    padding at a row's end, so no token attends across conversations), ``labels`` and
    ``shift_labels`` (the next token's label inside the same conversation: the prediction target
    of each position; the Trainer counts the batch's loss tokens from it). No attention mask.
    """

    def __init__(self, pad_id: int, row_tokens: int = 0) -> None:
        self.pad_id = pad_id
        self.row_tokens = row_tokens

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        lengths = [len(b["input_ids"]) for b in batch]
        rows = pack_rows(lengths, max(self.row_tokens, max(lengths)))
        n = max(sum(lengths[i] for i in row) for row in rows)
        ids = torch.full((len(rows), n), self.pad_id, dtype=torch.long)
        pos = torch.zeros((len(rows), n), dtype=torch.long)
        labels = torch.full((len(rows), n), IGNORE_INDEX, dtype=torch.long)
        shift = torch.full((len(rows), n), IGNORE_INDEX, dtype=torch.long)
        for k, row in enumerate(rows):
            o = 0
            for i in row:
                m = lengths[i]
                ids[k, o:o + m] = torch.tensor(batch[i]["input_ids"])
                pos[k, o:o + m] = torch.arange(m)
                lab = torch.tensor(batch[i]["labels"])
                labels[k, o:o + m] = lab
                shift[k, o:o + m - 1] = lab[1:]
                o += m
            pos[k, o:] = torch.arange(n - o)
        return {"input_ids": ids, "position_ids": pos, "labels": labels, "shift_labels": shift}


class LabelledHead:
    """The output layer on labelled positions only.

    A forward pre-hook on the model's output embeddings replaces the hidden states it receives by
    those at the positions ``keep`` marks (set per batch, then cleared), so the logits are
    ``(n_labelled, vocab)`` instead of ``(rows, length, vocab)``. It runs inside the model's own
    forward, so DDP and FSDP wrappers see an ordinary forward. Use as a context manager.
    """

    def __init__(self, model: Any) -> None:
        self.keep: Any = None
        self._handle = model.get_output_embeddings().register_forward_pre_hook(self._select)

    def _select(self, module: Any, args: tuple) -> tuple | None:
        if self.keep is None:
            return None
        return (args[0][self.keep], *args[1:])

    def close(self) -> None:
        self._handle.remove()

    def __enter__(self) -> LabelledHead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def packed_loss(model: Any, head: LabelledHead, inputs: dict[str, Any], n_items: Any = None) -> tuple[Any, Any]:
    """Summed next-token cross-entropy of a packed batch over its labelled positions, divided by
    ``n_items`` (the loss tokens of the whole optimizer step, across accumulation and processes,
    as the Trainer counts them) or, without it, by this batch's. Returns (loss, model output)."""
    import torch.nn.functional as F

    targets = inputs["shift_labels"]
    keep = targets.ne(IGNORE_INDEX)
    head.keep = keep
    try:
        out = model(input_ids=inputs["input_ids"], position_ids=inputs["position_ids"], use_cache=False)
    finally:
        head.keep = None
    loss = F.cross_entropy(out.logits.float(), targets[keep], reduction="sum")
    return loss / (n_items if n_items is not None else keep.sum()), out


class PadCollator:
    """Right-pads a batch: input ids with the pad id, labels with IGNORE_INDEX."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        n = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), n), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), n), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(batch), n), dtype=torch.long)
        for k, b in enumerate(batch):
            m = len(b["input_ids"])
            ids[k, :m] = torch.tensor(b["input_ids"])
            labels[k, :m] = torch.tensor(b["labels"])
            mask[k, :m] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def _ordered_trainer_class():
    from torch.utils.data import SequentialSampler
    from transformers import Trainer

    class OrderedTrainer(Trainer):
        """Trainer that visits the dataset in the given order (the order is built by us). With a
        :class:`LabelledHead` (``head``) it trains packed batches through :func:`packed_loss`."""

        def __init__(self, *args, head: LabelledHead | None = None, **kwargs):
            super().__init__(*args, **kwargs)
            self.head = head
            if head is not None:  # count the step's loss tokens (from shift_labels) for any model
                self.model_accepts_loss_kwargs = True
                self.loss_is_scaled_for_ga = True

        def _get_train_sampler(self, train_dataset=None):
            return SequentialSampler(train_dataset if train_dataset is not None else self.train_dataset)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if self.head is None:
                return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                            num_items_in_batch=num_items_in_batch)
            loss, out = packed_loss(model, self.head, inputs, num_items_in_batch)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                # n_items is summed over processes and DDP averages gradients: undo the average
                loss = loss * self.accelerator.num_processes
            return (loss, out) if return_outputs else loss

    return OrderedTrainer


def _step_counter_class():
    from transformers import TrainerCallback

    class StepCounter(TrainerCallback):
        """Optimizer steps this process ran (a resumed run skips the checkpoint's steps)."""

        n = 0

        def on_step_end(self, args, state, control, **kwargs):
            self.n += 1

    return StepCounter


def _segment_stop_class():
    from transformers import TrainerCallback

    class SegmentStop(TrainerCallback):
        """Stop at a segment's last global step and save the full state there."""

        def __init__(self, end: int) -> None:
            self.end = end

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step >= self.end:
                control.should_save = True
                control.should_training_stop = True
            return control

    return SegmentStop


def epoch_end_steps(n_records: int, per_step: int, epochs: int) -> dict[int, int]:
    """``{step: epoch}``: the optimizer step after which each pass over ``n_records`` records is
    complete (pass ``k`` ends at example ``k * n_records`` of the stream, inside step
    ``ceil(k * n_records / per_step)``). Distinct steps when ``per_step <= n_records``."""
    if n_records < 1 or per_step < 1 or epochs < 1:
        raise ValueError(f"epoch_end_steps: need positive sizes, got {n_records}, {per_step}, {epochs}")
    ends = {math.ceil(k * n_records / per_step): k for k in range(1, epochs + 1)}
    if len(ends) != epochs:
        raise ValueError(f"epoch_end_steps: {per_step} examples per step over {n_records} records put "
                         "several epoch ends in one step")
    return ends


def _epoch_eval_class():
    from transformers import TrainerCallback

    class EpochEval(TrainerCallback):
        """Evaluate the model after the steps that end a pass over the set; each epoch's rows are
        written to ``store/epoch_<k>.json`` (rank 0), where a resumed run finds them."""

        def __init__(self, ends: dict[int, int], evaluate: Any, tokenizer: Any, store: Path, rank0: bool) -> None:
            self.ends, self.evaluate, self.tokenizer, self.store, self.rank0 = ends, evaluate, tokenizer, store, rank0

        def run(self, model: Any, epoch: int, step: int) -> None:
            was_training = model.training
            model.eval()
            try:
                rows = self.evaluate(model, self.tokenizer)
            finally:
                model.train(was_training)
            if self.rank0:
                self.store.mkdir(parents=True, exist_ok=True)
                tmp = self.store / f"epoch_{epoch}.json.tmp"
                tmp.write_text(json.dumps({"epoch": epoch, "step": step, "rows": rows}), encoding="utf-8")
                tmp.replace(self.store / f"epoch_{epoch}.json")
            log.info("sft: epoch %d evaluated after step %d (%d rows)", epoch, step, len(rows))

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step in self.ends:
                self.run(model, self.ends[state.global_step], state.global_step)

    return EpochEval


def read_epoch_evals(store: str | Path, epochs: int) -> list[dict[str, Any]]:
    """The per-epoch evaluations a run left under ``store`` (epochs 0..``epochs``), in order;
    a missing epoch raises."""
    out = []
    for k in range(epochs + 1):
        f = Path(store) / f"epoch_{k}.json"
        if not f.is_file():
            raise FileNotFoundError(f"epoch evaluation {k} of {epochs} missing: {f}")
        out.append(json.loads(f.read_text(encoding="utf-8")))
    return out


def checkpoint_complete(path: str | Path) -> bool:
    """Whether a Trainer checkpoint was written to the end: weights, optimizer, RNG and state.

    A job killed while saving (SIGKILL, node failure, time limit) leaves a ``checkpoint-N`` folder
    with only some of these; resuming from it would crash or silently restart the optimizer.
    """
    p = Path(path)
    # FSDP checkpoints (accelerate) add pytorch_model_fsdp.bin and keep the optimizer in
    # optimizer.bin (full state dict) or an optimizer_0/ folder (sharded state dict)
    weights = any((p / f).is_file() for f in ("model.safetensors", "model.safetensors.index.json",
                                               "pytorch_model_fsdp.bin")) \
        or any((p / "pytorch_model_fsdp_0").glob("*"))
    optimizer = (p / "optimizer.pt").is_file() or (p / "optimizer.bin").is_file() or any((p / "optimizer_0").glob("*"))
    try:
        json.loads((p / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    return weights and optimizer and any(p.glob("rng_state*.pth"))


def last_checkpoint(path: str | Path) -> str | None:
    """The newest complete ``checkpoint-N`` under ``path``; newer incomplete ones are removed."""
    p = Path(path)
    if not p.is_dir():
        return None
    found = sorted((int(d.name.split("-")[1]), d) for d in p.glob("checkpoint-*")
                   if d.is_dir() and d.name.split("-")[1].isdigit())
    for _, d in reversed(found):
        if checkpoint_complete(d):
            return str(d)
        log.warning("sft: %s is incomplete (killed while saving?); removing it", d)
        shutil.rmtree(d, ignore_errors=True)
    return None


def publish_model(segment_dir: str | Path, out_dir: str | Path) -> list[str]:
    """A segmented run's model where a fine-tune's lives: ``segment_dir``'s top-level files
    (weights, config, tokenizer) in ``out_dir``, hard-linked where the filesystem allows (a 7B
    model is not copied), without the ``checkpoint-*`` state. Returns the file names."""
    src, dst = Path(segment_dir), Path(out_dir)
    dst.mkdir(parents=True, exist_ok=True)
    names = []
    for f in sorted(src.iterdir()):
        if not f.is_file():
            continue
        try:
            os.link(f, dst / f.name)
        except OSError:
            shutil.copy2(f, dst / f.name)
        names.append(f.name)
    if not any(n.endswith(".safetensors") or n.endswith(".safetensors.index.json") for n in names):
        raise FileNotFoundError(f"publish_model: no weights in {src}")
    return names


def fsdp_arguments(train: dict[str, Any]) -> dict[str, Any]:
    """TrainingArguments for ``train.fsdp``: FSDP2 through accelerate, one unit per decoder layer
    (the model's ``_no_split_modules``), weights, gradients and AdamW state sharded over every
    process; ``train.fsdp_config`` passes through. Empty when off."""
    if not train["fsdp"]:
        return {}
    return {"fsdp": True, "fsdp_config": {"version": 2, "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
                                          **train["fsdp_config"]}}


def _world_size() -> int:
    """Data-parallel processes of this job: torchrun's ``WORLD_SIZE``, 1 for a plain process."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


@dataclass(frozen=True)
class Segment:
    """Segment ``index`` of ``count`` of one training run (module docstring); ``previous`` is
    segment ``index - 1``'s output directory (None for the first)."""

    index: int
    count: int
    previous: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"segment {self.index} of {self.count}: out of range")
        if (self.index == 0) != (self.previous is None):
            raise ValueError("segment: the previous segment's output is required by, and only by, segments after the first")


def finetune(base_model: str, records: list[Record], out_dir: str | Path, cfg: dict[str, Any], *,
             seed: int, checkpoint_dir: str | Path, threads: int = 1,
             reference: list[Record] | None = None, segment: Segment | None = None,
             epoch_eval: Any = None) -> dict[str, Any]:
    """Fine-tune ``base_model`` (local dir or hub id) on ``records``; save to ``out_dir``.

    ``reference`` (the ``matched`` budget): train as many optimizer steps as ``cfg["epochs"]``
    passes over the reference set's usable records take, cycling this set's own order.

    ``segment``: train only that segment's steps of the run (the budget's steps are the whole
    run's), on ``records`` cycled in a seeded order of their own; the first segment starts from
    ``base_model``, a later one from ``segment.previous``'s full state. ``out_dir`` then holds the
    model and tokenizer (loadable as any fine-tune) and ``checkpoint-<end>/``, the full state.

    ``epoch_eval``: a function ``(model, tokenizer) -> list of rows`` run at epoch 0 and after each
    pass over the set (the ``epochs`` budget only; the per-device batch is capped so that a pass
    is at least one step); the summary's ``epoch_evals`` holds ``[{"epoch", "step", "rows"}]``.

    ``cfg`` is the config's validated ``train`` section (the schema holds every default; a
    missing key is a ``KeyError`` naming it). Returns a summary (steps, examples, tokens, losses, runtime, resume point) that the rule
    writes next to the model.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainingArguments, set_seed

    c = dict(cfg)  # the validated train section: every default comes from the config schema
    torch.set_num_threads(max(1, threads))
    set_seed(seed)
    t0 = time.time()
    tok = AutoTokenizer.from_pretrained(base_model, trust_remote_code=c["trust_remote_code"])
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    cuda = torch.cuda.is_available()
    bf16 = bool(c["bf16"])
    if bf16 and not cuda:
        log.warning("sft: train.bf16 on the CPU: bf16 autocast over fp32 master weights, correct but "
                    "slow where the CPU lacks native bf16; the CPU default is float32")
    # fp32 master weights always: train.bf16 is autocast (TrainingArguments.bf16), never bf16 storage
    resume = None
    if segment is not None and segment.previous is not None:
        resume = last_checkpoint(segment.previous)
        if resume is None:
            raise FileNotFoundError(f"segment {segment.index}: no complete checkpoint under {segment.previous}")
    model = AutoModelForCausalLM.from_pretrained(
        resume or base_model, use_safetensors=True, trust_remote_code=c["trust_remote_code"], dtype=torch.float32)
    n_params = sum(p.numel() for p in model.parameters())  # before any sharding
    if c["gradient_checkpointing"]:
        model.gradient_checkpointing_enable()

    examples, unusable = encode_records(tok, records, c["max_length"])
    keep = [k for k, r in enumerate(records) if r["id"] not in set(unusable)]
    if unusable:
        log.warning("sft: %d records have no response token within max_length=%d; skipped",
                    len(unusable), c["max_length"])
    kept_records = [records[k] for k in keep]
    kept_examples = [examples[k] for k in keep]
    # processes that share each optimizer step (torchrun sets WORLD_SIZE before the Trainer
    # initializes the process group, so the step size is known while building the order)
    world = _world_size()
    if epoch_eval is not None:
        if segment is not None or reference is not None or c["max_steps"] or c["order"] != "permutation":
            raise ValueError("epoch_eval: per-epoch evaluation needs the epochs budget in permutation order")
        # DoIT's small sets (n = 1 per ability): a pass is at least one optimizer step
        c["batch_size"] = max(1, min(c["batch_size"], len(kept_records) // (c["grad_accum"] * world)))
    per_step = c["batch_size"] * c["grad_accum"] * world
    n_reference = None
    if reference is not None:
        _, ref_unusable = encode_records(tok, reference, c["max_length"])
        n_reference = len(reference) - len(ref_unusable)
        c["max_steps"] = max(1, math.ceil(c["epochs"] * n_reference / per_step))
        log.info("sft: matched budget: %d steps = %d epochs over the %d usable reference records",
                 c["max_steps"], c["epochs"], n_reference)
    bounds = None
    if segment is not None:
        if not c["max_steps"]:
            raise ValueError("segment: a segmented run needs a step budget (steps or matched), not epochs of a changing set")
        bounds = segment_bounds(c["max_steps"], segment.count, segment.index)
        n_examples = (bounds[1] - bounds[0]) * per_step
        order = training_order(kept_records, seed=derive_seed(seed, "segment", segment.index), mode=c["order"],
                               n_examples=n_examples)
    else:
        n_examples = c["max_steps"] * per_step if c["max_steps"] else None
        order = training_order(kept_records, seed=seed, mode=c["order"], epochs=c["epochs"], n_examples=n_examples)
    ordered = [kept_examples[k] for k in order]
    steps = c["max_steps"] or math.ceil(len(ordered) / per_step)
    if segment is not None:  # the segment's own output holds its full state (a crash loses one segment)
        checkpoint_dir = out_dir
        save = {"save_strategy": "no", "ignore_data_skip": True}  # SegmentStop saves at the segment's end
    else:
        save = {"save_strategy": "steps" if c["save_steps"] else "no", "save_steps": c["save_steps"] or steps}

    args = TrainingArguments(
        output_dir=str(checkpoint_dir), max_steps=steps, num_train_epochs=1,
        per_device_train_batch_size=c["batch_size"], gradient_accumulation_steps=c["grad_accum"],
        learning_rate=c["lr"], lr_scheduler_type=c["scheduler"], warmup_steps=max(0, int(c["warmup_ratio"] * steps)),
        weight_decay=c["weight_decay"], bf16=bf16, logging_steps=max(1, steps // 20),
        **save,
        # two checkpoints: a job killed while writing the newest still has the previous one
        save_total_limit=2, report_to=[], seed=seed, data_seed=seed, use_cpu=not cuda,
        dataloader_num_workers=0, remove_unused_columns=False, disable_tqdm=False,
        ddp_find_unused_parameters=False,
        **fsdp_arguments(c),
    )
    steps_run = _step_counter_class()()
    packing = bool(c["packing"])
    head = LabelledHead(model) if packing else None
    collator = PackCollator(tok.pad_token_id, c["pack_tokens"]) if packing else PadCollator(tok.pad_token_id)
    callbacks = [steps_run] + ([_segment_stop_class()(bounds[1])] if bounds else [])
    evals = None
    if epoch_eval is not None:
        ends = epoch_end_steps(len(kept_records), per_step, c["epochs"])
        evals = _epoch_eval_class()(ends, epoch_eval, tok, Path(checkpoint_dir) / "epoch_eval",
                                    int(os.environ.get("RANK", "0")) == 0)
        callbacks.append(evals)
    trainer = _ordered_trainer_class()(model=model, args=args, train_dataset=ordered, data_collator=collator,
                                       callbacks=callbacks, head=head,
                                       processing_class=tok if segment is not None else None)
    if segment is None:
        resume = last_checkpoint(checkpoint_dir)
    if resume:
        log.info("sft: resuming from %s", resume)
    if evals is not None and not (Path(checkpoint_dir) / "epoch_eval" / "epoch_0.json").is_file():
        evals.run(model, 0, 0)
    if c["fsdp"] and not getattr(trainer, "is_fsdp_enabled", False):
        # accelerate shards over GPUs only (a CPU or single-process run is replicated/unsharded)
        log.warning("sft: train.fsdp is on but this run is not sharded (%d process(es), %s): accelerate "
                    "shards only across several GPUs", world, "cuda" if cuda else "cpu")
    try:
        result = trainer.train(resume_from_checkpoint=resume)
    finally:
        if head is not None:
            head.close()
    # every process: a sharded (FSDP) model is gathered collectively; the Trainer writes on rank 0
    trainer.save_model(str(out_dir))
    epoch_evals = None
    if trainer.is_world_process_zero():
        if evals is not None:  # read before the checkpoints go
            epoch_evals = read_epoch_evals(Path(checkpoint_dir) / "epoch_eval", c["epochs"])
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        tok.save_pretrained(str(out_dir))
        if not c["keep_checkpoints"] and segment is None:
            shutil.rmtree(checkpoint_dir, ignore_errors=True)
        if bounds is not None and not checkpoint_complete(Path(out_dir) / f"checkpoint-{bounds[1]}"):
            raise RuntimeError(f"segment {segment.index}: the state at step {bounds[1]} was not saved")
    first = bounds[0] if bounds else 0  # a resumed segment's state carries the earlier segments' log
    losses = [{"step": h["step"], "loss": h["loss"]} for h in trainer.state.log_history if "loss" in h and h["step"] > first]
    summary = {
        "base_model": base_model, "seed": seed, "n_records": len(records), "n_unusable": len(unusable),
        "n_trained_examples": len(ordered), "steps": steps, "examples_per_step": per_step,
        "response_tokens": sum(n_label_tokens(e["labels"]) for e in ordered),
        "input_tokens": sum(len(e["input_ids"]) for e in ordered),
        "train_runtime_s": round(result.metrics.get("train_runtime", float("nan")), 3),
        "train_loss": result.training_loss, "loss_history": losses, "resumed_from": resume,
        "steps_run": steps_run.n, "world_size": world,
        "sharding": "fsdp" if getattr(trainer, "is_fsdp_enabled", False) else "ddp" if world > 1 else "none", "n_reference": n_reference,
        "n_params": n_params, "dtype": "float32", "autocast": "bfloat16" if bf16 else None, "packing": packing,
        "runtime_s": round(time.time() - t0, 2), "order": c["order"],
        "segment": None if segment is None else {"index": segment.index, "count": segment.count,
                                                 "start_step": bounds[0], "end_step": bounds[1]},
        "order_digest": hashlib.sha256(json.dumps([kept_records[k]["id"] for k in order]).encode()).hexdigest()[:16],
    }
    if evals is not None:
        summary["epoch_evals"] = epoch_evals
    return summary
