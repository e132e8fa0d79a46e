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
