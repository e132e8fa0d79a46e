# The instruction-mixing study (Demystifying Instruction Mixing): the eight combinations of
# general, code and NLP-task instructions (as published and at equal size), the ratio sweep and the
# size sweep, evaluated per type.
# Library: sftmix.studies.mixing; config section: mixing. Its sets go through the engine's
# finetune, score and lmeval rules like any other experiment's.


include: "mixing_common.smk"


rule mixing_types:
    input:
        records=candidate_records(),
        eval=subset_files("eval"),
        code=code("mixing_types"),
    output:
        records=f"{MIX_DIR}/records.jsonl",
        types=f"{MIX_DIR}/types.json",
    log:
        f"{LOGS}/mixing/types.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(5),
    params:
        section=MIX,
        categories=CATEGORIES,
    script:
        "../scripts/mixing_types.py"


rule mixing_set:
    input:
        records=f"{MIX_DIR}/records.jsonl",
        types=f"{MIX_DIR}/types.json",
        code=code("mixing_set"),
    output:
        trainset=f"{RESULTS}/trainsets/{{experiment}}/seed_{{seed}}.jsonl",
        info=f"{MIX_DIR}/sets/{{experiment}}/seed_{{seed}}.json",
    log:
        f"{LOGS}/mixing/sets/{{experiment}}/seed_{{seed}}.log",
    wildcard_constraints:
        experiment=registry.name_pattern(list(mixing_study.FAMILIES)),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(5),
    params:
        seed=replicate_seed,
        section=MIX,
    script:
        "../scripts/mixing_set.py"


rule mixing_report:
    input:
        unpack(mixing_report_inputs),
        code=code("mixing_report"),
    output:
        markdown=f"{RESULTS}/report/{{model}}/mixing.md",
        html=report(
            f"{RESULTS}/report/{{model}}/mixing.html",
            category="Instruction mixing",
            caption="../report/mixing.rst",
        ),
        combinations=f"{RESULTS}/report/{{model}}/mixing/combinations.tsv",
        claims=f"{RESULTS}/report/{{model}}/mixing/claims.tsv",
        designs=f"{RESULTS}/report/{{model}}/mixing/designs.tsv",
        curves=f"{RESULTS}/report/{{model}}/mixing/curves.tsv",
        figure=report(
            f"{RESULTS}/report/{{model}}/mixing/curves.png",
            category="Instruction mixing",
            caption="../report/mixing_curves.rst",
        ),
    log:
        f"{LOGS}/report/{{model}}/mixing.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(10),
    params:
        section=MIX,
        level=MIX["verdict_level"],
    script:
        "../scripts/mixing_report.py"


rule mixing_scale:
    input:
        tables=expand(
            f"{RESULTS}/report/{{model}}/mixing/combinations.tsv",
            model=study_models("mixing"),
        ),
        code=code("mixing_scale"),
    output:
        markdown=f"{RESULTS}/report/mixing_scale.md",
        html=report(
            f"{RESULTS}/report/mixing_scale.html",
            category="Instruction mixing",
            caption="../report/mixing_scale.rst",
        ),
        table=f"{RESULTS}/report/mixing_scale.tsv",
    log:
        f"{LOGS}/report/mixing_scale.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(5),
    params:
        models=study_models("mixing"),
        level=MIX["verdict_level"],
    script:
        "../scripts/mixing_scale.py"
