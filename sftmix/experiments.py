"""The experiment registry: every fine-tune the workflow runs is a named experiment of a family.

One place answers, for every experiment name: its family, the grammar of its name, the config
that declares it, how its training set is laid out (shared by all base models, or per model),
its training budget, its seeds and the models it trains. The rules derive their wildcard
constraints, target lists and fine-tune flags from here; scripts and reports build and parse names
with the functions here. A new family is one :class:`Family` entry (``register``) plus the rule
and library function that build its training sets.

Beyond IID's families (the study this registry started with):

* ``interaction``  ``base`` = D (the union of every category's base set); ``add_<c>`` = D plus
  category c's added pool C~_c (Eq. 1's M^{U C~_c}); ``drop_<c>`` = D without category c's base set
  (the dependency taxonomy's D_train \\ C_c). Shared by all models.
* ``mixture``      ``mix_<method>_<size>``: a category mixture of ``size`` records from the
  candidate pool (``random``, ``uniform``, ``deita``, ``instag``, ``ifd``, ``length`` or ``eecpo``;
  see :mod:`sftmix.optimize`). Per model (its gamma and quality scores drive it).
* ``schedule``     ``sched_<name>``: a training schedule over D (``dtcsft``, ``mixplus``,
  ``baseline``; see :mod:`sftmix.curriculum`), trained once in its staged order. Per model.

The fine-tune rule does not care where a training set came from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .records import Record

Config = Mapping[str, Any]

MIXTURE_METHODS = ("random", "uniform", "deita", "instag", "ifd", "length", "eecpo")
SCHEDULES = ("dtcsft", "mixplus", "baseline")
BUDGETS = ("steps", "staged")


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
    ``budget`` is ``steps`` (the train section's steps/epochs over a shuffled set) or ``staged``
    (one pass over the set's stages in order, see :func:`sftmix.sft.training_order`)."""

    name: str
    templates: tuple[str, ...]
    fields: Mapping[str, str]
    declare: Callable[[Config], list[str]]
    per_model: bool
    budget: str = "steps"
    study: str = "beyond_iid"
    doc: str = ""
    seeds: Callable[[Config], list[int]] = field(default=lambda cfg: list(cfg["train"]["seeds"]))
    models: Callable[[Config], list[str]] = field(default=lambda cfg: list(cfg["models"]))

    def __post_init__(self) -> None:
        if self.budget not in BUDGETS:
            raise ValueError(f"family {self.name}: budget must be one of {BUDGETS}, not {self.budget!r}")
        for t in self.templates:
            re.compile(_template_regex(t, self.fields, named=True))

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


def declared_experiments(config: Config, families: list[str] | None = None) -> list[str]:
    """Every experiment the config declares, family by family in registry order."""
    names = [f.name for f in REGISTRY.values()] if families is None else families
    return [e for n in names for e in REGISTRY[n].declare(config)]


def finetune_flags(experiment: str) -> str:
    """Command-line flags of scripts/finetune.py that the family's budget implies."""
    return "--schedule" if family_of(experiment).budget == "staged" else ""


def trainset_file(results: str, model: str, experiment: str) -> str:
    """Where an experiment's training set lives: shared sets once, per-model sets per model."""
    if family_of(experiment).per_model:
        return f"{results}/trainsets/{model}/{experiment}.jsonl"
    return f"{results}/trainsets/{experiment}.jsonl"


# ---- interaction (Eq. 1 and the dependency taxonomy) ------------------------------------

BASE = "base"
INTERACTION_TEMPLATES = ("base", "add_{category}", "drop_{category}")
INTERACTION_KINDS = ("base", "add", "drop")  # one per template, in the same order


def add_name(slug: str) -> str:
    return REGISTRY["interaction"].name_of(1, category=slug)


def drop_name(slug: str) -> str:
    return REGISTRY["interaction"].name_of(2, category=slug)


def analysed_categories(config: Config) -> list[str]:
    """Categories with add/drop experiments (``experiments.categories``, or all of them), in the
    order of ``categories``."""
    cats = list(config["categories"])
    chosen = config["experiments"]["categories"]
    if chosen is None:
        return cats
    unknown = sorted(set(chosen) - set(cats))
    if unknown:
        raise ValueError(f"experiments.categories: unknown categories {unknown}")
    return [c for c in cats if c in set(chosen)]


def interaction_experiments(slugs: list[str], *, base: bool = True, add: bool = True, drop: bool = True) -> list[str]:
    """The 1 + 2N experiments of the interaction analysis, in a stable order."""
    out = [BASE] if base else []
    out += [add_name(s) for s in slugs] if add else []
    out += [drop_name(s) for s in slugs] if drop else []
    return out


def _declare_interaction(config: Config) -> list[str]:
    ex = config["experiments"]
    slugs = [slugify(c) for c in analysed_categories(config)]
    return interaction_experiments(slugs, base=ex["base"], add=ex["add"], drop=ex["drop"])


def parse_experiment(name: str) -> tuple[str, str | None]:
    """``"add_translation"`` -> ``("add", "translation")``; ``"base"`` -> ``("base", None)``."""
    try:
        template, values = REGISTRY["interaction"].parse(name)
    except ValueError:
        raise ValueError(f"unknown interaction experiment {name!r}") from None
    return INTERACTION_KINDS[INTERACTION_TEMPLATES.index(template)], values.get("category")


def interaction_kind(name: str) -> str | None:
    """``base``, ``add`` or ``drop`` for an interaction experiment, None for any other family."""
    return parse_experiment(name)[0] if REGISTRY["interaction"].matches(name) else None


def build_trainset(experiment: str, base_sets: dict[str, list[Record]],
                   added_sets: dict[str, list[Record]]) -> list[Record]:
    """The training records of an interaction experiment, sorted by id (order is the trainer's job)."""
    kind, slug = parse_experiment(experiment)
    if slug is not None and slug not in base_sets:
        raise ValueError(f"experiment {experiment!r}: unknown category slug {slug!r}")
    records = [r for s, recs in base_sets.items() if not (kind == "drop" and s == slug) for r in recs]
    if kind == "add":
        records += added_sets[slug]
    return sorted(records, key=lambda r: r["id"])


# ---- mixtures (EE-CPO, Eq. 5, and its baselines) ----------------------------------------


def mixture_name(method: str, size: int) -> str:
    return REGISTRY["mixture"].name_of(0, method=method, size=int(size))


def mixture_experiments(methods: list[str], sizes: list[int]) -> list[str]:
    """``mix_<method>_<size>`` for every method and size (size-major, methods in given order)."""
    unknown = sorted(set(methods) - set(MIXTURE_METHODS))
    if unknown:
        raise ValueError(f"optimize.methods: unknown {unknown}; choose from {list(MIXTURE_METHODS)}")
    return [mixture_name(m, n) for n in sizes for m in methods]


def parse_mixture(name: str) -> tuple[str, int]:
    """``"mix_eecpo_440"`` -> ``("eecpo", 440)``."""
    try:
        _, v = REGISTRY["mixture"].parse(name)
    except ValueError:
        v = {}
    if v.get("method") not in MIXTURE_METHODS:
        raise ValueError(f"unknown mixture experiment {name!r}")
    return v["method"], int(v["size"])


def _enabled(config: Config, section: str, needs: str, why: str) -> bool:
    """Is ``section`` on? It needs the interaction experiments of kind ``needs`` (a config error
    naming both keys otherwise)."""
    if not config[section]["enabled"]:
        return False
    if not config["experiments"][needs]:
        raise ValueError(f"{section}.enabled: {why}; set experiments.{needs}: true")
    return True


def _declare_mixtures(config: Config) -> list[str]:
    opt = config["optimize"]
    if not _enabled(config, "optimize", "add", "EE-CPO needs gamma"):
        return []
    return mixture_experiments(opt["methods"], opt["sizes"])


def mixture_rows(config: Config) -> list[dict[str, Any]]:
    """Report rows of the mixtures: every method at every size, against EE-CPO of that size."""
    opt = config["optimize"]
    rows = []
    for name in _declare_mixtures(config):
        method, size = parse_mixture(name)
        ref = mixture_name("eecpo", size) if "eecpo" in opt["methods"] else None
        rows.append({"experiment": name, "method": method, "size": size, "reference": ref})
    return rows


# ---- schedules (DT-CSFT, Mix+, the 3-epoch baseline) ------------------------------------


def schedule_name(schedule: str) -> str:
    return REGISTRY["schedule"].name_of(0, name=schedule)


def parse_schedule(name: str) -> str:
    """``"sched_dtcsft"`` -> ``"dtcsft"``."""
    return REGISTRY["schedule"].parse(name)[1]["name"]


def schedule_experiments(names: list[str]) -> list[str]:
    unknown = sorted(set(names) - set(SCHEDULES))
    if unknown:
        raise ValueError(f"curriculum.schedules: unknown {unknown}; choose from {list(SCHEDULES)}")
    return [schedule_name(n) for n in names]


def _declare_schedules(config: Config) -> list[str]:
    if not _enabled(config, "curriculum", "drop", "DT-CSFT needs the taxonomy"):
        return []
    return schedule_experiments(config["curriculum"]["schedules"])


def schedule_rows(config: Config) -> list[dict[str, Any]]:
    """Report rows of the schedules, against the 3-epoch baseline when it is run."""
    names = _declare_schedules(config)
    ref = schedule_name("baseline") if schedule_name("baseline") in names else None
    return [{"experiment": n, "schedule": parse_schedule(n), "reference": ref} for n in names]


register(Family("interaction", INTERACTION_TEMPLATES, {"category": "[a-z0-9_]+"}, _declare_interaction,
                per_model=False, doc="base, add_<category>, drop_<category>: Eq. 1 and the dependency taxonomy"))
register(Family("mixture", ("mix_{method}_{size}",), {"method": "[a-z]+", "size": "[0-9]+"}, _declare_mixtures,
                per_model=True, doc="mix_<method>_<size>: EE-CPO (Eq. 5) and its baselines at equal size"))
register(Family("schedule", ("sched_{name}",), {"name": "[a-z]+"}, _declare_schedules, per_model=True,
                budget="staged", doc="sched_<name>: DT-CSFT, Mix+ and the baseline, trained in staged order"))


def template(family: str, index: int = 0) -> str:
    """A family's name template, for a rule's output pattern (its fields are the wildcards)."""
    return REGISTRY[family].templates[index]


def field_pattern(family: str, name: str) -> str:
    """The regular expression of one field of a family's names (a wildcard constraint)."""
    return REGISTRY[family].fields[name]
