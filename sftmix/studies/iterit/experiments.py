"""IterIT's experiments: the ``iterit`` and ``selection`` families.

* ``iterit``     ``iterit_<variant>_m<permille>``: Algorithm 1, re-selecting M = share x N samples
  before every epoch with the model being trained (the epochs are jobs of ``rules/iterit.smk``:
  ``trained_by`` the study's ``iterit_epoch`` rule). Variants (:data:`VARIANTS`): ``full`` (IFD x
  response TF-IDF, decay ``iterit.b``) and the ablations ``nodiv`` (IFD only), ``instr`` / ``both``
  (diversity on the instruction / both) and ``bzero`` (b = 0).
* ``selection``  ``sel_<method>_m<permille>``: one selection of M samples (N for ``vanilla``),
  trained by the engine's fine-tune: the baselines (``vanilla``, ``random``, ``longest``,
  ``superfilter``, ``graphfilter``, ``deita``) and the ``noiter`` ablation (IterIT's epoch-0
  selection, kept for every epoch).

Every experiment of both families trains the same number of optimizer steps: T = ``iterit.epochs``
passes over M samples (the ``matched`` budget against ``sel_random`` at the same share: the
paper's rule, "the same number of samples ... updated for the same steps"). ``<permille>`` is the
share of N in thousandths, three digits (0.05 -> ``m050``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...experiments import REGISTRY, Config, Family, own_or_train, register

SECTION = "iterit"
# iterative variants: diversity text (None = without diversity) and the decay b (None = iterit.b)
VARIANTS: dict[str, dict[str, Any]] = {
    "full": {"part": "response", "b": None},
    "nodiv": {"part": None, "b": None},
    "instr": {"part": "instruction", "b": None},
    "both": {"part": "both", "b": None},
    "bzero": {"part": "response", "b": 0.0},
}
# one selection, trained for the same steps: the paper's baselines, random, and "without iteration"
METHODS = ("vanilla", "random", "longest", "superfilter", "graphfilter", "deita", "noiter")
ABLATIONS = ("nodiv", "instr", "both", "bzero", "noiter")


def section(config: Config) -> Config:
    """The study's config section."""
    return config[SECTION]


def permille(share: float) -> int:
    """A share of N as the thousandths in experiment names (0.05 -> 50); it must be exact."""
    p = round(float(share) * 1000)
    if not 0 < p < 1000 or abs(p - float(share) * 1000) > 1e-9:
        raise ValueError(f"{SECTION}: share {share} is not a whole number of thousandths in (0, 1)")
    return p


def m_of(n_pool: int, share: float) -> int:
    """M, the samples selected per epoch: ``share`` of the ``n_pool`` candidates (at least one)."""
    return max(1, round(float(share) * n_pool))


def share_of(experiment: str) -> float:
    """The share of N an experiment selects (``..._m050`` -> 0.05)."""
    return int(_parse(experiment)[1]["m"]) / 1000


def iterit_name(variant: str, share: float) -> str:
    return REGISTRY["iterit"].name_of(0, variant=variant, m=f"{permille(share):03d}")


def selection_name(method: str, share: float) -> str:
    return REGISTRY["selection"].name_of(0, method=method, m=f"{permille(share):03d}")


def _parse(experiment: str) -> tuple[str, dict[str, str]]:
    for fam in ("iterit", "selection"):
        if REGISTRY[fam].matches(experiment):
            return fam, REGISTRY[fam].parse(experiment)[1]
    raise ValueError(f"{experiment!r} is not an IterIT experiment")


def parse(experiment: str) -> dict[str, Any]:
    """``{"family", "method", "share"}`` of an IterIT experiment (``method`` is the variant of an
    iterative one)."""
    fam, v = _parse(experiment)
    method = v["variant"] if fam == "iterit" else v["method"]
    known = VARIANTS if fam == "iterit" else METHODS
    if method not in known:
        raise ValueError(f"{experiment!r}: unknown {fam} {'variant' if fam == 'iterit' else 'method'} {method!r}")
    return {"family": fam, "method": method, "share": int(v["m"]) / 1000}


def variant_settings(config: Config, variant: str) -> dict[str, Any]:
    """The diversity text and decay b of an iterative variant under ``config``."""
    v = VARIANTS[variant]
    return {"part": v["part"], "b": section(config)["b"] if v["b"] is None else v["b"]}


def _check(config: Config) -> None:
    sec = section(config)
    unknown = sorted(set(sec["variants"]) - set(VARIANTS))
    if unknown:
        raise ValueError(f"{SECTION}.variants: unknown {unknown}; choose from {list(VARIANTS)}")
    unknown = sorted(set(sec["methods"]) - set(METHODS))
    if unknown:
        raise ValueError(f"{SECTION}.methods: unknown {unknown}; choose from {list(METHODS)}")
    for share in [sec["share"], *sec["sensitivity"]]:
        permille(share)


def _declare(config: Config, key: str, name: Callable[[str, float], str], swept: str) -> list[str]:
    """``name(x, share)`` for every ``x`` of ``iterit.<key>``, then ``name(swept, s)`` at each
    further share of the sensitivity sweep (Fig. 4: IterIT and random selection at each share)."""
    sec = section(config)
    if not sec["enabled"]:
        return []
    _check(config)
    return ([name(x, sec["share"]) for x in sec[key]]
            + [name(swept, s) for s in sec["sensitivity"] if s != sec["share"]])


def _declare_iterit(config: Config) -> list[str]:
    return _declare(config, "variants", iterit_name, "full")


def _declare_selection(config: Config) -> list[str]:
    return _declare(config, "methods", selection_name, "random")


def rows(config: Config) -> list[dict[str, Any]]:
    """Report rows: every declared experiment, its kind (``iterit``, ``baseline``, ``ablation``),
    method and share, against IterIT (``full``) at the same share (IterIT's own row: itself)."""
    out = []
    for name in _declare_iterit(config) + _declare_selection(config):
        p = parse(name)
        kind = "iterit" if p["method"] == "full" else "ablation" if p["method"] in ABLATIONS else "baseline"
        ref = iterit_name("full", p["share"])
        out.append({"experiment": name, "family": p["family"], "method": p["method"], "share": p["share"],
                    "kind": kind, "reference": ref})
    return out


def reference(experiment: str) -> str:
    """The set whose size fixes the steps (``train.epochs`` passes over M): random at the same share."""
    return selection_name("random", share_of(experiment))


def epochs(config: Config) -> int:
    """T, the epochs of every IterIT run (``iterit.epochs``; null = ``train.epochs``)."""
    return int(own_or_train(config, SECTION, "epochs"))


def _seeds(config: Config) -> list[int]:
    return list(own_or_train(config, SECTION, "seeds"))


_FIELDS = {"m": "[0-9]{3}"}
register(Family("iterit", ("iterit_{variant}_m{m}",), {"variant": "[a-z]+", **_FIELDS}, _declare_iterit,
                per_model=True, per_seed=True, budget="matched", matched_to=reference, study=SECTION,
                seeds=_seeds, trained_by="iterit_epoch", epochs=epochs,
                doc="iterit_<variant>_m<permille>: Algorithm 1, one job per epoch (selection + training)"))
register(Family("selection", ("sel_{method}_m{m}",), {"method": "[a-z]+", **_FIELDS}, _declare_selection,
                per_model=True, per_seed=True, budget="matched", matched_to=reference, study=SECTION,
                seeds=_seeds, epochs=epochs, doc="sel_<method>_m<permille>: one selection of M (the baselines and noiter)"))
