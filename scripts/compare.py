"""Rule compare: paper-shaped tables (mixtures, curriculum, lm-eval) and their figures."""

from sftmix.exclusions import read_excluded, without_items
from sftmix.logutil import finish, setup_logging
from sftmix.report import load_benchmarks
from sftmix.scores import load_score_tables
from sftmix.studies.beyond_iid.report import compare_report, write_compare_report
from sftmix.subsets import TEST

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, params = snakemake.input, snakemake.params  # noqa: F821
benchmarks = load_benchmarks(inp.get("lmeval", []), inp.get("judge", []), params.lmeval["report_tasks"])
# methods are compared on test items only, without the eval items every analysis leaves out
scores = without_items(load_score_tables(inp.scores, split=TEST), read_excluded(inp.excluded))
report = compare_report(scores, list(params.categories), benchmarks,
                        mixtures=params.mixtures, schedules=params.schedules, model=snakemake.wildcards.model,  # noqa: F821
                        judge_configured=params.judge_configured)
write_compare_report(report, dict(snakemake.output.items()))  # noqa: F821
log.info("compare: %s", {name: len(t["rows"]) for name, t in report["tables"].items()})
finish(__name__)
