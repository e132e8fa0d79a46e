# Helpers shared by every rule family. Pure functions of `config`; no side effects.
import os
import re

# conda envs (envs/*.yaml) pip-install this checkout from here: pip expands ${SFTMIX_ROOT}
os.environ.setdefault("SFTMIX_ROOT", workflow.basedir)

RESULTS = f"results/{config['run']}"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
FORMAT_EXT = {
    "alpaca": "json",
    "sharegpt": "jsonl",
    "dolly": "jsonl",
    "openorca": "jsonl",
}


def slug(name):
    """Category name -> wildcard-safe slug ("Open-Domain QA" -> "open_domain_qa")."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


CATEGORIES = list(config["categories"])
CATEGORY_SLUGS = {slug(c): c for c in CATEGORIES}
if len(CATEGORY_SLUGS) != len(CATEGORIES):
    raise ValueError("categories: two category names give the same slug; rename one")


def lib(*modules):
    """Library sources a stage runs, as inputs. Editing sftmix/<module>.py reruns the stage
    (Snakemake's code trigger only sees the rule's own script)."""
    return [f"{workflow.basedir}/sftmix/{m}.py" for m in ("records", *modules)]


def world_enabled():
    return bool(config["world"].get("enabled"))


def world_sources():
    return dict(config["world"].get("sources", {})) if world_enabled() else {}


def all_sources():
    """Source name -> spec (world sources first, then configured ones)."""
    out = {
        n: {"format": s["format"], "world": True} for n, s in world_sources().items()
    }
    for name, spec in config["sources"].items():
        if name in out:
            raise ValueError(f"sources.{name}: name already used by a world source")
        out[name] = spec
    if not out:
        raise ValueError("sources: no sources configured and world.enabled is false")
    return out


SOURCES = all_sources()


def world_raw(source):
    fmt = SOURCES[source]["format"]
    return f"{RESULTS}/world/raw/{source}.{FORMAT_EXT[fmt]}"


def ingest_input(wildcards):
    """A world source comes from the world rule, a local one from its path, a hub one from nowhere."""
    spec = SOURCES[wildcards.source]
    if spec.get("world"):
        return world_raw(wildcards.source)
    if spec.get("path"):
        return spec["path"]
    return []


def tag_shards():
    return [f"{i:03d}" for i in range(config["tag"]["shards"])]


def tag_uses_gpu():
    return (
        1
        if config["tag"]["backend"] == "llm"
        and config["tag"]["device"].startswith("cuda")
        else 0
    )


def subset_files(kind):
    return expand(f"{RESULTS}/subsets/{{cat}}/{kind}.jsonl", cat=CATEGORY_SLUGS)


def data_targets():
    targets = subset_files("base") + [f"{RESULTS}/data/summary.tsv"]
    if world_enabled():
        targets.append(f"{RESULTS}/validation/data.json")
    return targets
