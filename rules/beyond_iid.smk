# The Beyond IID study (Zhao, Du et al., AAAI 2025): its helpers, its interaction training sets,
# gamma (Eq. 1) and the dependency taxonomy, EE-CPO (Eq. 5), mixtures and curricula, and its
# report section (the candidate pool and its quality scores: rules/quality.smk). Library: sftmix.studies.beyond_iid; config
# section: beyond_iid. Its training sets go through the engine's finetune/score/lmeval rules.


include: "beyond_iid_common.smk"


# ---- training sets of the interaction experiments (shared by all models) ----------------


rule trainset:
    input:
        unpack(trainset_inputs),
        code=code("trainset"),
    output:
        f"{RESULTS}/trainsets/{{experiment}}.jsonl",
    log:
        f"{LOGS}/trainsets/{{experiment}}.log",
    wildcard_constraints:
        experiment=registry.name_pattern(["interaction"]),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(5),
    script:
        "../scripts/trainset.py"


# ---- gamma and the dependency taxonomy --------------------------------------------------


rule gamma:
    input:
        scores=lambda wc: scores_of(wc.model, ("base", "add")),
        # the sensitivity check's reference (Eq. 1 read literally: M = the pretrained model)
        pretrained=f"{RESULTS}/scores/{{model}}/pretrained.tsv",
        excluded=EXCLUDED,
        code=code("gamma"),
    output:
        tsv=f"{RESULTS}/analysis/{{model}}/gamma.tsv",
        published=f"{RESULTS}/analysis/{{model}}/gamma_per_item.tsv",
        vs_pretrained=f"{RESULTS}/analysis/{{model}}/gamma_vs_pretrained.tsv",
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
        analysis=config_keys(
            "beyond_iid.analysis", "rho", "estimator", "n_boot", "n_groups"
        ),
        # recorded in the outputs: which training budget the interaction models had
        budget=biid.interaction_budgets(config),
    script:
        "../scripts/gamma.py"


rule dependency:
    input:
        # drop_* carry the tests; every replicated experiment (add_* too) informs the noise
        scores=lambda wc: scores_of(wc.model, ("base", "drop", "add")),
        excluded=EXCLUDED,
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
        analysis=config_keys(
            "beyond_iid.analysis", "alpha", "min_effect", "published_seed"
        ),
        # recorded in the outputs: which training budget the interaction models had
        budget=biid.interaction_budgets(config),
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
            c for c in CATEGORIES if biid.drop_name(slug(c)) in experiments()
        ],
    script:
        "../scripts/validate_dependency.py"


# ---- the quality scores' validation, EE-CPO, mixtures and curricula (per model) ----------


rule validate_quality:
    input:
        pool=f"{RESULTS}/pool/records.jsonl",
        quality=f"{RESULTS}/quality/{{model}}/scores.tsv",
        truth=f"{RESULTS}/world/ground_truth.json",
        code=code("validate_quality"),
    output:
        json=f"{RESULTS}/validation/{{model}}/quality.json",
        tsv=f"{RESULTS}/validation/{{model}}/quality.tsv",
        markdown=f"{RESULTS}/report/{{model}}/quality.md",
        html=report(
            f"{RESULTS}/report/{{model}}/quality.html",
            category="Validation",
            caption="../report/quality.rst",
        ),
    log:
        f"{LOGS}/validation/{{model}}/quality.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(5),
    params:
        categories=optimize_categories(),
        sizes=BIID["optimize"]["sizes"],
        # the tie-breaking seed of D_qs (rule eecpo); the baseline mixtures break ties per replicate
        seed=config["seed"],
    script:
        "../scripts/validate_quality.py"


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
        optimize=BIID["optimize"],
        # ties in the quality ranking of D_qs (alpha) are broken by a seeded draw
        seed=config["seed"],
    script:
        "../scripts/eecpo.py"


rule mixture:
    input:
        pool=f"{RESULTS}/pool/records.jsonl",
        quality=f"{RESULTS}/quality/{{model}}/scores.tsv",
        plan=eecpo_plan_input,
        code=code("mixture"),
    output:
        records=f"{RESULTS}/trainsets/{{model}}/{MIXTURE}/seed_{{seed}}.jsonl",
        summary=f"{RESULTS}/trainsets/{{model}}/{MIXTURE}/seed_{{seed}}.json",
    log:
        f"{LOGS}/trainsets/{{model}}/{MIXTURE}/seed_{{seed}}.log",
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
        rank_by=BIID["optimize"]["quality"],
        seed=replicate_seed,
    script:
        "../scripts/mixture.py"


rule schedule:
    input:
        base=subset_files("base"),
        layers=f"{RESULTS}/analysis/{{model}}/taxonomy.tsv",
        pool=f"{RESULTS}/pool/records.jsonl",
        code=code("schedule"),
    output:
        records=f"{RESULTS}/trainsets/{{model}}/{SCHEDULE}/seed_{{seed}}.jsonl",
        summary=f"{RESULTS}/trainsets/{{model}}/{SCHEDULE}/seed_{{seed}}.json",
    log:
        f"{LOGS}/trainsets/{{model}}/{SCHEDULE}/seed_{{seed}}.log",
    wildcard_constraints:
        name=registry.field_pattern("schedule", "name"),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(5),
    params:
        curriculum=BIID["curriculum"],
        seed=replicate_seed,
    script:
        "../scripts/schedule.py"


# ---- report section --------------------------------------------------------------------


rule compare:
    input:
        unpack(compare_inputs),
        excluded=EXCLUDED,
        code=code("compare"),
    output:
        mixtures=f"{RESULTS}/report/{{model}}/mixtures.tsv",
        curriculum=f"{RESULTS}/report/{{model}}/curriculum.tsv",
        lmeval=f"{RESULTS}/report/{{model}}/lmeval.tsv",
        markdown=f"{RESULTS}/report/{{model}}/tables.md",
        html=report(
            f"{RESULTS}/report/{{model}}/tables.html",
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
        mixtures=expand(
            f"{RESULTS}/report/{{model}}/mixtures.tsv",
            model=study_models("beyond_iid"),
        ),
        curriculum=expand(
            f"{RESULTS}/report/{{model}}/curriculum.tsv",
            model=study_models("beyond_iid"),
        ),
        code=code("paper_tables"),
    output:
        markdown=f"{RESULTS}/report/paper_tables.md",
        html=report(
            f"{RESULTS}/report/paper_tables.html",
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
        models=study_models("beyond_iid"),
    script:
        "../scripts/paper_tables.py"
