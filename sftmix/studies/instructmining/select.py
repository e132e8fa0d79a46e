"""InstructMining's selection (Sec. 2.3): the candidates' rule scores (Eq. 4, the predicted log
loss of a dataset made of that one record) and the top-k, with the random baseline and the
ablated rules of Table 5 (each refitted without one indicator)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import rule
from .fuse import random_selection


def fit_for(rule_json: Mapping[str, Any], method: str) -> tuple[dict[str, Any] | None, str]:
    """The fit a selection method uses and a note: ``rule`` = the chosen rule, ``sound`` = the rule
    of the cross-validated selection, ``no_<x>`` = the rule refitted without indicator x (when x
    is not in the rule the rule itself, noted), ``random`` = None."""
    if method == "random":
        return None, ""
    if method == "rule":
        return dict(rule_json["rule"]), ""
    if method == "sound":
        return dict(rule_json["sound_rule"]), ""
    ablated = method.removeprefix("no_")
    if ablated not in rule_json["ablation"]:
        return dict(rule_json["rule"]), f"{ablated} is not in the rule ({', '.join(rule_json['chosen'])}): the rule itself"
    return dict(rule_json["ablation"][ablated]), ""


def select(method: str, k: int, candidates: Sequence[str], record_rows: Mapping[str, Mapping[str, Any]],
           rule_json: Mapping[str, Any], seed: int) -> tuple[list[str], dict[str, Any]]:
    """``k`` of the selection ``candidates`` by ``method`` (``rule``, ``no_<indicator>``,
    ``random``). A rule only ranks candidates with indicators (the others were quarantined when
    they were computed: counted as ``no_indicators``). Returns (ids sorted, info)."""
    fit, note = fit_for(rule_json, method)
    if fit is None:
        chosen = random_selection(candidates, k, seed)
        info: dict[str, Any] = {"indicators": [], "no_indicators": 0}
    else:
        scorable = {i: record_rows[i] for i in candidates if i in record_rows}
        scores = rule.rule_scores(scorable, fit)
        chosen = sorted(rule.top_k(scores, k, seed))
        info = {"indicators": list(fit["indicators"]), "no_indicators": len(candidates) - len(scorable),
                "predicted_mean": sum(scores[i] for i in chosen) / len(chosen) if chosen else float("nan")}
    return chosen, {"method": method, "k": k, "n_candidates": len(candidates), "n_selected": len(chosen),
                    "shortfall": k - len(chosen), "note": note, **info}
