"""Rule data_summary: one table of every data stage's accounting."""

import json

from sftmix.logutil import finish, setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821
rows = []
for key in ("ingest", "filter", "dedup", "tag", "categorize", "decontam", "subsets"):
    paths = snakemake.input[key]  # noqa: F821
    for path in [paths] if isinstance(paths, str) else paths:
        with open(path, encoding="utf-8") as fh:
            rows.append(json.load(fh))
with open(snakemake.output[0], "w", encoding="utf-8") as fh:  # noqa: F821
    fh.write("stage\tin\tkept\tquarantined\tduplicates\treasons\n")
    for r in rows:
        if "stage" not in r:  # subsets counts
            fh.write(f"subsets[{r['category']}]\t{r['available']}\t{r['eval'] + r['base'] + r['added']}"
                     f"\t{r.get('decontaminated', 0)}\t0\tunused={r['unused']}\n")
            continue
        reasons = ",".join(f"{k}={v}" for k, v in sorted(r.get("reasons", {}).items()))
        fh.write(f"{r['stage']}\t{r['in']}\t{r['kept']}\t{r['quarantined']}\t{r['duplicates']}\t{reasons}\n")
        log.info("%s: in=%d = kept=%d + quarantined=%d + duplicates=%d", r["stage"], r["in"], r["kept"],
                 r["quarantined"], r["duplicates"])
finish(__name__)
