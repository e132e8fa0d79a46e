"""Beyond IID (Zhao, Du et al., AAAI 2025): how instruction categories interact.

* :mod:`.experiments`  the interaction (base / add_* / drop_*), mixture and schedule families
* :mod:`.interaction`  the effect-equivalence coefficient gamma (Eq. 1), meta-groups
* :mod:`.dependency`   the dependency taxonomy (Wilcoxon + BH as published; seed-calibrated)
* :mod:`.optimize`     the candidate pool, EE-CPO (Eq. 5) plans, mixtures and schedules as data
* :mod:`.mixture`      the EE-CPO linear program and the baseline mixtures
* :mod:`.curriculum`   DT-CSFT, Mix+ and the baseline schedules
* :mod:`.report`       the study's comparison tables (mixtures, curricula, benchmarks)

Config section ``beyond_iid``; rule file ``rules/beyond_iid.smk``.
"""

from . import experiments  # noqa: F401  (registers the study's families)
