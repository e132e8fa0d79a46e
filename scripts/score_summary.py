"""Rule score_summary: per (experiment, seed, category) mean response NLL, one table per model."""

from sftmix.logutil import finish, setup_logging
from sftmix.summary import summarize_scores, summary_tables, write_summary

log = setup_logging(snakemake.log[0])  # noqa: F821
tables = summary_tables(snakemake.input.pretrained, snakemake.input.scores)  # noqa: F821
n = write_summary(snakemake.output[0], summarize_scores(tables))  # noqa: F821
log.info("score summary: %d rows from %d score tables", n, len(tables))
finish(__name__)
