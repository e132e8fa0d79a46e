"""The compute plan of a run, from its validated config alone, before any job is dispatched.

Per stage (and per base model): the jobs, the tokens they process, their FLOPs, the GPU memory one
job holds and the GPU-hours at the configured peak and utilization (``plan.*``). Job counts come
from the experiment registry (:mod:`sftmix.experiments`: the declared experiments, the models
each family trains, its seeds and who trains it), the same lists the rules expand. Record counts
come from the config where it fixes them (subset sizes, mixture sizes, DoIT's grid, the mixing
study's per-type counts, InstructMining's k); where only the data fixes them (the candidate pool,
IterIT's N) from ``plan.records``. Tokens per record are ``plan.tokens_per_record``: every record,
eval item and benchmark item is charged that many tokens (an estimate: packed rows never exceed
``train.max_length``).

The equations:

* training: ``6 N T`` FLOPs for N parameters and T tokens (forward 2NT + backward 4NT; Kaplan et
  al., 2020, "Scaling Laws for Neural Language Models", Sec. 2.1), ``8 N T`` with gradient
  checkpointing (each layer's forward is recomputed in the backward pass: one more 2NT; Chowdhery
  et al., 2022, "PaLM", App. B);
* inference (scoring, IFD, tagging, benchmarks): ``2 N T`` (a forward pass, Kaplan et al., 2020);
* GPU-hours: ``FLOPs / (peak x MFU) / 3600`` with ``plan.peak_tflops`` per GPU and
  ``plan.utilization`` the model FLOPs utilization (Chowdhery et al., 2022, App. B: the observed
  model FLOPs per second over the hardware's peak; the recompute is charged as FLOPs here, so the
  utilization to give is the hardware's, not the model's, when checkpointing is on).

Memory per job: a fine-tune's per-GPU memory from :mod:`sftmix.memplan`; an inference job's
weights in the stage's dtype plus the CUDA context (:func:`sftmix.memplan.inference_gib`).
Stages that run on the CPU or an API (tagging by embeddings or an OpenAI endpoint, the judge's
grading) are listed with no local FLOPs or none at all; data stages (ingest, dedup, analyses) cost
no GPU time and are left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from . import experiments as registry
from .memplan import inference_gib, memory_plan, resolve_shape, shape_of_config
from .records import read_typed_tsv, write_typed_tsv
from .vllm_engine import stage_gpus

Config = Mapping[str, Any]

TRAIN_FLOPS_PER_PARAM_TOKEN = 6  # Kaplan et al. (2020), Sec. 2.1: forward 2 + backward 4
RECOMPUTE_FLOPS_PER_PARAM_TOKEN = 2  # gradient checkpointing: one more forward (Chowdhery et al., 2022, App. B)
INFER_FLOPS_PER_PARAM_TOKEN = 2  # Kaplan et al. (2020): the forward pass
COLUMNS = ("stage", "model", "device", "jobs", "records", "tokens", "flops", "gpus_per_job", "gib_per_gpu",
           "gpu_hours", "note")


def train_flops(n_params: float, tokens: float, checkpointing: bool = False) -> float:
    """Training FLOPs, ``6 N T`` (Kaplan et al., 2020, Sec. 2.1), ``8 N T`` when every layer's
    forward is recomputed in the backward pass (gradient checkpointing)."""
    per = TRAIN_FLOPS_PER_PARAM_TOKEN + (RECOMPUTE_FLOPS_PER_PARAM_TOKEN if checkpointing else 0)
    return per * float(n_params) * float(tokens)


def inference_flops(n_params: float, tokens: float) -> float:
    """Forward-only FLOPs, ``2 N T`` (Kaplan et al., 2020)."""
    return INFER_FLOPS_PER_PARAM_TOKEN * float(n_params) * float(tokens)


def gpu_hours(flops: float, peak_tflops: float, utilization: float) -> float:
    """GPU-hours of ``flops`` at ``peak_tflops`` per GPU and a model FLOPs utilization of
    ``utilization`` (Chowdhery et al., 2022, App. B): ``FLOPs / (peak x MFU) / 3600``."""
    if peak_tflops <= 0 or not 0 < utilization <= 1:
        raise ValueError(f"plan: peak_tflops must be > 0 and utilization in (0, 1], not {peak_tflops}, {utilization}")
    return float(flops) / (peak_tflops * 1e12 * utilization) / 3600.0


# ---- what the config fixes --------------------------------------------------------------------


def pool_records(config: Config) -> int:
    """Records after deduplication (the tagger's input; the candidate pool and IterIT's N are taken
    as the same, an upper bound): ``plan.records``, else the generated world's
    ``n_per_category x categories``."""
    own = config["plan"]["records"]
    if own is not None:
        return int(own)
    world = config["world"]
    if world.get("enabled"):
        return int(world["n_per_category"]) * len(world["categories"])
    raise ValueError("plan.records: the number of records after deduplication is fixed only by the data "
                     "here (no generated world); give an estimate (the sources' row counts are an upper bound)")


def union_records(config: Config) -> int:
    """|D|: every category's base set (``subsets.base`` records each)."""
    return int(config["subsets"]["base"]) * len(config["categories"])


def eval_items(config: Config) -> int:
    """Eval items every model is scored on: ``subsets.eval`` per category."""
    return int(config["subsets"]["eval"]) * len(config["categories"])


def trainset_records(config: Config, experiment: str) -> int:
    """Records of ``experiment``'s training set as the config fixes it (see the module docstring
    for the estimates where the data decides)."""
    fam = registry.family_of(experiment).name
    if fam == "interaction":
        from .studies.beyond_iid.experiments import parse_experiment

        kind, _ = parse_experiment(experiment)
        d = union_records(config)
        return {"base": d, "add": d + int(config["subsets"]["added"]), "drop": d - int(config["subsets"]["base"])}[kind]
    if fam == "mixture":
        from .studies.beyond_iid.experiments import parse_mixture

        return parse_mixture(experiment)[1]
    if fam == "schedule":  # every sample three times (or Mix+'s 3|D|): the 3-epoch baseline's size
        return union_records(config) * int(config["beyond_iid"]["curriculum"]["epochs"])
    if fam in ("iterit", "selection"):
        from .studies.iterit.experiments import m_of, parse

        p = parse(experiment)
        n = pool_records(config)
        return n if p["method"] == "vanilla" else m_of(n, p["share"])
    if fam in ("imfuse", "imsel", "imsearch"):
        from .studies.instructmining.experiments import parse

        p, im = parse(experiment), config["instructmining"]
        if fam == "imfuse":
            return int(im["estimation"]["size"])
        if fam == "imsel":
            return p["k"]
        return (int(im["search"]["low"]) + int(im["search"]["high"])) // 2  # k is searched: the range's middle
    if fam in ("tmix", "tmixeq", "tmixsteps", "tmixsweep"):
        from .studies.mixing.experiments import parse
        from .studies.mixing.sets import combo_types, equal_total

        p, mix = parse(experiment), config["mixing"]
        if p["kind"] in ("combo", "steps"):
            return int(mix["per_type"]) * len(combo_types(p["combo"]))
        if p["kind"] == "equal":
            return equal_total(mix)
        if p["kind"] == "ratio":
            return round(int(mix["ratio"]["general"]) * (1 + p["ratio"]))
        return p["n"]
    if fam in ("doit", "doitone", "doitmix"):
        from .studies.doit.experiments import abilities, baseline_n, parse

        p = parse(experiment)
        if p["kind"] == "sweep":
            return p["n"] * len(abilities(config))
        if p["kind"] == "single":
            return int(config["doit"]["feature_n"])
        return baseline_n(config) * len(abilities(config))  # the baseline's total (maximum: at least that)
    raise ValueError(f"plan: no record count for the {fam} family ({experiment})")


def records_per_step(train: Config) -> int:
    """Records of one optimizer step: per-device batch x accumulation x data-parallel processes."""
    return int(train["batch_size"]) * int(train["grad_accum"]) * max(1, int(train["gpus"])) * int(train["nodes"])


def trained_records(config: Config, experiment: str) -> int:
    """Records one fine-tune of ``experiment`` processes (records x passes) under its family's
    budget: ``steps`` = ``train.max_steps`` steps (``epochs`` passes when null), ``epochs`` = the
    family's passes over its set, ``matched`` = those passes over the reference set, ``staged`` =
    one pass."""
    fam = registry.family_of(experiment)
    budget = registry.budget(experiment, config)
    epochs = fam.epochs(config) if fam.epochs is not None else int(config["train"]["epochs"])
    if budget == "steps" and config["train"]["max_steps"] is not None:
        return int(config["train"]["max_steps"]) * records_per_step(config["train"])
    if budget == "staged":
        return trainset_records(config, experiment)
    if budget == "matched":
        return trainset_records(config, registry.budget_reference(experiment, config)) * epochs
    return trainset_records(config, experiment) * epochs


# ---- model shapes -----------------------------------------------------------------------------


def built_shape(config: Config, arch: Mapping[str, Any] | None, key: str) -> dict[str, Any]:
    """The shape of a model built here (base_model with ``arch`` over it)."""
    from .basemodel import llama_config, sized_config

    sized = sized_config(config["base_model"], arch, key)
    return shape_of_config(llama_config(sized["arch"], sized["vocab_size"]))


def model_shapes(config: Config) -> dict[str, dict[str, Any]]:
    """The shape of every ``models.<name>`` (built, a local directory, a hub id of
    :data:`sftmix.memplan.KNOWN_SHAPES`, or its config.json; a missing one names its key)."""
    trust = bool(config["train"]["trust_remote_code"])
    return {name: built_shape(config, spec.get("arch"), f"models.{name}.arch") if spec.get("build")
            else resolve_shape(spec["path"], f"models.{name}.path", trust)
            for name, spec in config["models"].items()}


# ---- the rows ---------------------------------------------------------------------------------


def _row(stage: str, model: str, device: str, jobs: int, records: int, tokens: float, flops: float,
         gpus: int, gib: float | None, note: str = "") -> dict[str, Any]:
    return {"stage": stage, "model": model, "device": device, "jobs": int(jobs), "records": int(records),
            "tokens": int(tokens), "flops": float(flops), "gpus_per_job": int(gpus), "gib_per_gpu": gib,
            "gpu_hours": 0.0, "note": note}


def _per_gpu(gib: float, gpus: int) -> float:
    """A model's inference memory split over its tensor-parallel GPUs (the weights are sharded; the
    per-GPU context is small beside a sharded 72B model's weights)."""
    return round(gib / max(1, gpus), 2)


def _device(device: str) -> str:
    return "gpu" if str(device).startswith("cuda") else "cpu"


def _dtype(device: str, dtype: str | None = None) -> str:
    return dtype or ("bfloat16" if _device(device) == "gpu" else "float32")


def _quality_models(config: Config) -> list[str]:
    """Base models whose pool is scored (quality/<model>/scores.tsv): those of the selection studies."""
    studies = []
    if registry.declared_experiments(config, ["mixture"]):
        studies.append("beyond_iid")
    if registry.declared_experiments(config, ["iterit", "selection"]):
        studies.append("iterit")
    if registry.declared_experiments(config, ["imfuse", "imsel", "imsearch"]):
        studies.append("instructmining")
    return [m for m in config["models"] if any(m in registry.study_models(config, s) for s in studies)]


def finetune_rows(config: Config, shapes: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (family, base model): the fine-tune jobs the registry declares (IterIT's runs are
    one ``iterit_epoch`` job per epoch), the tokens they train and, in the rows below each, the
    checkpoint scoring their jobs do (DoIT per epoch, IterIT's IFD per epoch)."""
    train, tpr = config["train"], int(config["plan"]["tokens_per_record"])
    gpus = int(train["gpus"]) * int(train["nodes"])
    device = "gpu" if gpus else "cpu"
    rows = []
    for fam in registry.REGISTRY.values():
        names = fam.declare(config)
        if not names:
            continue
        for model in fam.models_of(config):
            shape = shapes[model]
            n = shape["n_params"]
            mem = memory_plan(shape, train)["gib"]["total_with_margin"]
            runs = [(e, s) for e in names for s in fam.seeds(config)]
            per_run = fam.epochs(config) if fam.trained_by == "iterit_epoch" else 1
            records = sum(trained_records(config, e) for e, _ in runs)
            tokens = records * tpr
            rule = "finetune" if fam.trained_by == "finetune" else fam.trained_by
            rows.append(_row(f"{rule}: {fam.name}", model, device, len(runs) * per_run, records, tokens,
                             train_flops(n, tokens, bool(train["gradient_checkpointing"])), gpus, mem,
                             f"{len(names)} experiments x {len(fam.seeds(config))} seeds"
                             + (f" x {per_run} epoch jobs" if per_run > 1 else "")))
            if fam.study == "doit":
                rows.append(_doit_eval_row(config, fam.name, model, n, len(runs), device, gpus, mem))
            if fam.name == "iterit":
                rows.append(_iterit_ifd_row(config, names, model, n, len(fam.seeds(config)), device, gpus, mem))
    return rows


def _doit_eval_row(config: Config, family: str, model: str, n: float, runs: int, device: str, gpus: int,
                   mem: float) -> dict[str, Any]:
    """DoIT scores every epoch's checkpoint on the dev and test items, each against its gold answer
    and two distractors (fine, coarse): 3 candidates per item."""
    from .studies.doit.experiments import abilities, epochs

    doit, per_ability = config["doit"], int(config["subsets"]["eval"])
    cap = doit["max_items_per_split"]
    items = len(abilities(config)) * (per_ability if cap is None else min(per_ability, 2 * int(cap)))
    scored = runs * epochs(config) * items * 3
    tokens = scored * int(config["plan"]["tokens_per_record"])
    return _row(f"doit_finetune: {family} (per-epoch eval)", model, device, 0, scored, tokens,
                inference_flops(n, tokens), gpus, mem, f"inside the fine-tune jobs: {items} items x 3 candidates x "
                f"{epochs(config)} epochs per run")


def _iterit_ifd_row(config: Config, names: list[str], model: str, n: float, seeds: int, device: str, gpus: int,
                    mem: float) -> dict[str, Any]:
    """IterIT re-scores IFD before every epoch after the first (epoch 0 reads the quality stage's):
    a x M candidates, two forward passes each (the response with and without its instruction)."""
    from .studies.iterit.experiments import epochs, m_of, share_of

    it, pool = config["iterit"], pool_records(config)
    scored = sum(int(it["a"]) * m_of(pool, share_of(e)) for e in names) * seeds * (epochs(config) - 1)
    tokens = 2 * scored * int(config["plan"]["tokens_per_record"])
    return _row("iterit_epoch: IFD re-scoring", model, device, 0, scored, tokens, inference_flops(n, tokens),
                gpus, mem, f"inside the epoch jobs: a x M candidates, 2 passes, {epochs(config) - 1} epochs per run")


def inference_rows(config: Config, shapes: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Scoring, benchmarks and the judge's answers, per base model."""
    tpr = int(config["plan"]["tokens_per_record"])
    score, lm, judge = config["score"], config["benchmarks"]["lmeval"], config["benchmarks"]["judge"]
    benchmarked = [e for e in registry.declared_experiments(config)
                   if lm["enabled"] and registry.experiment_family(e) in lm["families"]]
    lm_tokens = config["plan"]["lmeval_tokens"]
    if lm_tokens is None:  # the local tasks: every eval item as n_choices continuations plus one generation
        lm_tokens = eval_items(config) * (int(lm["n_choices"]) + 1) * tpr
    rows = []
    for model, shape in shapes.items():
        n = shape["n_params"]
        scored = registry.scored_experiments(config, model)
        if scored:
            jobs = len(registry.experiment_seeds(config, scored)) + 1  # + the pretrained model
            items = jobs * eval_items(config)
            rows.append(_row("score", model, _device(score["device"]), jobs, items, items * tpr,
                             inference_flops(n, items * tpr), 1 if _device(score["device"]) == "gpu" else 0,
                             inference_gib(n, score["dtype"], _device(score["device"]) == "gpu"), f"{eval_items(config)} eval items per model"))
        mine = [e for e in benchmarked if model in registry.family_of(e).models_of(config)]
        if mine:
            jobs = len(registry.experiment_seeds(config, mine))
            dev = _device(lm["device"])
            gpus = stage_gpus(lm["model"], lm["vllm"], lm["device"])
            rows.append(_row("lmeval", model, dev, jobs, 0, jobs * lm_tokens, inference_flops(n, jobs * lm_tokens),
                             gpus, _per_gpu(inference_gib(n, _dtype(lm["device"]), dev == "gpu"), gpus),
                             f"{int(lm_tokens):,} tokens per run (plan.lmeval_tokens), model type {lm['model']}"))
            if judge["base_url"]:
                answers = jobs * (judge["max_items"] or eval_items(config))
                tokens = answers * (tpr + int(judge["max_new_tokens"]))
                dev = _device(judge["device"])
                rows.append(_row("judge (answers)", model, dev, jobs, answers, tokens, inference_flops(n, tokens),
                                 int(dev == "gpu"), inference_gib(n, _dtype(judge["device"]), dev == "gpu"),
                                 "the grading runs at the endpoint, not counted"))
    return rows


def data_rows(config: Config, shapes: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The model work before the fine-tunes: base models built here, LLM tagging, the candidate
    pool's quality scores and raters, Superfiltering's proxy IFD."""
    tpr = int(config["plan"]["tokens_per_record"])
    trust = bool(config["train"]["trust_remote_code"])
    q, tag = config["quality"], config["tag"]
    pool = pool_records(config)
    rows = []
    pre = config["base_model"]["pretrain"]
    pre_tokens = int(pre["steps"]) * int(pre["batch_size"]) * int(pre["block_size"])
    for model, spec in config["models"].items():
        if spec.get("build"):
            rows.append(_row("base_model (pretrain)", model, "cpu" if not config["train"]["gpus"] else "gpu", 1, 0,
                             pre_tokens, train_flops(shapes[model]["n_params"], pre_tokens), 0, None,
                             "base_model.pretrain: steps x batch x block"))
    if tag["backend"] == "llm":
        shape = resolve_shape(tag["llm_model"], "tag.llm_model", trust)
        tokens = pool * (tpr + int(tag["max_new_tokens"]))
        dev = _device(tag["device"])
        gpus = stage_gpus(tag["engine"], tag["vllm"], tag["device"])
        rows.append(_row("tag (LLM)", "tag.llm_model", dev, int(tag["shards"]), pool, tokens,
                         inference_flops(shape["n_params"], tokens), gpus,
                         _per_gpu(inference_gib(shape["n_params"], _dtype(tag["device"]), dev == "gpu"), gpus),
                         f"{tag['llm_model']}: prompt + tag.max_new_tokens per record, {tag['engine']} engine"))
    elif tag["backend"] == "openai":
        rows.append(_row("tag (endpoint)", "tag.openai_model", "api", int(tag["shards"]), pool, 0, 0.0, 0, None,
                         "served by the endpoint, not counted"))
    dev, dtype = _device(q["device"]), _dtype(q["device"], q["dtype"])
    deita = registry.uses_deita(config) and q["deita_scorer"] is not None
    for model in _quality_models(config):
        n = shapes[model]["n_params"]
        tokens = 2 * pool * tpr
        rows.append(_row("quality: IFD", model, dev, 1, pool, tokens, inference_flops(n, tokens), int(dev == "gpu"),
                         inference_gib(n, dtype, dev == "gpu"), "two passes per pool record (with and without the instruction)"))
        if deita:
            if q["deita_scorer"] in ("base", "trained"):
                scorer = n
                if q["deita_scorer"] == "trained":
                    trained = int(q["deita_train"]["seed_size"]) * int(q["deita_train"]["epochs"]) * tpr
                    rows.append(_row("deita_scorer (fine-tune)", model, dev, 1, q["deita_train"]["seed_size"],
                                     trained, train_flops(n, trained), int(dev == "gpu"), None,
                                     "quality.deita_train: seed_size x epochs"))
            else:
                scorer = resolve_shape(q["deita_scorer"], "quality.deita_scorer", trust)["n_params"]
            gpus = stage_gpus(q["deita_engine"], q["vllm"], q["device"])
            rows.append(_row("quality: DEITA", model, dev, 0, pool, pool * tpr, inference_flops(scorer, pool * tpr),
                             gpus, _per_gpu(inference_gib(scorer, dtype, dev == "gpu"), gpus),
                             f"inside the quality job, {q['deita_engine']} engine"))
    if registry.declared_experiments(config, ["imsel"]):
        im = config["instructmining"]
        raters = []
        if "reward" in im["indicators"] and q["reward"] != "deita":
            raters.append(("quality.reward", q["reward"], 1))
        unieval_dims = [d for d in ("naturalness", "coherence", "understandability") if d in im["indicators"]]
        if unieval_dims and q["unieval"] not in (None, "trained"):
            raters.append(("quality.unieval", q["unieval"], len(unieval_dims)))
        for model in registry.study_models(config, "instructmining"):
            for key, ref, passes in raters:
                rn = resolve_shape(ref, key, trust)["n_params"]
                tokens = passes * pool * tpr
                rows.append(_row(f"raters: {key.split('.')[1]}", model, dev, 0, pool, tokens,
                                 inference_flops(rn, tokens), int(dev == "gpu"), inference_gib(rn, dtype, dev == "gpu"),
                                 f"{ref}: {passes} pass(es) per pool record, inside the raters job"))
    it = config["iterit"]
    if registry.declared_experiments(config, ["selection"]) and "superfilter" in it["methods"]:
        proxy = (built_shape(config, it["proxy"]["arch"], "iterit.proxy.arch") if it["proxy"]["build"]
                 else resolve_shape(it["proxy"]["path"], "iterit.proxy.path", trust))
        for model in registry.study_models(config, "iterit"):
            tokens = 2 * pool * tpr
            rows.append(_row("iterit_proxy_ifd", model, dev, 1, pool, tokens,
                             inference_flops(proxy["n_params"], tokens), int(dev == "gpu"),
                             inference_gib(proxy["n_params"], dtype, dev == "gpu"), "Superfiltering's proxy, two passes per record"))
    return rows


def compute_plan(config: Config, shapes: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The plan of a validated config: its rows (see :data:`COLUMNS`) with GPU-hours at
    ``plan.peak_tflops`` x ``plan.utilization``, and the totals."""
    shapes = model_shapes(config) if shapes is None else shapes
    plan = config["plan"]
    rows = data_rows(config, shapes) + finetune_rows(config, shapes) + inference_rows(config, shapes)
    for r in rows:
        r["gpu_hours"] = gpu_hours(r["flops"], float(plan["peak_tflops"]), float(plan["utilization"]))
    total = {"jobs": sum(r["jobs"] for r in rows), "tokens": sum(r["tokens"] for r in rows),
             "flops": sum(r["flops"] for r in rows), "gpu_hours": sum(r["gpu_hours"] for r in rows),
             "gpu_hours_on_gpu": sum(r["gpu_hours"] for r in rows if r["device"] == "gpu")}
    return {"rows": rows, "total": total, "assumptions": {k: plan[k] for k in plan},
            "params": {m: s["n_params"] for m, s in shapes.items()}}


def _fmt(x: float) -> str:
    if x == 0:
        return "0"
    exp = int(math.floor(math.log10(abs(x))))
    return f"{x / 10**exp:.2f}e{exp}"


def plan_markdown(plan: Mapping[str, Any]) -> str:
    """The plan as a markdown table (one row per stage and model) with the total."""
    lines = ["| stage | model | device | jobs | tokens | FLOPs | GPUs/job | GiB/GPU | GPU-hours |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in plan["rows"]:
        gib = "" if r["gib_per_gpu"] is None else f"{r['gib_per_gpu']:.1f}"
        lines.append(f"| {r['stage']} | {r['model']} | {r['device']} | {r['jobs']:,} | {_fmt(r['tokens'])} | "
                     f"{_fmt(r['flops'])} | {r['gpus_per_job']} | {gib} | {r['gpu_hours']:,.1f} |")
    t, a = plan["total"], plan["assumptions"]
    lines.append(f"| **total** | | | {t['jobs']:,} | {_fmt(t['tokens'])} | {_fmt(t['flops'])} | | | "
                 f"**{t['gpu_hours']:,.0f}** |")
    lines.append("")
    lines.append(f"GPU-hours at {a['peak_tflops']} TFLOP/s peak per GPU x {a['utilization']} utilization; "
                 f"{a['tokens_per_record']} tokens per record; {t['gpu_hours_on_gpu']:,.0f} of them in stages "
                 "configured on GPUs.")
    return "\n".join(lines)


_INTS = frozenset({"jobs", "records", "tokens", "gpus_per_job"})
_FLOATS = frozenset({"flops", "gib_per_gpu", "gpu_hours"})


def write_plan_tsv(path: str, plan: Mapping[str, Any]) -> int:
    """compute.tsv: one row per stage and model (:data:`COLUMNS`; an inference-free row's
    ``gib_per_gpu`` is nan), then a ``total`` row."""
    t = plan["total"]
    total = {"stage": "total", "model": "", "device": "", "jobs": t["jobs"], "records": 0, "tokens": t["tokens"],
             "flops": t["flops"], "gpus_per_job": 0, "gib_per_gpu": None, "gpu_hours": t["gpu_hours"],
             "note": "every row"}
    return write_typed_tsv(path, [*plan["rows"], total], COLUMNS, ints=_INTS, floats=_FLOATS, what="compute plan")


def read_plan_tsv(path: str) -> list[dict[str, Any]]:
    """The rows :func:`write_plan_tsv` wrote (the total last)."""
    return read_typed_tsv(path, COLUMNS, ints=_INTS, floats=_FLOATS, what="compute plan")
