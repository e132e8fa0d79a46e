"""Scores of pipeline stages against the generated world's ground truth.

Only tests and the validation report call this; pipeline stages never read the ground truth.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any


def dedup_scores(duplicates: Iterable[dict[str, Any]], truth_records: dict[str, dict[str, Any]],
                 present_ids: Iterable[str]) -> dict[str, float | int]:
    """Precision and recall of a duplicate map against planted duplicate clusters.

    ``present_ids``: the records that reached dedup (after ingest and filter). A cluster with m
    members present should yield m - 1 duplicates, each mapped to a member of the same cluster.
    A flagged pair is correct when both records belong to the same planted cluster.
    """
    present = list(present_ids)
    by_cluster: Counter = Counter(truth_records[i]["cluster"] for i in present
                                  if truth_records[i]["cluster"] is not None)
    expected = sum(m - 1 for m in by_cluster.values())
    flagged = tp = 0
    for d in duplicates:
        flagged += 1
        a, b = truth_records[d["id"]]["cluster"], truth_records[d["duplicate_of"]]["cluster"]
        if a is not None and a == b:
            tp += 1
    precision = tp / flagged if flagged else 1.0
    recall = tp / expected if expected else 1.0
    return {"flagged": flagged, "true_positives": tp, "expected": expected,
            "precision": precision, "recall": recall}


def categorization_scores(categorized: Iterable[dict[str, Any]], truth_records: dict[str, dict[str, Any]],
                          n_candidates: int) -> dict[str, Any]:
    """Accuracy of ``meta.category`` against the true category.

    ``accuracy``: over the records that were categorized; ``coverage``: categorized / candidates
    (records that reached categorize); ``accuracy_all``: correct / candidates (an uncategorized
    record counts as wrong).
    """
    correct = n = 0
    per_cat: dict[str, Counter] = defaultdict(Counter)
    confusion: Counter = Counter()
    for rec in categorized:
        true = truth_records[rec["id"]]["category"]
        pred = rec["meta"]["category"]
        n += 1
        ok = pred == true
        correct += ok
        per_cat[true]["n"] += 1
        per_cat[true]["correct"] += ok
        if not ok:
            confusion[f"{true} -> {pred}"] += 1
    return {
        "n_categorized": n, "n_candidates": n_candidates,
        "accuracy": correct / n if n else 0.0,
        "coverage": n / n_candidates if n_candidates else 0.0,
        "accuracy_all": correct / n_candidates if n_candidates else 0.0,
        "per_category_recall": {c: v["correct"] / v["n"] for c, v in sorted(per_cat.items())},
        "confusions": dict(confusion.most_common(20)),
    }


def decontam_scores(contamination: Iterable[dict[str, Any]], eval_ids: Iterable[str],
                    candidate_ids: Iterable[str], quarantine: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Decontamination against the world's planted contamination (ground truth ``contamination``).

    A planted copy (kind ``contamination``) that reached decontam as a candidate (in
    ``candidate_ids``, not itself an eval item) is *expected* to be flagged when one of the rows of
    the item it copies (``copies_ids``) is an eval item, and is *caught* when its quarantine row
    names one of them; a copy of an item that is not an eval item is not contamination here. A
    planted near miss that reached decontam must not be flagged. ``recall`` = caught / expected,
    ``precision`` = caught / planted rows flagged (copies and near misses); ``unplanted_flagged``:
    flagged records the world did not plant (natural overlaps, reported, not scored).
    """
    evals, cands = set(eval_ids), set(candidate_ids) - set(eval_ids)
    flagged = {q["id"]: q.get("match", {}).get("item_id") for q in quarantine}
    expected = caught = near = near_flagged = planted_flagged = 0
    missed: list[str] = []
    planted_ids = set()
    for p in contamination:
        planted_ids.add(p["id"])
        if p["id"] not in cands:
            continue
        if p["id"] in flagged:
            planted_flagged += 1
        if p["kind"] == "contamination_near_miss":
            near += 1
            near_flagged += p["id"] in flagged
            continue
        targets = evals.intersection(p["copies_ids"])
        if not targets:
            continue
        expected += 1
        if flagged.get(p["id"]) in targets:
            caught += 1
        else:
            missed.append(p["id"])
    return {"expected": expected, "caught": caught, "missed": sorted(missed),
            "recall": caught / expected if expected else 1.0,
            "planted_flagged": planted_flagged,
            "precision": caught / planted_flagged if planted_flagged else 1.0,
            "near_misses": near, "near_misses_flagged": near_flagged,
            "unplanted_flagged": sum(1 for i in flagged if i not in planted_ids)}
