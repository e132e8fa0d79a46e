"""Demystifying Instruction Mixing: fine-tunes on every combination of general (Alpaca, "A"),
code (CodeAlpaca, "C") and NLP-task (P3, "P") instructions, plus the mixing-ratio and size sweeps.

* :mod:`.experiments`  the ``tmix`` family: ``tmix_<combo>``, ``tmixratio_<r>``, ``tmixsize_<n>``
* :mod:`.sets`         the instruction types, the eight combinations (None .. ACP), and the seeded,
  nested training sets of the combinations (Table 1/2), the ratio sweep and the size sweep (Fig. 2)
* :mod:`.report`       per-type evaluation: Table 1 shape, the ratio and size curves, run-level
  verdicts

Config section ``mixing``; rule file ``rules/mixing.smk``.
"""

from . import experiments  # noqa: F401  (registers the study's family)
