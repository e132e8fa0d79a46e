"""Rule trainset: the training records of one interaction experiment."""

from pathlib import Path

from sftmix.logutil import finish, setup_logging
from sftmix.records import read_jsonl, write_jsonl
from sftmix.studies.beyond_iid.experiments import build_trainset

log = setup_logging(snakemake.log[0])  # noqa: F821
base = {Path(p).parent.name: list(read_jsonl(p)) for p in snakemake.input.base}  # noqa: F821
added = {Path(p).parent.name: list(read_jsonl(p)) for p in snakemake.input.get("added", [])}  # noqa: F821
experiment = snakemake.wildcards.experiment  # noqa: F821
records = build_trainset(experiment, base, added)
write_jsonl(snakemake.output[0], records)  # noqa: F821
log.info("trainset[%s]: %d records (D = %d)", experiment, len(records), sum(len(v) for v in base.values()))
finish(__name__)
