# The data half of the DAG: world -> ingest -> filter -> dedup ... categorize -> subsets.


rule world:
    input:
        code=code("world"),
    output:
        raw=[world_raw(s) for s in world_sources()],
        truth=f"{RESULTS}/world/ground_truth.json",
    log:
        f"{LOGS}/world.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(10),
    params:
        world=config["world"],
        seed=config["seed"],
        sources=list(world_sources()),
    script:
        "../scripts/world.py"


rule ingest:
    input:
        raw=ingest_input,
        code=code("ingest"),
    output:
        records=f"{RESULTS}/ingest/{{source}}.jsonl",
        quarantine=f"{RESULTS}/ingest/{{source}}.quarantine.jsonl",
        counts=f"{RESULTS}/ingest/{{source}}.counts.json",
    log:
        f"{LOGS}/ingest/{{source}}.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(30),
    params:
        spec=lambda wc: SOURCES[wc.source],
        max_record_chars=config["ingest"]["max_record_chars"],
    script:
        "../scripts/ingest.py"


rule filter:
    input:
        f"{RESULTS}/ingest/{{source}}.jsonl",
        code=code("filter"),
    output:
        records=f"{RESULTS}/filter/{{source}}.jsonl",
        quarantine=f"{RESULTS}/filter/{{source}}.quarantine.jsonl",
        counts=f"{RESULTS}/filter/{{source}}.counts.json",
    log:
        f"{LOGS}/filter/{{source}}.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(30),
    params:
        rules=config["filter"],
    script:
        "../scripts/filter.py"


# Dedup, scattered as datatrove does (dedup.shards > 1): the input sorted by id is dealt into
# shards, MinHash signatures per shard (one job each), then one job for the exact pass, LSH
# banding, verification and the duplicate map. With one shard the dedup job computes the
# signatures itself (no split, no signature files): the same result.
rule split_for_dedup:
    input:
        records=filtered_records(),
        code=code("split_for_dedup"),
    output:
        expand(f"{RESULTS}/dedup/input/{{shard}}.jsonl", shard=dedup_shards()),
    log:
        f"{LOGS}/dedup/split.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(1000, per_input_mb=6),
        runtime=scaled(10, per_input_mb=0.01),
    script:
        "../scripts/split_for_dedup.py"


rule dedup_signatures:
    input:
        f"{RESULTS}/dedup/input/{{shard}}.jsonl",
        code=code("dedup_signatures"),
    output:
        f"{RESULTS}/dedup/signatures/{{shard}}.npz",
    log:
        f"{LOGS}/dedup/signatures/{{shard}}.log",
    benchmark:
        f"{BENCH}/dedup/signatures/{{shard}}.tsv"
    conda:
        "../envs/data.yaml"
    threads: config["workers"]
    # measured: a 135 MB shard (250K records) peaks at 1.27 GB, 32 CPU-s
    resources:
        mem_mb=scaled(1000, per_input_mb=7),
        runtime=scaled(10, per_input_mb=0.05),
    params:
        dedup=dedup_signature_params(),
        seed=config["seed"],
    script:
        "../scripts/dedup_signatures.py"


rule dedup:
    input:
        records=filtered_records(),
        signatures=dedup_signature_files(),
        code=code("dedup"),
    output:
        records=f"{RESULTS}/dedup/records.jsonl",
        duplicates=f"{RESULTS}/dedup/duplicates.jsonl",
        counts=f"{RESULTS}/dedup/counts.json",
    log:
        f"{LOGS}/dedup.log",
    benchmark:
        f"{BENCH}/dedup.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1 if dedup_signature_files() else config["workers"]
    # measured: 2M records in 8 shards (1.1 GB of records + 1.1 GB of signatures) peak at 12.2 GB,
    # 242 CPU-s
    resources:
        mem_mb=scaled(2000, per_input_mb=6),
        runtime=scaled(30, per_input_mb=0.02),
    params:
        dedup=config["dedup"],
        seed=config["seed"],
    script:
        "../scripts/dedup.py"


# A category's eval items are cut first (they are what decontam protects); its base and added
# sets are cut after decontam, from the same seeded order, leaving out contaminated records.
rule eval_items:
    input:
        CATEGORIZED,
        code=code("eval_items"),
    output:
        f"{RESULTS}/subsets/{{cat}}/eval.jsonl",
    log:
        f"{LOGS}/subsets/{{cat}}.eval.log",
    wildcard_constraints:
        cat="|".join(CATEGORY_SLUGS),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(5),
    params:
        category=lambda wc: CATEGORY_SLUGS[wc.cat],
        sizes=config["subsets"],
        seed=config["seed"],
    script:
        "../scripts/eval_items.py"


rule subsets:
    input:
        CATEGORIZED,
        eval=f"{RESULTS}/subsets/{{cat}}/eval.jsonl",
        contaminated=decontam_quarantine,
        code=code("subsets"),
    output:
        base=f"{RESULTS}/subsets/{{cat}}/base.jsonl",
        added=f"{RESULTS}/subsets/{{cat}}/added.jsonl",
        counts=f"{RESULTS}/subsets/{{cat}}/counts.json",
    log:
        f"{LOGS}/subsets/{{cat}}.log",
    wildcard_constraints:
        cat="|".join(CATEGORY_SLUGS),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(10),
    params:
        category=lambda wc: CATEGORY_SLUGS[wc.cat],
        sizes=config["subsets"],
        seed=config["seed"],
    script:
        "../scripts/subsets.py"


rule data_summary:
    input:
        ingest=expand(f"{RESULTS}/ingest/{{source}}.counts.json", source=SOURCES),
        filter=expand(f"{RESULTS}/filter/{{source}}.counts.json", source=SOURCES),
        dedup=f"{RESULTS}/dedup/counts.json",
        tag=f"{RESULTS}/tag/counts.json",
        categorize=f"{RESULTS}/categorize/counts.json",
        decontam=decontam_counts,
        subsets=expand(f"{RESULTS}/subsets/{{cat}}/counts.json", cat=CATEGORY_SLUGS),
        code=code("data_summary"),
    output:
        f"{RESULTS}/data/summary.tsv",
    log:
        f"{LOGS}/data_summary.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(5),
    script:
        "../scripts/data_summary.py"


rule validate_data:
    input:
        truth=f"{RESULTS}/world/ground_truth.json",
        duplicates=f"{RESULTS}/dedup/duplicates.jsonl",
        dedup_records=f"{RESULTS}/dedup/records.jsonl",
        categorized=CATEGORIZED,
        filtered=expand(f"{RESULTS}/filter/{{source}}.jsonl", source=SOURCES),
        eval=subset_files("eval"),
        contaminated=decontam_quarantine,
        code=code("validate_data"),
    output:
        f"{RESULTS}/validation/data.json",
    log:
        f"{LOGS}/validate_data.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(5),
    script:
        "../scripts/validate_data.py"
