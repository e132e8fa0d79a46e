# Helpers of the Beyond IID study's rules (rules/beyond_iid.smk): its config section, the
# experiments it declares, the inputs of its stages and its targets.
from sftmix.studies.beyond_iid import experiments as biid

BIID = config["beyond_iid"]


def analysed_categories():
    """Categories with add/drop experiments (beyond_iid.experiments.categories, or all of them)."""
    return biid.analysed_categories(config)


def experiments():
    """The interaction experiments (base, add_*, drop_*)."""
    return registry.declared_experiments(config, ["interaction"])


def optimize_categories():
    """Categories the mixtures draw from: those gamma covers (EE-CPO needs their gamma)."""
    return analysed_categories()


# the rules' output patterns of per-model training sets: the families' own name templates
MIXTURE = registry.template("mixture")
SCHEDULE = registry.template("schedule")


def eecpo_plan_input(wildcards):
    if wildcards.method in biid.EECPO_METHODS:
        return f"{RESULTS}/optimize/{wildcards.model}/eecpo.json"
    return []


def trainset_inputs(wildcards):
    """Subset files an interaction experiment reads (all base sets; one added pool for add_*)."""
    files = {"base": subset_files("base")}
    kind, cat = biid.parse_experiment(wildcards.experiment)
    if kind == "add":
        files["added"] = [f"{RESULTS}/subsets/{cat}/added.jsonl"]
    return files


def scores_of(model, kinds):
    """Score tables of the interaction experiments of these kinds (base, add, drop)."""
    return per_replicate(
        f"{RESULTS}/scores/{model}/{{experiment}}/seed_{{seed}}.tsv",
        [e for e in experiments() if biid.interaction_kind(e) in kinds],
    )


def beyond_iid_targets():
    """The study's final outputs: gamma, the taxonomy (and its validation against a generated
    world), EE-CPO plans (and the quality scorers' validation against the world), the comparison
    report."""
    return analysis_targets() + optimize_targets() + report_targets()


def analysis_targets():
    targets = []
    for model in study_models("beyond_iid"):
        if BIID["experiments"]["add"]:
            targets.append(f"{RESULTS}/analysis/{model}/gamma.tsv")
        if BIID["experiments"]["drop"]:
            targets.append(f"{RESULTS}/analysis/{model}/dependency.json")
            if world_enabled():
                targets.append(f"{RESULTS}/validation/{model}/dependency.json")
    return targets


def optimize_targets():
    """EE-CPO plans (and, on a generated world, the quality scorers scored against its defects)."""
    targets = []
    for model in study_models("beyond_iid"):
        if BIID["optimize"]["enabled"]:
            targets.append(f"{RESULTS}/optimize/{model}/eecpo.json")
            if world_enabled():
                targets.append(f"{RESULTS}/validation/{model}/quality.json")
    return targets


def mixture_rows():
    return biid.mixture_rows(config)


def schedule_rows():
    return biid.schedule_rows(config)


def compare_inputs(wildcards):
    model = wildcards.model
    exps = [r["experiment"] for r in mixture_rows() + schedule_rows()]
    files = {
        "scores": per_replicate(
            f"{RESULTS}/scores/{model}/{{experiment}}/seed_{{seed}}.tsv", exps
        ),
        "lmeval": per_replicate(
            f"{RESULTS}/lmeval/{model}/{{experiment}}/seed_{{seed}}.tsv",
            benchmarked_experiments(),
        ),
    }
    if judge_enabled():
        files["judge"] = per_replicate(
            f"{RESULTS}/judge/{model}/{{experiment}}/seed_{{seed}}.json",
            benchmarked_experiments(),
        )
    return files


def report_targets():
    if not (BIID["optimize"]["enabled"] or BIID["curriculum"]["enabled"]):
        return []
    return [
        f"{RESULTS}/report/{model}/tables.md" for model in study_models("beyond_iid")
    ] + [f"{RESULTS}/report/paper_tables.md"]
