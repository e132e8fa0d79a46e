"""Quality scorers scored against the planted defects of a generated world.

Beyond IID's quality-based selections take the top-n candidates of the pool by one quality score:
its quality baselines (DEITA-style, #InsTag, IFD, length: ``mix_<score>_<n>``) and D_qs, whose
category shares are EE-CPO's alpha (Eq. 5). The generated world knows which responses are
defective (:mod:`sftmix.world.defects`, ground truth ``records[id]["defect"]``), so each scorer's
selection can be scored:

* **precision** of its top-n: the share of clean (non-defective) records among the n it picks,
  ranked exactly as the selections rank (:func:`sftmix.ranking.rank_key`: best first, ties broken
  by a draw seeded with ``seed``) among the records it can rank (:func:`sftmix.quality.quality_map`:
  finite scores, and for IFD only IFD < 1);
* the pool's **clean base rate**: what a random selection of n (``mix_random_<n>``) achieves in
  expectation; ``lift`` = precision - base rate; also the base rate among the rankable records
  (a scorer that cannot rank some records already selects among the rest);
* per category (``meta.category``, the category the selections see): pool size, clean base rate,
  records selected, clean among them, and the categories a top-n selection **leaves empty**;
* the defects the top-n lets through, by kind.

Only validation reads the ground truth; the pipeline stages never do. :func:`quality_precision`
computes the result (a JSON-able dict, written with :func:`sftmix.records.write_json`);
:func:`quality_validation_rows` flattens it to rows for the TSV writer
:func:`write_quality_validation` / reader :func:`read_quality_validation`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .quality import QUALITY_DIRECTIONS, quality_map
from .ranking import top_n
from .records import read_typed_tsv, write_typed_tsv

ALL = "*"
"""The ``category`` of a TSV row over the whole pool."""

VALIDATION_COLUMNS = ("scorer", "size", "category", "n_pool", "n_clean", "base_rate", "n_eligible",
                      "n_clean_eligible", "n_selected", "n_clean_selected", "precision", "lift", "left_empty")
_INT_COLUMNS = frozenset({"size", "n_pool", "n_clean", "n_eligible", "n_clean_eligible", "n_selected",
                          "n_clean_selected", "left_empty"})
_FLOAT_COLUMNS = frozenset({"base_rate", "precision", "lift"})


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def _category(record: Mapping[str, Any]) -> str:
    return str((record.get("meta") or {}).get("category") or "")


def ranking_auc(records: Sequence[Mapping[str, Any]], score: Mapping[str, float], clean: set[str]) -> dict[str, Any]:
    """How well ``score`` ranks clean ``records`` above defective ones, whatever the size: the ROC
    AUC (the Mann-Whitney U statistic over n_clean * n_defective; ties count half) and the one-sided
    p-value of "clean ranks higher" (``scipy.stats.mannwhitneyu``, alternative ``greater``).
    ``{"auc", "auc_p", "auc_n_clean", "auc_n_defective"}``; None when either group is empty."""
    from scipy.stats import mannwhitneyu

    good = [score[r["id"]] for r in records if r["id"] in clean]
    bad = [score[r["id"]] for r in records if r["id"] not in clean]
    out: dict[str, Any] = {"auc": None, "auc_p": None, "auc_n_clean": len(good), "auc_n_defective": len(bad)}
    if good and bad:
        u = mannwhitneyu(good, bad, alternative="greater")
        out.update(auc=float(u.statistic) / (len(good) * len(bad)), auc_p=float(u.pvalue))
    return out


def quality_precision(pool: Sequence[Mapping[str, Any]], quality_rows: Iterable[Mapping[str, Any]],
                      truth_records: Mapping[str, Mapping[str, Any]], sizes: Iterable[int], *, seed: int,
                      categories: Sequence[str] | None = None,
                      scorers: Sequence[str] | None = None) -> dict[str, Any]:
    """Precision of each scorer's top-n in picking clean records, per size n (see the module
    docstring). What it scores is Beyond IID's quality-score selection: D_qs (the top-n whose
    category shares are Eq. 5's alpha) and the quality baselines ``mix_<score>_<n>``.

    ``pool``: the candidate records (``id``, ``meta.category``); ``quality_rows``: rows as
    :func:`sftmix.quality.read_quality` gives them (a column per scorer, higher = better; a pool
    record without a row cannot be ranked); ``truth_records``: the ground truth's ``records``
    (each with ``defect``: a kind or None); ``categories``: the categories candidates are drawn
    from, in report order (records of other categories are left out, as the mixtures do; default:
    those of the pool, sorted); ``scorers``: default every column of
    :data:`sftmix.quality.QUALITY_DIRECTIONS`. A scorer that ranks no record (a column not
    computed: all NaN) gets ``n_eligible`` 0 and undefined (None) precisions.

    Returns ``{"seed", "sizes", "categories", "pool": {"n", "n_clean", "base_rate", "defects":
    {kind: n}, "per_category": {c: {"n", "n_clean", "base_rate"}}}, "scorers": {name: {"direction",
    "auc", "auc_p", "auc_n_clean", "auc_n_defective" (:func:`ranking_auc` over its rankable records),
    "n_eligible", "n_clean_eligible", "eligible_base_rate", "per_category": {c: {"n_eligible",
    "n_clean_eligible"}}, "sizes": {str(n): {"n_selected", "short" (fewer rankable records than
    n), "n_clean_selected", "precision", "lift", "defects_selected": {kind: n}, "per_category":
    {c: {"n_selected", "n_clean_selected", "precision"}}, "empty_categories": [c with pool
    records, none selected]}}}}}``.
    Undefined ratios are None. Raises ``ValueError`` for a pool id the ground truth lacks, or a
    ground truth without defects (a world generated before they existed).
    """
    cats = list(categories) if categories is not None else sorted({_category(r) for r in pool})
    in_cats = set(cats)
    cands = [r for r in pool if _category(r) in in_cats]
    missing = [r["id"] for r in cands if r["id"] not in truth_records]
    if missing:
        raise ValueError(f"quality_precision: {len(missing)} pool record(s) are not in the ground truth "
                         f"(e.g. {missing[:3]}): pool and world do not match")
    if cands and "defect" not in truth_records[cands[0]["id"]]:
        raise ValueError("quality_precision: the ground truth records no defects (world.quality); "
                         "regenerate the world")
    defect = {r["id"]: truth_records[r["id"]]["defect"] for r in cands}
    clean = {rid for rid, d in defect.items() if d is None}
    size_list = [int(n) for n in sizes]

    def tally(records: Iterable[Mapping[str, Any]]) -> tuple[Counter, Counter]:
        n, ok = Counter(), Counter()
        for r in records:
            n[_category(r)] += 1
            ok[_category(r)] += r["id"] in clean
        return n, ok

    n_pool, clean_pool = tally(cands)
    out: dict[str, Any] = {
        "seed": seed, "sizes": size_list, "categories": cats,
        "pool": {"n": len(cands), "n_clean": len(clean), "base_rate": _ratio(len(clean), len(cands)),
                 "defects": dict(sorted(Counter(d for d in defect.values() if d is not None).items())),
                 "per_category": {c: {"n": n_pool[c], "n_clean": clean_pool[c],
                                      "base_rate": _ratio(clean_pool[c], n_pool[c])} for c in cats}},
        "scorers": {},
    }
    base = out["pool"]["base_rate"]
    rows = list(quality_rows)
    for name in scorers if scorers is not None else tuple(QUALITY_DIRECTIONS):
        q = quality_map(rows, name)
        eligible = [r for r in cands if r["id"] in q]
        n_elig, clean_elig = tally(eligible)
        n_clean_elig = sum(clean_elig.values())
        per_size: dict[str, Any] = {}
        for n in size_list:
            chosen = top_n(eligible, q, n, seed=seed)
            n_sel, clean_sel = tally(chosen)
            n_clean = sum(clean_sel.values())
            precision = _ratio(n_clean, len(chosen))
            per_size[str(n)] = {
                "n_selected": len(chosen), "short": len(chosen) < n, "n_clean_selected": n_clean,
                "precision": precision, "lift": None if precision is None or base is None else precision - base,
                "defects_selected": dict(sorted(Counter(defect[r["id"]] for r in chosen
                                                        if defect[r["id"]] is not None).items())),
                "per_category": {c: {"n_selected": n_sel[c], "n_clean_selected": clean_sel[c],
                                     "precision": _ratio(clean_sel[c], n_sel[c])} for c in cats},
                "empty_categories": [c for c in cats if n_pool[c] > 0 and n_sel[c] == 0],
            }
        out["scorers"][name] = {"direction": QUALITY_DIRECTIONS.get(name, ""), **ranking_auc(eligible, q, clean),
                                "n_eligible": len(eligible),
                                "n_clean_eligible": n_clean_elig,
                                "eligible_base_rate": _ratio(n_clean_elig, len(eligible)),
                                "per_category": {c: {"n_eligible": n_elig[c], "n_clean_eligible": clean_elig[c]}
                                                 for c in cats},
                                "sizes": per_size}
    return out


def quality_validation_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """:func:`quality_precision`'s result as rows of :data:`VALIDATION_COLUMNS`: per scorer and
    size, one row over the pool (``category`` :data:`ALL`; ``left_empty`` = the number of categories
    left empty) and one per category (``left_empty`` 1 or 0). ``n_eligible``/``n_clean_eligible``:
    the records the scorer can rank (in that category); undefined ratios are NaN."""
    nan = float("nan")

    def num(x: float | None) -> float:
        return nan if x is None else float(x)

    pool = result["pool"]
    out: list[dict[str, Any]] = []
    for name, s in result["scorers"].items():
        for size, v in s["sizes"].items():
            out.append({"scorer": name, "size": int(size), "category": ALL, "n_pool": pool["n"],
                        "n_clean": pool["n_clean"], "base_rate": num(pool["base_rate"]),
                        "n_eligible": s["n_eligible"], "n_clean_eligible": s["n_clean_eligible"],
                        "n_selected": v["n_selected"], "n_clean_selected": v["n_clean_selected"],
                        "precision": num(v["precision"]), "lift": num(v["lift"]),
                        "left_empty": len(v["empty_categories"])})
            for c in result["categories"]:
                pc, ec, vc = pool["per_category"][c], s["per_category"][c], v["per_category"][c]
                precision = vc["precision"]
                lift = None if precision is None or pc["base_rate"] is None else precision - pc["base_rate"]
                out.append({"scorer": name, "size": int(size), "category": c, "n_pool": pc["n"],
                            "n_clean": pc["n_clean"], "base_rate": num(pc["base_rate"]),
                            "n_eligible": ec["n_eligible"], "n_clean_eligible": ec["n_clean_eligible"],
                            "n_selected": vc["n_selected"], "n_clean_selected": vc["n_clean_selected"],
                            "precision": num(precision), "lift": num(lift),
                            "left_empty": int(c in v["empty_categories"])})
    return out


def write_quality_validation(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write :func:`quality_validation_rows` as a typed TSV (header :data:`VALIDATION_COLUMNS`;
    floats in shortest round-trip form, NaN as ``nan``). Returns the row count."""
    return write_typed_tsv(path, rows, VALIDATION_COLUMNS, ints=_INT_COLUMNS, floats=_FLOAT_COLUMNS,
                           what="quality validation TSV")


def read_quality_validation(path: str | Path) -> list[dict[str, Any]]:
    """Read a TSV written by :func:`write_quality_validation` (typed as written)."""
    return read_typed_tsv(path, VALIDATION_COLUMNS, ints=_INT_COLUMNS, floats=_FLOAT_COLUMNS,
                          what="quality validation TSV")



def quality_validation_markdown(result: Mapping[str, Any]) -> str:
    """The report table of :func:`quality_precision`'s result: one row per scorer with its ROC AUC
    (clean over defective, one-sided Mann-Whitney p) and, per mixture size, the precision of its
    top-n beside the pool's clean base rate (categories left empty in brackets)."""
    pool, sizes = result["pool"], [str(n) for n in result["sizes"]]

    def f(x: float | None, spec: str = ".3f") -> str:
        return "n/a" if x is None else format(x, spec)

    defects = ", ".join(f"{kind} {n}" for kind, n in pool["defects"].items()) or "none"
    lines = [f"Quality scorers against the world's planted defects: {pool['n']} pool records, {pool['n_clean']} "
             f"clean (base rate {f(pool['base_rate'])}); defects: {defects}.", "",
             "| scorer | ROC AUC (p) | " + " | ".join(f"precision@{n}" for n in sizes) + " |",
             "|---|---|" + "---|" * len(sizes)]
    for name, s in result["scorers"].items():
        cells = []
        for n in sizes:
            v = s["sizes"][n]
            empty = f" [{len(v['empty_categories'])} empty]" if v["empty_categories"] else ""
            cells.append(f"{f(v['precision'])} ({f(v['lift'], '+.3f')}){empty}")
        auc = "n/a" if s["auc"] is None else f"{s['auc']:.3f} ({s['auc_p']:.2g})"
        lines.append(f"| {name} | {auc} | " + " | ".join(cells) + " |")
    lines += ["", "precision = share of clean records in the scorer's top-n (lift over the base rate in "
              "parentheses); ties broken by a seeded draw."]
    return "\n".join(lines) + "\n"
