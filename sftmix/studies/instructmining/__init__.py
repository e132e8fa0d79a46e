"""InstructMining (Cao et al.): natural-language indicators of instruction quality, an OLS rule of
log eval loss on them, rule-based selection and a BlendSearch over the selection size.

* :mod:`.indicators`  per-record indicators (Table 1) and their dataset means
* :mod:`.rule`        the OLS fit of log(loss) on indicators (Eq. 3), indicator selection,
  one-out ablation (Table 5), KS tests (Table 7), rule scores of records (Eq. 4)
* :mod:`.search`      BlendSearch (FLAML) over the selection size k, as ask/tell replay

Config section ``instructmining``; rule file ``rules/instructmining.smk``.
"""

from . import experiments  # noqa: F401  (registers the study's families)
