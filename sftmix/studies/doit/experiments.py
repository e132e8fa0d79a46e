"""DoIT's experiments: three families, every one trained with a checkpoint evaluation per epoch.

* ``doit``     ``doitn_<n>``: the quantity sweep (Sec. 4.1), ``n`` records of *every* ability,
  ``n`` on the log grid ``1, base, base^2, ... <= doit.grid.max_n``
  (:func:`~sftmix.studies.doit.analysis.quantity_grid`). Trained on every base model of the study:
  the sizes of the parameter-scaling fits.
* ``doitone``  ``doitone_<ability>``: ``doit.feature_n`` records of one ability (the 64-item runs
  of Sec. 4.3.2 that give Complexity and Transference), on ``doit.feature_model``.
* ``doitmix``  ``doitmix_<mix>``: the application (Sec. 5.2, Table 3), ``reconstruct`` (the
  insensitive abilities cut to ``doit.mix.floor``, the rest raised, the baseline's total) and
  ``maximum`` (every other ability's whole supply); the baseline is the sweep's top ``n``.

Every set is drawn per replicate seed and shared by the base models; every run trains
``doit.epochs`` passes (the paper: >= 15) and its training job scores each epoch's checkpoint on
the dev and test items (``trained_by`` the study's ``doit_finetune`` rule), so the engine's
``score`` rule does not score these models (``scored=False``): DoIT reports the checkpoint chosen
on dev, not the last one.
"""

from __future__ import annotations

from typing import Any

from ...experiments import REGISTRY, Config, Family, StudySection, register, slugify, study_models
from .analysis import quantity_grid

SECTION = "doit"
SWEEP, SINGLE, MIX = "doit", "doitone", "doitmix"
FAMILIES = (SWEEP, SINGLE, MIX)
MIXES = ("reconstruct", "maximum")
TRAINED_BY = "doit_finetune"

STUDY = StudySection(SECTION)
section, enabled, epochs, _seeds = STUDY.section, STUDY.enabled, STUDY.epochs, STUDY.seeds


def abilities(config: Config) -> list[str]:
    """The abilities (categories) of the study: ``doit.abilities``, or every category."""
    own = section(config)["abilities"]
    cats = list(config["categories"])
    if own is None:
        return cats
    unknown = [a for a in own if a not in cats]
    if unknown:
        raise ValueError(f"{SECTION}.abilities: {unknown} are not categories of the run {cats}")
    return list(own)


def ability_of(config: Config, slug: str) -> str:
    """The ability a ``doitone_<slug>`` name trains."""
    return ability_by_slug(abilities(config), slug)


def ability_by_slug(names: list[str], slug: str) -> str:
    """The one of ``names`` (the study's abilities) whose slug is ``slug``."""
    for a in names:
        if slugify(a) == slug:
            return a
    raise ValueError(f"{SECTION}: no ability of the study has the slug {slug!r}")


def grid(config: Config) -> list[int]:
    """The sweep's per-ability quantities: the powers of ``doit.grid.base`` up to ``max_n``."""
    g = section(config)["grid"]
    return quantity_grid({"grid": int(g["max_n"])}, base=int(g["base"]), max_n=int(g["max_n"]))


def baseline_n(config: Config) -> int:
    """Per-ability records of the uniform baseline of Table 3: the sweep's top quantity."""
    return grid(config)[-1]


def feature_model(config: Config) -> str:
    own = section(config)["feature_model"]
    models = study_models(config, SECTION)
    if own is None:
        return models[0]
    if own not in models:
        raise ValueError(f"{SECTION}.feature_model: {own!r} is not a base model of the study {models}")
    return own


def mix_models(config: Config) -> list[str]:
    own = section(config)["mix"]["models"]
    models = study_models(config, SECTION)
    if own is None:
        return [feature_model(config)]
    unknown = [m for m in own if m not in models]
    if unknown:
        raise ValueError(f"{SECTION}.mix.models: {unknown} are not base models of the study {models}")
    return list(own)


def sweep_name(n: int) -> str:
    return REGISTRY[SWEEP].name_of(0, n=str(int(n)))


def single_name(ability: str) -> str:
    return REGISTRY[SINGLE].name_of(0, ability=slugify(ability))


def mix_name(mix: str) -> str:
    return REGISTRY[MIX].name_of(0, mix=mix)


def parse(experiment: str) -> dict[str, Any]:
    """``{"kind": "sweep", "n"}``, ``{"kind": "single", "slug"}`` or ``{"kind": "mix", "mix"}``."""
    for kind, fam, key in (("sweep", SWEEP, "n"), ("single", SINGLE, "ability"), ("mix", MIX, "mix")):
        if REGISTRY[fam].matches(experiment):
            v = REGISTRY[fam].parse(experiment)[1][key]
            return {"kind": kind, **({"n": int(v)} if kind == "sweep" else {"slug": v} if kind == "single" else {"mix": v})}
    raise ValueError(f"{experiment!r} is not a DoIT experiment")


def _declare_sweep(config: Config) -> list[str]:
    return [sweep_name(n) for n in grid(config)] if enabled(config) else []


def _declare_single(config: Config) -> list[str]:
    if not enabled(config) or not section(config)["features"]:
        return []
    return [single_name(a) for a in abilities(config)]


def _declare_mix(config: Config) -> list[str]:
    return [mix_name(m) for m in section(config)["mix"]["mixes"]] if enabled(config) else []


_common = dict(per_model=False, per_seed=True, budget="epochs", study=SECTION, seeds=_seeds, epochs=epochs,
               trained_by=TRAINED_BY, scored=False)
register(Family(SWEEP, ("doitn_{n}",), {"n": "[0-9]+"}, _declare_sweep, **_common,
                doc="doitn_<n>: n records of every ability (the quantity sweep, Sec. 4.1)"))
register(Family(SINGLE, ("doitone_{ability}",), {"ability": "[a-z0-9_]+"}, _declare_single, **_common,
                models=lambda cfg: [feature_model(cfg)],
                doc="doitone_<ability>: doit.feature_n records of one ability (Complexity, Transference)"))
register(Family(MIX, ("doitmix_{mix}",), {"mix": "|".join(MIXES)}, _declare_mix, **_common, models=mix_models,
                doc="doitmix_<mix>: the Reconstruct and Maximum mixes of Table 3"))
