"""The paper's Sec. 4 findings on type combinations, as run-level comparisons (Table 1 / Table 2),
and which runs answer each in each design.

A claim compares an *experiment* combination with a *reference* combination on one type. The
published design (``additive``) compares the two combinations as the paper trained them, each type
adding ``per_type`` records, so the experiment also has more records and, at fixed epochs, more
optimizer steps. Two sound variants separate the other type's data from that extra training:

* ``equal``: both combinations at the same total in equal parts of their types
  (:func:`sftmix.studies.mixing.sets.equal_combination_set`): the same records and steps, so the
  question is a budget's allocation ("at the same budget, does replacing part of A with C help
  general?"); the experiment then holds less of the reference's own types.
* ``steps``: the experiment as published against the reference's published set trained for the
  experiment's steps (the ``matched`` budget: more passes over the same records). The reference
  keeps all of its records and gets the same training, so the only difference left is the other
  type's records against repeated passes: the claim's own question ("does adding C help general
  beyond the extra training?").
"""

from __future__ import annotations

from .sets import COMBINATIONS, combo_types

CLAIMS: tuple[tuple[str, str, str, str, str], ...] = (
    # (claim, type, experiment, reference, the verdict that reproduces the paper)
    ("NLP-task data helps NLP tasks", "nlp", "ap", "a", "better"),  # Sec. 4.1: P, PA, PC, PCA > None, A, C, CA
    ("code data helps code", "code", "ac", "a", "better"),  # Sec. 4.1: specialized data boosts its benchmark
    ("general data helps code", "code", "ac", "c", "better"),  # Sec. 4.1: "consistently improves coding"
    ("code data helps general ability", "general", "ac", "a", "better"),  # Sec. 4.2 (2): AC > A in alignment
    ("NLP-task data hurts general ability", "general", "ap", "a", "worse"),  # Sec. 4.2 (3): P3 -2.8 / -3.6
    ("all three types beat general + NLP on NLP tasks", "nlp", "acp", "ap", "better"),  # 13B best with ACP
)
"""The paper's claims: (claim, type, experiment, reference, the verdict that reproduces it)."""


def steps_partner(reference: str, n_types: int) -> str:
    """The combination whose steps the ``steps`` design trains ``reference`` for, when the claim's
    experiment has ``n_types`` types: the first combination of :data:`COMBINATIONS` with that many
    types that holds all of the reference's (``a`` with 2 -> ``ac``; ``ap`` with 3 -> ``acp``). At
    ``per_type`` records a type, every such combination has the same records, hence the same
    steps, so one run serves every claim with that reference and size (A against AC and against
    AP)."""
    own = set(combo_types(reference))
    for c in COMBINATIONS:
        types = combo_types(c)
        if len(types) == n_types and own <= set(types):
            return c
    raise ValueError(f"mixing: no combination of {n_types} types holds {reference!r}")


def claimed(combos: list[str]) -> list[tuple[str, str, str, str, str]]:
    """The claims whose two combinations are both among ``combos`` (the configured ones)."""
    have = set(combos)
    return [c for c in CLAIMS if c[2] in have and c[3] in have]
