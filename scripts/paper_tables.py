"""Rule paper_tables: the per-model comparison tables side by side (method x size x model)."""

from sftmix.logutil import finish, setup_logging
from sftmix.report import write_markdown_report
from sftmix.studies.beyond_iid.report import paper_tables_markdown

log = setup_logging(snakemake.log[0])  # noqa: F821
md = paper_tables_markdown(snakemake.input.mixtures, snakemake.input.curriculum, list(snakemake.params.models))  # noqa: F821
write_markdown_report(md, snakemake.output.markdown, snakemake.output.html)  # noqa: F821
log.info("paper tables: %d models -> %s", len(snakemake.params.models), snakemake.output.markdown)  # noqa: F821
finish(__name__)
