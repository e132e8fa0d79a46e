"""Rule world: generate the embedded default's raw sources and ground truth."""

from sftmix.logutil import finish, setup_logging
from sftmix.records import write_json
from sftmix.world import FORMAT_EXT, generate_world, write_source

log = setup_logging(snakemake.log[0])  # noqa: F821
world, seed = snakemake.params.world, snakemake.params.seed  # noqa: F821
rows, truth = generate_world(world, seed)
for source, path in zip(snakemake.params.sources, snakemake.output.raw, strict=True):  # noqa: F821
    source_rows = rows[source]
    fmt = world["sources"][source]["format"]
    assert path.endswith(f"{source}.{FORMAT_EXT[fmt]}"), (source, path)
    write_source(path, fmt, source_rows)
    log.info("world: wrote %d raw rows to %s (%s)", len(source_rows), path, fmt)
write_json(snakemake.output.truth, truth)  # noqa: F821
kinds = {}
for t in truth["records"].values():
    key = t["malformed"] or t["kind"]
    kinds[key] = kinds.get(key, 0) + 1
log.info("world: %d items, %d categories, %d planted edges; rows by kind: %s", truth["n_items"],
         len(truth["categories"]), len(truth["edges"]), dict(sorted(kinds.items())))
for source, kinds in truth["defects"].items():
    n_orig = sum(1 for rid, t in truth["records"].items()
                 if t["kind"] == "original" and rid.rsplit("-", 1)[0] == source)
    log.info("world: %s: %d of %d original rows defective (rate %s): %s", source, sum(kinds.values()), n_orig,
             truth["defect_rates"][source], {k: v for k, v in kinds.items() if v})
finish(__name__)
