"""Rule mixing_scale: the instruction-mixing combinations across base-model sizes."""

from sftmix.logutil import finish, setup_logging
from sftmix.report import read_table, write_markdown_report, write_table
from sftmix.studies.mixing import report

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
tables = {m: read_table(path) for m, path in zip(p.models, inp.tables, strict=True)}
rows = report.scale_rows(tables, level=p.level)
write_table(out.table, rows, report.SCALE_COLUMNS)
write_markdown_report(report.scale_markdown(rows, level=p.level), out.markdown, out.html)
for r in rows:
    if r["verdict"] not in ("reference",):
        log.info("mixing scale %s %s %s: %s %.4f vs %s, p %.3g -> %s", r["combo"], r["type"], r["metric"], r["model"],
                 r["mean"], r["reference_model"], r["welch_p"], r["verdict"])
finish(__name__)
