# Helpers of the IterIT study's rules (rules/iterit.smk): its config section, its experiments,
# the inputs of its stages and its targets.
from sftmix.studies.iterit import experiments as iterit

ITERIT = config["iterit"]
ITERIT_DIR = f"{RESULTS}/iterit/{{model}}"
# the per-epoch outputs of one iterative run
ITERIT_RUN = f"{ITERIT_DIR}/{{experiment}}/seed_{{seed}}"


def iterit_epochs():
    """T: every IterIT run trains T epochs of M samples (the steps of the matched budget)."""
    return iterit.epochs(config)


def iterit_methods_used():
    """Selection methods of the declared experiments (an input is needed only by its method)."""
    return {iterit.parse(e)["method"] for e in iterit_declared()}


def iterit_declared():
    return registry.declared_experiments(config, ["iterit", "selection"])


def iterit_proxy_dir(model):
    return f"{RESULTS}/models/{model}/proxy"


def iterit_proxy_input(wildcards):
    """Superfiltering's proxy model: built here (a rule output) or a directory / hub id (no input)."""
    return [iterit_proxy_dir(wildcards.model)] if ITERIT["proxy"]["build"] else []


def iterit_proxy_path(wildcards):
    proxy = ITERIT["proxy"]
    if proxy["build"]:
        return iterit_proxy_dir(wildcards.model)
    if not proxy["path"]:
        raise ValueError("iterit.proxy: build is false and no path is given")
    return proxy["path"]


def iterit_proxy_cfg():
    """base_model's settings with the proxy's smaller architecture (the same family)."""
    return sized_config(
        config["base_model"], ITERIT["proxy"]["arch"], "iterit.proxy.arch"
    )


def iterit_share(wildcards):
    return int(wildcards.m) / 1000


def iterit_candidates_files(wildcards, m=None):
    m = wildcards.m if m is None else m
    stem = f"{RESULTS}/iterit/{wildcards.model}/candidates_m{m}/seed_{wildcards.seed}"
    return {"candidates": f"{stem}.jsonl", "candidates_info": f"{stem}.json"}


def iterit_selection_inputs(wildcards):
    """What one one-shot selection reads, by method."""
    files = {"pool": f"{RESULTS}/pool/records.jsonl"}
    method = wildcards.method
    if method in ("graphfilter", "noiter", "deita"):
        files["quality"] = f"{RESULTS}/quality/{wildcards.model}/scores.tsv"
    if method == "noiter":
        files.update(iterit_candidates_files(wildcards))
    if method == "superfilter":
        files["proxy_ifd"] = f"{RESULTS}/iterit/{wildcards.model}/proxy_ifd.tsv"
    return files


def iterit_run_share(wildcards):
    return f"{iterit.permille(iterit.share_of(wildcards.experiment)):03d}"


def iterit_epoch_inputs(wildcards):
    """Epoch k of a run reads the candidates (kept at epoch 0) and the step budget's reference
    set; epoch 0 the base model and its IFD, a later epoch the previous epoch's full state.
    """
    k = int(wildcards.epoch)
    if k >= iterit_epochs():
        raise ValueError(
            f"{wildcards.experiment}: epoch {k} of {iterit_epochs()} (iterit.epochs)"
        )
    files = iterit_candidates_files(wildcards, iterit_run_share(wildcards))
    files["reference"] = registry.trainset_file(
        RESULTS,
        wildcards.model,
        iterit.reference(wildcards.experiment),
        wildcards.seed,
    )
    if k == 0:
        files["quality"] = f"{RESULTS}/quality/{wildcards.model}/scores.tsv"
        files["base"] = base_model_input(wildcards)
    else:
        files["previous"] = iterit_epoch_dir(wildcards, k - 1)
    return files


def iterit_epoch_flags(wildcards, input):
    """The run's variant (diversity text, decay b) and the previous state as flags."""
    v = iterit.variant_settings(config, iterit.parse(wildcards.experiment)["method"])
    flags = f"--b {v['b']} --part {v['part'] or 'none'}"
    flags += f" --ngram {ITERIT['ngram'][0]} {ITERIT['ngram'][1]}"
    if input.get("previous"):
        flags += f" --previous {input.previous}"
    else:
        flags += f" --quality {input.quality}"
    return flags


def iterit_epoch_dir(wildcards, k):
    """Epoch k's output (model and full state) of the run the wildcards name."""
    return f"{ITERIT_RUN}/epoch_{{epoch}}".format(**{**wildcards, "epoch": k})


def iterit_last_epoch(wildcards):
    return iterit_epoch_dir(wildcards, iterit_epochs() - 1)


def iterit_report_inputs(wildcards):
    model = wildcards.model
    exps = iterit_declared()
    files = {
        "scores": per_replicate(
            f"{RESULTS}/scores/{model}/{{experiment}}/seed_{{seed}}.tsv", exps
        ),
        "lmeval": per_replicate(
            f"{RESULTS}/lmeval/{model}/{{experiment}}/seed_{{seed}}.tsv",
            [e for e in benchmarked_experiments() if e in exps],
        ),
        "selections": per_replicate(
            f"{RESULTS}/trainsets/{model}/{{experiment}}/seed_{{seed}}.jsonl",
            registry.declared_experiments(config, ["selection"]),
        ),
        "epochs": [
            f"{RESULTS}/iterit/{model}/{e}/seed_{s}/epoch_{k}.jsonl"
            for e, s in registry.experiment_seeds(
                config, registry.declared_experiments(config, ["iterit"])
            )
            for k in range(iterit_epochs())
        ],
        "pool": f"{RESULTS}/pool/records.jsonl",
        "excluded": EXCLUDED,
    }
    if world_enabled():
        files["truth"] = f"{RESULTS}/world/ground_truth.json"
    return files


def iterit_targets():
    if not iterit_declared():
        return []
    return [f"{RESULTS}/report/{model}/iterit.md" for model in study_models("iterit")]
