# Helpers of the DoIT study's rules (rules/doit.smk): its config section, its experiments, the
# inputs of its fits and report, and its targets.
from sftmix.studies.doit import experiments as doit_study

DOIT = config["doit"]
DOIT_DIR = f"{RESULTS}/doit"


def doit_declared(families=None):
    return registry.declared_experiments(config, list(families or doit_study.FAMILIES))


def doit_world_input(wildcards):
    """The world's ground truth: the items' distractors are generated from the world's items."""
    return {"truth": f"{RESULTS}/world/ground_truth.json"} if world_enabled() else {}


def doit_runs(experiments, pattern):
    """``pattern`` ({model}, {experiment}, {seed}) for every run of ``experiments`` on every base
    model its family trains."""
    out = []
    for e in experiments:
        fam = registry.family_of(e)
        for model in fam.models_of(config):
            out += [
                pattern.format(model=model, experiment=e, seed=s)
                for s in registry.seeds_of(e, config)
            ]
    return out


def doit_scores(experiments):
    return doit_runs(
        experiments, f"{DOIT_DIR}/epochs/{{model}}/{{experiment}}/seed_{{seed}}.tsv"
    )


def doit_summaries(experiments):
    return doit_runs(
        experiments,
        f"{RESULTS}/models/{{model}}/{{experiment}}/seed_{{seed}}.train.json",
    )


def doit_set_inputs(wildcards):
    files = {"pool": f"{DOIT_DIR}/pool.jsonl", "supply": f"{DOIT_DIR}/supply.json"}
    if doit_study.parse(wildcards.experiment)["kind"] == "mix":
        files["mixes"] = f"{DOIT_DIR}/fit/mixes.json"
    return files


def doit_report_inputs(wildcards):
    sweep = doit_declared([doit_study.SWEEP])
    single = doit_declared([doit_study.SINGLE])
    mixes = doit_declared([doit_study.MIX])
    return {
        "runs": f"{DOIT_DIR}/fit/runs.tsv",
        "sensitivities": f"{DOIT_DIR}/fit/sensitivities.tsv",
        "mixplan": f"{DOIT_DIR}/fit/mixes.json",
        "single": doit_scores(single),
        "mix": doit_scores(mixes),
        "mix_summaries": doit_summaries(mixes),
    }


def doit_targets():
    if not doit_declared():
        return []
    return [f"{RESULTS}/report/doit.md"]


def doit_finetune_flags(wildcards, input, output):
    """The engine's fine-tune flags (the family's epochs budget) and DoIT's per-epoch evaluation
    on the study's items, batched like the score rule."""
    return (
        finetune_flags(wildcards, input)
        + f" --epoch-eval {input.eval_items} --epoch-scores {output.epochs}"
        + f" --eval-batch-size {config['score']['batch_size']}"
        + f" --eval-max-length {config['score']['max_length']}"
    )
