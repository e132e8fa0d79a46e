# The InstructMining study (Cao et al.): per-record indicators (Table 1), an OLS rule of log eval
# loss on their dataset means over randomly fused datasets (Sec. 3.1, Eq. 3-4), rule-based top-k
# selection against random at equal size and steps, the one-out ablation (Table 5), BlendSearch
# over k (Sec. 2.3) and the double-descent curve. Library: sftmix.studies.instructmining; config
# section: instructmining. Its sets are trained, scored and benchmarked by the engine's rules.


include: "instructmining_common.smk"


wildcard_constraints:
    i=r"\d{3}",
    t=r"\d{2}",
    k=r"\d+",


# ---- the data: the pool's estimation / selection split and the fused estimation datasets ----


rule im_split:
    input:
        pool=f"{RESULTS}/pool/records.jsonl",
        code=code("im_split"),
    output:
        f"{IM_DIR}/split.json",
    log:
        f"{LOGS}/instructmining/split.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(5),
    params:
        share=IM["estimation_share"],
        seed=config["seed"],
    script:
        "../scripts/im_split.py"


rule im_fuse:
    input:
        pool=f"{RESULTS}/pool/records.jsonl",
        split=f"{IM_DIR}/split.json",
        code=code("im_fuse"),
    output:
        trainset=f"{RESULTS}/trainsets/imfuse_{{i}}.jsonl",
        info=f"{IM_DIR}/fuse/imfuse_{{i}}.json",
    log:
        f"{LOGS}/instructmining/fuse/imfuse_{{i}}.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(5),
    params:
        estimation=config_keys("instructmining.estimation", "size", "sources"),
        seed=config["seed"],
    script:
        "../scripts/im_fuse.py"


# ---- indicators, the estimation table and the rule ---------------------------------------


rule im_indicators:
    input:
        unpack(im_indicator_inputs),
        code=code("im_indicators"),
    output:
        f"{IM_DIR}/{{model}}/indicators.tsv",
    log:
        f"{LOGS}/instructmining/{{model}}/indicators.log",
    benchmark:
        f"{BENCH}/instructmining/{{model}}/indicators.tsv"
    priority: GATING
    conda:
        "../envs/training.yaml"
    threads: config["workers"]
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(30),
    params:
        base=base_model_path,
        indicators=IM["indicators"],
        embedding_model=IM["embedding_model"],
    script:
        "../scripts/im_indicators.py"


rule im_table:
    input:
        unpack(im_table_inputs),
        code=code("im_table"),
    output:
        f"{IM_DIR}/fits/{{model}}/table.tsv",
    log:
        f"{LOGS}/instructmining/{{model}}/table.log",
    wildcard_constraints:
        model="|".join(MODELS),
    priority: GATING
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(5),
    params:
        indicators=IM["indicators"],
    script:
        "../scripts/im_table.py"


rule im_paper_table:
    input:
        code=code("im_paper_table"),
    output:
        f"{IM_DIR}/fits/{PAPER_TABLE}/table.tsv",
    log:
        f"{LOGS}/instructmining/paper_table.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(500),
        runtime=scaled(5),
    script:
        "../scripts/im_paper_table.py"


# Any indicator table (one row per dataset: indicator columns and `loss`; README "InstructMining")
# at results/<run>/instructmining/fits/<table>/table.tsv: the OLS rule of log(loss), both
# indicator selections, the one-out ablation and the normality tests.
rule im_fit:
    input:
        table=f"{IM_FIT}/table.tsv",
        code=code("im_fit"),
    output:
        rule=f"{IM_FIT}/rule.json",
        fit=f"{IM_FIT}/fit.tsv",
        full=f"{IM_FIT}/full.tsv",
        subsets_published=f"{IM_FIT}/subsets_published.tsv",
        subsets_sound=f"{IM_FIT}/subsets_sound.tsv",
        ablation=f"{IM_FIT}/ablation.tsv",
        normality=f"{IM_FIT}/normality.tsv",
    log:
        f"{LOGS}/instructmining/fits/{{table}}.log",
    priority: GATING
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(10),
    params:
        settings=config_keys(
            "instructmining", "indicators", "rule_indicators", "selection_procedure"
        ),
        seed=config["seed"],
    script:
        "../scripts/im_fit.py"


# ---- selections: the rule's top-k (and the ablated rules'), random, and the search trials ----


rule im_select:
    input:
        unpack(im_fit_of),
        indicators=f"{IM_DIR}/{{model}}/indicators.tsv",
        split=f"{IM_DIR}/split.json",
        pool=f"{RESULTS}/pool/records.jsonl",
        code=code("im_select"),
    output:
        trainset=f"{RESULTS}/trainsets/{{model}}/imsel_{{method}}_k{{k}}/seed_{{seed}}.jsonl",
        info=f"{IM_DIR}/{{model}}/select/imsel_{{method}}_k{{k}}/seed_{{seed}}.json",
    log:
        f"{LOGS}/instructmining/{{model}}/select/imsel_{{method}}_k{{k}}/seed_{{seed}}.log",
    priority: GATING
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(5),
    params:
        seed=replicate_seed,
    script:
        "../scripts/im_select.py"


rule im_search:
    input:
        unpack(im_search_history),
        unpack(im_fit_of),
        indicators=f"{IM_DIR}/{{model}}/indicators.tsv",
        split=f"{IM_DIR}/split.json",
        pool=f"{RESULTS}/pool/records.jsonl",
        excluded=EXCLUDED,
        code=code("im_search"),
    output:
        trainset=f"{RESULTS}/trainsets/{{model}}/imsearch_{{t}}.jsonl",
        info=f"{IM_DIR}/{{model}}/search/imsearch_{{t}}.json",
    log:
        f"{LOGS}/instructmining/{{model}}/search/imsearch_{{t}}.log",
    priority: GATING
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(5),
    params:
        search=config_keys("instructmining.search", "low", "high", "trials"),
        seed=config["seed"],
    script:
        "../scripts/im_search.py"


# ---- the report ----------------------------------------------------------------------------


rule im_report:
    input:
        unpack(im_report_inputs),
        code=code("im_report"),
    output:
        markdown=f"{RESULTS}/report/{{model}}/instructmining.md",
        html=report(
            f"{RESULTS}/report/{{model}}/instructmining.html",
            category="InstructMining",
            caption="../report/instructmining.rst",
        ),
        methods=f"{RESULTS}/report/{{model}}/instructmining/methods.tsv",
        curve=f"{RESULTS}/report/{{model}}/instructmining/curve.tsv",
        curve_plot=report(
            f"{RESULTS}/report/{{model}}/instructmining/curve.png",
            category="InstructMining",
            caption="../report/instructmining_curve.rst",
        ),
        search=f"{RESULTS}/report/{{model}}/instructmining/search.tsv",
        planted=f"{RESULTS}/report/{{model}}/instructmining/planted.tsv",
    log:
        f"{LOGS}/report/{{model}}/instructmining.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(10),
    params:
        categories=CATEGORIES,
        rows=lambda wc: im.rows(config),
        lmeval=config_keys("benchmarks.lmeval", "report_tasks"),
        n_boot=IM["n_boot"],
    script:
        "../scripts/im_report.py"
