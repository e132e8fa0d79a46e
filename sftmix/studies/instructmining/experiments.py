"""InstructMining's experiments: the ``imfuse``, ``imsel`` and ``imsearch`` families.

* ``imfuse``    ``imfuse_<i>`` (three digits): the rule-estimation datasets (Sec. 3.1): each a
  random fusion of the candidate sources (``1000 r_i / sum r`` samples from source i, r_i drawn
  uniformly), of ``instructmining.estimation.size`` samples, fine-tuned once from the base model;
  its eval loss on the clean dev items is the regression's target. Shared by every base model.
* ``imsel``     ``imsel_<method>_k<k>``: k samples of the selection candidates (records the rule
  never saw while it was fitted) chosen by ``rule`` (the fitted rule's top-k, Eq. 4), ``sound``
  (the top-k of the rule whose indicators cross-validation chose), ``random``, or
  ``no_<indicator>`` (Table 5: the rule refitted without that indicator). Every method at the
  comparison size ``instructmining.select.size``; ``rule``, ``sound`` and ``random`` also at each
  size of the double-descent curve (``instructmining.curve.sizes``, Fig. 1 / Fig. 4).
* ``imsearch``  ``imsearch_<t>`` (two digits): trial t of the BlendSearch over k (Sec. 2.3): its k
  is suggested from trials 0..t-1's dev losses, its set is the rule's top-k.

Training cost is proportional to k, as the paper's search assumes: every experiment trains
``instructmining.epochs`` passes over its set (the ``epochs`` budget), so sets of equal size get
equal steps. The search and the rule see dev losses only; the methods are compared on test items.
"""

from __future__ import annotations

from typing import Any

from ...experiments import REGISTRY, Config, Family, StudySection, register

SECTION = "instructmining"
BASE_METHODS = ("rule", "sound", "random")
"""``rule``: the rule the config selects (``instructmining.selection_procedure`` or the fixed
``rule_indicators``); ``sound``: the rule whose indicators cross-validation chose (the sound
variant, always trained next to it); ``random``."""
ABLATION_PREFIX = "no_"


STUDY = StudySection(SECTION)
section, enabled, epochs, _seeds = STUDY.section, STUDY.enabled, STUDY.epochs, STUDY.seeds


def _one_seed(config: Config) -> list[int]:
    """Estimation datasets and search trials are fine-tuned once (the paper's design): the first
    replicate seed."""
    return _seeds(config)[:1]


def fuse_name(i: int) -> str:
    return REGISTRY["imfuse"].name_of(0, i=f"{i:03d}")


def select_name(method: str, k: int) -> str:
    return REGISTRY["imsel"].name_of(0, method=method, k=str(int(k)))


def search_name(t: int) -> str:
    return REGISTRY["imsearch"].name_of(0, t=f"{t:02d}")


def parse(experiment: str) -> dict[str, Any]:
    """``{"family", ...}``: ``i`` of a fused dataset, ``method``/``k`` of a selection (``ablated``:
    the indicator left out, or None), ``t`` of a search trial."""
    for fam in ("imfuse", "imsel", "imsearch"):
        if REGISTRY[fam].matches(experiment):
            v = REGISTRY[fam].parse(experiment)[1]
            if fam == "imfuse":
                return {"family": fam, "i": int(v["i"])}
            if fam == "imsearch":
                return {"family": fam, "t": int(v["t"])}
            m = v["method"]
            ablated = m.removeprefix(ABLATION_PREFIX) if m.startswith(ABLATION_PREFIX) else None
            if ablated is None and m not in BASE_METHODS:
                raise ValueError(f"{experiment!r}: unknown selection method {m!r}")
            return {"family": fam, "method": m, "k": int(v["k"]), "ablated": ablated}
    raise ValueError(f"{experiment!r} is not an InstructMining experiment")


def _check(config: Config) -> None:
    sec = section(config)
    unknown = sorted(set(sec["ablation"]) - set(sec["indicators"]))
    if unknown:
        raise ValueError(f"{SECTION}.ablation: {unknown} are not in {SECTION}.indicators")
    if sec["rule_indicators"] is not None:
        unknown = sorted(set(sec["rule_indicators"]) - set(sec["indicators"]))
        if unknown:
            raise ValueError(f"{SECTION}.rule_indicators: {unknown} are not in {SECTION}.indicators")


def _declare_fuse(config: Config) -> list[str]:
    if not enabled(config):
        return []
    _check(config)
    return [fuse_name(i) for i in range(section(config)["estimation"]["datasets"])]


def sizes(config: Config) -> list[int]:
    """Every size a selection is trained at: the comparison size and the curve's, ascending."""
    sec = section(config)
    return sorted({int(sec["select"]["size"]), *map(int, sec["curve"]["sizes"])})


def _declare_select(config: Config) -> list[str]:
    if not enabled(config):
        return []
    _check(config)
    sec = section(config)
    k = int(sec["select"]["size"])
    names = [select_name(m, s) for s in sizes(config) for m in BASE_METHODS]
    return names + [select_name(ABLATION_PREFIX + ind, k) for ind in sec["ablation"]]


def _declare_search(config: Config) -> list[str]:
    if not enabled(config):
        return []
    return [search_name(t) for t in range(section(config)["search"]["trials"])]


register(Family("imfuse", ("imfuse_{i}",), {"i": "[0-9]{3}"}, _declare_fuse, per_model=False, per_seed=False,
                budget="epochs", study=SECTION, seeds=_one_seed, epochs=epochs,
                doc="imfuse_<i>: a random fusion of the candidate sources (rule estimation, Sec. 3.1)"))
register(Family("imsel", ("imsel_{method}_k{k}",), {"method": "[a-z0-9_]+", "k": "[0-9]+"}, _declare_select,
                per_model=True, per_seed=True, budget="epochs", study=SECTION, seeds=_seeds, epochs=epochs,
                doc="imsel_<method>_k<k>: top-k by the rule (rule, no_<indicator>) or random"))
register(Family("imsearch", ("imsearch_{t}",), {"t": "[0-9]{2}"}, _declare_search, per_model=True,
                per_seed=False, budget="epochs", study=SECTION, seeds=_one_seed, epochs=epochs,
                doc="imsearch_<t>: BlendSearch trial t over the rule's top-k (Sec. 2.3)"))


def rows(config: Config) -> list[dict[str, Any]]:
    """Report rows of the selections: ``rule`` and ``sound`` against ``random`` at the same k (the
    study's verdicts), each ``no_<indicator>`` against ``rule`` at k (Table 5), ``random`` its own
    reference."""
    out = []
    for name in _declare_select(config):
        p = parse(name)
        if p["method"] == "random":
            ref, kind = name, "random"
        elif p["ablated"] is None:
            ref, kind = select_name("random", p["k"]), p["method"]
        else:
            ref, kind = select_name("rule", p["k"]), "ablation"
        out.append({"experiment": name, "method": p["method"], "k": p["k"], "kind": kind, "reference": ref})
    return out
