"""Rule paper_tables: the per-model comparison tables side by side (method x size x model)."""

from pathlib import Path

from sftmix.logutil import setup_logging
from sftmix.report import display_cell, markdown_table, nll_cell, paper_table, read_table

log = setup_logging(snakemake.log[0])  # noqa: F821
models = list(snakemake.params.models)  # noqa: F821

md = ["# Paper tables: every model side by side\n",
      "NLL: held-out response NLL, macro over categories (mean ± seed sd; lower is better). Benchmarks: "
      "mean ± standard error. Marks: better / worse than the reference beyond noise, n.s. otherwise, "
      "ref = the reference row.\n"]
for name, paths, row_key, group_key, title in [
        ("mixtures", snakemake.input.mixtures, "method", "size", "Mixtures of equal size (reference: EE-CPO)"),  # noqa: F821
        ("curriculum", snakemake.input.curriculum, "schedule", None, "Curriculum (reference: 3-epoch baseline)")]:  # noqa: F821
    tables = {}
    bench: list[str] = []
    for model, path in zip(models, paths, strict=True):
        rows = read_table(path)
        cols = [c for c in (rows[0].keys() if rows else []) if "/" in c and not c.endswith(("_se", "_vs_ref"))]
        bench += [c for c in cols if c not in bench]
        tables[model] = [{row_key: r[row_key], **({group_key: r[group_key]} if group_key else {}),
                          "NLL": nll_cell(r), **{c: display_cell(r, c) for c in cols}} for r in rows]
    if not any(tables.values()):
        log.info("%s: no rows", name)
        continue
    md.append(f"## {title}\n")
    for block, rows, header in paper_table(tables, row_key=row_key, group_key=group_key, columns=["NLL", *bench]):
        md.append(markdown_table(rows, header, title=block))
        log.info("%s %s: %d rows x %d models", name, block or "-", len(rows), len(tables))
Path(snakemake.output[0]).write_text("\n".join(md), encoding="utf-8")  # noqa: F821
