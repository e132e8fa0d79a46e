"""Fine-tune one DoIT run, scoring every epoch's checkpoint on the study's dev and test items.

scripts/finetune.py with DoIT's per-epoch evaluation (Sec. 4.2): its own flags (--epoch-eval,
--epoch-scores, --eval-batch-size, --eval-max-length) and every other flag of finetune.py, which
does the training (through sftmix.sft.finetune's ``epoch_eval``). A command-line script like
finetune.py, so the rule can launch it with torchrun.
"""

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/finetune.py, run as a script or not
import finetune  # noqa: E402

from sftmix.logutil import finish
from sftmix.records import read_jsonl
from sftmix.studies.doit.items import evaluate, write_epoch_scores


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, add_help=False)
    ap.add_argument("--epoch-eval", required=True, help="DoIT's items (JSONL, rule doit_items)")
    ap.add_argument("--epoch-scores", required=True, help="the per-epoch item scores (TSV)")
    ap.add_argument("--eval-batch-size", type=int, default=32)
    ap.add_argument("--eval-max-length", type=int, default=512)
    a, rest = ap.parse_known_args(argv)
    items = list(read_jsonl(a.epoch_eval))

    def epoch_eval(model, tokenizer):
        return evaluate(model, tokenizer, items, batch_size=a.eval_batch_size, max_length=a.eval_max_length)

    def on_summary(summary):
        n = write_epoch_scores(a.epoch_scores, summary.pop("epoch_evals"))
        logging.info("doit_finetune: %d epoch x item scores (%d items) written to %s", n, len(items), a.epoch_scores)

    return finetune.main(rest, epoch_eval=epoch_eval, on_summary=on_summary)


if __name__ == "__main__":
    finish(__name__, main())
