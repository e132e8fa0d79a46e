"""Experiments as data: which records a fine-tune sees.

Beyond IID's interventions on the base instruction set D (the union of every category's base set):

* ``base``       D
* ``add_<c>``    D plus category c's added pool C~_c (Eq. 1's M^{U C~_c})
* ``drop_<c>``   D without category c's base set (the dependency taxonomy's D_train \\ C_c)

Optimization experiments (built per model, from that model's gamma, taxonomy and quality scores):

* ``mix_<method>_<size>``  a category mixture of ``size`` records from the candidate pool
  (``random``, ``uniform``, ``deita``, ``instag``, ``ifd``, ``length`` or ``eecpo``; see
  :mod:`sftmix.optimize`)
* ``sched_<name>``         a training schedule over D (``dtcsft``, ``mixplus``, ``baseline``; see
  :mod:`sftmix.curriculum`), trained in its staged order, one pass

The fine-tune rule does not care where a training set came from.
"""

from __future__ import annotations

import re

from .records import Record

EXPERIMENT_RE = re.compile(r"^(base|add_[a-z0-9_]+|drop_[a-z0-9_]+|mix_[a-z]+_[0-9]+|sched_[a-z]+)$")
MIXTURE_METHODS = ("random", "uniform", "deita", "instag", "ifd", "length", "eecpo")
SCHEDULES = ("dtcsft", "mixplus", "baseline")


def slugify(name: str) -> str:
    """Category name -> wildcard-safe slug ("Open-Domain QA" -> "open_domain_qa")."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def interaction_experiments(slugs: list[str], *, base: bool = True, add: bool = True, drop: bool = True) -> list[str]:
    """The 1 + 2N experiments of the interaction analysis, in a stable order."""
    out = ["base"] if base else []
    out += [f"add_{s}" for s in slugs] if add else []
    out += [f"drop_{s}" for s in slugs] if drop else []
    return out


def mixture_experiments(methods: list[str], sizes: list[int]) -> list[str]:
    """``mix_<method>_<size>`` for every method and size (size-major, methods in given order)."""
    unknown = sorted(set(methods) - set(MIXTURE_METHODS))
    if unknown:
        raise ValueError(f"optimize.methods: unknown {unknown}; choose from {list(MIXTURE_METHODS)}")
    return [f"mix_{m}_{int(n)}" for n in sizes for m in methods]


def schedule_experiments(names: list[str]) -> list[str]:
    unknown = sorted(set(names) - set(SCHEDULES))
    if unknown:
        raise ValueError(f"curriculum.schedules: unknown {unknown}; choose from {list(SCHEDULES)}")
    return [f"sched_{n}" for n in names]


def experiment_family(name: str) -> str:
    """``interaction`` (base, add_*, drop_*), ``mixture`` (mix_*) or ``schedule`` (sched_*)."""
    if not EXPERIMENT_RE.match(name):
        raise ValueError(f"unknown experiment {name!r}")
    if name.startswith("mix_"):
        return "mixture"
    if name.startswith("sched_"):
        return "schedule"
    return "interaction"


def parse_mixture(name: str) -> tuple[str, int]:
    """``"mix_eecpo_440"`` -> ``("eecpo", 440)``."""
    m = re.fullmatch(r"mix_([a-z]+)_([0-9]+)", name)
    if not m or m.group(1) not in MIXTURE_METHODS:
        raise ValueError(f"unknown mixture experiment {name!r}")
    return m.group(1), int(m.group(2))


def parse_experiment(name: str) -> tuple[str, str | None]:
    """``"add_translation"`` -> ``("add", "translation")``; ``"base"`` -> ``("base", None)``."""
    if name == "base":
        return "base", None
    kind, _, slug = name.partition("_")
    if kind not in ("add", "drop") or not slug:
        raise ValueError(f"unknown interaction experiment {name!r}")
    return kind, slug


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
