"""Rule categorize: one category per record from its normalized tags."""

import csv
from collections import Counter

from sftmix.logutil import limit_threads, offline_env, setup_logging
from sftmix.records import StageCounts, quarantine_row, read_jsonl, write_json, write_jsonl

log = setup_logging(snakemake.log[0])  # noqa: F821
offline_env()
limit_threads(snakemake.threads)  # noqa: F821
from sftmix.categorize import assign_category, build_tag_category_map  # noqa: E402
from sftmix.embedding import embed, load_embedding_model  # noqa: E402
from sftmix.normalize import apply_normalization_scored  # noqa: E402

categories = snakemake.params.categories  # noqa: F821
with open(snakemake.input.mapping, encoding="utf-8") as fh:  # noqa: F821
    mapping = {r["tag"]: r["normalized"] for r in csv.DictReader(fh, delimiter="\t")}
model = load_embedding_model(snakemake.params.embedding_model)  # noqa: F821
tag_map = build_tag_category_map(sorted(set(mapping.values())), categories,
                                 embed_fn=lambda texts: embed(model, texts),
                                 min_similarity=snakemake.params.categorize["min_similarity"])  # noqa: F821
for tag, cat in sorted(tag_map.items()):
    log.info("  tag %r -> %s", tag, cat)
tags_by_id = {r["id"]: r["tags"] for r in read_jsonl(snakemake.input.tags)}  # noqa: F821
order = list(categories)
counts = StageCounts(stage="categorize")
out, quarantine, per_cat, rules = [], [], Counter(), Counter()
for rec in read_jsonl(snakemake.input.records):  # noqa: F821
    counts.n_in += 1
    # tags dropped by normalize (below min_count) are not in the mapping and do not vote
    kept = [t for t in tags_by_id.get(rec["id"], []) if t[0] in mapping]
    best = apply_normalization_scored(kept, mapping)
    ranked = sorted(((t, sc) for t, sc in best), key=lambda kv: -kv[1])
    cat, rule = assign_category(ranked, tag_map, order)
    if cat is None:
        reason = "untagged" if not ranked else "uncategorized"
        counts.quarantine(reason)
        quarantine.append(quarantine_row("categorize", reason, rec, source=rec["source"],
                                         record_id=rec["id"], detail=f"tags={ranked}"))
        continue
    rec["meta"]["category"] = cat
    rec["meta"]["tags"] = [[t, round(float(s), 4)] for t, s in ranked]
    out.append(rec)
    counts.kept += 1
    per_cat[cat] += 1
    rules[rule] += 1
write_jsonl(snakemake.output.records, out)  # noqa: F821
write_jsonl(snakemake.output.quarantine, quarantine)  # noqa: F821
d = counts.to_dict()
d["per_category"] = dict(per_cat)
d["rules"] = dict(rules)
write_json(snakemake.output.counts, d)  # noqa: F821
with open(snakemake.output.table, "w", encoding="utf-8") as fh:  # noqa: F821
    fh.write("category\tn_records\n")
    for c in order:
        fh.write(f"{c}\t{per_cat[c]}\n")
counts.report(log)
log.info("categorize: decided by %s", dict(rules))
for c in order:
    log.info("  %-30s %d", c, per_cat[c])
