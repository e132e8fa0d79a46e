"""One packed AdamW step of a model sharded with FSDP2 (``fully_shard`` on every decoder layer and
the root), for tests/test_engine.py: run under ``torchrun --nproc-per-node N`` (gloo on the CPU).
Each rank trains its share of the batch through :func:`sftmix.sft.packed_loss` and the
:class:`sftmix.sft.LabelledHead` hook; rank 0 saves the gathered full state dict.

Usage: fsdp_step.py <model dir> <records.jsonl> <max_length> <out.pt>
"""

import json
import sys

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.fsdp import fully_shard
from transformers import AutoModelForCausalLM, AutoTokenizer

from sftmix.chat import IGNORE_INDEX, encode_conversation
from sftmix.sft import LabelledHead, PackCollator, packed_loss


def main(base: str, records: str, max_length: int, out: str) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    tok = AutoTokenizer.from_pretrained(base)
    with open(records, encoding="utf-8") as fh:
        encs = [encode_conversation(tok, json.loads(line)["messages"], max_length) for line in fh]
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    for layer in model.get_decoder().layers:
        fully_shard(layer)
    fully_shard(model)
    assert type(next(model.parameters())).__name__ == "DTensor", "parameters are sharded"
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    n_items = sum(sum(1 for t in e["labels"][1:] if t != IGNORE_INDEX) for e in encs)
    with LabelledHead(model) as head:
        loss, _ = packed_loss(model, head, PackCollator(tok.pad_token_id)(encs[rank::world]), n_items)
    (loss * world).backward()  # FSDP averages gradients over ranks; the loss is already global
    opt.step()
    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if rank == 0:
        torch.save(state, out)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
