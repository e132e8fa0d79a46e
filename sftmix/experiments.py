"""Experiments as data: which records a fine-tune sees.

Beyond IID's interventions on the base instruction set D (the union of every category's base set):

* ``base``       D
* ``add_<c>``    D plus category c's added pool C~_c (Eq. 1's M^{U C~_c})
* ``drop_<c>``   D without category c's base set (the dependency taxonomy's D_train \\ C_c)

Later experiments (mixtures, curricula) write their own training sets; the fine-tune rule does
not care where a training set came from.
"""

from __future__ import annotations

import re

from .records import Record

EXPERIMENT_RE = re.compile(r"^(base|add_[a-z0-9_]+|drop_[a-z0-9_]+)$")


def slugify(name: str) -> str:
    """Category name -> wildcard-safe slug ("Open-Domain QA" -> "open_domain_qa")."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def interaction_experiments(slugs: list[str], *, base: bool = True, add: bool = True, drop: bool = True) -> list[str]:
    """The 1 + 2N experiments of the interaction analysis, in a stable order."""
    out = ["base"] if base else []
    out += [f"add_{s}" for s in slugs] if add else []
    out += [f"drop_{s}" for s in slugs] if drop else []
    return out


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
