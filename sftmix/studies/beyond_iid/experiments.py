"""Beyond IID's experiments: the interaction, mixture and schedule families.

* ``interaction``  ``base`` = D (the union of every category's base set); ``add_<c>`` = D plus
  category c's added pool C~_c (Eq. 1's M^{U C~_c}); ``drop_<c>`` = D without category c's base set
  (the dependency taxonomy's D_train \\ C_c). Shared by all models.
* ``mixture``      ``mix_<method>_<size>``: a category mixture of ``size`` records from the
  candidate pool (``random``, ``uniform``, ``deita``, ``instag``, ``ifd``, ``length`` or ``eecpo``;
  see :mod:`.optimize`). Per model (its gamma and quality scores drive it).
* ``schedule``     ``sched_<name>``: a training schedule over D (``dtcsft``, ``mixplus``,
  ``baseline``; see :mod:`.curriculum`), trained once in its staged order. Per model.

The study's config section is ``beyond_iid`` (:func:`section`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...experiments import REGISTRY, Config, Family, register, slugify
from ...records import Record

SECTION = "beyond_iid"
# EE-CPO variants (Eq. 5): ``eecpo`` reads alpha as the prose defines it (the importance of the
# category whose equivalent amount is maximised), ``eecpo_printed`` as Eq. 5 is printed (alpha on
# the added category's row sum); ``_trust`` adds the trust region around alpha (see optimize.py).
EECPO_METHODS = ("eecpo", "eecpo_printed", "eecpo_trust", "eecpo_printed_trust")
MIXTURE_METHODS = ("random", "uniform", "deita", "instag", "ifd", "length", *EECPO_METHODS)
SCHEDULES = ("dtcsft", "mixplus", "baseline")


def section(config: Config) -> Config:
    """The study's config section."""
    return config[SECTION]


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
    chosen = section(config)["experiments"]["categories"]
    if chosen is None:
        return cats
    unknown = sorted(set(chosen) - set(cats))
    if unknown:
        raise ValueError(f"{SECTION}.experiments.categories: unknown categories {unknown}")
    return [c for c in cats if c in set(chosen)]


def interaction_experiments(slugs: list[str], *, base: bool = True, add: bool = True, drop: bool = True) -> list[str]:
    """The 1 + 2N experiments of the interaction analysis, in a stable order."""
    out = [BASE] if base else []
    out += [add_name(s) for s in slugs] if add else []
    out += [drop_name(s) for s in slugs] if drop else []
    return out


def _declare_interaction(config: Config) -> list[str]:
    ex = section(config)["experiments"]
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
        raise ValueError(f"{SECTION}.optimize.methods: unknown {unknown}; choose from {list(MIXTURE_METHODS)}")
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


def _enabled(config: Config, part: str, needs: str, why: str) -> bool:
    """Is the study's ``part`` on? It needs the interaction experiments of kind ``needs`` (a config error
    naming both keys otherwise)."""
    study = config[SECTION]
    if not study[part]["enabled"]:
        return False
    if not study["experiments"][needs]:
        raise ValueError(f"{SECTION}.{part}.enabled: {why}; set {SECTION}.experiments.{needs}: true")
    return True


def _declare_mixtures(config: Config) -> list[str]:
    opt = section(config)["optimize"]
    if not _enabled(config, "optimize", "add", "EE-CPO needs gamma"):
        return []
    return mixture_experiments(opt["methods"], opt["sizes"])


def mixture_rows(config: Config) -> list[dict[str, Any]]:
    """Report rows of the mixtures: every method at every size, against EE-CPO of that size."""
    opt = section(config)["optimize"]
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
        raise ValueError(f"{SECTION}.curriculum.schedules: unknown {unknown}; choose from {list(SCHEDULES)}")
    return [schedule_name(n) for n in names]


def _declare_schedules(config: Config) -> list[str]:
    if not _enabled(config, "curriculum", "drop", "DT-CSFT needs the taxonomy"):
        return []
    return schedule_experiments(section(config)["curriculum"]["schedules"])


def schedule_rows(config: Config) -> list[dict[str, Any]]:
    """Report rows of the schedules, against the 3-epoch baseline when it is run."""
    names = _declare_schedules(config)
    ref = schedule_name("baseline") if schedule_name("baseline") in names else None
    return [{"experiment": n, "schedule": parse_schedule(n), "reference": ref} for n in names]


def _kind_budget(config: Config, kind: str) -> str:
    """The training budget of one kind of interaction experiment (``base``, ``add``, ``drop``):
    ``experiments.budget`` (epochs or steps) for base and add; ``experiments.drop_budget``
    (matched to base, or epochs) for drop."""
    ex = section(config)["experiments"]
    if kind != "drop":
        return ex["budget"]
    if ex["drop_budget"] == "matched" and ex["budget"] == "steps":
        return "steps"  # base trains train.max_steps: matching it is the steps budget
    return ex["drop_budget"]


def interaction_budget(config: Config, experiment: str) -> str:
    """The training budget of an interaction experiment (see :func:`_kind_budget`)."""
    return _kind_budget(config, parse_experiment(experiment)[0])


def interaction_budgets(config: Config) -> dict[str, str]:
    """The budget of each kind of interaction experiment (what the analyses record)."""
    return {kind: _kind_budget(config, kind) for kind in INTERACTION_KINDS}


register(Family("interaction", INTERACTION_TEMPLATES, {"category": "[a-z0-9_]+"}, _declare_interaction,
                per_model=False, budget=interaction_budget, matched_to=lambda _: BASE,
                doc="base, add_<category>, drop_<category>: Eq. 1 and the dependency taxonomy"))


def _seeds(family: str) -> Callable[[Config], list[int]]:
    """The replicate seeds of a family (``beyond_iid.seeds.<family>``; null = ``train.seeds``)."""
    def seeds(config: Config) -> list[int]:
        own = section(config)["seeds"][family]
        return list(config["train"]["seeds"] if own is None else own)

    return seeds


register(Family("mixture", ("mix_{method}_{size}",), {"method": "[a-z]+(?:_[a-z]+)*", "size": "[0-9]+"},
                _declare_mixtures, per_model=True, per_seed=True, seeds=_seeds("mixture"),
                doc="mix_<method>_<size>: EE-CPO (Eq. 5) and its baselines at equal size, drawn per seed"))
register(Family("schedule", ("sched_{name}",), {"name": "[a-z]+"}, _declare_schedules, per_model=True,
                per_seed=True, seeds=_seeds("schedule"), budget="staged",
                doc="sched_<name>: DT-CSFT, Mix+ and the baseline, trained in staged order, drawn per seed"))
