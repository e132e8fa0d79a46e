"""DoIT (Song et al., "Dynamics of Instruction (Fine-)Tuning"): each ability has its own growth pace.

* :mod:`.analysis`  the log-base-4 quantity grid (Sec. 4.1), distractor-PPL scoring (Sec. 4.2),
  checkpoint selection on validation (Sec. 4.2), the Eq. 2 scaling-sensitivity fits
  (Sec. 4.3.2), Complexity and Transference and their correlation with sensitivity (Sec. 4.3.2,
  Fig. 7), and the Reconstruct / Maximum mixes (Sec. 5.2, Table 3)

Analysis functions only, over plain data; the study is not registered in
:data:`sftmix.studies.STUDIES` (no experiment families, config section or rule file yet).
"""
