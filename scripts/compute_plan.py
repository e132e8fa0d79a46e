"""The compute plan of the run (sftmix.computeplan): compute.tsv, a markdown table, and the table in the log."""

from sftmix.computeplan import compute_plan, plan_markdown, write_plan_tsv
from sftmix.logutil import finish, setup_logging
from sftmix.report import write_markdown_report

log = setup_logging(snakemake.log[0])  # noqa: F821
plan = compute_plan(snakemake.params.config)  # noqa: F821
write_plan_tsv(snakemake.output.tsv, plan)  # noqa: F821
table = plan_markdown(plan)
write_markdown_report(f"# Compute plan of run {snakemake.params.config['run']}\n\n{table}\n",  # noqa: F821
                      snakemake.output.markdown, snakemake.output.html)  # noqa: F821
log.info("compute plan (estimate):\n%s", table)
log.info("total: %d jobs, %.3g FLOPs, %.1f GPU-hours", plan["total"]["jobs"], plan["total"]["flops"],
         plan["total"]["gpu_hours"])
finish(__name__)
