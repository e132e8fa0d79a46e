"""Rule filter: quality rules over one source's canonical records."""

from sftmix.filters import filter_records
from sftmix.logutil import finish, setup_logging
from sftmix.records import read_jsonl, write_json, write_jsonl

log = setup_logging(snakemake.log[0])  # noqa: F821
records = list(read_jsonl(snakemake.input[0]))  # noqa: F821
kept, quarantine, counts = filter_records(records, snakemake.params.rules,  # noqa: F821
                                          stage=f"filter[{snakemake.wildcards.source}]")  # noqa: F821
write_jsonl(snakemake.output.records, kept)  # noqa: F821
write_jsonl(snakemake.output.quarantine, quarantine)  # noqa: F821
write_json(snakemake.output.counts, counts.to_dict())  # noqa: F821
counts.report(log)
finish(__name__)
