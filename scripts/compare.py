"""Rule compare: paper-shaped tables (mixtures, curriculum, lm-eval) and their figures."""

import csv
import json
from pathlib import Path

from sftmix.logutil import setup_logging
from sftmix.report import (
    add_benchmark_verdicts,
    benchmark_summary,
    compare_experiments,
    display_cell,
    markdown_table,
    plot_comparison,
    write_table,
)
from sftmix.summary import load_score_tables

log = setup_logging(snakemake.log[0])  # noqa: F821
cats = list(snakemake.params.categories)  # noqa: F821
lm = snakemake.params.lmeval  # noqa: F821
scores = load_score_tables(snakemake.input.scores)  # noqa: F821


def seed_tables(paths, reader):
    """``.../<experiment>/seed_<k>.<ext>`` -> {experiment: {seed: reader(path)}}."""
    out = {}
    for p in map(Path, paths):
        out.setdefault(p.parent.name, {})[p.stem.removeprefix("seed_")] = reader(p)
    return out


def read_tsv(p):
    with open(p, encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


lmeval = seed_tables(snakemake.input.get("lmeval", []), read_tsv)  # noqa: F821
bench = {exp: benchmark_summary(by_seed, lm["report_tasks"]) for exp, by_seed in sorted(lmeval.items())}
columns = sorted({k for b in bench.values() for k in b if not k.endswith("_se")})

judge = seed_tables(snakemake.input.get("judge", []), lambda p: json.loads(p.read_text()))  # noqa: F821
for exp, by_seed in judge.items():
    ratings = [j["summary"]["overall"] for j in by_seed.values() if not j.get("skipped") and j.get("summary")]
    if ratings:
        bench.setdefault(exp, {})["judge"] = sum(ratings) / len(ratings)
        columns += [] if "judge" in columns else ["judge"]
judge_note = ("judge: ratings from the configured endpoint" if snakemake.params.judge_configured  # noqa: F821
              else "judge: skipped (no endpoint configured: benchmarks.judge.base_url is null)")
log.info(judge_note)

common = ["n_seeds", "nll_macro", "nll_macro_sd", "nll_seeds", "delta", "ci_low", "ci_high", "seed_noise", "verdict"]
bench_cols = [x for c in columns for x in (c, f"{c}_se", f"{c}_vs_ref")]
md = [f"## Model {snakemake.wildcards.model}\n", judge_note + "\n",  # noqa: F821
      "NLL: held-out response NLL, macro over categories, lower is better; `verdict` needs the item "
      "bootstrap CI of the difference to exclude 0 *and* the difference to exceed the seed noise. "
      "Benchmarks: mean over seeds ± standard error (lm-eval's item stderr combined with the seed "
      "spread); better/worse only beyond two standard errors of the difference, else n.s.\n"]
tables = [("mixtures", snakemake.params.mixtures, ["method", "size"], "Mixtures of equal size (reference: EE-CPO)"),  # noqa: F821
          ("curriculum", snakemake.params.schedules, ["schedule"], "Curriculum (reference: 3-epoch baseline)")]  # noqa: F821


def shown(rows):
    return [{**r, **{c: display_cell(r, c) for c in columns}} for r in rows]


for name, rows, labels, title in tables:
    out = compare_experiments(scores, [r for r in rows if r["experiment"] in scores], cats, benchmarks=bench)
    add_benchmark_verdicts(out, columns)
    write_table(snakemake.output[name], out, labels + ["experiment", "reference"] + common + bench_cols)  # noqa: F821
    md.append(markdown_table(shown(out), labels + common + columns, title=title))
    plot_comparison(out, snakemake.output[f"{name}_png"], label="experiment", title=title)  # noqa: F821
    for r in out:
        log.info("%s %s: nll %.4f (sd %.4f) delta %.4f [%.4f, %.4f] noise %.4f -> %s %s", name, r["experiment"],
                 r["nll_macro"], r["nll_macro_sd"], r["delta"], r["ci_low"], r["ci_high"], r["seed_noise"],
                 r["verdict"], {c: display_cell(r, c) for c in columns})

lm_rows = [{"experiment": e, **bench.get(e, {})} for e in sorted(lmeval)]
write_table(snakemake.output.lmeval, lm_rows, ["experiment"] + [x for c in columns for x in (c, f"{c}_se")])  # noqa: F821
md.append(markdown_table(shown(lm_rows), ["experiment"] + columns,
                         title="lm-eval, every benchmarked model (mean over seeds ± standard error)"))
Path(snakemake.output.markdown).write_text("\n".join(md), encoding="utf-8")  # noqa: F821
