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


rule dedup:
    input:
        records=expand(f"{RESULTS}/filter/{{source}}.jsonl", source=SOURCES),
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
    threads: config["workers"]
    resources:
        mem_mb=scaled(8000),
        runtime=scaled(120),
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
