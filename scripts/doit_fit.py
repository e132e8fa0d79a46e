"""Rule doit_fit: every sweep run's checkpoint chosen on dev and scored on test (runs.tsv), the
Eq. 2 sensitivities per ability against model size and data volume, published and sound
(sensitivities.tsv), and the Reconstruct / Maximum counts they imply (mixes.json)."""

from sftmix.logutil import finish, setup_logging
from sftmix.records import read_json, write_json
from sftmix.studies.doit import experiments as study
from sftmix.studies.doit.items import read_epoch_scores, run_of_path
from sftmix.studies.doit.report import (
    fits,
    mix_plan,
    run_rows,
    select_run,
    write_runs,
    write_sensitivities,
)

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
sel = p.section["select"]
runs = []
for scores, summary in zip(inp.scores, inp.summaries, strict=True):
    model, experiment, seed = run_of_path(scores)
    chosen = select_run(read_epoch_scores(scores), min_epoch=sel["min_epoch"], inclusive=sel["inclusive"])
    run = {"model": model, "experiment": experiment, "seed": seed, "n_params": read_json(summary)["n_params"],
           "n": study.parse(experiment)["n"]}
    runs += run_rows(run, chosen)
    log.info("doit_fit: %s %s seed %s: epoch %d chosen on dev (macro dev acc %.3f)", model, experiment, seed,
             chosen["epoch"], chosen["dev_curve"][chosen["epoch"]])
write_runs(out.runs, runs)
sens = fits(runs, p.abilities, level=p.section["level"])
write_sensitivities(out.sensitivities, sens)
for r in sens:
    if r["variant"] == "sound":
        log.info("doit_fit: %-28s %-6s alpha %.4f [%.4f, %.4f] (%d points)", r["ability"], r["factor"], r["alpha"],
                 r["ci_low"], r["ci_high"], r["n_points"])
supply = {a: len(ids) for a, ids in read_json(inp.supply).items()}
plan = mix_plan(sens, supply, p.section, p.baseline_n)
write_json(out.mixes, plan)
log.info("doit_fit: insensitive abilities %s; reconstruct %s; maximum %s", plan["insensitive"],
         plan["mixes"]["reconstruct"], plan["mixes"]["maximum"])
finish(__name__)
