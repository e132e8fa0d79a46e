# Interaction and dependency analyses over the score tables (Beyond IID, Eq. 1 and the taxonomy).


rule gamma:
    input:
        scores=lambda wc: scores_of(wc.model, ("base", "add")),
        code=code("gamma"),
    output:
        tsv=f"{RESULTS}/analysis/{{model}}/gamma.tsv",
        published=f"{RESULTS}/analysis/{{model}}/gamma_per_item.tsv",
        heatmap=report(
            f"{RESULTS}/analysis/{{model}}/gamma.png",
            category="Interaction",
            caption="../report/gamma.rst",
        ),
        groups=f"{RESULTS}/analysis/{{model}}/meta_groups.json",
    log:
        f"{LOGS}/analysis/{{model}}/gamma.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(20),
    params:
        categories=CATEGORIES,
        analysis=config_keys("analysis", "rho", "estimator", "n_boot", "n_groups"),
    script:
        "../scripts/gamma.py"


rule dependency:
    input:
        # drop_* carry the tests; every replicated experiment (add_* too) informs the noise
        scores=lambda wc: scores_of(wc.model, ("base", "drop", "add")),
        code=code("dependency"),
    output:
        json=f"{RESULTS}/analysis/{{model}}/dependency.json",
        layers=f"{RESULTS}/analysis/{{model}}/taxonomy.tsv",
        graph=report(
            f"{RESULTS}/analysis/{{model}}/dependency.png",
            category="Dependency",
            caption="../report/dependency.rst",
        ),
    log:
        f"{LOGS}/analysis/{{model}}/dependency.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(20),
    params:
        categories=CATEGORIES,
        analysis=config_keys("analysis", "alpha", "min_effect", "published_seed"),
    script:
        "../scripts/dependency.py"


rule validate_dependency:
    input:
        truth=f"{RESULTS}/world/ground_truth.json",
        dependency=f"{RESULTS}/analysis/{{model}}/dependency.json",
        code=code("validate_dependency"),
    output:
        f"{RESULTS}/validation/{{model}}/dependency.json",
    log:
        f"{LOGS}/validation/{{model}}/dependency.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(5),
    params:
        categories=lambda wc: [
            c for c in CATEGORIES if registry.drop_name(slug(c)) in experiments()
        ],
    script:
        "../scripts/validate_dependency.py"
