"""The experiment registry: every fine-tune the workflow runs is a named experiment of a family.

One place answers, for every experiment name: its family (and the study that declared it), the
grammar of its name, the config that declares it, how its training set is laid out (shared by all
base models, or per model), its training budget, its seeds and the models it trains. The rules
derive their wildcard constraints, output patterns, target lists and fine-tune flags from here.

Families come from the studies (``sftmix.studies``): each study registers its own when the
registry is imported. A new family is one :class:`Family` entry plus the rule and library
function that build its training sets. The fine-tune rule does not care where a set came from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .budgets import BUDGETS

Config = Mapping[str, Any]



def study_models(config: Config, study: str) -> list[str]:
    """The base models ``study`` runs on: every model of ``config["models"]`` whose ``studies`` is
    null (all studies) or names it, in config order."""
    return [m for m, spec in config["models"].items() if spec.get("studies") is None or study in spec["studies"]]


def slugify(name: str) -> str:
    """Category name -> wildcard-safe slug ("Open-Domain QA" -> "open_domain_qa")."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _template_regex(template: str, fields: Mapping[str, str], named: bool) -> str:
    """``mix_{method}_{size}`` -> a regular expression of its names (groups named by field)."""
    out, pos = [], 0
    for m in re.finditer(r"\{(\w+)\}", template):
        out.append(re.escape(template[pos:m.start()]))
        field_re = fields[m.group(1)]
        out.append(f"(?P<{m.group(1)}>{field_re})" if named else f"(?:{field_re})")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return "".join(out)


@dataclass(frozen=True)
class Family:
    """One family of experiments.

    ``templates`` are the family's name grammar (``mix_{method}_{size}``; a name is one template
    with its fields filled), ``fields`` the regular expression of each field: the rules use both
    as their output patterns and wildcard constraints, and names are built (:meth:`name`) and
    parsed (:meth:`parse`) from them, nowhere else. ``declare`` maps the validated config to the
    family's experiment names (empty when the config turns it off); ``per_model`` says whether a
    training set is built per base model (from that model's own analyses) or shared by all;
    ``per_seed`` whether each replicate seed gets its own draw of the set (a random mixture, a
    seeded curriculum: the draw is part of what a replicate replicates);
    ``budget`` is ``steps`` (``train.max_steps`` optimizer steps over the shuffled set: equal
    compute for equal-size sets), ``epochs`` (``train.epochs`` passes: steps proportional to the
    set's size), ``matched`` (the steps ``train.epochs`` passes over the set of experiment
    ``matched_to(name)`` take) or ``staged`` (one pass over the set's stages in order, see
    :func:`sftmix.sft.training_order`), or a function of (config, experiment name) giving one of
    them (:mod:`sftmix.budgets`). ``trained_by`` is ``finetune`` (the engine's one-job fine-tune)
    or the name of the study rule that trains the family's models (see :func:`finetuned_families`).
    ``epochs``: the passes of the ``epochs`` / ``matched`` budget when the family's study sets its
    own (IterIT's T), else ``train.epochs``. ``models``: the base models it trains (default: its
    study's, :func:`study_models`)."""

    name: str
    templates: tuple[str, ...]
    fields: Mapping[str, str]
    declare: Callable[[Config], list[str]]
    per_model: bool
    per_seed: bool = False
    budget: str | Callable[[Config, str], str] = "steps"
    matched_to: Callable[[str], str] | None = None
    study: str = "beyond_iid"
    trained_by: str = "finetune"
    scored: bool = True
    epochs: Callable[[Config], int] | None = None
    doc: str = ""
    seeds: Callable[[Config], list[int]] = field(default=lambda cfg: list(cfg["train"]["seeds"]))
    models: Callable[[Config], list[str]] | None = None

    def __post_init__(self) -> None:
        if not callable(self.budget) and self.budget not in BUDGETS:
            raise ValueError(f"family {self.name}: budget must be one of {BUDGETS}, not {self.budget!r}")
        for t in self.templates:
            re.compile(_template_regex(t, self.fields, named=True))

    def models_of(self, config: Config) -> list[str]:
        """The base models the family trains: its own ``models`` function's, else its study's
        (:func:`study_models`)."""
        return list(self.models(config)) if self.models is not None else study_models(config, self.study)

    def budget_of(self, config: Config, experiment: str) -> str:
        """The training budget of one of the family's experiments under ``config``."""
        b = self.budget(config, experiment) if callable(self.budget) else self.budget
        if b not in BUDGETS:
            raise ValueError(f"family {self.name}: budget must be one of {BUDGETS}, not {b!r}")
        if b == "matched" and self.matched_to is None:
            raise ValueError(f"family {self.name}: the matched budget needs matched_to (the reference experiment)")
        return b

    @property
    def pattern(self) -> str:
        """Every name of the family, as one regular expression (no anchors, no named groups)."""
        return "|".join(_template_regex(t, self.fields, named=False) for t in self.templates)

    def matches(self, experiment: str) -> bool:
        return re.fullmatch(self.pattern, experiment) is not None

    def parse(self, experiment: str) -> tuple[str, dict[str, str]]:
        """(template, fields) of one of the family's names."""
        for t in self.templates:
            m = re.fullmatch(_template_regex(t, self.fields, named=True), experiment)
            if m:
                return t, m.groupdict()
        raise ValueError(f"{experiment!r} is not a {self.name} experiment")

    def name_of(self, template: int, **values: Any) -> str:
        """The name ``templates[template]`` gives for ``values`` (checked against the grammar)."""
        out = self.templates[template].format(**values)
        if not self.matches(out):
            raise ValueError(f"{out!r} does not fit the {self.name} grammar {self.templates[template]!r}")
        return out


REGISTRY: dict[str, Family] = {}


def register(family: Family) -> Family:
    """Add ``family`` to the registry (its name and its name grammar must be new)."""
    if family.name in REGISTRY:
        raise ValueError(f"experiment family {family.name!r} is already registered")
    REGISTRY[family.name] = family
    return family


def unregister(name: str) -> None:
    REGISTRY.pop(name)


def family_of(experiment: str) -> Family:
    """The family whose grammar ``experiment`` matches (exactly one)."""
    hits = [f for f in REGISTRY.values() if f.matches(experiment)]
    if len(hits) != 1:
        why = "no family" if not hits else f"several families {[f.name for f in hits]}"
        raise ValueError(f"unknown experiment {experiment!r}: {why} matches it")
    return hits[0]


def experiment_family(name: str) -> str:
    """The name of ``name``'s family (``interaction``, ``mixture``, ``schedule``, ...)."""
    return family_of(name).name


def name_pattern(families: list[str] | None = None) -> str:
    """One regular expression of every registered family's names (a wildcard constraint)."""
    chosen = [REGISTRY[f] for f in families] if families is not None else list(REGISTRY.values())
    return "|".join(f"(?:{f.pattern})" for f in chosen)


def finetuned_families() -> list[str]:
    """Families whose models the engine's ``finetune`` rule trains in one job; the others
    (``trained_by`` names their study's rule: IterIT's epoch-wise re-selection) train elsewhere and
    deliver the same model directory."""
    return [f.name for f in REGISTRY.values() if f.trained_by == "finetune"]


def declared_experiments(config: Config, families: list[str] | None = None) -> list[str]:
    """Every experiment the config declares, family by family in registry order."""
    names = [f.name for f in REGISTRY.values()] if families is None else families
    return [e for n in names for e in REGISTRY[n].declare(config)]


def model_experiments(config: Config, model: str, families: list[str] | None = None) -> list[str]:
    """The declared experiments ``model`` is fine-tuned for: those of the families that train it
    (:meth:`Family.models_of`)."""
    names = [f.name for f in REGISTRY.values()] if families is None else families
    return [e for n in names if model in REGISTRY[n].models_of(config) for e in REGISTRY[n].declare(config)]


def scored_experiments(config: Config, model: str) -> list[str]:
    """The experiments of ``model`` whose models the engine's ``score`` rule scores
    (:attr:`Family.scored`)."""
    return [e for e in model_experiments(config, model) if family_of(e).scored]


def budget(experiment: str, config: Config) -> str:
    """The training budget of ``experiment`` (its family's, see :class:`Family`)."""
    return family_of(experiment).budget_of(config, experiment)


def budget_reference(experiment: str, config: Config) -> str | None:
    """The experiment whose training set sets ``experiment``'s step count under the ``matched``
    budget (None under any other budget)."""
    fam = family_of(experiment)
    if fam.budget_of(config, experiment) != "matched":
        return None
    assert fam.matched_to is not None  # budget_of checked it
    return fam.matched_to(experiment)


def finetune_flags(experiment: str, config: Config) -> str:
    """Command-line flags of scripts/finetune.py that the family's budget implies (the reference
    set of a ``matched`` budget is the rule's ``reference`` input, passed as ``--match``)."""
    fam = family_of(experiment)
    flags = f"--budget {budget(experiment, config)}"
    if fam.epochs is not None:
        flags += f" --epochs {fam.epochs(config)}"
    return flags


def uses_deita(config: Config) -> bool:
    """Whether a declared study reads the DEITA-style score: a Beyond-IID mixture method or D_qs
    (EE-CPO's quality selection, ``beyond_iid.optimize.quality``) ranks by it, IterIT's Deita
    baseline selects with it, or InstructMining's reward indicator stands in with it
    (``quality.reward: deita``). The one answer the rules (the scorer's jobs) and the compute plan
    share."""
    from .studies.iterit import experiments as iterit

    opt = config["beyond_iid"]["optimize"]
    if opt["enabled"] and ("deita" in opt["methods"] or opt["quality"] == "deita"):
        return True
    if any(iterit.parse(e)["method"] == "deita" for e in declared_experiments(config, ["iterit", "selection"])):
        return True
    return (bool(declared_experiments(config, ["imfuse", "imsel", "imsearch"]))
            and "reward" in config["instructmining"]["indicators"] and config["quality"]["reward"] == "deita")


def trainset_file(results: str, model: str, experiment: str, seed: int | str | None = None) -> str:
    """Where an experiment's training set lives: shared sets once, per-model sets per model, and
    per-seed sets once per replicate seed (``seed`` is then required)."""
    fam = family_of(experiment)
    base = f"{results}/trainsets/{model}/{experiment}" if fam.per_model else f"{results}/trainsets/{experiment}"
    if not fam.per_seed:
        return f"{base}.jsonl"
    if seed is None:
        raise ValueError(f"{experiment}: the {fam.name} family draws a training set per seed; give the seed")
    return f"{base}/seed_{seed}.jsonl"


def own_or_train(config: Config, section: str, key: str) -> Any:
    """A study's own setting (``<section>.<key>``: its epochs, its seeds) or, when it is null, the
    train section's (``train.<key>``)."""
    own = config[section][key]
    return config["train"][key] if own is None else own


@dataclass(frozen=True)
class StudySection:
    """A study's config section (``config[name]``) and the settings every study reads from it the
    same way: ``enabled``, and ``epochs`` / ``seeds`` that fall back to the train section when null."""

    name: str

    def section(self, config: Config) -> Config:
        return config[self.name]

    def enabled(self, config: Config) -> bool:
        return bool(config[self.name]["enabled"])

    def epochs(self, config: Config) -> int:
        """Passes over every set of the study (``<name>.epochs``; null = ``train.epochs``)."""
        return int(own_or_train(config, self.name, "epochs"))

    def seeds(self, config: Config) -> list[int]:
        """Replicate seeds of the study (``<name>.seeds``; null = ``train.seeds``)."""
        return list(own_or_train(config, self.name, "seeds"))


def seeds_of(experiment: str, config: Config) -> list[int]:
    """The replicate seeds ``experiment`` is trained with (its family's, see :class:`Family`)."""
    return list(family_of(experiment).seeds(config))


def experiment_seeds(config: Config, experiments: list[str] | None = None) -> list[tuple[str, int]]:
    """``(experiment, seed)`` of every replicate of ``experiments`` (default: all declared)."""
    names = declared_experiments(config) if experiments is None else experiments
    return [(e, s) for e in names for s in seeds_of(e, config)]


def template(family: str, index: int = 0) -> str:
    """A family's name template, for a rule's output pattern (its fields are the wildcards)."""
    return REGISTRY[family].templates[index]


def field_pattern(family: str, name: str) -> str:
    """The regular expression of one field of a family's names (a wildcard constraint)."""
    return REGISTRY[family].fields[name]


# every study registers its families on import (after the registry above exists)
from . import studies  # noqa: E402,F401
