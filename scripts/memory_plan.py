"""The memory plan of one model's fine-tunes (sftmix.memplan): JSON, and a table in the log."""

from sftmix.logutil import finish, setup_logging
from sftmix.memplan import plan_for_model, plan_table, refusal
from sftmix.records import write_json

log = setup_logging(snakemake.log[0])  # noqa: F821
model = snakemake.wildcards.model  # noqa: F821
p = snakemake.params  # noqa: F821
plan = plan_for_model(p.spec, p.train, p.base_model, model)
write_json(snakemake.output[0], plan)  # noqa: F821
log.info("memory plan of %s's fine-tunes:\n%s", model, plan_table({model: plan}))
log.info("%s", refusal(plan, model) or f"{model}: fits")
finish(__name__)
