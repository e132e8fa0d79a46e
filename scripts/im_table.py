"""Rule im_table: the rule-estimation table of one base model: each fused dataset's indicator
means and its model's eval loss on the clean dev items (InstructMining Sec. 3.1)."""

from pathlib import Path

from sftmix.exclusions import read_excluded
from sftmix.logutil import finish, setup_logging
from sftmix.records import read_jsonl
from sftmix.studies.instructmining import estimation, indicators, rule

log = setup_logging(snakemake.log[0])  # noqa: F821
inp = snakemake.input  # noqa: F821
record_rows = indicators.read_record_indicators(inp.indicators)
datasets = {Path(p).stem: [r["id"] for r in read_jsonl(p)] for p in inp.fuse}
excluded = read_excluded(inp.excluded)
losses = {}
for exp, (loss, n) in estimation.dev_losses(inp.scores, excluded).items():
    losses[exp] = loss
    log.info("im_table %s: dev loss %.4f over %d clean dev items", exp, loss, n)
table = estimation.estimation_table(datasets, record_rows, losses)
rule.write_indicator_table(snakemake.output[0], table)  # noqa: F821
for row in table:
    if row["n_missing"]:
        log.warning("im_table %s: %d records without indicators (quarantined there)", row["dataset"],
                    row["n_missing"])
log.info("im_table: %d datasets, indicators %s", len(table), ", ".join(c for c in table[0] if c not in
                                                                       ("dataset", "loss", "n", "n_missing")))
finish(__name__)
