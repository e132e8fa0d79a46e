# sftmix: from raw instruction datasets to per-category subsets (and, in later stages, to the
# paper's tables and figures). See README.md for the two commands and the Slurm invocation.
from snakemake.settings.types import DeploymentMethod
from snakemake.utils import min_version, validate

from sftmix.config import container_image, resolve_extends

min_version("9.0")

if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# An overlay config (`extends: config/config.yaml`) says only what differs from its base; every
# default and its description lives in the schema, which fills in what no file sets.
_resolved = resolve_extends(config, workflow.basedir)
config.clear()
config.update(_resolved)
validate(config, "config/schemas/config.schema.yaml")


# With `--sdm apptainer` every job runs in this image (config key `container`; container/ builds
# it). Rules keep their `conda:` environments for `--sdm conda`.
_image = container_image(
    config["container"],
    workflow.basedir,
    DeploymentMethod.APPTAINER in workflow.deployment_settings.deployment_method,
)


container: _image


# Quick bookkeeping and analysis rules (seconds of CPU, no model) run in the main Snakemake
# process, not as cluster jobs: each would otherwise cost a job submission, two Snakemake start-ups
# in the allocation and a status-poll round trip for a second of work.
localrules:
    all,
    world,
    ingest,
    filter,
    train_config,
    split_for_tagging,
    gather_tags,
    validate_data,
    data_summary,
    eval_set,
    pool,
    lmeval_tasks,
    validate_dependency,
    validate_quality,
    score_summary,
    compare,
    paper_tables,
    memory_plan,
    compute_plan,
    plan,
    im_split,
    im_fuse,
    im_paper_table,
    im_table,
    im_fit,
    im_select,
    im_search,
    im_report,
    subsets,
    eval_items,
    decontam,
    eval_exclusions,
    trainset,
    gamma,
    dependency,
    eecpo,
    mixture,
    schedule,
    deita_seed,
    unieval_seed,
    iterit_report,
    mixing_types,
    mixing_set,
    mixing_report,
    mixing_scale,
    doit_data,
    doit_set,
    doit_fit,
    doit_report,


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/decontam.smk"
include: "rules/tagging.smk"
include: "rules/training.smk"
include: "rules/benchmarks.smk"
include: "rules/quality.smk"
# studies: one rule file each (sftmix.studies lists them)
include: "rules/beyond_iid.smk"
include: "rules/iterit.smk"
include: "rules/instructmining.smk"
include: "rules/mixing.smk"
include: "rules/doit.smk"


# On GPUs, a run whose fine-tunes cannot fit is refused before any job is queued (`snakemake plan`
# prints the plan).
onstart:
    refuse_unfit_finetunes()


rule all:
    default_target: True
    input:
        data_targets(),
        training_targets(),
        beyond_iid_targets(),
        iterit_targets(),
        instructmining_targets(),
        mixing_targets(),
        doit_targets(),
