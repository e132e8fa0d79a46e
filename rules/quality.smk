# The candidate pool every selection study draws from and its per-instance quality scores (IFD,
# #InsTag, length, DEITA), with the DEITA-style scorer trained on a rated seed set. Library:
# sftmix.quality; config section: quality. Beyond IID's mixtures and IterIT's baselines read them.


rule deita_seed:
    input:
        records=f"{RESULTS}/categorize/records.jsonl",
        eval=subset_files("eval"),
        truth=f"{RESULTS}/world/ground_truth.json",
        code=code("deita_seed"),
    output:
        ratings=f"{DEITA_SEED}.tsv",
        trainset=f"{DEITA_SEED}.jsonl",
    log:
        f"{LOGS}/quality/deita_seed.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(5),
    params:
        cfg=config_keys("quality.deita_train", "seed_size", "noise_sd", "max_repeat"),
        template=config["quality"]["deita_template"],
        seed=config["seed"],
    script:
        "../scripts/deita_seed.py"


rule deita_scorer:
    input:
        base=base_model_input,
        trainset=f"{DEITA_SEED}.jsonl",
        code=code("deita_scorer"),
    output:
        model=directory(f"{RESULTS}/models/{{model}}/deita_scorer"),
        summary=f"{RESULTS}/models/{{model}}/deita_scorer.train.json",
    log:
        f"{LOGS}/quality/{{model}}/deita_scorer.log",
    benchmark:
        f"{BENCH}/quality/{{model}}/deita_scorer.tsv"
    conda:
        "../envs/training.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=scaled(config["train"]["mem_mb"]),
        runtime=scaled(config["train"]["runtime"]),
        gpu=min(1, config["train"]["gpus"]),
    params:
        base=base_model_path,
        train=deita_train_params(),
        seed=config["seed"],
        checkpoints=lambda wc: f"{RESULTS}/checkpoints/{wc.model}/deita_scorer",
    script:
        "../scripts/deita_scorer.py"


rule pool:
    input:
        records=f"{RESULTS}/categorize/records.jsonl",
        eval=subset_files("eval"),
        # the trained DEITA scorer's seed set: never a candidate (the scorer saw its ratings)
        held_out=deita_seed_input,
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
        # the categories Beyond IID analyses (its mixtures need their gamma); IterIT shares the pool
        categories=lambda wildcards: optimize_categories(),
    script:
        "../scripts/pool.py"


rule quality:
    input:
        pool=f"{RESULTS}/pool/records.jsonl",
        tag_map=f"{RESULTS}/normalize/tag_map.tsv",
        base=base_model_input,
        scorer=deita_scorer_input,
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
