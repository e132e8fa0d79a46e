"""Decontamination: training candidates that overlap eval/test items are quarantined.

The n-gram test follows GPT-3 (Brown et al. 2020, *Language Models are Few-Shot Learners*, App. C)
and the open-instruct decontamination scripts (Ivison, Wang et al., Tulu 2/3):

* **Normalization** (GPT-3 App. C: "ignoring all punctuation, whitespace, and casing"): a text is
  lowercased, every character that is neither a letter nor a digit becomes a space, and the rest
  is split on whitespace into words (:func:`normalize`). A record's text is all its turns,
  system, user and assistant (:func:`sftmix.records.full_text`): a leaked answer is a leak too.
* **N-grams** (GPT-3 App. C: N = 13 at most; lm-eval's decontamination uses 13 throughout;
  ``decontam.ngram``): the set of word N-grams of an eval item (:func:`item_ngrams`).
* **Short items**: an item with fewer than N words but at least ``decontam.min_words`` (8, GPT-3's
  lowest N on non-synthetic tasks) contributes its *whole* normalized text as its one n-gram, so a
  candidate overlaps it only when it contains the entire item verbatim (after normalization). An
  item shorter than ``min_words`` is not checked (counted as ``too_short`` and logged): matching a
  handful of words flags common phrases, which GPT-3 names as the reason for its minimum.
* **Overlap** (open-instruct's match ratio): for a candidate and an eval item, the number of the
  item's distinct n-grams that occur in the candidate, and that number over the item's n-gram
  count. GPT-3 calls an item dirty at any overlap; open-instruct flags a training instance when
  the ratio reaches a threshold (``decontam.min_overlap``, 0.5), which keeps templated text
  (instruction boilerplate shared by a whole category) from flagging every record of the
  category. ``min_overlap`` near 0 is GPT-3's "any n-gram" rule.

A candidate whose best-matching item reaches ``min_overlap`` is quarantined with reason
``contamination``, the item's id and source (``eval:dev`` / ``eval:test`` or
``benchmark:<task>``), the first overlapping n-gram, the overlap count and ratio. Eval items
themselves are never candidates (they are the eval set). Pure functions; the order of the
candidates is kept, so the same inputs give the same bytes.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .records import Record, StageCounts, full_text, quarantine_row
from .subsets import eval_split

log = logging.getLogger(__name__)

STAGE = "decontam"
REASON = "contamination"
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)

Ngram = tuple[str, ...]


def normalize(text: str) -> list[str]:
    """Lowercased words of ``text`` with punctuation removed (GPT-3 App. C): every run of
    characters that are not letters or digits is a word boundary."""
    return _NON_WORD.sub(" ", text.lower()).split()


def item_ngrams(words: Sequence[str], n: int, min_words: int) -> frozenset[Ngram]:
    """The distinct word ``n``-grams of ``words``; a text of ``min_words`` <= len < ``n`` words is
    its own single n-gram (the short-item rule); a shorter one has none (not checked)."""
    if n < 1 or min_words < 1:
        raise ValueError(f"decontam: ngram ({n}) and min_words ({min_words}) must be >= 1")
    if len(words) >= n:
        return frozenset(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    if len(words) >= min_words:
        return frozenset({tuple(words)})
    return frozenset()


@dataclass(frozen=True)
class EvalItem:
    """One item to protect: its id, where it comes from, and its text."""

    id: str
    source: str  # "eval:dev", "eval:test", "benchmark:<task>"
    text: str


@dataclass
class Index:
    """The n-grams of every protected item: n-gram -> item numbers, each item's n-gram count,
    and the lengths a candidate must be cut into (``n`` and every short item's length)."""

    n: int
    min_words: int
    items: list[EvalItem] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    grams: dict[Ngram, list[int]] = field(default_factory=dict)
    lengths: set[int] = field(default_factory=set)
    too_short: list[str] = field(default_factory=list)


def eval_items(records: Iterable[Record]) -> list[EvalItem]:
    """Eval records (with ``meta.split``) as items whose source names their split."""
    return [EvalItem(str(r["id"]), f"eval:{eval_split(r)}", full_text(r)) for r in records]


def build_index(items: Iterable[EvalItem], n: int, min_words: int) -> Index:
    """Index the n-grams of ``items`` (:func:`item_ngrams`); items too short to check are listed
    in ``too_short``. A repeated (id, source) pair is indexed once."""
    index = Index(n=n, min_words=min_words)
    seen: set[tuple[str, str]] = set()
    for it in items:
        if (it.id, it.source) in seen:
            continue
        seen.add((it.id, it.source))
        grams = item_ngrams(normalize(it.text), n, min_words)
        if not grams:
            index.too_short.append(it.id)
            continue
        k = len(index.items)
        index.items.append(it)
        index.sizes.append(len(grams))
        for g in sorted(grams):
            index.grams.setdefault(g, []).append(k)
            index.lengths.add(len(g))
    return index


@dataclass(frozen=True)
class Match:
    """The best-matching protected item of one candidate."""

    item_id: str
    item_source: str
    ngram: str  # the first overlapping n-gram in the candidate, words joined by spaces
    overlap: int  # distinct n-grams of the item found in the candidate
    item_ngrams: int
    ratio: float  # overlap / item_ngrams

    def as_dict(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "item_source": self.item_source, "ngram": self.ngram,
                "overlap": self.overlap, "item_ngrams": self.item_ngrams, "ratio": round(self.ratio, 6)}


def best_match(text: str, index: Index) -> Match | None:
    """The item whose n-grams ``text`` covers most (highest ratio, then overlap count, then the
    first item indexed), or None when ``text`` shares no n-gram with any item."""
    words = normalize(text)
    found: dict[int, set[Ngram]] = {}
    first: dict[int, Ngram] = {}
    for length in sorted(index.lengths):
        for i in range(len(words) - length + 1):
            g = tuple(words[i:i + length])
            for k in index.grams.get(g, ()):
                found.setdefault(k, set()).add(g)
                first.setdefault(k, g)
    if not found:
        return None
    k = max(found, key=lambda j: (len(found[j]) / index.sizes[j], len(found[j]), -j))
    it = index.items[k]
    return Match(it.id, it.source, " ".join(first[k]), len(found[k]), index.sizes[k],
                 len(found[k]) / index.sizes[k])


def decontaminate(candidates: Iterable[Record], index: Index, min_overlap: float,
                  eval_ids: Iterable[str] = ()) -> tuple[list[Record], list[dict[str, Any]], dict[str, Any]]:
    """Split ``candidates`` into kept records and quarantined contaminated ones.

    A record whose id is in ``eval_ids`` is an eval item: kept, never checked. Any other record is
    contaminated when its :func:`best_match` has ``ratio >= min_overlap`` (and at least one
    overlapping n-gram). Returns ``(kept, quarantine, counts)``: quarantine rows are
    :func:`sftmix.records.quarantine_row` with reason ``contamination`` plus ``match``
    (:meth:`Match.as_dict`); counts are the stage's :class:`StageCounts` (``in = kept +
    quarantined``) plus ``eval_items`` (kept as such), ``matched_below_threshold`` (candidates that
    share n-grams but stay under ``min_overlap``), ``by_item_source``, ``index`` sizes."""
    if not 0.0 <= min_overlap <= 1.0:
        raise ValueError(f"decontam.min_overlap: {min_overlap} is not in [0, 1]")
    protected = set(eval_ids)
    stage = StageCounts(STAGE)
    kept: list[Record] = []
    quarantine: list[dict[str, Any]] = []
    n_eval = below = 0
    by_source: dict[str, int] = {}
    for rec in candidates:
        stage.n_in += 1
        if rec["id"] in protected:
            n_eval += 1
            kept.append(rec)
            continue
        m = best_match(full_text(rec), index)
        if m is None or m.overlap == 0 or m.ratio < min_overlap:
            below += m is not None
            kept.append(rec)
            continue
        stage.quarantine(REASON)
        by_source[m.item_source] = by_source.get(m.item_source, 0) + 1
        row = quarantine_row(STAGE, REASON, rec, source=str(rec.get("source", "")), record_id=rec["id"],
                             detail=f"{m.overlap}/{m.item_ngrams} {index.n}-grams of {m.item_source} item "
                                    f"{m.item_id} (ratio {m.ratio:.3f}); first: {m.ngram!r}")
        row["match"] = m.as_dict()
        quarantine.append(row)
    stage.kept = len(kept)
    stage.check()
    counts = {**stage.to_dict(), "eval_items": n_eval, "matched_below_threshold": below,
              "by_item_source": dict(sorted(by_source.items())),
              "index": {"ngram": index.n, "min_words": index.min_words, "items": len(index.items),
                        "too_short": len(index.too_short), "ngrams": len(index.grams)}}
    return kept, quarantine, counts


def benchmark_task_names(decontam_cfg: Mapping[str, Any], lmeval_cfg: Mapping[str, Any]) -> list[str]:
    """The lm-eval tasks whose test items are protected: ``decontam.benchmarks`` when set, else
    the configured hub tasks (``benchmarks.lmeval.tasks`` unless they are the local tasks built
    from the eval items, which the eval items already cover; none when lm-eval is off)."""
    if decontam_cfg.get("benchmarks") is not None:
        return list(decontam_cfg["benchmarks"])
    if not lmeval_cfg.get("enabled") or lmeval_cfg.get("local_tasks"):
        return []
    return list(lmeval_cfg.get("tasks", []))


def _leaf_tasks(tree: Mapping[Any, Any]) -> Iterable[tuple[str, Any]]:
    """(name, task) of every leaf of an lm-eval task dict (groups nest dicts)."""
    for key, value in tree.items():
        if isinstance(value, Mapping):
            yield from _leaf_tasks(value)
        elif value is not None:
            yield str(key), value


def _doc_text(task: Any, doc: Mapping[str, Any]) -> str:
    """A benchmark document as text: the harness's prompt and its target (choices as text)."""
    parts = [str(task.doc_to_text(doc))]
    target = task.doc_to_target(doc)
    choices = task.doc_to_choice(doc) if getattr(task, "OUTPUT_TYPE", "") == "multiple_choice" else None
    if choices and isinstance(target, int) and 0 <= target < len(choices):
        target = choices[target]
    parts.append(str(target))
    return "\n".join(parts)


def benchmark_items(tasks: Sequence[str], task_dir: str | None = None) -> tuple[list[EvalItem], dict[str, str]]:
    """Test items of lm-eval ``tasks`` read through the harness's own loader
    (:func:`sftmix.benchmarks.task_manager`), offline: a task whose dataset is not in the local
    cache is skipped with its reason (returned and logged), never downloaded. Items are
    ``benchmark:<task>`` with ids ``<task>/<n>``; a task without a test split uses its validation
    split (as the harness evaluates it). ``task_dir``: extra local task YAMLs (tests)."""
    if not tasks:
        return [], {}
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ[var] = "1"
    from lm_eval.tasks import get_task_dict

    from .benchmarks import task_manager

    items: list[EvalItem] = []
    skipped: dict[str, str] = {}
    for name in tasks:
        try:
            tree = get_task_dict([name], task_manager(task_dir, [name]))
            for leaf, task in _leaf_tasks(tree):
                docs = task.test_docs() if task.has_test_docs() else task.validation_docs()
                for k, doc in enumerate(docs or []):
                    items.append(EvalItem(f"{leaf}/{k}", f"benchmark:{leaf}", _doc_text(task, doc)))
        except Exception as err:  # noqa: BLE001 - an uncached dataset raises whatever its builder raises
            skipped[name] = f"{type(err).__name__}: {err}"[:300]
            log.warning("decontam: benchmark %s not checked (not cached locally?): %s", name, skipped[name])
    return items, skipped
