# The IterIT study (Jia et al.): iterative complexity (IFD) x diversity (TF-IDF) selection,
# re-selected before every epoch with the model being trained (one job per epoch), against
# one-shot baselines and ablations at the same samples and steps. Library: sftmix.studies.iterit;
# config section: iterit. Its one-shot selections go through the engine's finetune rule, its
# iterative runs through iterit_epoch; both are scored and benchmarked by the engine's rules.


include: "iterit_common.smk"


wildcard_constraints:
    m=r"\d{3}",
    epoch=r"\d+",


# ---- Superfiltering's proxy: a smaller model of the same family, and its IFD of the pool ----


use rule base_model as iterit_proxy with:
    output:
        model=directory(f"{RESULTS}/models/{{model}}/proxy"),
        summary=f"{RESULTS}/models/{{model}}/proxy.json",
    log:
        f"{LOGS}/iterit/{{model}}/proxy.log",
    benchmark:
        f"{BENCH}/iterit/{{model}}/proxy.tsv"
    params:
        cfg=iterit_proxy_cfg(),
        seed=config["seed"],
        checkpoints=lambda wc: f"{RESULTS}/checkpoints/{wc.model}/proxy",


rule iterit_proxy_ifd:
    input:
        pool=f"{RESULTS}/pool/records.jsonl",
        proxy=iterit_proxy_input,
        code=code("iterit_ifd"),
    output:
        f"{RESULTS}/iterit/{{model}}/proxy_ifd.tsv",
    log:
        f"{LOGS}/iterit/{{model}}/proxy_ifd.log",
    benchmark:
        f"{BENCH}/iterit/{{model}}/proxy_ifd.tsv"
    conda:
        "../envs/training.yaml"
    threads: config["workers"]
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(60),
        gpu=gpus_for(config["quality"]["device"]),
    params:
        model=iterit_proxy_path,
        quality=config_keys("quality", "batch_size", "max_length", "device", "dtype"),
    script:
        "../scripts/iterit_ifd.py"


# ---- selections -----------------------------------------------------------------------


rule iterit_candidates:
    input:
        pool=f"{RESULTS}/pool/records.jsonl",
        quality=f"{RESULTS}/quality/{{model}}/scores.tsv",
        code=code("iterit_candidates"),
    output:
        candidates=f"{RESULTS}/iterit/{{model}}/candidates_m{{m}}/seed_{{seed}}.jsonl",
        info=f"{RESULTS}/iterit/{{model}}/candidates_m{{m}}/seed_{{seed}}.json",
    log:
        f"{LOGS}/iterit/{{model}}/candidates_m{{m}}/seed_{{seed}}.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(5),
    params:
        share=iterit_share,
        a=ITERIT["a"],
        order=ITERIT["candidates"],
        seed=replicate_seed,
    script:
        "../scripts/iterit_candidates.py"


rule iterit_selection:
    input:
        unpack(iterit_selection_inputs),
        code=code("iterit_selection"),
    output:
        trainset=f"{RESULTS}/trainsets/{{model}}/sel_{{method}}_m{{m}}/seed_{{seed}}.jsonl",
        info=f"{RESULTS}/iterit/{{model}}/sel_{{method}}_m{{m}}/seed_{{seed}}.json",
    log:
        f"{LOGS}/iterit/{{model}}/sel_{{method}}_m{{m}}/seed_{{seed}}.log",
    wildcard_constraints:
        method="|".join(iterit.METHODS),
    conda:
        "../envs/data.yaml"
    threads: config["workers"]
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(20),
    params:
        share=iterit_share,
        seed=replicate_seed,
        settings=config_keys(
            "iterit", "b", "ngram", "deita_threshold", "embedding_model"
        ),
    script:
        "../scripts/iterit_selection.py"


# ---- the iterative runs: one job per epoch (select M with the current model, train an epoch) ----


rule iterit_epoch:
    input:
        unpack(iterit_epoch_inputs),
        train_config=f"{RESULTS}/train_config.json",
        # a shell rule: its script is an input too (the code trigger sees only script: rules)
        script=f"{workflow.basedir}/scripts/iterit_epoch.py",
        code=code("iterit_epoch"),
    output:
        model=directory(f"{ITERIT_RUN}/epoch_{{epoch}}"),
        subset=f"{ITERIT_RUN}/epoch_{{epoch}}.jsonl",
        ifd=f"{ITERIT_RUN}/epoch_{{epoch}}.ifd.tsv",
        summary=f"{ITERIT_RUN}/epoch_{{epoch}}.json",
    log:
        f"{LOGS}/iterit/{{model}}/{{experiment}}/seed_{{seed}}/epoch_{{epoch}}.log",
    benchmark:
        f"{BENCH}/iterit/{{model}}/{{experiment}}/seed_{{seed}}/epoch_{{epoch}}.tsv"
    wildcard_constraints:
        experiment=registry.name_pattern(["iterit"]),
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
        flags=iterit_epoch_flags,
        epochs=iterit_epochs(),
        quality=config_keys("quality", "batch_size", "max_length", "device"),
    shell:
        "{params.launcher} {input.script} --epoch {wildcards.epoch} --epochs {params.epochs}"
        " --base {params.base:q} --candidates {input.candidates:q} --candidates-info {input.candidates_info:q}"
        " --reference {input.reference:q} --train-config {input.train_config:q} --seed {wildcards.seed}"
        " --out {output.model:q} --subset {output.subset:q} --ifd {output.ifd:q} --summary {output.summary:q}"
        " --ifd-batch-size {params.quality[batch_size]} --ifd-max-length {params.quality[max_length]}"
        " --device {params.quality[device]} --threads {threads} {params.flags} > {log:q} 2>&1"


rule iterit_model:
    input:
        last=iterit_last_epoch,
        code=code("iterit_model"),
    output:
        model=directory(f"{RESULTS}/models/{{model}}/{{experiment}}/seed_{{seed}}"),
        summary=f"{RESULTS}/models/{{model}}/{{experiment}}/seed_{{seed}}.train.json",
    log:
        f"{LOGS}/iterit/{{model}}/{{experiment}}/seed_{{seed}}/model.log",
    wildcard_constraints:
        experiment=registry.name_pattern(["iterit"]),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(10),
    params:
        epochs=lambda wc: [
            f"{RESULTS}/iterit/{wc.model}/{wc.experiment}/seed_{wc.seed}/epoch_{k}.json"
            for k in range(iterit_epochs())
        ],
    script:
        "../scripts/iterit_model.py"


# ---- the study's report -----------------------------------------------------------------


rule iterit_report:
    input:
        unpack(iterit_report_inputs),
        code=code("iterit_report"),
    output:
        markdown=f"{RESULTS}/report/{{model}}/iterit.md",
        html=report(
            f"{RESULTS}/report/{{model}}/iterit.html",
            category="IterIT",
            caption="../report/iterit.rst",
        ),
        table=f"{RESULTS}/report/{{model}}/iterit/methods.tsv",
        overlap=f"{RESULTS}/report/{{model}}/iterit/overlap.tsv",
        selections=f"{RESULTS}/report/{{model}}/iterit/selections.tsv",
        lengths=report(
            f"{RESULTS}/report/{{model}}/iterit/lengths.png",
            category="IterIT",
            caption="../report/iterit_lengths.rst",
        ),
        sensitivity=f"{RESULTS}/report/{{model}}/iterit/sensitivity.tsv",
        sensitivity_plot=report(
            f"{RESULTS}/report/{{model}}/iterit/sensitivity.png",
            category="IterIT",
            caption="../report/iterit_sensitivity.rst",
        ),
    log:
        f"{LOGS}/report/{{model}}/iterit.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(10),
    params:
        categories=CATEGORIES,
        rows=lambda wc: iterit.rows(config),
        lmeval=config_keys("benchmarks.lmeval", "report_tasks"),
        n_boot=ITERIT["n_boot"],
    script:
        "../scripts/iterit_report.py"
