# Tagging (sharded, resumable), tag normalization and categorization.

if config["tag"]["backend"] == "openai":

    # the key is passed to jobs (also on Slurm) from the environment, never through config or logs
    envvars:
        config["tag"]["openai_api_key_env"],


rule split_for_tagging:
    input:
        f"{RESULTS}/dedup/records.jsonl",
        code=code("split_shards"),
    output:
        expand(f"{RESULTS}/tag/input/{{shard}}.jsonl", shard=tag_shards()),
    log:
        f"{LOGS}/tag/split.log",
    conda:
        "../envs/tagging.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(5),
    script:
        "../scripts/split_shards.py"


rule tag:
    input:
        f"{RESULTS}/tag/input/{{shard}}.jsonl",
        code=code("tag"),
    output:
        f"{RESULTS}/tag/shards/{{shard}}.jsonl",
    log:
        f"{LOGS}/tag/{{shard}}.log",
    benchmark:
        f"{BENCH}/tag/{{shard}}.tsv"
    conda:
        "../envs/tagging.yaml"
    threads: 1
    resources:
        mem_mb=scaled(8000 * max(1, tag_gpus())),
        runtime=scaled(240),
        gpu=tag_gpus(),
    params:
        tag=config["tag"],
        seed=config["seed"],
    script:
        "../scripts/tag.py"


rule gather_tags:
    input:
        shards=expand(f"{RESULTS}/tag/shards/{{shard}}.jsonl", shard=tag_shards()),
        code=code("gather_tags"),
    output:
        tags=f"{RESULTS}/tag/tags.jsonl",
        counts=f"{RESULTS}/tag/counts.json",
    log:
        f"{LOGS}/tag/gather.log",
    conda:
        "../envs/tagging.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(5),
    script:
        "../scripts/gather_tags.py"


rule normalize_tags:
    input:
        f"{RESULTS}/tag/tags.jsonl",
        code=code("normalize_tags"),
    output:
        mapping=f"{RESULTS}/normalize/tag_map.tsv",
    log:
        f"{LOGS}/normalize_tags.log",
    benchmark:
        f"{BENCH}/normalize_tags.tsv"
    conda:
        "../envs/tagging.yaml"
    threads: config["workers"]
    resources:
        mem_mb=scaled(8000),
        runtime=scaled(60),
    params:
        normalize=config["normalize"],
    script:
        "../scripts/normalize_tags.py"


rule categorize:
    input:
        records=f"{RESULTS}/dedup/records.jsonl",
        tags=f"{RESULTS}/tag/tags.jsonl",
        mapping=f"{RESULTS}/normalize/tag_map.tsv",
        code=code("categorize"),
    output:
        records=f"{RESULTS}/categorize/records.jsonl",
        quarantine=f"{RESULTS}/categorize/quarantine.jsonl",
        counts=f"{RESULTS}/categorize/counts.json",
        table=f"{RESULTS}/categorize/categories.tsv",
    log:
        f"{LOGS}/categorize.log",
    conda:
        "../envs/tagging.yaml"
    threads: config["workers"]
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(30),
    params:
        categories=config["categories"],
        categorize=config["categorize"],
        embedding_model=config["normalize"]["embedding_model"],
    script:
        "../scripts/categorize.py"
