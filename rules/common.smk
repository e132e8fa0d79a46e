# Helpers shared by every rule family. Pure functions of `config`; no side effects.
import os
import sys

# conda envs (envs/*.yaml) pip-install this checkout from here: pip expands ${SFTMIX_ROOT}
os.environ.setdefault("SFTMIX_ROOT", workflow.basedir)

RESULTS = f"results/{config['run']}"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
# Scheduling: when several jobs are ready, Snakemake runs the higher `priority:` first. The jobs
# every selection study waits for (the base models, the quality scorers and scores, the raters)
# and InstructMining's serial chain (indicators, fit, selections, the chained search trials) get
# GATING, so the studies' fine-tunes fill the cores around them instead of pushing them to the end
# (the smoke DAG on 2 cores started the DEITA scorer 200 s after its base model was ready and ran
# InstructMining's chain last, one job at a time).
GATING = 10


from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from sftmix import experiments as registry
from sftmix.codedeps import library_files
from sftmix.experiments import slugify as slug
from sftmix.rng import derive_seed
from sftmix.basemodel import sized_config
from sftmix.sft import budget_config
from sftmix.vllm_engine import stage_gpus
from sftmix.world import FORMAT_EXT
from sftmix.dedup import SIGNATURE_KEYS as DEDUP_SIGNATURE_KEYS

CATEGORIES = list(config["categories"])
CATEGORY_SLUGS = {slug(c): c for c in CATEGORIES}
if len(CATEGORY_SLUGS) != len(CATEGORIES):
    raise ValueError("categories: two category names give the same slug; rename one")


def code(script):
    """Library files scripts/<script>.py runs (what it imports, transitively), as inputs: editing
    one reruns exactly the stages that run it (Snakemake's code trigger sees only the rule's own
    script). Computed from the import statements when the DAG is built (sftmix.codedeps), as an
    input function: a cluster job's own Snakemake builds only its job, so it reads only its
    script's imports, not every script's.
    """
    return lambda wildcards: library_files(
        f"{workflow.basedir}/scripts/{script}.py", f"{workflow.basedir}/sftmix"
    )


def scaled(amount, per_input_mb=0):
    """A resource (mem_mb, runtime) that grows with each attempt, so a retry after a timeout or
    an out-of-memory kill gets more; a profile's set-resources can still override it. With
    `per_input_mb` it also grows with the job's input: amount + per_input_mb x input MB (known
    when the job is scheduled, so a shard's job is sized from its shard)."""
    if per_input_mb:
        return lambda wildcards, input, attempt: (
            int(amount + per_input_mb * input.size_mb) * attempt
        )
    return lambda wildcards, attempt: amount * attempt


def gpus_for(device):
    """One GPU for a stage whose device is cuda, none on the CPU."""
    return 1 if str(device).startswith("cuda") else 0


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


def tag_gpus():
    tag = config["tag"]
    if tag["backend"] != "llm":
        return 0
    return stage_gpus(tag["engine"], tag["vllm"], tag["device"])


def quality_gpus():
    """IFD runs on quality.device; the DEITA scorer on its engine (the job holds the larger)."""
    q = config["quality"]
    return max(
        gpus_for(q["device"]), stage_gpus(q["deita_engine"], q["vllm"], q["device"])
    )


def lmeval_gpus():
    lm = config["benchmarks"]["lmeval"]
    return stage_gpus(lm["model"], lm["vllm"], lm["device"])


CATEGORIZED = f"{RESULTS}/categorize/records.jsonl"
DECONTAM = f"{RESULTS}/decontam"


def decontam_enabled():
    return bool(config["decontam"]["enabled"])


def candidate_records():
    """The records every training set is drawn from (subsets' base and added sets, the pool, the
    studies' sets, the scorers' seed sets, the base model's corpus): decontaminated
    (rules/decontam.smk) when decontam.enabled, else the categorized records."""
    return f"{DECONTAM}/records.jsonl" if decontam_enabled() else CATEGORIZED


def decontam_quarantine(wildcards=None):
    """The contaminated records (decontam/quarantine.jsonl) the subsets leave out, if the stage runs."""
    return [f"{DECONTAM}/quarantine.jsonl"] if decontam_enabled() else []


def decontam_counts(wildcards=None):
    return [f"{DECONTAM}/counts.json"] if decontam_enabled() else []


def decontam_benchmarks():
    """lm-eval tasks whose test items decontam protects (sftmix.decontam.benchmark_task_names)."""
    from sftmix.decontam import benchmark_task_names

    return benchmark_task_names(config["decontam"], config["benchmarks"]["lmeval"])


def dedup_shards():
    return [f"{i:03d}" for i in range(config["dedup"]["shards"])]


def filtered_records():
    return expand(f"{RESULTS}/filter/{{source}}.jsonl", source=SOURCES)


def dedup_signature_files():
    """The dedup job's signature shards; none with one shard (the job computes them itself)."""
    if config["dedup"]["shards"] == 1:
        return []
    return expand(f"{RESULTS}/dedup/signatures/{{shard}}.npz", shard=dedup_shards())


def dedup_signature_params():
    """The dedup keys a signature depends on (changing the threshold reruns only the gather)."""
    return {k: v for k, v in config["dedup"].items() if k in DEDUP_SIGNATURE_KEYS}


def subset_files(kind):
    return expand(f"{RESULTS}/subsets/{{cat}}/{kind}.jsonl", cat=CATEGORY_SLUGS)


def data_targets():
    targets = subset_files("base") + [f"{RESULTS}/data/summary.tsv"]
    if world_enabled():
        targets.append(f"{RESULTS}/validation/data.json")
    return targets


# ---- training and scoring -------------------------------------------------------------

MODELS = config["models"]


def per_replicate(pattern, experiments):
    """``pattern`` ({experiment}, {seed}) for every replicate seed of each experiment: seeds are
    the experiment family's (sftmix.experiments.seeds_of)."""
    pairs = registry.experiment_seeds(config, list(experiments))
    return [pattern.format(experiment=e, seed=s) for e, s in pairs]


EXCLUDED = f"{RESULTS}/eval/excluded.tsv"


def defect_truth_input(wildcards):
    """The world's ground truth when eval items with planted defects are left out (eval.exclude_defective)."""
    if world_enabled() and config["eval"]["exclude_defective"]:
        return [f"{RESULTS}/world/ground_truth.json"]
    return []


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


def base_model_cfg(model):
    """base_model's settings with the model's own size (models.<name>.arch) over its arch."""
    return sized_config(
        config["base_model"], MODELS[model]["arch"], f"models.{model}.arch"
    )


def base_model_path(wildcards):
    spec = MODELS[wildcards.model]
    return base_model_dir(wildcards.model) if spec.get("build") else spec["path"]


def all_experiments():
    """Every experiment of every registered family the config declares."""
    return registry.declared_experiments(config)


EXPERIMENT_PATTERN = registry.name_pattern()


def trainset_path(wildcards):
    """Shared sets (interaction) once for all models; per-model sets under the model; per-seed
    draws (mixtures, schedules) per seed."""
    return registry.trainset_file(
        RESULTS, wildcards.model, wildcards.experiment, wildcards.seed
    )


def replicate_seed(wildcards):
    """The seed of one replicate's own random draws (a per-seed training set), derived from the
    run's seed and the replicate seed."""
    return derive_seed(config["seed"], "replicate", wildcards.seed)


def finetune_flags(wildcards, input):
    """The experiment's training budget as flags (a schedule is one pass in its staged order; a
    matched budget names its reference set, the rule's ``reference`` input)."""
    flags = registry.finetune_flags(wildcards.experiment, config)
    if input.get("reference"):
        flags += f" --match {input.reference}"
    return flags


def budget_reference_input(wildcards):
    """The reference training set of a matched budget (drop_* against base), else nothing."""
    ref = registry.budget_reference(wildcards.experiment, config)
    if ref is None:
        return []
    return registry.trainset_file(RESULTS, wildcards.model, ref, wildcards.seed)


def config_keys(section, *keys):
    """The keys of a config section (a dotted path: ``beyond_iid.analysis``) that one rule uses
    (as its params), so that editing another key of that section does not rerun it: params are a
    rerun trigger."""
    node = config
    for part in section.split("."):
        node = node[part]
    return {k: node[k] for k in keys}


# train.* keys that do not change what one fine-tune learns: where and how it runs, and which
# seeds run (each seed is its own job: adding one must not retrain the others)
TRAIN_RUNTIME_KEYS = (
    "threads",
    "mem_mb",
    "runtime",
    "launcher",
    "seeds",
    "gpu_memory_gb",
)


def train_hyperparams():
    """config.train without the runtime keys: the content of train_config.json (a change reruns)."""
    return {k: v for k, v in config["train"].items() if k not in TRAIN_RUNTIME_KEYS}


def finetune_launcher(wildcards, resources):
    """train.launcher if set; several nodes: one torchrun per node under srun (c10d rendezvous on
    the job's first node); several GPUs: torchrun; otherwise the plain interpreter."""
    train = config["train"]
    if train.get("launcher"):
        return train["launcher"]
    if train["nodes"] > 1:
        return (
            f"srun --nodes={train['nodes']} --ntasks-per-node=1 torchrun --nnodes={train['nodes']}"
            f" --nproc-per-node={max(1, train['gpus'])} --rdzv-backend=c10d --rdzv-id=$SLURM_JOB_ID"
            ' --rdzv-endpoint="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)":29500'
        )
    if resources.gpu > 1:
        return f"torchrun --standalone --nproc-per-node {resources.gpu}"
    return python_bin()


def study_models(study):
    """The base models a study runs on (models.<name>.studies; sftmix.experiments.study_models)."""
    return registry.study_models(config, study)


def model_scores(model):
    """The score tables of every experiment ``model`` is fine-tuned for and the engine scores
    (not DoIT's: its runs score a checkpoint per epoch)."""
    return per_replicate(
        f"{RESULTS}/scores/{model}/{{experiment}}/seed_{{seed}}.tsv",
        registry.scored_experiments(config, model),
    )


def training_targets():
    """Every model's score summary and pretrained scores (not a model that only studies with
    their own evaluation, DoIT's sizes, fine-tune)."""
    targets = []
    for model in MODELS:
        if not registry.scored_experiments(config, model):
            continue
        targets += [
            f"{RESULTS}/scores/{model}/summary.tsv",
            f"{RESULTS}/scores/{model}/pretrained.tsv",
        ]
    return targets


# ---- benchmarks and report -------------------------------------------------------------


def lmeval_inputs(wildcards):
    files = {
        "model": f"{RESULTS}/models/{wildcards.model}/{wildcards.experiment}/seed_{wildcards.seed}"
    }
    if config["benchmarks"]["lmeval"]["local_tasks"]:
        files["tasks"] = f"{RESULTS}/lmeval/tasks"
    return files


def benchmarked_experiments():
    """Experiments whose models lm-eval (and the judge) run on (benchmarks.lmeval.families)."""
    lm = config["benchmarks"]["lmeval"]
    if not lm["enabled"]:
        return []
    return [
        e for e in all_experiments() if registry.experiment_family(e) in lm["families"]
    ]


def judge_enabled():
    return bool(config["benchmarks"]["judge"]["base_url"])


def refuse_unfit_finetunes():
    """On GPUs, stop a run whose fine-tunes cannot fit (sftmix.memplan) before any job is queued.
    A model whose config cannot be read here (a hub id offline) is named and not checked.
    """
    if not config["train"]["gpus"]:
        return
    from sftmix.memplan import plan_for_model, refusal

    for name, spec in config["models"].items():
        try:
            plan = plan_for_model(spec, config["train"], config["base_model"], name)
        except (OSError, ValueError) as err:
            logger.warning(
                f"memory plan: cannot read the config of {name} ({err}); not checked"
            )
            continue
        why = refusal(plan, name)
        if why:
            raise WorkflowError(why)


# ---- the candidate pool and its quality scores (rules/quality.smk) ----------------------


def uses_deita():
    """Whether a study reads the deita score (sftmix.experiments.uses_deita)."""
    return registry.uses_deita(config)


def deita_trained():
    """Whether the DEITA-style scorer is fine-tuned here (quality.deita_scorer: trained)."""
    trained = config["quality"]["deita_scorer"] == "trained"
    if trained and uses_deita() and not world_enabled():
        raise ValueError(
            "quality.deita_scorer: trained rates its seed set with a generated world's ground "
            "truth (world.enabled: true); give a scorer model (a directory or hub id) instead"
        )
    return trained and uses_deita()


DEITA_SEED = f"{RESULTS}/quality/deita_seed"


def unieval_trained():
    """Whether the UniEval stand-in is fine-tuned here (quality.unieval: trained) for a study that
    reads the UniEval scores."""
    trained = config["quality"]["unieval"] == "trained" and im_uses_unieval()
    if trained and not world_enabled():
        raise ValueError(
            "quality.unieval: trained labels its seed set with a generated world's ground truth "
            "(world.enabled: true); give a UniEval model (a directory or hub id) instead"
        )
    return trained


def seed_set_needed():
    """The rated seed set is drawn when a scorer is trained on it (DEITA's, UniEval's stand-in)."""
    return deita_trained() or unieval_trained()


def deita_seed_input(wildcards):
    """The trained scorers' seed set, which the candidate pool leaves out."""
    return [f"{DEITA_SEED}.tsv"] if seed_set_needed() else []


UNIEVAL_SEED = f"{RESULTS}/quality/unieval_seed"


def raters_inputs(wildcards):
    """The raters' inputs: the quality table (the reward stand-in reads its deita column), the
    trained UniEval stand-in."""
    files = {"pool": f"{RESULTS}/pool/records.jsonl"}
    if config["quality"]["reward"] == "deita":
        files["quality"] = f"{RESULTS}/quality/{wildcards.model}/scores.tsv"
    if unieval_trained():
        files["unieval"] = unieval_scorer_dir(wildcards.model)
    return files


def unieval_scorer_dir(model):
    return f"{RESULTS}/models/{model}/unieval_scorer"


def unieval_model_path(wildcards):
    if not im_uses_unieval():
        return None
    if unieval_trained():
        return unieval_scorer_dir(wildcards.model)
    if config["quality"]["unieval"] is None:
        raise ValueError(
            "quality.unieval: null, but instructmining.indicators use the UniEval scores"
        )
    return config["quality"]["unieval"]


def reward_model_spec():
    return config["quality"]["reward"] if im_uses_reward() else None


def deita_scorer_dir(model):
    return f"{RESULTS}/models/{model}/deita_scorer"


def deita_scorer_input(wildcards):
    return deita_scorer_dir(wildcards.model) if deita_trained() else []


def quality_params(wildcards):
    """The quality section with the DEITA scorer resolved ("base" = this model's base model,
    "trained" = the scorer fine-tuned here, read in its chat form)."""
    q = dict(config["quality"])
    if q["deita_scorer"] is None and uses_deita():
        raise ValueError(
            "quality.deita_scorer: null, but beyond_iid.optimize.methods/.quality use the deita score"
        )
    q["deita_chat"] = q["deita_scorer"] == "trained"
    if q["deita_scorer"] == "base":
        q["deita_scorer"] = base_model_path(wildcards)
    elif q["deita_scorer"] == "trained":
        q["deita_scorer"] = (
            deita_scorer_dir(wildcards.model) if deita_trained() else None
        )
    return q


def scorer_train_params(key):
    """A scorer's fine-tune (quality.<key>: deita_train, unieval_train): the train section's
    hyperparameters, its epochs and lr overriding (the epochs budget: its steps follow its
    training set's size)."""
    own = config["quality"][key]
    train = train_hyperparams()
    lr = train["lr"] if own["lr"] is None else own["lr"]
    return budget_config({**train, "epochs": own["epochs"], "lr": lr}, "epochs")
