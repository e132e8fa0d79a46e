"""Rule lmeval_tasks: per-category lm-eval tasks (multiple-choice and generation) from the eval records."""

from sftmix.benchmarks import write_lmeval_tasks
from sftmix.exclusions import read_excluded
from sftmix.logutil import finish, setup_logging
from sftmix.records import read_jsonl, write_json
from sftmix.subsets import TEST, in_split

log = setup_logging(snakemake.log[0])  # noqa: F821
cfg = dict(snakemake.params.lmeval)  # noqa: F821
every = list(read_jsonl(snakemake.input.eval))  # noqa: F821
excluded = read_excluded(snakemake.input.excluded)  # noqa: F821
test = in_split(every, TEST)  # benchmarks compare methods: test items only (dev tuned them)
records = [r for r in test if r["id"] not in excluded]
log.info("lmeval_tasks: %d of %d eval records are test items, %d of them left out (eval/excluded.tsv)",
         len(test), len(every), len(test) - len(records))
manifest = write_lmeval_tasks(records, snakemake.output.tasks, n_choices=int(cfg.get("n_choices", 4)),  # noqa: F821
                              seed=int(cfg.get("seed", 0)),
                              max_items_per_category=cfg.get("max_items_per_category"),
                              max_gen_toks=int(cfg.get("max_gen_toks", 256)),
                              same_category=cfg["same_category_distractors"])
write_json(snakemake.output.manifest, manifest)  # noqa: F821
log.info("lmeval_tasks: %d eval records -> %d tasks in %d categories (skipped: %s)", len(records),
         len(manifest["tasks"]), len(manifest["categories"]), manifest["skipped"] or "none")
for name, info in sorted(manifest["tasks"].items()):
    log.info("  %-40s %-16s n=%d", name, info["output_type"], info["n_items"])
for group, members in sorted(manifest["groups"].items()):
    log.info("  group %s: %s", group, ", ".join(members))
finish(__name__)
