# Optimization: candidate pool, quality scores, EE-CPO (Eq. 5), mixtures and curriculum schedules.
# Training sets built here are per model (its gamma, taxonomy and quality scores drive them) and
# go through the same finetune/score rules as the interaction experiments.


rule pool:
    input:
        records=f"{RESULTS}/categorize/records.jsonl",
        eval=subset_files("eval"),
        code=code("pool"),
    output:
        f"{RESULTS}/pool/records.jsonl",
    log:
        f"{LOGS}/pool.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(5),
    params:
        categories=optimize_categories(),
    script:
        "../scripts/pool.py"


rule quality:
    input:
        pool=f"{RESULTS}/pool/records.jsonl",
        tag_map=f"{RESULTS}/normalize/tag_map.tsv",
        base=base_model_input,
        code=code("quality"),
    output:
        f"{RESULTS}/quality/{{model}}/scores.tsv",
    log:
        f"{LOGS}/quality/{{model}}.log",
    benchmark:
        f"{BENCH}/quality/{{model}}.tsv"
    conda:
        "../envs/training.yaml"
    threads: config["workers"]
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(60),
        gpu=gpus_for(config["quality"]["device"]),
    params:
        model=base_model_path,
        quality=quality_params,
    script:
        "../scripts/quality.py"


rule eecpo:
    input:
        gamma=f"{RESULTS}/analysis/{{model}}/gamma.tsv",
        quality=f"{RESULTS}/quality/{{model}}/scores.tsv",
        pool=f"{RESULTS}/pool/records.jsonl",
        code=code("eecpo"),
    output:
        plan=f"{RESULTS}/optimize/{{model}}/eecpo.json",
        weights=report(
            f"{RESULTS}/optimize/{{model}}/eecpo_weights.png",
            category="Optimization",
            caption="../report/eecpo.rst",
        ),
    log:
        f"{LOGS}/optimize/{{model}}/eecpo.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(10),
    params:
        categories=optimize_categories(),
        optimize=config["optimize"],
    script:
        "../scripts/eecpo.py"


rule mixture:
    input:
        pool=f"{RESULTS}/pool/records.jsonl",
        quality=f"{RESULTS}/quality/{{model}}/scores.tsv",
        plan=eecpo_plan_input,
        code=code("mixture"),
    output:
        records=f"{RESULTS}/trainsets/{{model}}/{MIXTURE}.jsonl",
        summary=f"{RESULTS}/trainsets/{{model}}/{MIXTURE}.json",
    log:
        f"{LOGS}/trainsets/{{model}}/{MIXTURE}.log",
    wildcard_constraints:
        method=registry.field_pattern("mixture", "method"),
        size=registry.field_pattern("mixture", "size"),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(5),
    params:
        categories=optimize_categories(),
        # the ranking score matters to uniform / EE-CPO only; sizes and bounds reach EE-CPO via its plan
        rank_by=config["optimize"]["quality"],
        seed=config["seed"],
    script:
        "../scripts/mixture.py"


rule schedule:
    input:
        base=subset_files("base"),
        layers=f"{RESULTS}/analysis/{{model}}/taxonomy.tsv",
        pool=f"{RESULTS}/pool/records.jsonl",
        code=code("schedule"),
    output:
        records=f"{RESULTS}/trainsets/{{model}}/{SCHEDULE}.jsonl",
        summary=f"{RESULTS}/trainsets/{{model}}/{SCHEDULE}.json",
    log:
        f"{LOGS}/trainsets/{{model}}/{SCHEDULE}.log",
    wildcard_constraints:
        name=registry.field_pattern("schedule", "name"),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(5),
    params:
        curriculum=config["curriculum"],
        seed=config["seed"],
    script:
        "../scripts/schedule.py"
