# Paper-shaped tables and figures; `snakemake --report report.html` gathers them with the
# interaction and dependency figures.


rule compare:
    input:
        unpack(compare_inputs),
        code=code("compare"),
    output:
        mixtures=f"{RESULTS}/report/{{model}}/mixtures.tsv",
        curriculum=f"{RESULTS}/report/{{model}}/curriculum.tsv",
        lmeval=f"{RESULTS}/report/{{model}}/lmeval.tsv",
        markdown=report(
            f"{RESULTS}/report/{{model}}/tables.md",
            category="Tables",
            caption="../report/tables.rst",
        ),
        mixtures_png=report(
            f"{RESULTS}/report/{{model}}/mixtures.png",
            category="Optimization",
            caption="../report/mixtures.rst",
        ),
        curriculum_png=report(
            f"{RESULTS}/report/{{model}}/curriculum.png",
            category="Curriculum",
            caption="../report/curriculum.rst",
        ),
    log:
        f"{LOGS}/report/{{model}}/compare.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(10),
    params:
        categories=CATEGORIES,
        mixtures=lambda wc: mixture_rows(),
        schedules=lambda wc: schedule_rows(),
        lmeval=config["benchmarks"]["lmeval"],
        judge_configured=bool(config["benchmarks"]["judge"]["base_url"]),
    script:
        "../scripts/compare.py"


rule paper_tables:
    input:
        mixtures=expand(f"{RESULTS}/report/{{model}}/mixtures.tsv", model=MODELS),
        curriculum=expand(f"{RESULTS}/report/{{model}}/curriculum.tsv", model=MODELS),
        code=code("paper_tables"),
    output:
        report(
            f"{RESULTS}/report/paper_tables.md",
            category="Tables",
            caption="../report/paper_tables.rst",
        ),
    log:
        f"{LOGS}/report/paper_tables.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(5),
    params:
        models=MODELS,
    script:
        "../scripts/paper_tables.py"
