"""Rule im_fit: InstructMining's rule fitted on one indicator table (the study's own, the paper's
Tables 20-21, or a user's): OLS of log(loss) (Eq. 3) on the indicators chosen as published (R^2,
then p values; Sec. E) and by cross-validation (the sound variant), the fit on every candidate,
the one-out ablation (Table 5) and the normality tests (Table 7, as published and sound)."""

import math

from sftmix.logutil import finish, setup_logging
from sftmix.records import write_json, write_typed_tsv
from sftmix.studies.instructmining import rule
from sftmix.studies.instructmining.indicators import ordered_indicators

log = setup_logging(snakemake.log[0])  # noqa: F821
out, s = snakemake.output, snakemake.params.settings  # noqa: F821
rows, quarantined = rule.read_indicator_table(snakemake.input.table, labels=("dataset", "table", "row"))  # noqa: F821
present = [c for c in ordered_indicators(s["indicators"]) if c in rows[0]]
absent = sorted(set(s["indicators"]) - set(present))
if absent:
    log.warning("im_fit: the table has no column for %s (left out of the candidates)", ", ".join(absent))
log.info("im_fit: %d datasets (%d quarantined), candidates %s", len(rows), len(quarantined), ", ".join(present))

# OLS needs more datasets than terms: subsets are capped at n - 2 indicators (one residual degree of
# freedom at least), and the fit on every candidate needs n > candidates + 1
max_size = min(len(present), len(rows) - 2)
if max_size < len(present):
    log.warning("im_fit: %d datasets allow subsets of at most %d of the %d candidates", len(rows), max_size,
                len(present))
published = rule.select_published(rows, present, max_size=max_size)
# cross-validation fits on the training folds: at most 5 folds, subsets small enough for them
folds = min(5, len(rows))
cv_max = max(1, min(max_size, len(rows) - math.ceil(len(rows) / folds) - 2))
sound = rule.select_cv(rows, present, max_size=cv_max, folds=folds, seed=snakemake.params.seed,  # noqa: F821
                       one_se=True)
full = rule.fit_ols(rows, present if max_size == len(present) else list(published["fit"]["indicators"]))
if s["rule_indicators"] is not None:
    fixed = [c for c in s["rule_indicators"] if c in present]
    chosen, how = rule.fit_ols(rows, fixed), "fixed (instructmining.rule_indicators)"
else:
    chosen = published["fit"] if s["selection_procedure"] == "published" else sound["fit"]
    how = s["selection_procedure"]
ablation = rule.one_out_ablation(rows, chosen["indicators"]) if len(chosen["indicators"]) > 1 else []

rule.write_fit_tsv(out.fit, chosen)
rule.write_fit_tsv(out.full, full)
rule.write_subsets_tsv(out.subsets_published, published)
rule.write_subsets_tsv(out.subsets_sound, sound)
rule.write_fits_tsv(out.ablation, [a["fit"] for a in ablation], label=("removed", [a["removed"] for a in ablation]))
tests = rule.normality_tests(rows, [*present, rule.TARGET], residuals=rule.fit_residuals(rows, chosen))
write_typed_tsv(out.normality, tests, tuple(tests[0]), what="normality tests")
# Eq. 4's indicators (Table 9), refit whenever the table has them: the published rule's form
table9 = rule.fit_ols(rows, list(rule.PAPER_RULE_INDICATORS)) if set(rule.PAPER_RULE_INDICATORS) <= set(present) \
    else None
write_json(out.rule, {"selection": how, "table9": table9, "chosen": list(chosen["indicators"]),
                      "published": list(published["fit"]["indicators"]), "sound": list(sound["fit"]["indicators"]),
                      "rule": chosen, "sound_rule": sound["fit"], "ablation": {a["removed"]: a["fit"] for a in ablation},
                      "n_datasets": len(rows), "n_quarantined": len(quarantined)})
for name, fit in (("rule", chosen), ("published", published["fit"]), ("sound", sound["fit"]), ("full", full)):
    log.info("im_fit %s: %s R2 %.3f adj %.3f F %.2f (p %.3g); %s", name, ", ".join(fit["indicators"]), fit["r2"],
             fit["adj_r2"], fit["f"], fit["f_p"],
             "; ".join(f"{t} {fit['coef'][t]:+.4g} (p {fit['p'][t]:.3g})" for t in fit["terms"]))
finish(__name__)
