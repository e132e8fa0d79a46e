# The GPU half: base model, training sets, fine-tuning (one rule for every experiment), scoring.


wildcard_constraints:
    model="|".join(MODELS),
    seed=r"\d+",
    experiment=EXPERIMENT_PATTERN,


rule base_model:
    input:
        records=candidate_records(),
        eval=subset_files("eval"),
        code=code("base_model"),
    output:
        model=directory(f"{RESULTS}/models/{{model}}/pretrained"),
        summary=f"{RESULTS}/models/{{model}}/pretrained.json",
    log:
        f"{LOGS}/base_model/{{model}}.log",
    benchmark:
        f"{BENCH}/base_model/{{model}}.tsv"
    priority: GATING
    conda:
        "../envs/training.yaml"
    threads: config["workers"]
    resources:
        mem_mb=scaled(8000),
        runtime=scaled(120),
    params:
        cfg=lambda wildcards: base_model_cfg(wildcards.model),
        seed=config["seed"],
        checkpoints=lambda wc: f"{RESULTS}/checkpoints/{wc.model}/pretrained",
    script:
        "../scripts/base_model.py"


rule eval_set:
    input:
        records=subset_files("eval"),
        code=code("concat"),
    output:
        f"{RESULTS}/eval/all.jsonl",
    log:
        f"{LOGS}/eval_set.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(5),
    script:
        "../scripts/concat.py"


rule eval_exclusions:
    input:
        eval=f"{RESULTS}/eval/all.jsonl",
        truth=defect_truth_input,
        code=code("eval_exclusions"),
    output:
        EXCLUDED,
    log:
        f"{LOGS}/eval_exclusions.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(5),
    script:
        "../scripts/eval_exclusions.py"


rule train_config:
    input:
        code=code("write_json"),
    output:
        f"{RESULTS}/train_config.json",
    log:
        f"{LOGS}/train_config.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(500),
        runtime=scaled(2),
    params:
        train=train_hyperparams(),
    script:
        "../scripts/write_json.py"


rule memory_plan:
    input:
        code=code("memory_plan"),
    output:
        f"{RESULTS}/plan/{{model}}.json",
    log:
        f"{LOGS}/plan/{{model}}.log",
    conda:
        "../envs/training.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(5),
    params:
        spec=lambda wc: config["models"][wc.model],
        train=config["train"],
        base_model=config["base_model"],
    script:
        "../scripts/memory_plan.py"


# The compute plan of the whole config (sftmix.computeplan): jobs, tokens, FLOPs, GPU memory and
# GPU-hours per stage, from the config alone (hub models' shapes from sftmix.memplan.KNOWN_SHAPES).
rule compute_plan:
    input:
        code=code("compute_plan"),
    output:
        tsv=f"{RESULTS}/plan/compute.tsv",
        markdown=f"{RESULTS}/plan/compute.md",
        html=report(
            f"{RESULTS}/plan/compute.html",
            category="Plan",
            caption="../report/compute_plan.rst",
        ),
    log:
        f"{LOGS}/plan/compute.log",
    conda:
        "../envs/training.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(5),
    params:
        config=config,
    script:
        "../scripts/compute_plan.py"


rule plan:
    input:
        expand(f"{RESULTS}/plan/{{model}}.json", model=MODELS),
        f"{RESULTS}/plan/compute.tsv",


rule finetune:
    input:
        base=base_model_input,
        trainset=trainset_path,
        # the matched budget's reference set (drop_* train as many steps as base)
        reference=budget_reference_input,
        train_config=f"{RESULTS}/train_config.json",
        # a shell rule: its script is an input too (the code trigger sees only script: rules)
        script=f"{workflow.basedir}/scripts/finetune.py",
        code=code("finetune"),
    output:
        model=directory(f"{RESULTS}/models/{{model}}/{{experiment}}/seed_{{seed}}"),
        summary=f"{RESULTS}/models/{{model}}/{{experiment}}/seed_{{seed}}.train.json",
    log:
        f"{LOGS}/finetune/{{model}}/{{experiment}}/seed_{{seed}}.log",
    benchmark:
        f"{BENCH}/finetune/{{model}}/{{experiment}}/seed_{{seed}}.tsv"
    wildcard_constraints:
        # families trained elsewhere (IterIT's epoch jobs) deliver the same model directory
        experiment=registry.name_pattern(registry.finetuned_families()),
    conda:
        "../envs/training.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=scaled(config["train"]["mem_mb"]),
        runtime=scaled(config["train"]["runtime"]),
        gpu=config["train"]["gpus"] * config["train"]["nodes"],
        nodes=config["train"]["nodes"],
    params:
        base=base_model_path,
        launcher=finetune_launcher,
        flags=finetune_flags,
        checkpoints=lambda wc: f"{RESULTS}/checkpoints/{wc.model}/{wc.experiment}/seed_{wc.seed}",
    shell:
        "{params.launcher} {input.script} --base {params.base:q} --trainset {input.trainset:q}"
        " --train-config {input.train_config:q} --seed {wildcards.seed}"
        " --out {output.model:q} --summary {output.summary:q}"
        " --checkpoints {params.checkpoints:q} --threads {threads} {params.flags}"
        " > {log:q} 2>&1"


rule score:
    input:
        model=f"{RESULTS}/models/{{model}}/{{experiment}}/seed_{{seed}}",
        eval=f"{RESULTS}/eval/all.jsonl",
        code=code("score"),
    output:
        f"{RESULTS}/scores/{{model}}/{{experiment}}/seed_{{seed}}.tsv",
    log:
        f"{LOGS}/score/{{model}}/{{experiment}}/seed_{{seed}}.log",
    benchmark:
        f"{BENCH}/score/{{model}}/{{experiment}}/seed_{{seed}}.tsv"
    conda:
        "../envs/training.yaml"
    threads: 1
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(30),
        gpu=gpus_for(config["score"]["device"]),
    params:
        score=config["score"],
        model=lambda wc, input: input.model,
    script:
        "../scripts/score.py"


use rule score as score_pretrained with:
    input:
        model=base_model_input,
        eval=f"{RESULTS}/eval/all.jsonl",
        code=code("score"),
    output:
        f"{RESULTS}/scores/{{model}}/pretrained.tsv",
    log:
        f"{LOGS}/score/{{model}}/pretrained.log",
    benchmark:
        f"{BENCH}/score/{{model}}/pretrained.tsv"
    params:
        score=config["score"],
        model=base_model_path,


rule score_summary:
    input:
        scores=lambda wc: model_scores(wc.model),
        pretrained=f"{RESULTS}/scores/{{model}}/pretrained.tsv",
        code=code("score_summary"),
    output:
        f"{RESULTS}/scores/{{model}}/summary.tsv",
    log:
        f"{LOGS}/score/{{model}}/summary.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(5),
    params:
        experiments=all_experiments(),
    script:
        "../scripts/score_summary.py"
