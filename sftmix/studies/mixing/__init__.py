"""Demystifying Instruction Mixing: fine-tunes on every combination of general (Alpaca, "A"),
code (CodeAlpaca, "C") and NLP-task (P3, "P") instructions, plus the mixing-ratio and size sweeps.

* :mod:`.sets`  the instruction types, the eight combinations (None .. ACP), and the seeded,
  nested training sets of the combinations (Table 1/2), the ratio sweep and the size sweep (Fig. 2)
"""
