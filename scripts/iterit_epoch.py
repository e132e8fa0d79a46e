"""One epoch of an IterIT run (Algorithm 1, one iteration of its outer loop): score the kept
candidates' IFD with the current model (epoch 0: the base model's, from the quality table), select
M of them greedily by IFD x TF-IDF diversity, and train one epoch (a segment of the run: the
previous epoch's full state resumed, the LR schedule spanning every epoch).

A command-line script (not a `script:` directive) so the rule can launch it with torchrun, as the
fine-tune rule does. Thin: argument parsing and I/O around sftmix.studies.iterit.select and
sftmix.sft.finetune.
"""

import argparse
import json
import logging
import os

from sftmix.logutil import finish, offline_env, setup_logging
from sftmix.records import read_json, read_jsonl, write_json, write_jsonl


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epoch", type=int, required=True)
    ap.add_argument("--epochs", type=int, required=True, help="T, the run's epochs (iterit.epochs)")
    ap.add_argument("--base", required=True, help="base model dir or hub id")
    ap.add_argument("--candidates", required=True, help="the a x M records kept at epoch 0")
    ap.add_argument("--candidates-info", required=True, help="their JSON (holds M)")
    ap.add_argument("--quality", help="epoch 0: the base model's quality table (its IFD)")
    ap.add_argument("--previous", help="epochs after the first: the previous epoch's output")
    ap.add_argument("--reference", required=True, help="the set whose size fixes the run's steps (M records)")
    ap.add_argument("--train-config", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--b", type=float, required=True, help="decay of a picked sample's n-gram weights (Eq. 7)")
    ap.add_argument("--part", choices=["response", "instruction", "both", "none"], required=True,
                    help="the text of the diversity term; none = without diversity (the IFD-only ablation)")
    ap.add_argument("--ngram", type=int, nargs=2, default=[1, 3])
    ap.add_argument("--out", required=True)
    ap.add_argument("--subset", required=True)
    ap.add_argument("--ifd", required=True)
    ap.add_argument("--summary", required=True)
    ap.add_argument("--ifd-batch-size", type=int, default=32)
    ap.add_argument("--ifd-max-length", type=int, default=512)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    if (a.epoch == 0) == (a.previous is not None) or (a.epoch == 0) != (a.quality is not None):
        ap.error("epoch 0 takes --quality (the base model's IFD); a later epoch takes --previous")
    setup_logging(None)  # stderr, which the rule redirects to its log
    if os.path.isdir(a.base):
        offline_env()
    import torch

    from sftmix.quality import ifd_scores, ifd_valid, read_quality, write_ifd_table
    from sftmix.scoring import load_causal_lm
    from sftmix.sft import Segment, budget_config, finetune
    from sftmix.studies.iterit.select import iterit_select

    torch.set_num_threads(max(1, a.threads))
    candidates = list(read_jsonl(a.candidates))
    m = int(read_json(a.candidates_info)["m"])
    if a.epoch == 0:  # theta_0: the base model's IFD, computed once for the whole pool
        table = {r["id"]: r for r in read_quality(a.quality)}
        scored = {r["id"]: {k: table[r["id"]][k] for k in ("ifd", "ppl_cond", "ppl_uncond")} for r in candidates}
        scored_by = a.base
    else:  # theta_t: the model after epoch t - 1
        model, tokenizer = load_causal_lm(a.previous, device=a.device)
        scored = ifd_scores(model, tokenizer, candidates, batch_size=a.ifd_batch_size, max_length=a.ifd_max_length,
                            device=a.device, progress=True)
        del model, tokenizer
        scored_by = a.previous
    ifd = {i: v.get("ifd", float("nan")) for i, v in scored.items()}
    part = None if a.part == "none" else a.part
    sel = iterit_select(candidates, ifd, m, b=a.b, part=part, ngram_range=tuple(a.ngram), seed=a.seed)
    by_id = {r["id"]: r for r in candidates}
    subset = [by_id[i] for i in sel["selected"]]
    rank0 = int(os.environ.get("RANK", "0")) == 0
    if rank0:
        write_ifd_table(a.ifd, scored)
        write_jsonl(a.subset, subset)
    logging.info("iterit epoch %d/%d: IFD by %s; %d candidates, %d unaligned (IFD >= 1 or NaN), M=%d, "
                 "selected %d (shortfall %d)", a.epoch, a.epochs, scored_by, sel["n_candidates"], sel["n_unaligned"],
                 m, len(subset), sel["shortfall"])
    if not subset:
        raise SystemExit(f"iterit epoch {a.epoch}: no aligned candidate (IFD < 1) to select, nothing to train "
                         f"(iterit.candidates: published keeps the top a x M by IFD, unaligned ones first)")
    with open(a.train_config, encoding="utf-8") as fh:  # T passes over M (the reference) is the run's budget
        cfg = budget_config({**json.load(fh), "epochs": a.epochs}, "matched")
    summary = finetune(a.base, subset, a.out, cfg, seed=a.seed, checkpoint_dir=a.out, threads=a.threads,
                       reference=list(read_jsonl(a.reference)),
                       segment=Segment(a.epoch, a.epochs, a.previous))
    if rank0:
        n_aligned = sum(1 for v in ifd.values() if ifd_valid(v))
        write_json(a.summary, {"epoch": a.epoch, "epochs": a.epochs, "m": m, "scored_by": scored_by,
                               "selection": {k: v for k, v in sel.items() if k != "selected"},
                               "n_aligned": n_aligned, "train": summary})
    logging.info("iterit epoch %d: steps %d-%d, train loss %.4f, %.1f s", a.epoch, summary["segment"]["start_step"],
                 summary["segment"]["end_step"], summary["train_loss"], summary["runtime_s"])
    return 0


if __name__ == "__main__":
    finish(__name__, main())
