"""Beyond IID's dependency taxonomy: ablation tests, asymmetry rule, layers, graph.

The paper (Sec. "Dependency Taxonomy") removes one category ``C_i`` from the training set at a
time (experiment ``drop_<slug(i)>``) and, for every other category j, tests with a one-sided
Wilcoxon signed-rank test whether ``PPL^{\\C_i}(C_eval,jk) - PPL(C_eval,jk) > 0`` over category
j's eval items; p-values are Benjamini-Hochberg adjusted and a relation is kept when the adjusted
p < 0.05. "C_j depends on C_i" when removing C_i significantly hurts C_j **and** removing C_j does
not significantly hurt C_i (the asymmetry condition; a two-way effect is synergy, not
dependency). Roots of the resulting graph are *preliminary* categories, leaves *subsequential*,
inner nodes *intermediary* (Table 1).

* :func:`published_dependency` is that procedure as published, on one run per experiment.
* :func:`calibrated_dependency` counts an effect only when it exceeds the run-to-run spread of
  identical experiments (seed replicates), because a fine-tuning run moves all items of a category
  together and an item-level test on one run cannot tell that apart from an effect.
* :func:`seed_false_positive_rate` measures how often the published test flags a difference
  between two seeds of the *same* experiment (no true effect);
  :func:`calibrated_seed_false_positive_rate` does the same for the calibrated test.

Edges are ``(prerequisite, dependent)`` pairs: ``(i, j)`` means "j depends on i".
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

from ...experiments import slugify
from ...records import read_typed_tsv, write_typed_tsv
from ...scores import (
    Scores,
    category_items,
    column_by_id,
    run_noise_sd,
    seed_category_means,
    seeds_of,
    table_index,
)
from .experiments import drop_name

LAYERS = ("preliminary", "intermediary", "subsequential", "independent")


def _bh(pvalues: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (statsmodels ``fdr_bh``); empty in, empty out."""
    if not pvalues:
        return []
    return [float(x) for x in multipletests(list(pvalues), method="fdr_bh")[1]]


def _wilcoxon_greater(diff: np.ndarray) -> tuple[float, float]:
    """One-sided Wilcoxon signed-rank test of ``diff > 0`` (scipy, zero_method "wilcox": zero
    differences are dropped). Without any non-zero difference there is no evidence: (nan, 1.0)."""
    diff = diff[np.isfinite(diff)]
    if not np.any(diff != 0):
        return float("nan"), 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.wilcoxon(diff, alternative="greater")
    return float(res.statistic), float(res.pvalue)


def _asymmetric_edges(hurts: Mapping[str, Mapping[str, bool]], categories: Sequence[str]
                      ) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """Edges i -> j where hurts(i, j) and not hurts(j, i); a pair not tested counts as False.
    Returns (edges, mutual pairs removed by the asymmetry rule, edges whose reverse was not
    tested), all in category order."""
    edges, mutual, untested = [], [], []
    for i in categories:
        for j in categories:
            if i == j or not hurts.get(i, {}).get(j, False):
                continue
            if hurts.get(j, {}).get(i, False):
                if categories.index(i) < categories.index(j):
                    mutual.append((i, j))
                continue
            edges.append((i, j))
            if i not in hurts.get(j, {}):
                untested.append((i, j))
    return edges, mutual, untested


def _adjust_and_orient(tests: list[dict[str, Any]], cats: Sequence[str], alpha: float, *,
                       min_effect: float | None = None) -> dict[str, Any]:
    """Benjamini-Hochberg over ``tests`` (in place: ``p_adj``, ``hurts``), then the asymmetry rule.

    With ``min_effect`` a test also needs ``delta > min_effect`` to count as hurting.
    """
    for t, pa in zip(tests, _bh([t["p"] for t in tests]), strict=True):
        t["p_adj"] = pa
        t["hurts"] = bool(pa < alpha and (min_effect is None or t["delta"] > min_effect))
    hurts: dict[str, dict[str, bool]] = {}
    for t in tests:
        hurts.setdefault(t["i"], {})[t["j"]] = t["hurts"]
    edges, mutual, untested = _asymmetric_edges(hurts, cats)
    return {"tests": tests, "hurts": hurts, "edges": edges, "mutual": mutual,
            "untested_reverse": untested}


def published_dependency(scores: Scores, categories: Sequence[str], *, seed: str = "1",
                         alpha: float = 0.05) -> dict[str, Any]:
    """Beyond IID's dependency test as published (one run per experiment).

    For each ordered pair (i, j), i != j, with ``drop_<slug(i)>`` scored at ``seed``: one-sided
    Wilcoxon signed-rank test (``scipy.stats.wilcoxon(alternative="greater")``) of the per-item
    differences ``PPL(drop_i)(jk) - PPL(base)(jk)`` over category j's eval items (the ``ppl``
    column of the score rows, both at ``seed``). Benjamini-Hochberg (``fdr_bh``) over all tests;
    ``hurts(i, j)`` = adjusted p < alpha. Edge i -> j ("j depends on i") iff hurts(i, j) and not
    hurts(j, i). When ``drop_j`` is missing, hurts(j, i) was not tested and counts as False; such
    edges are listed in ``untested_reverse``. Returns::

        tests             [{"i", "j", "n", "statistic", "p", "p_adj", "median_diff", "hurts"}]
        hurts             {i: {j: bool}} for tested pairs
        edges             [(prerequisite i, dependent j)]
        mutual            [(i, j)] pairs hurting both ways, removed by the asymmetry rule
        untested_reverse  edges whose reverse pair was not tested
        not_tested        categories without a drop_ experiment at ``seed``
        method, seed, alpha
    """
    cats = list(categories)
    seed = str(seed)
    if seed not in (scores.get("base") or {}):
        raise ValueError(f"published_dependency: no base table for seed {seed!r}")
    items = category_items(scores, cats)
    base = column_by_id(scores["base"][seed], "ppl")
    tests: list[dict[str, Any]] = []
    not_tested = []
    for i in cats:
        drop = scores.get(drop_name(slugify(i)), {}).get(seed)
        if not drop:
            not_tested.append(i)
            continue
        dt = column_by_id(drop, "ppl")
        for j in cats:
            if j == i or not items[j]:
                continue
            diff = np.array([dt[k] - base[k] for k in items[j]], dtype=float)
            stat, p = _wilcoxon_greater(diff)
            fin = diff[np.isfinite(diff)]
            tests.append({"i": i, "j": j, "n": int(fin.size), "statistic": stat, "p": p,
                          "median_diff": float(np.median(fin)) if fin.size else float("nan")})
    out = _adjust_and_orient(tests, cats, alpha)
    return {**out, "not_tested": not_tested, "method": "published", "seed": seed, "alpha": alpha}


def welch_df(var_a: float, var_b: float, df_a: float, df_b: float) -> float:
    """Welch-Satterthwaite degrees of freedom of ``sqrt(var_a + var_b)`` when ``var_a`` is
    estimated with ``df_a`` and ``var_b`` with ``df_b`` degrees of freedom (inf when both
    variances are 0 or a df is not positive and finite)."""
    if var_a + var_b <= 0 or min(df_a, df_b) <= 0 or not math.isfinite(df_a + df_b):
        return math.inf
    return (var_a + var_b) ** 2 / (var_a ** 2 / df_a + var_b ** 2 / df_b)


def calibrated_dependency(scores: Scores, categories: Sequence[str], *, alpha: float = 0.05,
                          min_effect: float = 0.0, pool: str = "category",
                          orient_mutual: bool = True) -> dict[str, Any]:
    """Dependency test calibrated against run-to-run noise (seed replicates).

    Why: all items of a category are scored by the same fine-tuned model, so training
    randomness (data order, initialisation) shifts a whole category's scores together. The
    published test treats eval items as the replication unit and flags any consistent shift, even
    one that a second seed of the *same* experiment would show. Here the fine-tuning run is the
    unit:

    * scale: per-token mean NLL (``nll_mean`` = log PPL; scale-stable, unlike raw PPL);
    * effect: ``delta_ij = mean_s m(drop_i, s, j) - mean_s m(base, s, j)``, with ``m(e, s, j)``
      the mean over category j's eval items of run (e, s); positive = removing i hurts j;
    * noise: every experiment with >= 2 seeds gives pure-noise replicates of its category means;
      their pooled within-experiment variance estimates ``sigma_j^2``, the run-to-run variance of
      one category mean (:func:`sftmix.scores.run_noise_sd`; ``pool="all"`` pools over
      categories when few experiments are replicated), with ``df_j`` degrees of freedom;
    * test: ``t = (delta_ij - min_effect) / (sigma_j * sqrt(1/S_drop_i + 1/S_base))``, one-sided
      p from Student's t with ``df_j``; BH (``fdr_bh``) over all pairs; hurts = p_adj < alpha;
    * the same asymmetry rule as the paper for edges, except that with ``orient_mutual`` a pair
      hurting both ways is oriented when one direction's effect is significantly larger
      (:func:`_orient_mutual`); the published variant keeps the rule as printed.

    The items are held fixed (conditional inference on this eval set, as in the paper); their
    sampling noise cancels in the differences, and run x item noise is inside ``sigma_j``.
    Assumes run noise has the same size in every experiment. Needs at least one replicated
    experiment (else ``ValueError``). Returns the keys of :func:`published_dependency` (tests carry
    ``delta, se, t, df, p, p_adj, hurts, n``; a category without a noise estimate gets t NaN and
    p 1.0) plus ``noise`` (the :func:`run_noise_sd` result),
    ``sigma`` ({category: sd used}) and ``min_effect``.
    """
    if pool not in ("category", "all"):
        raise ValueError(f"pool: unknown {pool!r}; choose 'category' or 'all'")
    cats = list(categories)
    if not seeds_of(scores, "base"):
        raise ValueError("calibrated_dependency needs scores['base']")
    items = category_items(scores, cats)
    index = table_index(scores, "nll_mean")
    noise = run_noise_sd(scores, cats, column="nll_mean", items=items, index=index)
    if not noise["replicated"]:
        raise ValueError("calibrated_dependency needs at least one experiment with >= 2 seeds")
    if pool == "all":
        sigma = {c: noise["sigma_pooled"] for c in cats}
        dfs = {c: noise["df_pooled"] for c in cats}
    else:
        sigma, dfs = dict(noise["sigma"]), dict(noise["df"])
    s_base = len(seeds_of(scores, "base"))
    base_mean = {j: float(seed_category_means(scores, "base", items[j], "nll_mean", index).mean())
                 for j in cats if items[j]}
    tests: list[dict[str, Any]] = []
    not_tested = []
    for i in cats:
        exp = drop_name(slugify(i))
        if not seeds_of(scores, exp):
            not_tested.append(i)
            continue
        s_drop = len(seeds_of(scores, exp))
        for j in cats:
            if j == i or not items[j]:
                continue
            delta = float(seed_category_means(scores, exp, items[j], "nll_mean", index).mean()) - base_mean[j]
            se = sigma[j] * math.sqrt(1.0 / s_drop + 1.0 / s_base)
            if dfs[j] <= 0 or not math.isfinite(se):  # no noise estimate: not testable
                t, p = float("nan"), 1.0
            elif se > 0:
                t = (delta - min_effect) / se
                p = float(stats.t.sf(t, dfs[j]))
            else:  # replicates identical (deterministic training): any excess is real
                t = math.copysign(math.inf, delta - min_effect) if delta != min_effect else 0.0
                p = 0.0 if delta > min_effect else 1.0
            tests.append({"i": i, "j": j, "n": len(items[j]), "delta": delta, "se": se, "t": t,
                          "df": int(dfs[j]), "p": p})
    out = _adjust_and_orient(tests, cats, alpha, min_effect=min_effect)
    oriented = _orient_mutual(out, alpha) if orient_mutual else []
    return {**out, "not_tested": not_tested, "method": "calibrated", "alpha": alpha,
            "min_effect": min_effect, "pool": pool, "sigma": sigma, "noise": noise,
            "oriented_mutual": oriented}


def _orient_mutual(result: dict[str, Any], alpha: float) -> list[dict[str, Any]]:
    """Orient pairs that hurt each other when one direction is clearly the stronger (in place).

    The published asymmetry rule drops every pair where removing either category hurts the
    other. With precise estimates that is too strict: two categories sharing latent content
    (a word problem also rehearses its arithmetic) hurt each other a little, while one of them is
    the real prerequisite. A mutual pair (i, j) becomes the edge i -> j when
    ``|t|``, ``t = (delta_ij - delta_ji) / sqrt(se_ij^2 + se_ji^2)``, exceeds the two-sided
    Student-t quantile at ``alpha`` Bonferroni-corrected over the mutual pairs, with the
    Welch-Satterthwaite degrees of freedom of the two standard errors (each carries its test's
    noise df: the run-to-run variance is estimated from a handful of seeds, so a normal quantile
    would orient too eagerly). Both deltas are per-token NLL changes, so they share a scale; the
    sign of t picks the direction. Otherwise the pair stays mutual (synergy, not dependency).
    Returns the decisions, each ``{"i", "j", "t", "df", "crit", "oriented"}``.
    """
    by_pair = {(t["i"], t["j"]): t for t in result["tests"]}
    level = alpha / (2 * max(1, len(result["mutual"])))
    decisions, still_mutual = [], []
    for a, b in result["mutual"]:
        tab, tba = by_pair[(a, b)], by_pair[(b, a)]
        va, vb = tab["se"] ** 2, tba["se"] ** 2
        den = math.sqrt(va + vb)
        t = (tab["delta"] - tba["delta"]) / den if den > 0 else math.copysign(math.inf, tab["delta"] - tba["delta"])
        df = welch_df(va, vb, tab["df"], tba["df"])
        crit = float(stats.t.isf(level, df)) if math.isfinite(df) else float(stats.norm.isf(level))
        if t > crit:
            result["edges"].append((a, b))
        elif t < -crit:
            result["edges"].append((b, a))
        else:
            still_mutual.append((a, b))
        decisions.append({"i": a, "j": b, "t": t, "df": df, "crit": crit,
                          "oriented": (a, b) if t > crit else (b, a) if t < -crit else None})
    result["mutual"] = still_mutual
    return decisions


def _false_positives(tests: list[dict[str, Any]], seeds: tuple[str, str], alpha: float) -> dict[str, Any]:
    """BH over seed-only tests (each ``{"experiment", "p", ...}``, marked in place with ``p_adj``
    and ``significant``): every significant one is a false positive."""
    for t, pa in zip(tests, _bh([t["p"] for t in tests]), strict=True):
        t["p_adj"] = pa
        t["significant"] = bool(pa < alpha)
    by_exp: dict[str, int] = {}
    for t in tests:
        by_exp[t["experiment"]] = by_exp.get(t["experiment"], 0) + int(t["significant"])
    n_fp = sum(by_exp.values())
    return {"rate": n_fp / len(tests) if tests else float("nan"), "n_tests": len(tests),
            "n_false_positives": n_fp, "by_experiment": by_exp, "tests": tests, "seeds": seeds, "alpha": alpha}


def seed_false_positive_rate(scores: Scores, categories: Sequence[str], *,
                             seeds: tuple[str, str] = ("1", "2"), alpha: float = 0.05
                             ) -> dict[str, Any]:
    """How often the published test mistakes seed noise for an effect.

    For every experiment e scored at both ``seeds`` (s1, s2) and every category j: the published
    one-sided Wilcoxon test of ``PPL(e, s2)(jk) - PPL(e, s1)(jk) > 0`` over category j's eval
    items, i.e. "e at seed s2" plays "M without C_i" and "e at seed s1" plays "M". The two runs
    differ only by training randomness, so every test significant after BH (over all these tests)
    is a false positive. Returns ``{"rate": n_false_positives / n_tests (NaN without tests),
    "n_tests", "n_false_positives", "by_experiment": {e: count}, "tests": [{"experiment",
    "category", "n", "statistic", "p", "p_adj", "median_diff", "significant"}], "seeds",
    "alpha"}``.
    """
    cats = list(categories)
    s1, s2 = (str(s) for s in seeds)
    items = category_items(scores, cats)
    tests: list[dict[str, Any]] = []
    for e in sorted(scores):
        tables = scores[e]
        if not tables.get(s1) or not tables.get(s2):
            continue
        a, b = column_by_id(tables[s1], "ppl"), column_by_id(tables[s2], "ppl")
        for j in cats:
            if not items[j]:
                continue
            diff = np.array([b[k] - a[k] for k in items[j]], dtype=float)
            stat, p = _wilcoxon_greater(diff)
            fin = diff[np.isfinite(diff)]
            tests.append({"experiment": e, "category": j, "n": int(fin.size), "statistic": stat,
                          "p": p, "median_diff": float(np.median(fin)) if fin.size else float("nan")})
    return _false_positives(tests, (s1, s2), alpha)


def calibrated_seed_false_positive_rate(scores: Scores, categories: Sequence[str], *,
                                        seeds: tuple[str, str] = ("1", "2"), alpha: float = 0.05
                                        ) -> dict[str, Any]:
    """How often the calibrated test mistakes seed noise for an effect (the counterpart of
    :func:`seed_false_positive_rate`).

    For every experiment e scored at both ``seeds`` and every category j, the calibrated test's
    statistic with "e at seed s2" as the ablation and "e at seed s1" as the reference, one run on
    each side: ``t = (m_j(e, s2) - m_j(e, s1)) / (sigma_j * sqrt(2))``, one-sided Student t
    (``m`` is the category's mean per-token NLL). ``sigma_j`` is the pooled run-to-run sd of
    :func:`sftmix.scores.run_noise_sd` *leaving experiment e out* (its df lowered by e's): in the
    real test the ablation's effect is not part of the noise estimate either, and a difference
    that is its own noise estimate could never be significant. BH over all these tests; every
    significant one is a false positive. Returns the keys of :func:`seed_false_positive_rate`
    (tests carry ``delta, t, df, p, p_adj, significant``).
    """
    cats = list(categories)
    s1, s2 = (str(s) for s in seeds)
    items = category_items(scores, cats)
    index = table_index(scores, "nll_mean")
    noise = run_noise_sd(scores, cats, column="nll_mean", items=items, index=index)
    tests: list[dict[str, Any]] = []
    for e in sorted(scores):
        if not scores[e].get(s1) or not scores[e].get(s2):
            continue
        for j in cats:
            sd, df = noise["sigma"].get(j, float("nan")), noise["df"].get(j, 0)
            if not items[j] or df <= 0 or not math.isfinite(sd):
                continue
            m = seed_category_means(scores, e, items[j], "nll_mean", index)  # every seed of e
            df_loo = df - (m.size - 1)
            ss_loo = sd**2 * df - float(((m - m.mean()) ** 2).sum())
            if df_loo <= 0:
                continue
            sd_loo = math.sqrt(max(ss_loo, 0.0) / df_loo)
            a, b = (float(np.mean([index[(e, s)][k] for k in items[j]])) for s in (s1, s2))
            df = df_loo
            se = sd_loo * math.sqrt(2.0)
            t = (b - a) / se if se > 0 else math.copysign(math.inf, b - a) if b != a else 0.0
            tests.append({"experiment": e, "category": j, "delta": b - a, "t": t, "df": int(df),
                          "p": float(stats.t.sf(t, df))})
    return _false_positives(tests, (s1, s2), alpha)


def taxonomy_layers(edges: Iterable[tuple[str, str]], categories: Sequence[str]) -> dict[str, str]:
    """Layer of every category in the dependency graph (Beyond IID, Table 1).

    ``edges`` are (prerequisite, dependent). *preliminary*: outgoing edges, none incoming (a
    root); *subsequential*: incoming, none outgoing (a leaf); *intermediary*: both. A category in
    no edge is *independent*: the paper places every one of its 29 categories in one of the three
    layers, which a graph with isolated nodes cannot do, so we name that case instead of guessing.
    """
    out_deg = {c: 0 for c in categories}
    in_deg = {c: 0 for c in categories}
    for a, b in edges:
        if a == b:
            continue
        if a in out_deg:
            out_deg[a] += 1
        if b in in_deg:
            in_deg[b] += 1
    layers = {}
    for c in categories:
        o, i = out_deg[c] > 0, in_deg[c] > 0
        layers[c] = ("intermediary" if o and i else "preliminary" if o
                     else "subsequential" if i else "independent")
    return layers


def edge_scores(predicted_edges: Iterable[tuple[str, str]], true_edges: Iterable[tuple[str, str]]
                ) -> dict[str, Any]:
    """Precision, recall and F1 of directed edges against a known truth.

    ``{"precision": tp / predicted (NaN if nothing predicted), "recall": tp / true (NaN if no
    true edge), "f1": harmonic mean (0 when both are 0, NaN when either is NaN), "tp", "fp", "fn":
    sorted edge lists}``.
    """
    pred = {tuple(e) for e in predicted_edges}
    true = {tuple(e) for e in true_edges}
    tp, fp, fn = sorted(pred & true), sorted(pred - true), sorted(true - pred)
    precision = len(tp) / len(pred) if pred else float("nan")
    recall = len(tp) / len(true) if true else float("nan")
    if math.isnan(precision) or math.isnan(recall):
        f1 = float("nan")
    elif precision + recall == 0:
        f1 = 0.0
    else:
        f1 = 2 * precision * recall / (precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def plot_dependency_graph(edges: Iterable[tuple[str, str]], layers: Mapping[str, str],
                          categories: Sequence[str], path: str | Path, *,
                          title: str | None = None) -> Path:
    """Layered left-to-right drawing of the dependency graph, written as PNG (matplotlib only).

    Columns: preliminary, intermediary, subsequential, independent (empty layers are skipped);
    categories keep their config order inside a column; arrows go prerequisite -> dependent
    (curved when both ends share a column). Uses the Agg canvas directly (headless).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cats = list(categories)
    edges = [tuple(e) for e in edges]
    cols = [name for name in LAYERS if any(layers.get(c, "independent") == name for c in cats)]
    members = {name: [c for c in cats if layers.get(c, "independent") == name] for name in cols}
    height = max([len(m) for m in members.values()] + [1])
    pos: dict[str, tuple[float, float]] = {}
    for x, name in enumerate(cols):
        m = members[name]
        for r, c in enumerate(m):
            pos[c] = (3.0 * x, (len(m) - 1) / 2.0 - r)  # centred column
    fig = Figure(figsize=(max(5.0, 2.8 * len(cols)), max(3.0, 0.5 * height + 1.5)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_axis_off()
    colours = {"preliminary": "#c6dbef", "intermediary": "#fdd0a2", "subsequential": "#c7e9c0",
               "independent": "#eeeeee"}
    boxes = {}
    for c, (x, y) in pos.items():
        boxes[c] = ax.text(x, y, c, ha="center", va="center", fontsize=8, zorder=3,
                           bbox={"boxstyle": "round,pad=0.3",
                                 "fc": colours[layers.get(c, "independent")], "ec": "#777777"})
    for a, b in edges:
        if a not in boxes or b not in boxes or a == b:
            continue
        # anchor on the boxes' edges (coordinates are fractions of each text box): right edge of
        # the prerequisite -> left edge of the dependent; left -> left, curved, within a column
        same_col = pos[a][0] == pos[b][0]
        forward = pos[a][0] < pos[b][0]
        ax.annotate("", xy=(0.0 if forward or same_col else 1.0, 0.5), xycoords=boxes[b],
                    xytext=(0.0 if same_col or not forward else 1.0, 0.5), textcoords=boxes[a],
                    zorder=2, arrowprops={
                        "arrowstyle": "-|>", "color": "#555555", "lw": 0.8, "shrinkA": 2,
                        "shrinkB": 2,
                        "connectionstyle": "arc3,rad=0.5" if same_col else "arc3,rad=0.0"})
    for x, name in enumerate(cols):
        ax.text(3.0 * x, (height - 1) / 2.0 + 1.0, name, ha="center", va="bottom", fontsize=9,
                fontweight="bold")
    ax.set_xlim(-1.8, 3.0 * max(len(cols) - 1, 0) + 1.8)
    ax.set_ylim(-(height - 1) / 2.0 - 1.0, (height - 1) / 2.0 + 1.8)
    if title:
        ax.set_title(title, fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, format="png")
    return path


# ---------------------------------------------------------------------------------------------
# The dependency stage: both variants, its JSON, the taxonomy TSV, validation against a truth
# ---------------------------------------------------------------------------------------------

def dependency_analysis(scores: Scores, categories: Sequence[str], *, alpha: float = 0.05,
                        min_effect: float = 0.0, published_seed: str | int = "1") -> dict[str, Any]:
    """The dependency stage on one model's score tables: the published test (at
    ``published_seed``), and with seed replicates the calibrated test and the published test's
    false-positive rate on the first two seeds.

    Returns ``{"published", "calibrated" (None with one seed), "seed_false_positive_rate" and
    "calibrated_seed_false_positive_rate" (each None with one seed), "main": "calibrated" | "published" (the variant the taxonomy uses), "layers":
    {category: layer} of the main variant's edges, "layers_unoriented": the same without the
    calibrated test's orientation of mutual pairs}``.
    """
    cats = list(categories)
    pub = published_dependency(scores, cats, seed=str(published_seed), alpha=alpha)
    seeds = sorted({s for e in scores.values() for s in e})
    replicated = len(seeds) > 1
    cal = calibrated_dependency(scores, cats, alpha=alpha, min_effect=min_effect) if replicated else None
    fpr = seed_false_positive_rate(scores, cats, seeds=tuple(seeds[:2]), alpha=alpha) if replicated else None
    cal_fpr = calibrated_seed_false_positive_rate(scores, cats, seeds=tuple(seeds[:2]), alpha=alpha) \
        if replicated else None
    main = "calibrated" if cal is not None else "published"
    layers = taxonomy_layers((cal if cal is not None else pub)["edges"], cats)
    # the calibrated taxonomy without its orientation step (mutual pairs left out, as published)
    oriented = {tuple(d["oriented"]) for d in (cal or {}).get("oriented_mutual", []) if d["oriented"]}
    unoriented = taxonomy_layers([e for e in (cal if cal is not None else pub)["edges"] if tuple(e) not in oriented],
                                 cats)
    return {"published": pub, "calibrated": cal, "seed_false_positive_rate": fpr,
            "calibrated_seed_false_positive_rate": cal_fpr, "main": main,
            "layers": layers, "layers_unoriented": unoriented}


DEPENDENCY_JSON_KEYS = ("edges", "tests", "mutual", "untested_reverse", "method", "seed", "alpha", "sigma",
                        "min_effect", "rate", "n_tests", "n_false_positives", "oriented_mutual")
"""The keys of each variant's result that go into ``dependency.json``."""


def dependency_json(analysis: Mapping[str, Any], budget: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The JSON-ready ``dependency.json`` of a :func:`dependency_analysis` result: each variant
    restricted to :data:`DEPENDENCY_JSON_KEYS` (None when not run), the layers, the main
    variant's name and the training budget of each kind of interaction model (``budget``:
    ``{"base", "add", "drop"}``)."""
    def plain(result: Mapping[str, Any] | None) -> dict[str, Any] | None:
        return None if result is None else {k: v for k, v in result.items() if k in DEPENDENCY_JSON_KEYS}

    return {"published": plain(analysis["published"]), "calibrated": plain(analysis["calibrated"]),
            "seed_false_positive_rate": plain(analysis["seed_false_positive_rate"]),
            "calibrated_seed_false_positive_rate": plain(analysis.get("calibrated_seed_false_positive_rate")),
            "layers": analysis["layers"], "layers_unoriented": analysis["layers_unoriented"],
            "main": analysis["main"],
            "budget": dict(budget) if budget is not None else None}


TAXONOMY_COLUMNS = ("category", "layer")


def write_taxonomy(path: str | Path, layers: Mapping[str, str], categories: Sequence[str]) -> int:
    """Write ``taxonomy.tsv``: header ``category layer``, one row per category in ``categories``
    order (its layer from :func:`taxonomy_layers`). Read it back with :func:`read_taxonomy`.
    Returns the number of rows."""
    return write_typed_tsv(path, ({"category": c, "layer": layers[c]} for c in categories),
                           TAXONOMY_COLUMNS, what="taxonomy TSV")


def read_taxonomy(path: str | Path) -> dict[str, str]:
    """``{category: layer}`` (file order) from a ``taxonomy.tsv`` written by :func:`write_taxonomy`."""
    return {r["category"]: r["layer"] for r in read_typed_tsv(path, TAXONOMY_COLUMNS, what="taxonomy TSV")}


def validate_dependency(dependency: Mapping[str, Any], truth: Mapping[str, Any],
                        tested: Iterable[str]) -> dict[str, Any]:
    """Recovered edges of both variants against a planted truth.

    ``dependency``: a :func:`dependency_json` result; ``truth``: ``{"edges": [{"prerequisite",
    "dependent"}, ...]}`` (the world's ground truth); ``tested``: the categories that have a
    ``drop_`` experiment (a planted edge counts only when its prerequisite was tested). Returns
    ``{"true_edges", "tested_prerequisites", "<variant>": edge_scores(...) + {"edges"} for each
    variant present, "seed_false_positive_rate" and "calibrated_seed_false_positive_rate": rates
    (when measured)}``.
    """
    prerequisites = set(tested)
    true_edges = [(e["prerequisite"], e["dependent"]) for e in truth["edges"] if e["prerequisite"] in prerequisites]
    out: dict[str, Any] = {"true_edges": true_edges, "tested_prerequisites": sorted(prerequisites)}
    for variant in ("published", "calibrated"):
        if dependency.get(variant) is None:
            continue
        pred = [tuple(e) for e in dependency[variant]["edges"]]
        out[variant] = edge_scores(pred, true_edges)
        out[variant]["edges"] = pred
    for key in ("seed_false_positive_rate", "calibrated_seed_false_positive_rate"):
        if dependency.get(key):
            out[key] = dependency[key]["rate"]
    return out
