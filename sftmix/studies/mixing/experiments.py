"""Instruction mixing's experiments: four families, five name shapes.

* ``tmix``       ``tmix_<combo>``: one of the seven fine-tuned combinations of Table 1/2 (``a``,
  ``c``, ``p``, ``ac``, ``ap``, ``cp``, ``acp``; ``none`` is the base model, never trained):
  ``mixing.per_type`` records of each of its types
  (:func:`sftmix.studies.mixing.sets.combination_set`). Trained on every base model of the study
  (the paper's 7B vs 13B: two sizes).
* ``tmixeq``     ``tmixeq_<combo>``: the same combinations at equal size (the sound variant:
  :func:`sftmix.studies.mixing.sets.equal_combination_set`), :func:`~.sets.equal_total` records in
  equal parts of the combination's types, so every combination trains the same steps. A
  single-type combination at ``equal_size.total = per_type`` is the published set itself and is
  not declared again: :func:`design_experiments` maps it to its ``tmix_`` run. Trained on the
  same base models as ``tmix``.
* ``tmixsteps``  ``tmixsteps_<combo>_as_<partner>``: the published set of ``combo`` trained for the
  optimizer steps of the published ``partner`` (the ``matched`` budget: more passes over the same
  records), the reference of a claim in the ``steps`` design
  (:mod:`sftmix.studies.mixing.claims`): declared for the references of the paper's claims only
  (:func:`claim_runs`). Trained on the same base models as ``tmix``.
* ``tmixsweep``  ``tmixratio_<r>``: the ratio sweep (Fig. 2), ``mixing.ratio.general`` general
  records and specialized (code + NLP) ones at ratio ``r / 100`` of them
  (:func:`~.sets.ratio_set`); ``tmixsize_<n>``: the size sweep (Fig. 2), ``n`` records in equal
  parts per type (:func:`~.sets.size_set`). Trained on ``mixing.sweep_models`` (default: the
  study's first base model; the paper sweeps one model).

Every set is drawn per replicate seed (the draw is part of what a replicate replicates) and shared
by all base models; every set trains ``mixing.epochs`` passes (the paper's fixed 2 epochs), so a
larger set also gets proportionally more optimizer steps, as in the paper (the ``tmixeq`` sets all
have the same size, hence the same steps; a ``tmixsteps`` run takes its partner's steps).
"""

from __future__ import annotations

from typing import Any

from ...experiments import REGISTRY, Config, Family, StudySection, register, study_models
from .claims import claimed, steps_partner
from .sets import COMBINATIONS, combo_types, equal_total

SECTION = "mixing"
FAMILY = "tmix"
EQUAL = "tmixeq"
STEPS = "tmixsteps"
SWEEP = "tmixsweep"
FAMILIES = (FAMILY, EQUAL, STEPS, SWEEP)
DESIGNS = ("additive", "equal", "steps")
"""The designs of the combinations' comparisons: as published (``per_type`` records of each type),
at equal size (:data:`EQUAL`) and at matched steps (:data:`STEPS`); see
:mod:`sftmix.studies.mixing.claims`. The last two are ``mixing.designs``."""
TRAINED = tuple(c for c in COMBINATIONS if c != "none")
"""The seven fine-tuned combinations (``none`` is the base model as it is)."""


STUDY = StudySection(SECTION)
section, enabled, epochs, _seeds = STUDY.section, STUDY.enabled, STUDY.epochs, STUDY.seeds


def ratio_key(ratio: float) -> str:
    """A ratio as its name field: hundredths, three digits (1.5 -> ``150``)."""
    hundredths = round(float(ratio) * 100)
    if abs(hundredths - float(ratio) * 100) > 1e-6 or not 0 <= hundredths <= 999:
        raise ValueError(f"{SECTION}.ratio.ratios: {ratio!r} must be a multiple of 0.01 in [0, 9.99]")
    return f"{hundredths:03d}"


def combo_name(combo: str) -> str:
    return REGISTRY[FAMILY].name_of(0, combo=combo)


def equal_name(combo: str) -> str:
    return REGISTRY[EQUAL].name_of(0, combo=combo)


def steps_name(combo: str, partner: str) -> str:
    return REGISTRY[STEPS].name_of(0, combo=combo, partner=partner)


def ratio_name(ratio: float) -> str:
    return REGISTRY[SWEEP].name_of(0, r=ratio_key(ratio))


def size_name(n: int) -> str:
    return REGISTRY[SWEEP].name_of(1, n=str(int(n)))


def parse(experiment: str) -> dict[str, Any]:
    """``{"kind": "combo", "combo"}`` (published), ``{"kind": "equal", "combo"}`` (equal size),
    ``{"kind": "steps", "combo", "partner"}`` (matched steps), ``{"kind": "ratio", "ratio"}`` or
    ``{"kind": "size", "n"}``."""
    if REGISTRY[STEPS].matches(experiment):
        return {"kind": "steps", **REGISTRY[STEPS].parse(experiment)[1]}
    for kind, family in (("combo", FAMILY), ("equal", EQUAL)):
        if REGISTRY[family].matches(experiment):
            return {"kind": kind, "combo": REGISTRY[family].parse(experiment)[1]["combo"]}
    _, v = REGISTRY[SWEEP].parse(experiment)
    if "r" in v:
        return {"kind": "ratio", "ratio": int(v["r"]) / 100}
    return {"kind": "size", "n": int(v["n"])}


def combinations(config: Config) -> list[str]:
    """The configured fine-tuned combinations in the paper's order."""
    chosen = set(section(config)["combinations"])
    for c in chosen:
        combo_types(c)  # a readable error for an unknown name
    return [c for c in TRAINED if c in chosen]


def ratios(config: Config) -> list[float]:
    return sorted({float(r) for r in section(config)["ratio"]["ratios"]})


def sizes(config: Config) -> list[int]:
    return sorted({int(n) for n in section(config)["size"]["sizes"]})


def _declare_combos(config: Config) -> list[str]:
    return [combo_name(c) for c in combinations(config)] if enabled(config) else []


def design_experiments(section: Config, combos: list[str]) -> dict[str, dict[str, str]]:
    """Which run answers for each combination in each design (``section``: the ``mixing`` config
    section): ``{"additive": {combo: "tmix_<combo>"}, "equal": {combo: name}}``. The equal design
    is empty when ``mixing.designs`` leaves it out; its single-type combinations are the published
    ``tmix_`` runs when :func:`~.sets.equal_total` equals ``per_type`` (the same set), else
    ``tmixeq_<combo>`` like its mixtures."""
    out: dict[str, dict[str, str]] = {"additive": {c: combo_name(c) for c in combos}, "equal": {}}
    if "equal" in section["designs"]:
        shared = equal_total(section) == int(section["per_type"])
        out["equal"] = {c: combo_name(c) if shared and len(combo_types(c)) == 1 else equal_name(c) for c in combos}
    return out


def claim_runs(section: Config, combos: list[str]) -> dict[str, dict[str, tuple[str, str]]]:
    """The runs that answer each claim of :data:`~.claims.CLAIMS` (both combinations among
    ``combos``) in each design: ``{design: {claim: (experiment run, reference run)}}``. ``additive``
    and ``equal`` take :func:`design_experiments`' runs of the two combinations; ``steps`` the
    experiment's published run against ``tmixsteps_<reference>_as_<partner>``, the reference's
    published set trained for the steps of :func:`~.claims.steps_partner` (the experiment's
    number of types). Designs left out of ``mixing.designs`` are empty."""
    runs = design_experiments(section, combos)
    out: dict[str, dict[str, tuple[str, str]]] = {d: {} for d in DESIGNS}
    for claim, _, exp, ref, _ in claimed(combos):
        for design in ("additive", "equal"):
            if runs[design]:
                out[design][claim] = (runs[design][exp], runs[design][ref])
        if "steps" in section["designs"]:
            out["steps"][claim] = (combo_name(exp), steps_name(ref, steps_partner(ref, len(combo_types(exp)))))
    return out


def _declare_steps(config: Config) -> list[str]:
    if not enabled(config):
        return []
    refs = [ref for _, ref in claim_runs(section(config), combinations(config))["steps"].values()]
    return list(dict.fromkeys(refs))


def _matched_to(experiment: str) -> str:
    """The run whose set gives a ``tmixsteps`` run its steps: the partner's published set."""
    return combo_name(parse(experiment)["partner"])


def _declare_equal(config: Config) -> list[str]:
    if not enabled(config):
        return []
    names = design_experiments(section(config), combinations(config))["equal"].values()
    return [n for n in names if REGISTRY[EQUAL].matches(n)]


def _declare_sweeps(config: Config) -> list[str]:
    if not enabled(config):
        return []
    return [ratio_name(r) for r in ratios(config)] + [size_name(n) for n in sizes(config)]


def sweep_models(config: Config) -> list[str]:
    """The base models the sweeps train (``mixing.sweep_models``; null = the study's first)."""
    own = section(config)["sweep_models"]
    models = study_models(config, SECTION)
    if own is None:
        return models[:1]
    unknown = [m for m in own if m not in models]
    if unknown:
        raise ValueError(f"{SECTION}.sweep_models: {unknown} are not base models of the study {models}")
    return list(own)


register(Family(FAMILY, ("tmix_{combo}",), {"combo": "|".join(TRAINED)}, _declare_combos,
                per_model=False, per_seed=True, budget="epochs", study=SECTION, seeds=_seeds, epochs=epochs,
                doc="tmix_<combo>: one instruction-type combination (Table 1/2)"))
register(Family(EQUAL, ("tmixeq_{combo}",), {"combo": "|".join(TRAINED)}, _declare_equal,
                per_model=False, per_seed=True, budget="epochs", study=SECTION, seeds=_seeds, epochs=epochs,
                doc="tmixeq_<combo>: one combination at equal size (the sound variant of Table 1/2)"))
register(Family(STEPS, ("tmixsteps_{combo}_as_{partner}",), {"combo": "|".join(TRAINED), "partner": "|".join(TRAINED)},
                _declare_steps, per_model=False, per_seed=True, budget="matched", matched_to=_matched_to, study=SECTION,
                seeds=_seeds, epochs=epochs,
                doc="tmixsteps_<combo>_as_<partner>: a published set trained for another's steps (claims' steps design)"))
register(Family(SWEEP, ("tmixratio_{r}", "tmixsize_{n}"), {"r": "[0-9]{3}", "n": "[0-9]+"}, _declare_sweeps,
                per_model=False, per_seed=True, budget="epochs", study=SECTION, seeds=_seeds, epochs=epochs,
                models=sweep_models,
                doc="tmixratio_<r> / tmixsize_<n>: the ratio and size sweeps (Fig. 2)"))
