"""Rule score_summary: per (experiment, seed, category) mean response NLL, one table per model."""

from pathlib import Path

from sftmix.logutil import setup_logging
from sftmix.scoring import read_scores
from sftmix.summary import summarize_scores

log = setup_logging(snakemake.log[0])  # noqa: F821
tables = {("pretrained", "-"): read_scores(snakemake.input.pretrained)}  # noqa: F821
for path in snakemake.input.scores:  # noqa: F821
    p = Path(path)
    tables[(p.parent.name, p.stem.removeprefix("seed_"))] = read_scores(path)
rows = summarize_scores(tables)
with open(snakemake.output[0], "w", encoding="utf-8") as fh:  # noqa: F821
    cols = ["experiment", "seed", "category", "n_items", "mean_nll", "sd_nll", "mean_ppl"]
    fh.write("\t".join(cols) + "\n")
    for r in rows:
        fh.write("\t".join(f"{r[c]:.6f}" if isinstance(r[c], float) else str(r[c]) for c in cols) + "\n")
log.info("score summary: %d rows from %d score tables", len(rows), len(tables))
