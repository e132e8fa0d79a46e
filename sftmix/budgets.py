"""The training budgets an experiment can have (one home for their names).

``steps``: ``train.max_steps`` optimizer steps over the shuffled set (equal compute for sets of
equal size). ``epochs``: ``train.epochs`` passes over the set (steps grow with its size).
``matched``: as many optimizer steps as ``train.epochs`` passes over a *reference* set take (the
interaction family's ``drop_*`` against ``base``: equal compute, the dropped category's share of
the steps going to more passes over the rest). ``staged``: one pass over a schedule's stages in
order. :func:`sftmix.sft.budget_config` applies one to the train section;
:class:`sftmix.experiments.Family` declares one per experiment.
"""

BUDGETS = ("steps", "epochs", "matched", "staged")
