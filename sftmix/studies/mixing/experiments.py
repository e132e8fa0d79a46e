"""Instruction mixing's experiments: the ``tmix`` family (type mixing), three name shapes.

* ``tmix_<combo>``      one of the seven fine-tuned combinations of Table 1/2 (``a``, ``c``, ``p``,
  ``ac``, ``ap``, ``cp``, ``acp``; ``none`` is the base model, never trained): ``mixing.per_type``
  records of each of its types (:func:`sftmix.studies.mixing.sets.combination_set`).
* ``tmixratio_<r>``     the ratio sweep (Fig. 2): ``mixing.ratio.general`` general records and
  specialized (code + NLP) ones at ratio ``r / 100`` of them (:func:`~.sets.ratio_set`).
* ``tmixsize_<n>``      the size sweep (Fig. 2): ``n`` records in equal parts per type
  (:func:`~.sets.size_set`).

Every set is drawn per replicate seed (the draw is part of what a replicate replicates) and shared
by all base models; every set trains ``mixing.epochs`` passes (the paper's fixed 2 epochs), so a
larger set also gets proportionally more optimizer steps, as in the paper.
"""

from __future__ import annotations

from typing import Any

from ...experiments import REGISTRY, Config, Family, own_or_train, register
from .sets import COMBINATIONS, combo_types

SECTION = "mixing"
FAMILY = "tmix"
TRAINED = tuple(c for c in COMBINATIONS if c != "none")
"""The seven fine-tuned combinations (``none`` is the base model as it is)."""


def section(config: Config) -> Config:
    return config[SECTION]


def enabled(config: Config) -> bool:
    return bool(section(config)["enabled"])


def epochs(config: Config) -> int:
    """Passes over every set of the study (``mixing.epochs``; null = ``train.epochs``)."""
    return int(own_or_train(config, SECTION, "epochs"))


def _seeds(config: Config) -> list[int]:
    return list(own_or_train(config, SECTION, "seeds"))


def ratio_key(ratio: float) -> str:
    """A ratio as its name field: hundredths, three digits (1.5 -> ``150``)."""
    hundredths = round(float(ratio) * 100)
    if abs(hundredths - float(ratio) * 100) > 1e-6 or not 0 <= hundredths <= 999:
        raise ValueError(f"{SECTION}.ratio.ratios: {ratio!r} must be a multiple of 0.01 in [0, 9.99]")
    return f"{hundredths:03d}"


def combo_name(combo: str) -> str:
    return REGISTRY[FAMILY].name_of(0, combo=combo)


def ratio_name(ratio: float) -> str:
    return REGISTRY[FAMILY].name_of(1, r=ratio_key(ratio))


def size_name(n: int) -> str:
    return REGISTRY[FAMILY].name_of(2, n=str(int(n)))


def parse(experiment: str) -> dict[str, Any]:
    """``{"kind": "combo", "combo"}``, ``{"kind": "ratio", "ratio"}`` or ``{"kind": "size", "n"}``."""
    template, v = REGISTRY[FAMILY].parse(experiment)
    if "combo" in v:
        return {"kind": "combo", "combo": v["combo"]}
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


def declared(config: Config) -> list[str]:
    if not enabled(config):
        return []
    names = [combo_name(c) for c in combinations(config)]
    names += [ratio_name(r) for r in ratios(config)]
    return names + [size_name(n) for n in sizes(config)]


register(Family(FAMILY, ("tmix_{combo}", "tmixratio_{r}", "tmixsize_{n}"),
                {"combo": "|".join(TRAINED), "r": "[0-9]{3}", "n": "[0-9]+"}, declared,
                per_model=False, per_seed=True, budget="epochs", study=SECTION, seeds=_seeds, epochs=epochs,
                doc="tmix_<combo> / tmixratio_<r> / tmixsize_<n>: instruction-type mixing (combinations, "
                    "ratio and size sweeps)"))
