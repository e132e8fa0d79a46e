"""DoIT (Song et al., "Dynamics of Instruction Tuning"): each ability has its own growth pace.

* :mod:`.analysis`     the log-base-4 quantity grid (Sec. 4.1), distractor-PPL scoring (Sec. 4.2),
  checkpoint selection on validation (Sec. 4.2), the Eq. 2 scaling-sensitivity fits (Sec. 4.3.2),
  Complexity and Transference and their correlation with sensitivity (Sec. 4.3.2, Fig. 7), and the
  Reconstruct / Maximum mixes (Sec. 5.2, Table 3)
* :mod:`.items`        the evaluation items with their alternatives and their per-epoch scoring
* :mod:`.sets`         the seeded, nested per-ability training sets
* :mod:`.experiments`  the ``doit``, ``doitone`` and ``doitmix`` families
* :mod:`.report`       checkpoint selection per run, the fits (published and sound), features,
  mixes against the baseline, the report

Config section ``doit``; rule file ``rules/doit.smk``.
"""

from . import experiments  # noqa: F401  (registers the study's families)
