# Helpers of the InstructMining study's rules (rules/instructmining.smk): its config section, its
# experiments, the inputs of its stages and its targets.
from sftmix.studies.instructmining import experiments as im

IM = config["instructmining"]
IM_DIR = f"{RESULTS}/instructmining"
# the fits of indicator tables: the study's own (one per base model) and any table a user drops in
IM_FIT = f"{IM_DIR}/fits/{{table}}"
PAPER_TABLE = "paper"


def im_declared(families=("imfuse", "imsel", "imsearch")):
    return registry.declared_experiments(config, list(families))


def im_uses_reward():
    return bool(im_declared()) and "reward" in IM["indicators"]


def im_uses_unieval():
    return bool(im_declared()) and bool(
        set(IM["indicators"]) & {"naturalness", "coherence", "understandability"}
    )


def im_fuse_scores(wildcards):
    """The dev losses of the estimation datasets' models (one seed each)."""
    return per_replicate(
        f"{RESULTS}/scores/{wildcards.model}/{{experiment}}/seed_{{seed}}.tsv",
        im_declared(["imfuse"]),
    )


def im_table_inputs(wildcards):
    return {
        "indicators": f"{IM_DIR}/{wildcards.model}/indicators.tsv",
        "fuse": [f"{RESULTS}/trainsets/{e}.jsonl" for e in im_declared(["imfuse"])],
        "scores": im_fuse_scores(wildcards),
        "excluded": EXCLUDED,
    }


def im_fit_of(wildcards):
    """The fit a selection ranks by (the model's own, with its one-out refits)."""
    return {"rule": f"{IM_DIR}/fits/{wildcards.model}/rule.json"}


def im_search_history(wildcards):
    """Trial t's k is suggested from trials 0..t-1: their sizes and dev losses."""
    t = int(wildcards.t)
    done = [im.search_name(i) for i in range(t)]
    return {
        "trials": [f"{IM_DIR}/{wildcards.model}/search/{e}.json" for e in done],
        "scores": per_replicate(
            f"{RESULTS}/scores/{wildcards.model}/{{experiment}}/seed_{{seed}}.tsv", done
        ),
    }


def im_indicator_inputs(wildcards):
    files = {
        "pool": f"{RESULTS}/pool/records.jsonl",
        "quality": f"{RESULTS}/quality/{wildcards.model}/scores.tsv",
        "base": base_model_input(wildcards),
    }
    if im_uses_reward() or im_uses_unieval():
        files["raters"] = f"{RESULTS}/quality/{wildcards.model}/raters.tsv"
    return files


def im_report_inputs(wildcards):
    model = wildcards.model
    sel = im_declared(["imsel"])
    files = {
        "fit": f"{IM_DIR}/fits/{model}/rule.json",
        "paper_fit": f"{IM_DIR}/fits/{PAPER_TABLE}/rule.json",
        "indicators": f"{IM_DIR}/{model}/indicators.tsv",
        "split": f"{IM_DIR}/split.json",
        "pool": f"{RESULTS}/pool/records.jsonl",
        "scores": per_replicate(
            f"{RESULTS}/scores/{model}/{{experiment}}/seed_{{seed}}.tsv", sel
        ),
        "selections": per_replicate(
            f"{RESULTS}/trainsets/{model}/{{experiment}}/seed_{{seed}}.jsonl", sel
        ),
        "search": [
            f"{IM_DIR}/{model}/search/{e}.json" for e in im_declared(["imsearch"])
        ],
        "search_scores": per_replicate(
            f"{RESULTS}/scores/{model}/{{experiment}}/seed_{{seed}}.tsv",
            im_declared(["imsearch"]),
        ),
        "lmeval": per_replicate(
            f"{RESULTS}/lmeval/{model}/{{experiment}}/seed_{{seed}}.tsv",
            [e for e in benchmarked_experiments() if e in sel],
        ),
        "excluded": EXCLUDED,
    }
    if world_enabled():
        files["truth"] = f"{RESULTS}/world/ground_truth.json"
    return files


def instructmining_targets():
    if not im_declared():
        return []
    return [
        f"{RESULTS}/report/{model}/instructmining.md"
        for model in study_models("instructmining")
    ] + [f"{IM_DIR}/fits/{PAPER_TABLE}/rule.json"]
