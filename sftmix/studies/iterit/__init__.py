"""IterIT (Jia et al.): iterative complexity-diversity data selection, re-selected every epoch.

* :mod:`.experiments`  the ``iterit`` (epoch-wise re-selection) and ``selection`` (one selection,
  trained for the same steps) families
* :mod:`.select`       IFD complexity (Eq. 1-4), TF-IDF diversity (Eq. 5-7), the greedy selection
  (Eq. 8, Algorithm 1) and the baselines (Longest, Superfiltering, GraphFilter, Deita, random)
* :mod:`.report`       the study's tables (Table 1 / Table 4 layout), epoch overlap (Table 5),
  response lengths (Fig. 3) and precision against a generated world's planted defects

Config section ``iterit``; rule file ``rules/iterit.smk``.
"""

from . import experiments  # noqa: F401  (registers the study's families)
