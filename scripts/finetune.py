"""Fine-tune one base model on one training set (every experiment goes through here).

A command-line script (not a `script:` directive) so the rule can launch it with torchrun for
multi-GPU jobs. Thin: argument parsing and I/O around sftmix.sft.finetune.
"""

import argparse
import json
import logging
import os

from sftmix.budgets import BUDGETS
from sftmix.logutil import finish, offline_env, setup_logging
from sftmix.records import read_jsonl, write_json


def main(argv=None, *, epoch_eval=None, on_summary=None) -> int:
    """Parse ``argv`` and fine-tune. ``epoch_eval`` (a study's wrapper, scripts/doit_finetune.py):
    evaluate every epoch's checkpoint (``sftmix.sft.finetune``); ``on_summary`` sees the summary
    first (rank 0) and may take parts of it out."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--base", required=True, help="base model dir or hub id")
    ap.add_argument("--trainset", required=True)
    ap.add_argument("--train-config", required=True, help="JSON of the config's train section")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--summary", required=True)
    ap.add_argument("--checkpoints", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--budget", choices=BUDGETS, default="steps",
                    help="the experiment family's training budget: steps = train.max_steps; "
                         "epochs = train.epochs passes over the set (steps grow with its size); "
                         "matched = as many steps as train.epochs passes over --match take; "
                         "staged = one pass over a schedule's stages in order (sftmix.sft)")
    ap.add_argument("--match", help="the reference training set of the matched budget")
    ap.add_argument("--epochs", type=int, help="the passes of the epochs/matched budget when the experiment's "
                                               "family sets its own (default: train.epochs)")
    a = ap.parse_args(argv)
    setup_logging(None)  # stderr, which the rule redirects to its log (one process per GPU under torchrun)
    if os.path.isdir(a.base):
        offline_env()
    from sftmix.sft import budget_config, finetune

    with open(a.train_config, encoding="utf-8") as fh:
        cfg = json.load(fh)
    if a.epochs is not None:
        cfg["epochs"] = a.epochs
    cfg = budget_config(cfg, a.budget)
    if (a.budget == "matched") != (a.match is not None):
        ap.error("--match is required by, and only by, --budget matched")
    reference = list(read_jsonl(a.match)) if a.match else None
    records = list(read_jsonl(a.trainset))
    logging.info("finetune: %s on %s (%d records), seed %d", a.base, a.trainset, len(records), a.seed)
    summary = finetune(a.base, records, a.out, cfg, seed=a.seed, checkpoint_dir=a.checkpoints,
                       threads=a.threads, reference=reference, epoch_eval=epoch_eval)
    if int(os.environ.get("RANK", "0")) == 0:
        if on_summary is not None:
            on_summary(summary)
        write_json(a.summary, {**summary, "budget": a.budget})
    logging.info("finetune: %d steps, %d examples, train loss %.4f, %.1f s", summary["steps"],
                 summary["n_trained_examples"], summary["train_loss"], summary["runtime_s"])
    return 0


if __name__ == "__main__":
    finish(__name__, main())
