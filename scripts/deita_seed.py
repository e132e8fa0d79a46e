"""Rule deita_seed: the trained DEITA-style scorer's rated seed set and its training conversations."""

from collections import Counter

from sftmix.logutil import finish, setup_logging
from sftmix.quality import DEFAULT_DEITA_TEMPLATE, rating_repeats, scorer_training_records
from sftmix.records import read_json, read_jsonl, write_jsonl
from sftmix.world.ratings import rated_seed_set, write_seed_set

log = setup_logging(snakemake.log[0])  # noqa: F821
p = snakemake.params  # noqa: F821
cfg = p.cfg
records = list(read_jsonl(snakemake.input.records))  # noqa: F821
eval_ids = {r["id"] for path in snakemake.input.eval for r in read_jsonl(path)}  # noqa: F821
truth = read_json(snakemake.input.truth)["records"]  # noqa: F821
rows, n = rated_seed_set(records, truth, size=cfg["seed_size"], noise_sd=cfg["noise_sd"], seed=p.seed,
                         exclude=eval_ids)
log.info("deita_seed: in=%d eval_items=%d not_in_truth=%d drawn=%d (%d defective)", n["in"], n["excluded"],
         n["not_in_truth"], n["drawn"], n["defective"])
if n["drawn"] < cfg["seed_size"]:
    log.warning("deita_seed: only %d candidates for quality.deita_train.seed_size=%d", n["drawn"], cfg["seed_size"])
ratings = {r["id"]: r["rating"] for r in rows}
log.info("deita_seed: ratings %s; by defect %s", dict(sorted(Counter(ratings.values()).items())),
         dict(sorted(Counter(r["defect"] or "clean" for r in rows).items())))
log.info("deita_seed: repeats per rating (max_repeat=%d) %s", cfg["max_repeat"],
         rating_repeats(ratings.values(), cfg["max_repeat"]))
train = scorer_training_records(records, ratings, template=p.template or DEFAULT_DEITA_TEMPLATE,
                                max_repeat=cfg["max_repeat"])
write_seed_set(snakemake.output.ratings, rows)  # noqa: F821
write_jsonl(snakemake.output.trainset, train)  # noqa: F821
log.info("deita_seed: %d training conversations written", len(train))
finish(__name__)
