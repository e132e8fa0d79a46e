# The DoIT study (Dynamics of Instruction Tuning): per-ability quantity sweeps on several base
# model sizes, a checkpoint scored per epoch, Eq. 2 scaling fits, Complexity and Transference,
# and the Reconstruct / Maximum mixes. Library: sftmix.studies.doit; config section: doit.


include: "doit_common.smk"


rule doit_data:
    input:
        unpack(doit_world_input),
        records=candidate_records(),
        eval=f"{RESULTS}/eval/all.jsonl",
        excluded=EXCLUDED,
        code=code("doit_data"),
    output:
        pool=f"{DOIT_DIR}/pool.jsonl",
        supply=f"{DOIT_DIR}/supply.json",
        eval_items=f"{DOIT_DIR}/items.jsonl",
        quarantine=f"{DOIT_DIR}/items.quarantine.jsonl",
        counts=f"{DOIT_DIR}/items.counts.json",
    log:
        f"{LOGS}/doit/data.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(10),
    params:
        section=DOIT,
        abilities=doit_study.abilities(config),
        world=config["world"],
        seed=config["seed"],
    script:
        "../scripts/doit_data.py"


rule doit_set:
    input:
        unpack(doit_set_inputs),
        code=code("doit_set"),
    output:
        trainset=f"{RESULTS}/trainsets/{{experiment}}/seed_{{seed}}.jsonl",
        info=f"{DOIT_DIR}/sets/{{experiment}}/seed_{{seed}}.json",
    log:
        f"{LOGS}/doit/sets/{{experiment}}/seed_{{seed}}.log",
    wildcard_constraints:
        experiment=registry.name_pattern(list(doit_study.FAMILIES)),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(5),
    params:
        seed=replicate_seed,
        section=DOIT,
        abilities=doit_study.abilities(config),
        baseline_n=doit_study.baseline_n(config) if DOIT["enabled"] else None,
    script:
        "../scripts/doit_set.py"


# The engine's fine-tune with DoIT's per-epoch evaluation: every epoch's checkpoint is scored on
# the study's dev and test items inside the training job (no checkpoint is kept for it).
use rule finetune as doit_finetune with:
    input:
        base=base_model_input,
        trainset=trainset_path,
        train_config=f"{RESULTS}/train_config.json",
        eval_items=f"{DOIT_DIR}/items.jsonl",
        script=f"{workflow.basedir}/scripts/doit_finetune.py",
        code=code("doit_finetune"),
    output:
        model=directory(f"{RESULTS}/models/{{model}}/{{experiment}}/seed_{{seed}}"),
        summary=f"{RESULTS}/models/{{model}}/{{experiment}}/seed_{{seed}}.train.json",
        epochs=f"{DOIT_DIR}/epochs/{{model}}/{{experiment}}/seed_{{seed}}.tsv",
    wildcard_constraints:
        experiment=registry.name_pattern(list(doit_study.FAMILIES)),
    params:
        flags=doit_finetune_flags,


rule doit_fit:
    input:
        scores=doit_scores(doit_declared([doit_study.SWEEP])),
        summaries=doit_summaries(doit_declared([doit_study.SWEEP])),
        supply=f"{DOIT_DIR}/supply.json",
        code=code("doit_fit"),
    output:
        runs=f"{DOIT_DIR}/fit/runs.tsv",
        sensitivities=f"{DOIT_DIR}/fit/sensitivities.tsv",
        mixes=f"{DOIT_DIR}/fit/mixes.json",
    log:
        f"{LOGS}/doit/fit.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(10),
    params:
        section=DOIT,
        abilities=doit_study.abilities(config),
        baseline_n=doit_study.baseline_n(config) if DOIT["enabled"] else None,
    script:
        "../scripts/doit_fit.py"


rule doit_report:
    input:
        unpack(doit_report_inputs),
        code=code("doit_report"),
    output:
        markdown=f"{RESULTS}/report/doit.md",
        html=report(
            f"{RESULTS}/report/doit.html",
            category="DoIT",
            caption="../report/doit.rst",
        ),
        features=f"{RESULTS}/report/doit/features.tsv",
        correlations=f"{RESULTS}/report/doit/correlations.tsv",
        mixes=f"{RESULTS}/report/doit/mixes.tsv",
        figure=report(
            f"{RESULTS}/report/doit/curves.png",
            category="DoIT",
            caption="../report/doit_curves.rst",
        ),
    log:
        f"{LOGS}/report/doit.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(10),
    params:
        section=DOIT,
        abilities=doit_study.abilities(config),
        feature_model=doit_study.feature_model(config) if DOIT["enabled"] else None,
        baseline=(
            doit_study.sweep_name(doit_study.baseline_n(config))
            if DOIT["enabled"]
            else None
        ),
        seed=config["seed"],
    script:
        "../scripts/doit_report.py"
