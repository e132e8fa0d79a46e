"""Rules deita_scorer and unieval_scorer: fine-tune a scorer (the DEITA-style rating scorer, the
UniEval stand-in) from the base model on its training conversations, with the workflow's SFT
engine (sftmix.sft.finetune)."""

import os

from sftmix.logutil import finish, offline_env, setup_logging
from sftmix.records import read_jsonl, write_json

log = setup_logging(snakemake.log[0])  # noqa: F821
p = snakemake.params  # noqa: F821
if os.path.isdir(str(p.base)):
    offline_env()
from sftmix.sft import finetune  # noqa: E402

records = list(read_jsonl(snakemake.input.trainset))  # noqa: F821
log.info("%s: %s on %d conversations, %d epochs, lr %g", snakemake.rule, p.base, len(records),  # noqa: F821
         p.train["epochs"], p.train["lr"])
summary = finetune(str(p.base), records, snakemake.output.model, dict(p.train), seed=p.seed,  # noqa: F821
                   checkpoint_dir=p.checkpoints, threads=snakemake.threads)  # noqa: F821
write_json(snakemake.output.summary, {**summary, "budget": "epochs"})  # noqa: F821
log.info("%s: %d steps, train loss %.4f, %.1f s", snakemake.rule, summary["steps"], summary["train_loss"],  # noqa: F821
         summary["runtime_s"])
finish(__name__)
