# Helpers of the instruction-mixing study's rules (rules/mixing.smk): its config section, its
# experiments, the inputs of its report and its targets.
from sftmix.studies.mixing import experiments as mixing_study

MIX = config["mixing"]
MIX_DIR = f"{RESULTS}/mixing"


def mixing_declared(model=None):
    """The study's experiments (those ``model`` is fine-tuned for, when given)."""
    families = list(mixing_study.FAMILIES)
    if model is None:
        return registry.declared_experiments(config, families)
    return registry.model_experiments(config, model, families)


def mixing_report_inputs(wildcards):
    model, exps = wildcards.model, mixing_declared(wildcards.model)
    return {
        "scores": per_replicate(
            f"{RESULTS}/scores/{model}/{{experiment}}/seed_{{seed}}.tsv", exps
        ),
        "lmeval": per_replicate(
            f"{RESULTS}/lmeval/{model}/{{experiment}}/seed_{{seed}}.tsv",
            [e for e in benchmarked_experiments() if e in exps],
        ),
        "pretrained": f"{RESULTS}/scores/{model}/pretrained.tsv",
        "excluded": EXCLUDED,
    }


def mixing_targets():
    if not mixing_declared():
        return []
    targets = [
        f"{RESULTS}/report/{model}/mixing.md" for model in study_models("mixing")
    ]
    if len(study_models("mixing")) > 1:
        targets.append(f"{RESULTS}/report/mixing_scale.md")
    return targets
