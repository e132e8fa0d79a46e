"""Rule im_paper_table: the paper's own random-experiment results (InstructMining Tables 20-21, as
far as the text extraction allows; sftmix/studies/instructmining/data/README.md) as an indicator
table, so that im_fit refits the published rule without fine-tuning anything."""

from sftmix.logutil import finish, setup_logging
from sftmix.studies.instructmining import rule

log = setup_logging(snakemake.log[0])  # noqa: F821
rows, quarantined = rule.load_paper_random_experiments()
rule.write_indicator_table(snakemake.output[0], rows)  # noqa: F821
log.info("im_paper_table: %d rows of Tables 20-21 (%d quarantined on reading)", len(rows), len(quarantined))
finish(__name__)
