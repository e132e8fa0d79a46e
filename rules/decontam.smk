# Decontamination: training candidates whose word n-grams overlap an eval item (or a configured
# benchmark's test item, when cached locally) are quarantined before any training set is drawn.
# Library: sftmix.decontam; config section: decontam. Every stage that draws training data reads
# candidate_records() (rules/common.smk); the subsets leave the quarantined records out.


rule decontam:
    input:
        records=CATEGORIZED,
        eval=subset_files("eval"),
        code=code("decontam"),
    output:
        records=f"{DECONTAM}/records.jsonl",
        quarantine=f"{DECONTAM}/quarantine.jsonl",
        counts=f"{DECONTAM}/counts.json",
    log:
        f"{LOGS}/decontam.log",
    benchmark:
        f"{BENCH}/decontam.tsv"
    conda:
        "../envs/training.yaml"
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(30),
    params:
        cfg=config_keys("decontam", "ngram", "min_words", "min_overlap"),
        benchmarks=decontam_benchmarks(),
    script:
        "../scripts/decontam.py"
