"""Studies: one unit per paper, on the shared engines.

The engines (data: ``ingest``, ``filters``, ``dedup``, ``tagging``, ``normalize``, ``categorize``,
``subsets``, ``world``; train: ``basemodel``, ``sft``; score: ``scoring``, ``scores``,
``summary``, ``quality``; evaluate: ``benchmarks``, ``judge``; report: ``report``) know nothing of any
paper. A study is

* its config section (``<study>:`` in ``config/schemas/config.schema.yaml``, every default there),
* the experiment families it declares (``<study>/experiments.py``, registered in
  :mod:`sftmix.experiments` when this package is imported),
* its analysis functions (modules of ``sftmix/studies/<study>/``),
* its rule file (``rules/<study>.smk``) with thin scripts in ``scripts/``,
* its report section (``report(...)`` outputs with captions in ``report/``).

``STUDIES`` lists them; importing this package registers every study's families.
"""

from __future__ import annotations

from . import beyond_iid, doit, instructmining, iterit, mixing

STUDIES = {"beyond_iid": beyond_iid, "iterit": iterit, "instructmining": instructmining, "mixing": mixing,
           "doit": doit}
