"""Rule ingest: one raw source -> canonical records + quarantine (+ counts)."""

from itertools import islice

from sftmix.ingest import ingest, iter_source
from sftmix.logutil import finish, offline_env, setup_logging
from sftmix.records import write_json, write_jsonl

log = setup_logging(snakemake.log[0])  # noqa: F821
spec = dict(snakemake.params.spec)  # noqa: F821
source = snakemake.wildcards.source  # noqa: F821
if not spec.get("hub"):
    offline_env()
path = snakemake.input.raw or None  # noqa: F821  (empty for a hub source)
rows = iter_source(spec, path, snakemake.params.max_record_chars)  # noqa: F821
if spec.get("max_rows"):
    rows = islice(rows, spec["max_rows"])
log.info("ingest[%s]: reading %s (format %s)", source, path or f"hub:{spec.get('hub')}", spec["format"])
records, quarantine, counts = ingest(rows, source=source, fmt=spec["format"], fields=spec.get("fields"))
write_jsonl(snakemake.output.records, records)  # noqa: F821
write_jsonl(snakemake.output.quarantine, quarantine)  # noqa: F821
write_json(snakemake.output.counts, counts.to_dict())  # noqa: F821
counts.report(log)
finish(__name__)
