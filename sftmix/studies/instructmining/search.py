"""InstructMining Sec. 2.3 ("Data selection with BlendSearch") and Sec. 4 ("BlendSearch
results"): a BlendSearch (Wang et al., 2021a, in FLAML) over the selected data size k.

The paper samples k log-uniformly in a range (512 to 10,000), treats k as the trial's cost
(training time scales with k) and minimizes the eval loss of a model fine-tuned on the top-k
rule-selected samples. In this workflow a trial is a job chain (select top-k -> fine-tune ->
score), so the search cannot run as one in-process ``flaml.tune.run`` loop. It runs as
**ask/tell with deterministic replay**: :func:`suggest_next` builds a fresh FLAML
:class:`~flaml.tune.searcher.blendsearch.BlendSearch`, replays the recorded history
``[(k_0, loss_0), (k_1, loss_1), ...]`` through ``suggest`` / ``on_trial_complete`` exactly as
``flaml.tune.run`` would have driven it, and returns the next k. Nothing is pickled between
calls: the history TSV is the whole state of a search.

* **Search space**: ``{"k": flaml.tune.lograndint(low, high + 1)}`` (FLAML's integer upper
  bound is exclusive, so k lies in ``[low, high]``); metric ``"loss"``, mode ``"min"``;
  ``low_cost_partial_config={"k": low}`` (the search starts at the cheapest size);
  ``cost_attr="cost"`` with ``result["cost"] = k``; ``num_samples = budget`` when a budget is
  given (as ``flaml.tune.run(num_samples=budget)`` sets it: it enters BlendSearch's thread
  priorities, so a history must be replayed with the budget it was made with).
* **Determinism**: every random draw comes from the seed given to ``BlendSearch(seed=seed)``:
  its local search (FLOW2) uses ``np.random.RandomState(seed)`` and
  ``_BackwardsCompatibleNumpyRng(seed + 19823)``; its global search is FLAML's ``OptunaSearch``
  over a define-by-run space with ``optuna.samplers.TPESampler(seed=seed - 10)`` (FLAML's own
  offset, wrapped into ``[0, 2**32)``) and in-memory storage. With a custom ``cost_attr`` and no
  time budget no wall-clock time enters a decision, and trial ids are deterministic strings, so
  the same ``(history, low, high, seed, budget)`` gives the same next k in any process.
* **Faithful replay**: at replay step t the searcher's suggestion must equal the recorded k_t;
  otherwise :class:`ReplayMismatchError` names the trial (the history was made with other
  settings, or another FLAML/optuna version).
* **Exhaustion and duplicates**: BlendSearch's ``suggest`` returns None when its proposal is
  already known (it then tells the proposing thread the cached result) or a local thread has
  converged; like ``flaml.tune.run`` (``max_failure=100``) a step asks again with a fresh trial
  id, up to :data:`MAX_FAILURE` consecutive times. Should a suggestion repeat an evaluated k
  (BlendSearch's own cache prevents it), the recorded loss is told back at once, as FLAML does for
  a cached config, and the step asks again; that counts as a failed attempt. After
  :data:`MAX_FAILURE` failed attempts the search is exhausted: :func:`suggest_next` returns None
  and the caller ends the search early. It also returns None once ``budget`` trials are recorded.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ...records import read_typed_tsv, write_typed_tsv

PAPER_LOW = 512  # Sec. 4: "a BlendSearch within a range of data sizes from 512 to 10,000"
PAPER_HIGH = 10_000
METRIC = "loss"
COST_ATTR = "cost"
MAX_FAILURE = 100  # flaml.tune.run's default max_failure: consecutive empty suggestions tolerated
MAX_SEED = 2**32 - 19824  # FLOW2 seeds a numpy RNG with seed + 19823 (must stay below 2**32)
HISTORY_COLUMNS = ("trial", "k", "loss", "cost", "best_so_far")
_HISTORY_INTS = frozenset({"trial", "k", "cost"})
_HISTORY_FLOATS = frozenset({"loss", "best_so_far"})

HistoryItem = tuple[int, float] | Mapping[str, Any]


class ReplayMismatchError(ValueError):
    """The replayed BlendSearch does not suggest the k a history recorded."""


@contextlib.contextmanager
def _quiet_flaml() -> Iterator[None]:
    """FLAML and optuna log at INFO (optuna: "A new study created ..."); keep them at WARNING while
    a searcher is built and driven, and silence FLAML's import-time note about flaml.automl."""
    loggers = [logging.getLogger(name) for name in ("flaml", "optuna")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"flaml\.automl is not available")
        try:
            from flaml.tune.searcher.blendsearch import BlendSearch  # noqa: F401  (import once, quietly)

            for lg in loggers:  # after the import: optuna sets its root logger's level on import
                lg.setLevel(logging.WARNING)
            yield
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)


def _check_range(low: int, high: int) -> None:
    if isinstance(low, bool) or isinstance(high, bool) or not isinstance(low, int) \
            or not isinstance(high, int):
        raise TypeError(f"search range must be ints, got low={low!r}, high={high!r}")
    if not 1 <= low < high:
        raise ValueError(f"search range must satisfy 1 <= low < high, got [{low}, {high}]")


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an int in [0, {MAX_SEED}], got {seed!r}")


def _check_budget(budget: int | None) -> None:
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
        raise ValueError(f"budget must be a positive int or None, got {budget!r}")


def history_pairs(history: Sequence[HistoryItem]) -> list[tuple[int, float]]:
    """``[(k, loss), ...]`` from pairs or from rows with ``k`` and ``loss`` (as
    :func:`read_history` gives); k must be an int, loss a finite number."""
    pairs: list[tuple[int, float]] = []
    for t, item in enumerate(history):
        k, loss = (item["k"], item["loss"]) if isinstance(item, Mapping) else item
        if isinstance(k, bool) or not isinstance(k, int):
            raise ValueError(f"history trial {t}: k must be an int, got {k!r}")
        loss = float(loss)
        if not math.isfinite(loss):
            raise ValueError(f"history trial {t} (k={k}): loss must be finite, got {loss!r}")
        pairs.append((k, loss))
    return pairs


def make_searcher(*, low: int, high: int, seed: int, budget: int | None = None) -> Any:
    """A fresh FLAML BlendSearch over k in ``[low, high]`` (log-uniform ints), cost = k.

    Call inside :func:`_quiet_flaml` to keep FLAML/optuna quiet."""
    _check_range(low, high)
    _check_seed(seed)
    _check_budget(budget)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"flaml\.automl is not available")
        from flaml import tune
        from flaml.tune.searcher.blendsearch import BlendSearch

    return BlendSearch(
        metric=METRIC,
        mode="min",
        space={"k": tune.lograndint(low, high + 1)},  # upper bound exclusive in FLAML
        low_cost_partial_config={"k": low},
        cost_attr=COST_ATTR,
        num_samples=budget,
        seed=seed,
    )


def _ask(searcher: Any, trial: int, evaluated: Mapping[int, float]) -> tuple[str, int] | None:
    """One step of ``flaml.tune.run``'s loop: ask until a new k comes (its trial id and k), or
    None after :data:`MAX_FAILURE` consecutive failed attempts (no config, or an evaluated k,
    whose recorded loss is told back at once)."""
    for attempt in range(MAX_FAILURE):
        trial_id = f"trial-{trial:05d}-{attempt:03d}"
        config = searcher.suggest(trial_id)
        if config is None:
            continue
        k = int(config["k"])
        if k in evaluated:
            searcher.on_trial_complete(trial_id, _result(k, evaluated[k]))
            continue
        return trial_id, k
    return None


def _result(k: int, loss: float) -> dict[str, Any]:
    """A trial's result as ``flaml.tune.report`` hands it to the searcher."""
    return {METRIC: loss, COST_ATTR: k, "config": {"k": k}, "config/k": k, "training_iteration": 1}


def _settings(low: int, high: int, seed: int, budget: int | None) -> str:
    return f"low={low}, high={high}, seed={seed}, budget={budget}"


def suggest_next(history: Sequence[HistoryItem], *, low: int = PAPER_LOW, high: int = PAPER_HIGH,
                 seed: int = 0, budget: int | None = None) -> int | None:
    """The next data size k to try, given the trials so far (``[(k, loss), ...]`` in trial order,
    or rows with ``k`` and ``loss``), or None when the search is over (``budget`` trials recorded,
    or BlendSearch has nothing left to suggest: see the module docstring).

    Replays the history through a fresh BlendSearch (:func:`make_searcher`); raises
    :class:`ReplayMismatchError` if a recorded k is not what the searcher suggests at that trial.
    """
    pairs = history_pairs(history)
    with _quiet_flaml():
        searcher = make_searcher(low=low, high=high, seed=seed, budget=budget)
        evaluated: dict[int, float] = {}
        for t, (k, loss) in enumerate(pairs):
            asked = _ask(searcher, t, evaluated)
            if asked is None or asked[1] != k:
                got = "nothing (search exhausted)" if asked is None else f"k={asked[1]}"
                raise ReplayMismatchError(
                    f"BlendSearch replay diverged at trial {t}: the history records k={k} but the "
                    f"searcher ({_settings(low, high, seed, budget)}) suggests {got}; the history "
                    f"was made with other search settings or another FLAML/optuna version")
            searcher.on_trial_complete(asked[0], _result(k, loss))
            evaluated[k] = loss
        if budget is not None and len(pairs) >= budget:
            return None
        asked = _ask(searcher, len(pairs), evaluated)
    if asked is None:
        return None
    k = asked[1]
    if not low <= k <= high:  # FLAML keeps k in its domain; guard the contract all the same
        raise AssertionError(f"BlendSearch suggested k={k} outside [{low}, {high}]")
    return k


def history_rows(pairs: Sequence[HistoryItem]) -> list[dict[str, Any]]:
    """History rows (:data:`HISTORY_COLUMNS`) of trials ``[(k, loss), ...]``: trial index, k, loss,
    cost (= k) and the best loss so far."""
    rows: list[dict[str, Any]] = []
    best = math.inf
    for t, (k, loss) in enumerate(history_pairs(pairs)):
        best = min(best, loss)
        rows.append({"trial": t, "k": k, "loss": loss, "cost": k, "best_so_far": best})
    return rows


def run_search(objective: Callable[[int], float], *, low: int = PAPER_LOW, high: int = PAPER_HIGH,
               budget: int, seed: int = 0) -> list[dict[str, Any]]:
    """Run the search in process: up to ``budget`` trials of :func:`suggest_next` then
    ``objective(k)`` (fewer if the search is exhausted). Returns the history rows
    (:func:`history_rows`)."""
    _check_budget(budget)
    pairs: list[tuple[int, float]] = []
    while len(pairs) < budget:
        k = suggest_next(pairs, low=low, high=high, seed=seed, budget=budget)
        if k is None:
            break
        pairs.append((k, float(objective(k))))
    return history_rows(pairs)


def best_trial(history: Sequence[HistoryItem]) -> dict[str, Any]:
    """The history row with the lowest loss (the earliest on ties)."""
    rows = history_rows(history)
    if not rows:
        raise ValueError("best_trial: empty history")
    return min(rows, key=lambda r: (r["loss"], r["trial"]))


def write_history(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> int:
    """Write history rows (:data:`HISTORY_COLUMNS`) as TSV; losses round-trip exactly."""
    return write_typed_tsv(path, rows, HISTORY_COLUMNS, ints=_HISTORY_INTS, floats=_HISTORY_FLOATS,
                           what="BlendSearch history")


def read_history(path: str | Path) -> list[dict[str, Any]]:
    """Read a history written by :func:`write_history`; trial indices must run 0, 1, 2, ..."""
    rows = read_typed_tsv(path, HISTORY_COLUMNS, ints=_HISTORY_INTS, floats=_HISTORY_FLOATS,
                          what="BlendSearch history")
    for t, row in enumerate(rows):
        if row["trial"] != t:
            raise ValueError(f"{path}: row {t + 1} has trial {row['trial']}, expected {t}")
    return rows
