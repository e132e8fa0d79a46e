"""Rule unieval_seed: the UniEval stand-in's labelled seed set (the DEITA-style scorer's seed
records, labelled on every dimension by the generated world's UniEval rater with noise) and its
training conversations."""

from collections import Counter

from sftmix.logutil import finish, setup_logging
from sftmix.raters import unieval_training_records
from sftmix.records import read_json, read_jsonl, write_jsonl
from sftmix.world.ratings import read_seed_set
from sftmix.world.unieval import unieval_seed_labels, write_unieval_labels

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, p = snakemake.input, snakemake.params  # noqa: F821
seed_rows = read_seed_set(inp.seed_set)
truth = read_json(inp.truth)["records"]
labels, n = unieval_seed_labels(seed_rows, truth, noise=p.cfg["noise"], seed=p.seed)
log.info("unieval_seed: %s", ", ".join(f"{k}={v}" for k, v in n.items()))
log.info("unieval_seed: labels %s", dict(sorted(Counter((r["dimension"], r["label"]) for r in labels).items())))
train = unieval_training_records(read_jsonl(inp.records), labels, max_repeat=p.max_repeat)
write_unieval_labels(snakemake.output.labels, labels)  # noqa: F821
write_jsonl(snakemake.output.trainset, train)  # noqa: F821
log.info("unieval_seed: %d training conversations written", len(train))
finish(__name__)
