# Helpers shared by every rule family. Pure functions of `config`; no side effects.
import os
import sys

# conda envs (envs/*.yaml) pip-install this checkout from here: pip expands ${SFTMIX_ROOT}
os.environ.setdefault("SFTMIX_ROOT", workflow.basedir)

RESULTS = f"results/{config['run']}"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"


from sftmix.experiments import interaction_experiments, slugify as slug
from sftmix.world import FORMAT_EXT

CATEGORIES = list(config["categories"])
CATEGORY_SLUGS = {slug(c): c for c in CATEGORIES}
if len(CATEGORY_SLUGS) != len(CATEGORIES):
    raise ValueError("categories: two category names give the same slug; rename one")


def lib(*modules):
    """Library sources a stage runs, as inputs. Editing sftmix/<module>.py reruns the stage
    (Snakemake's code trigger only sees the rule's own script)."""
    return [f"{workflow.basedir}/sftmix/{m}.py" for m in ("records", *modules)]


def world_enabled():
    return bool(config["world"].get("enabled"))


def world_sources():
    return dict(config["world"].get("sources", {})) if world_enabled() else {}


def all_sources():
    """Source name -> spec (world sources first, then configured ones)."""
    out = {
        n: {"format": s["format"], "world": True} for n, s in world_sources().items()
    }
    for name, spec in config["sources"].items():
        if name in out:
            raise ValueError(f"sources.{name}: name already used by a world source")
        out[name] = spec
    if not out:
        raise ValueError("sources: no sources configured and world.enabled is false")
    return out


SOURCES = all_sources()


def world_raw(source):
    fmt = SOURCES[source]["format"]
    return f"{RESULTS}/world/raw/{source}.{FORMAT_EXT[fmt]}"


def ingest_input(wildcards):
    """A world source comes from the world rule, a local one from its path, a hub one from nowhere."""
    spec = SOURCES[wildcards.source]
    if spec.get("world"):
        return world_raw(wildcards.source)
    if spec.get("path"):
        return spec["path"]
    return []


def tag_shards():
    return [f"{i:03d}" for i in range(config["tag"]["shards"])]


def tag_uses_gpu():
    return (
        1
        if config["tag"]["backend"] == "llm"
        and config["tag"]["device"].startswith("cuda")
        else 0
    )


def subset_files(kind):
    return expand(f"{RESULTS}/subsets/{{cat}}/{kind}.jsonl", cat=CATEGORY_SLUGS)


def data_targets():
    targets = subset_files("base") + [f"{RESULTS}/data/summary.tsv"]
    if world_enabled():
        targets.append(f"{RESULTS}/validation/data.json")
    return targets


# ---- training and scoring -------------------------------------------------------------

MODELS = config["models"]
SEEDS = [str(s) for s in config["train"]["seeds"]]


def python_bin():
    """The interpreter for shell rules: this one, unless jobs run in conda envs (then theirs)."""
    methods = {str(m).lower() for m in workflow.deployment_settings.deployment_method}
    return "python" if any("conda" in m for m in methods) else sys.executable


def base_model_dir(model):
    return f"{RESULTS}/models/{model}/pretrained"


def base_model_input(wildcards):
    """A built base model is a rule output; a hub/local model is no input at all."""
    return (
        [base_model_dir(wildcards.model)]
        if MODELS[wildcards.model].get("build")
        else []
    )


def base_model_path(wildcards):
    spec = MODELS[wildcards.model]
    return base_model_dir(wildcards.model) if spec.get("build") else spec["path"]


def experiments():
    cfg = dict(config["experiments"])
    chosen = cfg.pop("categories")
    if chosen is not None:
        unknown = sorted(set(chosen) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"experiments.categories: unknown categories {unknown}")
    slugs = [slug(c) for c in (chosen if chosen is not None else CATEGORIES)]
    return interaction_experiments(slugs, **cfg)


def trainset_inputs(wildcards):
    """Subset files an interaction experiment reads (all base sets; one added pool for add_*)."""
    files = {"base": subset_files("base")}
    if wildcards.experiment.startswith("add_"):
        files["added"] = [
            f"{RESULTS}/subsets/{wildcards.experiment[len('add_'):]}/added.jsonl"
        ]
    return files


def finetune_launcher(wildcards, resources):
    """Multi-GPU through torchrun; otherwise the plain interpreter."""
    if resources.gpu > 1:
        return f"torchrun --standalone --nproc-per-node {resources.gpu}"
    return python_bin()


def model_scores(model):
    return expand(
        f"{RESULTS}/scores/{model}/{{experiment}}/seed_{{seed}}.tsv",
        experiment=experiments(),
        seed=SEEDS,
    )


def training_targets():
    targets = []
    for model in MODELS:
        targets += [
            f"{RESULTS}/scores/{model}/summary.tsv",
            f"{RESULTS}/scores/{model}/pretrained.tsv",
        ]
    return targets


# ---- analyses --------------------------------------------------------------------------


def scores_of(model, prefix):
    """Score tables of `base` and every experiment starting with `prefix` (add_ / drop_)."""
    return expand(
        f"{RESULTS}/scores/{model}/{{experiment}}/seed_{{seed}}.tsv",
        experiment=[e for e in experiments() if e == "base" or e.startswith(prefix)],
        seed=SEEDS,
    )


def analysis_targets():
    targets = []
    for model in MODELS:
        if config["experiments"]["add"]:
            targets.append(f"{RESULTS}/analysis/{model}/gamma.tsv")
        if config["experiments"]["drop"]:
            targets.append(f"{RESULTS}/analysis/{model}/dependency.json")
            if world_enabled():
                targets.append(f"{RESULTS}/validation/{model}/dependency.json")
    return targets
