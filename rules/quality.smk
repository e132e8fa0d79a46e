# The candidate pool every selection study draws from and its per-instance quality scores (IFD,
# #InsTag, length, DEITA), with the DEITA-style scorer trained on a rated seed set. Library:
# sftmix.quality; config section: quality. Beyond IID's mixtures and IterIT's baselines read them.


rule deita_seed:
    input:
        records=candidate_records(),
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
        code=code("train_scorer"),
    output:
        model=directory(f"{RESULTS}/models/{{model}}/deita_scorer"),
        summary=f"{RESULTS}/models/{{model}}/deita_scorer.train.json",
    log:
        f"{LOGS}/quality/{{model}}/deita_scorer.log",
    benchmark:
        f"{BENCH}/quality/{{model}}/deita_scorer.tsv"
    priority: GATING
    conda:
        "../envs/training.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=scaled(config["train"]["mem_mb"]),
        runtime=scaled(config["train"]["runtime"]),
        gpu=min(1, config["train"]["gpus"]),
    params:
        base=base_model_path,
        train=scorer_train_params("deita_train"),
        seed=config["seed"],
        checkpoints=lambda wc: f"{RESULTS}/checkpoints/{wc.model}/deita_scorer",
    script:
        "../scripts/train_scorer.py"


rule pool:
    input:
        records=candidate_records(),
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
    priority: GATING
    conda:
        "../envs/training.yaml"
    threads: config["workers"]
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(60),
        gpu=quality_gpus(),
    params:
        model=base_model_path,
        quality=quality_params,
        seed=config["seed"],
    script:
        "../scripts/quality.py"


# ---- the raters: reward and UniEval scores (InstructMining's indicators) -------------------


rule unieval_seed:
    input:
        seed_set=f"{DEITA_SEED}.tsv",
        records=candidate_records(),
        truth=f"{RESULTS}/world/ground_truth.json",
        code=code("unieval_seed"),
    output:
        labels=f"{UNIEVAL_SEED}.tsv",
        trainset=f"{UNIEVAL_SEED}.jsonl",
    log:
        f"{LOGS}/quality/unieval_seed.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(5),
    params:
        cfg=config_keys("quality.unieval_train", "noise"),
        max_repeat=config["quality"]["deita_train"]["max_repeat"],
        seed=config["seed"],
    script:
        "../scripts/unieval_seed.py"


use rule deita_scorer as unieval_scorer with:
    input:
        base=base_model_input,
        trainset=f"{UNIEVAL_SEED}.jsonl",
        code=code("train_scorer"),
    output:
        model=directory(f"{RESULTS}/models/{{model}}/unieval_scorer"),
        summary=f"{RESULTS}/models/{{model}}/unieval_scorer.train.json",
    log:
        f"{LOGS}/quality/{{model}}/unieval_scorer.log",
    benchmark:
        f"{BENCH}/quality/{{model}}/unieval_scorer.tsv"
    params:
        base=base_model_path,
        train=scorer_train_params("unieval_train"),
        seed=config["seed"],
        checkpoints=lambda wc: f"{RESULTS}/checkpoints/{wc.model}/unieval_scorer",


rule raters:
    input:
        unpack(raters_inputs),
        code=code("raters"),
    output:
        f"{RESULTS}/quality/{{model}}/raters.tsv",
    log:
        f"{LOGS}/quality/{{model}}/raters.log",
    benchmark:
        f"{BENCH}/quality/{{model}}/raters.tsv"
    priority: GATING
    conda:
        "../envs/training.yaml"
    threads: config["workers"]
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(60),
        gpu=gpus_for(config["quality"]["device"]),
    params:
        quality=config_keys(
            "quality", "batch_size", "max_length", "device", "dtype", "reward_format"
        ),
        reward_model=lambda wc: reward_model_spec(),
        unieval_model=unieval_model_path,
        unieval_trained=lambda wc: unieval_trained(),
    script:
        "../scripts/raters.py"
