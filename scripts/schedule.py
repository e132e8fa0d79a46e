"""Rule schedule: DT-CSFT / Mix+ / baseline training sequence over D (staged records)."""

from sftmix.logutil import finish, setup_logging
from sftmix.records import read_jsonl, write_json, write_jsonl
from sftmix.studies.beyond_iid.curriculum import schedule_summary
from sftmix.studies.beyond_iid.dependency import read_taxonomy
from sftmix.studies.beyond_iid.optimize import build_schedule

log = setup_logging(snakemake.log[0])  # noqa: F821
cfg = snakemake.params.curriculum  # noqa: F821
name = snakemake.wildcards.name  # noqa: F821
d = sorted((r for p in snakemake.input.base for r in read_jsonl(p)), key=lambda r: r["id"])  # noqa: F821
layers = read_taxonomy(snakemake.input.layers)  # noqa: F821
pool = list(read_jsonl(snakemake.input.pool))  # noqa: F821
schedule = build_schedule(name, d, layers, pool, seed=snakemake.params.seed, epochs=cfg["epochs"],  # noqa: F821
                          k=cfg["k"])
write_jsonl(snakemake.output.records, schedule)  # noqa: F821
summary = schedule_summary(schedule, layers)
write_json(snakemake.output.summary, {"schedule": name, "d": len(d), "layers": layers, **summary})  # noqa: F821
log.info("schedule %s over |D|=%d: %d records in %d stages; per stage %s", name, len(d), summary["total"],
         len(summary["stages"]), summary["stages"])
finish(__name__)
