"""Rule doit_report: the DoIT study's report (the sweep curves, sensitivities with CIs, Complexity
and Transference against sensitivity, the mixes against the baseline, the claims)."""

from collections import defaultdict

from sftmix.logutil import finish, setup_logging
from sftmix.records import read_json, write_typed_tsv
from sftmix.report import write_markdown_report
from sftmix.studies.doit import experiments as study
from sftmix.studies.doit.items import read_epoch_scores, run_of_path
from sftmix.studies.doit.report import (
    correlations,
    features,
    markdown,
    mix_rows,
    plot_curves,
    read_runs,
    read_sensitivities,
    select_run,
    sweep_rows,
)

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
sec, level = p.section, p.section["level"]
runs = read_runs(inp.runs)
sens = read_sensitivities(inp.sensitivities)
plan = read_json(inp.mixplan)


def selections(paths):
    """{model: {experiment: [each seed's selection]}} of the runs' epoch score tables."""
    out = defaultdict(lambda: defaultdict(list))
    for f in sorted(paths):
        model, experiment, _ = run_of_path(f)
        out[model][experiment].append(select_run(read_epoch_scores(f), min_epoch=sec["select"]["min_epoch"],
                                                 inclusive=sec["select"]["inclusive"]))
    return out


sweep = sweep_rows(runs)
plot_curves(sweep, out.figure)
single = selections(inp.single).get(p.feature_model, {})
feats = features(single, {e: study.ability_by_slug(p.abilities, study.parse(e)["slug"]) for e in single}) if len(single) >= 2 else {}
feature_rows = [{"ability": a, **v} for a, v in sorted(feats.items())]
write_typed_tsv(out.features, feature_rows, ("ability", "complexity", "transference", "loss", "transfer_in",
                                              "transfer_out"),
                floats=frozenset({"complexity", "transference", "loss", "transfer_in", "transfer_out"}), quoted=True)
corr = correlations(feats, sens, n_boot=sec["n_boot"], seed=p.seed, level=level) if feats else []
corr_cols = ("feature", "factor", "n", "pearson_r", "pearson_p", "pearson_ci_low", "pearson_ci_high", "spearman_rho",
             "spearman_p", "spearman_ci_low", "spearman_ci_high", "note")
write_typed_tsv(out.correlations, [{c: r.get(c, float("nan")) for c in corr_cols} for r in corr], corr_cols,
                ints=frozenset({"n"}), floats=frozenset(corr_cols[3:-1]), quoted=True)

# Table 3: each mix model's mixes against its uniform baseline (the sweep's top n, from runs.tsv)
mix_tables = {}
for model, by_exp in selections(inp.mix).items():
    base = defaultdict(dict)
    for r in runs:
        if r["model"] == model and r["experiment"] == p.baseline:
            base[r["seed"]][r["ability"]] = {"acc": r["acc"]}
    by_exp = {p.baseline: [{"test": t} for _, t in sorted(base.items())], **by_exp}
    mix_tables[model] = mix_rows(by_exp, p.baseline, level=level)
mix_cols = ("model", "experiment", "runs", "macro_acc", "delta", "welch_p", "verdict")
write_typed_tsv(out.mixes, [{"model": m, **r} for m, rows in mix_tables.items() for r in rows], mix_cols,
                ints=frozenset({"runs"}), floats=frozenset({"macro_acc", "delta", "welch_p"}), quoted=True)
write_markdown_report(markdown(sweep, sens, feats, corr, plan, mix_tables, level=level), out.markdown, out.html)
log.info("doit_report: %d sweep cells, %d sensitivities, %d features, %d mix comparisons", len(sweep), len(sens),
         len(feats), sum(len(r) for r in mix_tables.values()))
finish(__name__)
