"""Concatenate JSONL inputs in input order."""

from sftmix.logutil import finish, setup_logging
from sftmix.records import read_jsonl, write_jsonl

log = setup_logging(snakemake.log[0])  # noqa: F821
n = write_jsonl(snakemake.output[0], (r for p in snakemake.input.records for r in read_jsonl(p)))  # noqa: F821
log.info("concat: %d records from %d files", n, len(snakemake.input.records))  # noqa: F821
finish(__name__)
