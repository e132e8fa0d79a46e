# Benchmarks of every fine-tuned model: lm-eval (local tasks over the held-out world, or the
# harness's own tasks at paper scale) and LLM-as-judge grading when an endpoint is configured.

if judge_enabled() and config["benchmarks"]["judge"]["api_key_env"]:

    # the judge's key reaches jobs (also on Slurm) from the environment, never config or logs
    envvars:
        config["benchmarks"]["judge"]["api_key_env"],


rule lmeval_tasks:
    input:
        eval=f"{RESULTS}/eval/all.jsonl",
        excluded=EXCLUDED,
        code=code("lmeval_tasks"),
    output:
        tasks=directory(f"{RESULTS}/lmeval/tasks"),
        manifest=f"{RESULTS}/lmeval/tasks.json",
    log:
        f"{LOGS}/lmeval/tasks.log",
    conda:
        "../envs/training.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(5),
    params:
        lmeval=config["benchmarks"]["lmeval"],
    script:
        "../scripts/lmeval_tasks.py"


rule lmeval:
    input:
        unpack(lmeval_inputs),
        code=code("lmeval"),
    output:
        json=f"{RESULTS}/lmeval/{{model}}/{{experiment}}/seed_{{seed}}.json",
        tsv=f"{RESULTS}/lmeval/{{model}}/{{experiment}}/seed_{{seed}}.tsv",
        samples=report(
            f"{RESULTS}/lmeval/{{model}}/{{experiment}}/seed_{{seed}}.samples.jsonl",
            category="lm-eval items",
            subcategory="{model}",
            labels={"experiment": "{experiment}", "seed": "{seed}"},
            caption="../report/lmeval_samples.rst",
        ),
    log:
        f"{LOGS}/lmeval/{{model}}/{{experiment}}/seed_{{seed}}.log",
    benchmark:
        f"{BENCH}/lmeval/{{model}}/{{experiment}}/seed_{{seed}}.tsv"
    conda:
        "../envs/training.yaml"
    threads: 1
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(60),
        gpu=lmeval_gpus(),
    params:
        lmeval=config["benchmarks"]["lmeval"],
    script:
        "../scripts/lmeval.py"


rule judge:
    input:
        model=f"{RESULTS}/models/{{model}}/{{experiment}}/seed_{{seed}}",
        eval=f"{RESULTS}/eval/all.jsonl",
        code=code("judge"),
    output:
        f"{RESULTS}/judge/{{model}}/{{experiment}}/seed_{{seed}}.json",
    log:
        f"{LOGS}/judge/{{model}}/{{experiment}}/seed_{{seed}}.log",
    conda:
        "../envs/training.yaml"
    threads: 1
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(60),
        gpu=gpus_for(config["benchmarks"]["judge"]["device"]),
    params:
        judge=config["benchmarks"]["judge"],
    script:
        "../scripts/judge.py"
