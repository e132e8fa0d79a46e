"""The structure the workflow relies on: one experiment registry, library inputs that follow the
imports, defaults only in the schema, overlay configs, resources that grow on retry."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from sftmix import experiments as registry
from sftmix.codedeps import library_files
from sftmix.config import deep_merge, load_config, load_schema, resolve_extends, with_defaults
from sftmix.studies.beyond_iid import experiments as biid

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config/schemas/config.schema.yaml"
SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))
PKG = ROOT / "sftmix"


def rule_scripts() -> dict[str, tuple[str, str | None]]:
    """rule -> (script it runs, the script named in its ``code=code(...)`` input), read from rules/."""
    out = {}
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        for block in re.split(r"(?m)^(?=rule |use rule )", smk.read_text()):
            head = re.match(r"rule (\w+):", block) or re.match(r"use rule \w+ as (\w+) with:", block)
            if not head:
                continue
            script = re.search(r'script:\s*\n\s*"\.\./scripts/(\w+)\.py"', block)
            shell = re.search(r'f"\{workflow\.basedir\}/scripts/(\w+)\.py"', block)
            declared = re.search(r'code=code\("(\w+)"\)', block)
            name = (script or shell).group(1) if (script or shell) else None
            out[head.group(1)] = (name, declared.group(1) if declared else None)
    return out


# ---- the experiment registry -------------------------------------------------------------


def test_every_family_owns_exactly_its_names(smoke_config):
    cfg = load_config(ROOT / "config/config.yaml", SCHEMA, ROOT)
    names = registry.declared_experiments(cfg)
    opt = cfg["beyond_iid"]["optimize"]
    it, im, mx, do = cfg["iterit"], cfg["instructmining"], cfg["mixing"], cfg["doit"]
    im_sizes = {im["select"]["size"], *im["curve"]["sizes"]}
    # mixing: the 7 combinations as published, the 4 mixtures again at equal size (the single types
    # at equal_size.total = per_type are the published runs), the claims' 3 steps-matched
    # references; DoIT: n = 1, 4, 16, 64 (grid base 4 up to max_n 64), one single-ability run per category, two mixes
    assert do["grid"] == {"base": 4, "max_n": 64}
    assert len(names) == len(set(names)) == (1 + 2 * 11 + len(opt["methods"]) * len(opt["sizes"]) + 3
                                             + len(it["variants"]) + len(it["methods"])
                                             + im["estimation"]["datasets"] + 3 * len(im_sizes)
                                             + len(im["ablation"]) + im["search"]["trials"]
                                             + len(mx["combinations"]) + 4 + 3 + len(mx["ratio"]["ratios"])
                                             + len(mx["size"]["sizes"]) + 4 + 11 + len(do["mix"]["mixes"]))
    pattern = re.compile(f"^(?:{registry.name_pattern()})$")
    for name in names:
        fam = registry.family_of(name)
        assert pattern.match(name) and name in fam.declare(cfg)
    assert registry.trainset_file("r", "m", "add_translation") == "r/trainsets/add_translation.jsonl"
    assert registry.trainset_file("r", "m", "mix_ifd_40", 3) == "r/trainsets/m/mix_ifd_40/seed_3.jsonl"
    with pytest.raises(ValueError, match="per seed"):
        registry.trainset_file("r", "m", "mix_ifd_40")
    # the interaction experiments use train.seeds; mixtures and schedules their own (>= 3 in the default)
    assert registry.seeds_of("base", cfg) == [1, 2] and registry.seeds_of("mix_ifd_440", cfg) == [1, 2, 3]
    assert registry.seeds_of("sched_dtcsft", cfg) == [1, 2, 3]
    # InstructMining's estimation datasets and search trials are trained once (the paper's design)
    once = im["estimation"]["datasets"] + im["search"]["trials"]
    assert len(registry.experiment_seeds(cfg)) == 2 * (1 + 2 * 11) + 3 * (len(names) - 1 - 2 * 11 - once) + once
    assert registry.finetune_flags("sched_dtcsft", cfg) == "--budget staged"
    assert registry.finetune_flags("base", cfg) == "--budget epochs"  # the paper's: D u C~_i for some epochs
    assert registry.finetune_flags("mix_ifd_40", cfg) == "--budget steps"
    steps = {**cfg, "beyond_iid": {**cfg["beyond_iid"], "experiments": {**cfg["beyond_iid"]["experiments"],
                                                                        "budget": "steps"}}}
    assert registry.finetune_flags("drop_translation", steps) == "--budget steps"  # matched to base's steps
    assert registry.finetune_flags("drop_translation", cfg) == "--budget matched"
    assert registry.budget_reference("drop_translation", cfg) == "base"
    assert registry.budget_reference("add_translation", cfg) is None
    assert biid.interaction_budgets(cfg) == {"base": "epochs", "add": "epochs", "drop": "matched"}
    n_methods = len(smoke_config["beyond_iid"]["optimize"]["methods"])
    assert [r["reference"] for r in biid.mixture_rows(smoke_config)] == ["mix_eecpo_40"] * n_methods
    with pytest.raises(ValueError, match="no family"):
        registry.family_of("mix_best")


def test_a_new_family_is_one_registry_entry():
    """Registering a family is all the workflow needs to know its names: the wildcard constraint,
    the target list, the training-set path and the fine-tune flags follow (its set builder is
    the rule that writes ``trainset_file``)."""
    cfg = load_config(ROOT / "config/smoke.yaml", SCHEMA, ROOT)
    before = registry.declared_experiments(cfg)
    fam = registry.register(registry.Family(
        "toy", ("toy_{n}",), {"n": "[0-9]+"}, lambda c: [f"toy_{n}" for n in c["beyond_iid"]["optimize"]["sizes"]],
        per_model=True, study="toy", doc="a family added by a test"))
    try:
        assert registry.declared_experiments(cfg) == before + ["toy_40"]
        assert re.fullmatch(registry.name_pattern(), "toy_40") and registry.experiment_family("toy_40") == "toy"
        assert registry.trainset_file("results/smoke", "tiny", "toy_40") == "results/smoke/trainsets/tiny/toy_40.jsonl"
        assert registry.finetune_flags("toy_40", cfg) == "--budget steps" and fam.seeds(cfg) == [1, 2] and fam.models_of(cfg) == ["tiny"]
        assert fam.parse("toy_40") == ("toy_{n}", {"n": "40"}) and fam.name_of(0, n=7) == "toy_7"
        with pytest.raises(ValueError, match="grammar"):
            fam.name_of(0, n="x")
        with pytest.raises(ValueError, match="already registered"):
            registry.register(fam)
    finally:
        registry.unregister("toy")
    assert registry.declared_experiments(cfg) == before


def test_no_rule_or_script_spells_the_name_grammar():
    """Experiment names are built and parsed in sftmix.experiments only."""
    offenders = []
    for path in [*(ROOT / "rules").glob("*.smk"), *SCRIPTS]:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"""["'](?:add|drop|mix|sched)_(?:\{|["'])|(?:add|drop|mix|sched)_\[a-z""", line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


# ---- library inputs ------------------------------------------------------------------------

_HARNESS = """
import json, runpy, sys
class Stop(Exception): pass
class Dummy:
    def __getattr__(self, name): raise Stop(name)
    def __getitem__(self, key): raise Stop(key)
out = {}
for script in sys.argv[1:]:
    for m in [m for m in sys.modules if m == "sftmix" or m.startswith("sftmix.")]:
        del sys.modules[m]
    try:
        runpy.run_path(script, init_globals={"snakemake": Dummy()}, run_name="__main__")
    except (Stop, SystemExit):
        pass
    out[script] = sorted(m for m in sys.modules if m == "sftmix" or m.startswith("sftmix."))
print(json.dumps(out))
"""


def runtime_imports() -> dict[str, set[str]]:
    """script name -> library files it really imports, found by running each script until it first
    touches the ``snakemake`` object (an independent check of the static import scan)."""
    proc = subprocess.run([sys.executable, "-c", _HARNESS, *map(str, SCRIPTS)], capture_output=True, text=True,
                          cwd=ROOT, timeout=600, check=True)
    out = {}
    for script, modules in json.loads(proc.stdout.strip().splitlines()[-1]).items():
        files = set()
        for m in modules:
            base = PKG.joinpath(*m.split(".")[1:])
            files.add(str(base / "__init__.py") if (base / "__init__.py").exists() else str(base.with_suffix(".py")))
        out[Path(script).stem] = files
    return out


def test_every_rule_declares_the_library_its_script_imports():
    """A rule's ``code`` input names its own script, and what that gives (the static import closure)
    covers every library module the script really imports when it runs. Fails when a script imports a
    module its rule does not declare."""
    rules = rule_scripts()
    missing_code = [r for r, (script, declared) in rules.items() if script and declared != script]
    assert not missing_code, f"rules whose code input does not name their script: {missing_code}"
    real = runtime_imports()
    assert set(real) == {p.stem for p in SCRIPTS}
    assert any(len(v) > 4 for v in real.values())  # the harness really imported the library
    for script, files in real.items():
        declared = set(library_files(ROOT / "scripts" / f"{script}.py", PKG))
        assert files <= declared, f"scripts/{script}.py imports undeclared {sorted(files - declared)}"


def test_static_closure_follows_relative_imports_and_packages(tmp_path):
    pkg = tmp_path / "sftmix"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import x\n")
    (pkg / "b.py").write_text("def f():\n    from . import c\n")
    (pkg / "c.py").write_text("import os\n")
    (pkg / "sub" / "__init__.py").write_text("from .d import y\n")
    (pkg / "sub" / "d.py").write_text("from ..c import z\n")
    (pkg / "unused.py").write_text("")
    script = tmp_path / "s.py"
    script.write_text("import json\nfrom sftmix.a import x\nfrom sftmix import sub\n")
    got = {Path(p).relative_to(pkg).as_posix() for p in library_files(script, pkg)}
    assert got == {"__init__.py", "a.py", "b.py", "c.py", "sub/__init__.py", "sub/d.py"}


# ---- config: defaults in the schema, overlays ----------------------------------------------


@pytest.mark.parametrize("name", ["config.yaml", "smoke.yaml", "paper.yaml"])
def test_library_loader_equals_snakemake_validation(name):
    """Tests and tools load configs with sftmix.config; the workflow with Snakemake's validate.
    Both must give the same config."""
    from snakemake.utils import validate

    raw = resolve_extends(yaml.safe_load((ROOT / "config" / name).read_text()), ROOT)
    validate(raw, str(SCHEMA))
    assert load_config(ROOT / "config" / name, SCHEMA, ROOT) == raw


def test_overlays_merge_mappings_and_replace_lists(tmp_path):
    (tmp_path / "base.yaml").write_text("run: a\ntrain: {lr: 0.1, seeds: [1, 2]}\n")
    (tmp_path / "mid.yaml").write_text("extends: base.yaml\ntrain: {seeds: [3]}\n")
    cfg = resolve_extends({"extends": "mid.yaml", "train": {"max_steps": 5}}, tmp_path)
    assert cfg == {"run": "a", "train": {"lr": 0.1, "seeds": [3], "max_steps": 5}}
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\n")
    with pytest.raises(ValueError, match="cycle"):
        resolve_extends({"extends": "loop.yaml"}, tmp_path)
    with pytest.raises(ValueError, match="not a file"):
        resolve_extends({"extends": "absent.yaml"}, tmp_path)
    assert deep_merge({"a": {"b": 1}}, {"a": [1]}) == {"a": [1]}
    # replace: the overlay's mapping stands for the base's (a one-dataset paper run drops the others)
    (tmp_path / "src.yaml").write_text("run: a\nsources: {x: {format: alpaca}, y: {format: dolly}}\ntrain: {lr: 1}\n")
    cfg = resolve_extends({"extends": "src.yaml", "replace": ["sources"], "sources": {"z": {"format": "alpaca"}},
                           "train": {"seeds": [1]}}, tmp_path)
    assert cfg == {"run": "a", "sources": {"z": {"format": "alpaca"}}, "train": {"lr": 1, "seeds": [1]}}
    with pytest.raises(ValueError, match="not set in this overlay"):
        resolve_extends({"extends": "src.yaml", "replace": ["sources"]}, tmp_path)
    with pytest.raises(ValueError, match="only an overlay"):
        resolve_extends({"replace": ["sources"], "sources": {}}, tmp_path)


def test_smoke_config_is_an_overlay_of_the_default():
    smoke = yaml.safe_load((ROOT / "config/smoke.yaml").read_text())
    assert smoke["extends"] == "config/config.yaml"
    lines = [ln for ln in (ROOT / "config/smoke.yaml").read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert len(lines) < 40, "the smoke overlay should say only what differs from config/config.yaml"
    # one base model for every study (the default's second size, the mixing study's scale effect,
    # costs minutes) and two smaller ones for DoIT's parameter-scaling fits only
    models = load_config(ROOT / "config/smoke.yaml", SCHEMA, ROOT)["models"]
    assert list(models) == ["tiny", "tiny_xs", "tiny_s"]
    assert models["tiny"]["studies"] is None and models["tiny_xs"]["studies"] == models["tiny_s"]["studies"] == ["doit"]


def test_config_errors_name_the_key():
    schema = load_schema(SCHEMA)
    cfg = load_config(ROOT / "config/smoke.yaml", SCHEMA, ROOT)
    with pytest.raises(ValueError, match=r"^dedup: Additional properties .*'thresold'"):
        with_defaults({**cfg, "dedup": {"thresold": 0.5}}, schema)
    with pytest.raises(ValueError, match=r"^train\.lr: "):
        with_defaults({**cfg, "train": {**cfg["train"], "lr": "fast"}}, schema)


JSON_SCHEMA_KEYWORDS = frozenset({
    "$schema", "$id", "$ref", "$defs", "definitions", "title", "description", "default", "examples", "type", "enum",
    "const", "properties", "patternProperties", "additionalProperties", "required", "propertyNames",
    "minProperties", "maxProperties", "items", "minItems", "maxItems", "uniqueItems", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "pattern", "format", "oneOf",
    "anyOf", "allOf", "not", "if", "then", "else", "dependentRequired"})


SCHEMA_DATA_KEYS = ("default", "examples", "enum", "const")  # values, not subschemas
SCHEMA_BRANCH_KEYS = ("oneOf", "anyOf", "allOf", "not", "if", "then", "else")


def _schema_nodes(node, path="schema", branch=False):
    """Every subschema of ``node`` as (path, subschema, inside a oneOf/anyOf/... branch), depth
    first: named properties as ``path.name``, other keywords' subschemas as ``path/keyword``."""
    if isinstance(node, list):
        for i, sub in enumerate(node):
            yield from _schema_nodes(sub, f"{path}[{i}]", branch)
        return
    if not isinstance(node, dict):
        return
    yield path, node, branch
    for key, value in node.items():
        if key in ("properties", "patternProperties", "$defs", "definitions"):
            for name, sub in value.items():
                yield from _schema_nodes(sub, f"{path}.{name}", branch)
        elif isinstance(value, (dict, list)) and key not in SCHEMA_DATA_KEYS:
            yield from _schema_nodes(value, f"{path}/{key}", branch or key in SCHEMA_BRANCH_KEYS)


def test_every_schema_node_holds_only_json_schema_keywords_and_a_whole_description():
    """A description written unquoted in a YAML flow mapping is cut at its first comma, the rest
    becoming stray keys with no value (`{description: Records drawn (seeded, uniformly, ...)}`):
    JSON Schema ignores unknown keys, so only this check sees the cut. Every node keeps to the
    keywords, and every description is a string ending as a sentence or a closing bracket does."""
    problems = []
    for path, node, _ in _schema_nodes(load_schema(SCHEMA)):
        problems.extend(f"{path}: {k!r}" for k in node if k not in JSON_SCHEMA_KEYWORDS)
        d = node.get("description")
        if d is not None and not (isinstance(d, str) and d.rstrip().endswith((".", ")", ":", "?"))):
            problems.append(f"{path}: description {d!r}")
    assert not problems, problems


def test_every_config_key_in_the_schema_has_a_description():
    """The schema is the one place a user reads what a key does: every named property, at any
    depth (inside mappings keyed by name, `additionalProperties`, and list entries, `items`),
    carries a description. The value schema of a name-keyed mapping is described by the mapping
    itself (`sources: Real instruction datasets ...`); `oneOf`/`anyOf` branches only restate
    constraints on keys described above them, so they are not checked."""
    missing = [f"{path}.{name}" for path, node, branch in _schema_nodes(load_schema(SCHEMA)) if not branch
               for name, sub in node.get("properties", {}).items()
               if not (isinstance(sub, dict) and isinstance(sub.get("description"), str) and sub["description"].strip())]
    assert not missing, f"{len(missing)} config keys without a description: {missing}"


def test_library_holds_no_copy_of_a_schema_default():
    """The config sections the library reads take their defaults from the schema only: no module
    keeps a dict of defaults for them, and config-backed parameters of the entry points have none."""
    import inspect

    from sftmix import dedup, filters, sft

    for mod in (sft, filters, dedup):
        text = Path(mod.__file__).read_text()
        assert not re.search(r"^DEFAULT_[A-Z_]+\s*(?::[^=]+)?=", text, re.M), mod.__name__
    params = inspect.signature(dedup.dedup_records).parameters
    for key in load_schema(SCHEMA)["properties"]["dedup"]["properties"]:
        if key == "shards":  # how many jobs the workflow scatters over, not a parameter of the result
            continue
        assert params[key].default is inspect.Parameter.empty, f"dedup_records({key}=...) has its own default"


# ---- resources -------------------------------------------------------------------------------


def test_rule_resources_grow_with_each_attempt():
    """No rule pins mem_mb or runtime to a number: a retry after a timeout or an out-of-memory kill
    gets more (the profile's ``runtime: 30 * attempt`` scaling would otherwise be overridden)."""
    fixed = []
    for smk in (ROOT / "rules").glob("*.smk"):
        for n, line in enumerate(smk.read_text().splitlines(), 1):
            m = re.match(r"\s+(mem_mb|runtime)=(.*),$", line)
            if m and not m.group(2).startswith("scaled("):
                fixed.append(f"{smk.name}:{n}: {line.strip()}")
    assert not fixed, fixed
    common = (ROOT / "rules/common.smk").read_text()
    assert "lambda wildcards, attempt: amount * attempt" in common


@pytest.mark.slow
def test_the_default_config_builds_its_dag(tmp_path):
    """A dry run of the embedded default from an empty folder: the DAG builds and has the job count
    the README quotes (the smoke and paper DAGs have tests of their own)."""
    from . import smk

    out = smk.snakemake(tmp_path, "-n", "--configfile", str(ROOT / "config/config.yaml")).stdout
    total = re.search(r"^total\s+(\d+)$", out, re.M)
    assert total and int(total.group(1)) == 1371, out[-2000:]


def test_every_script_ends_its_process_with_finish():
    """Every rule script's last statement is ``finish(__name__)`` (a ``script:`` job) or, for a
    command-line script, ``if __name__ == "__main__": finish(__name__, main())``: the outputs are
    written, so the process ends without the interpreter's teardown (sftmix.logutil.finish)."""
    import ast

    def is_finish(node: ast.stmt, *args: str) -> bool:
        return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name) and node.value.func.id == "finish"
                and [ast.unparse(a) for a in node.value.args] == ["__name__", *args])

    offenders = []
    for path in SCRIPTS:
        last = ast.parse(path.read_text()).body[-1]
        if isinstance(last, ast.If) and ast.unparse(last.test) == "__name__ == '__main__'":
            ok = len(last.body) == 1 and is_finish(last.body[0], "main()")
        else:
            ok = is_finish(last)
        if not ok:
            offenders.append(path.name)
    assert not offenders, offenders


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_conda_env_is_pinned_exactly():
    """Each envs/*.yaml parses; conda pins python and pip to a full version; its pip section
    constrains every install to requirements.lock, lists its packages with the lock's exact
    versions (torch with the Makefile's pin: torch is not in the lock) and installs this package.
    Every rule's ``conda:`` names one of them, every one is used, and the lock holds every
    dependency pyproject.toml declares."""
    lock = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            lock[_norm(name)] = version.strip()
    torch_pin = re.search(r"torch==([\w.]+)", (ROOT / "Makefile").read_text()).group(1)
    envs = sorted((ROOT / "envs").glob("*.yaml"))
    assert envs
    for path in envs:
        env = yaml.safe_load(path.read_text())
        conda = [d for d in env["dependencies"] if isinstance(d, str)]
        assert {d.split("=")[0] for d in conda} == {"python", "pip"}, path.name
        assert all(re.fullmatch(r"[\w-]+=\d+(\.\d+)+", d) for d in conda), (path.name, conda)
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
        assert pip[0] == "--constraint ${SFTMIX_ROOT}/requirements.lock", path.name
        assert pip[-1].split("#")[0].strip() == "-e ${SFTMIX_ROOT}", path.name
        for req in pip[1:-1]:
            m = re.fullmatch(r"([\w.-]+)(\[[\w,-]+\])?==([\w.]+)", req.split("#")[0].strip())
            assert m, f"{path.name}: {req!r} is not pinned exactly"
            want = torch_pin if _norm(m.group(1)) == "torch" else lock.get(_norm(m.group(1)))
            assert m.group(3) == want, f"{path.name}: {req} but the lock has {want}"
    used = {m for smk in (ROOT / "rules").glob("*.smk")
            for m in re.findall(r'conda:\s*\n\s*"\.\./envs/([\w-]+\.yaml)"', smk.read_text())}
    assert used == {p.name for p in envs}, used
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    missing = [d for d in declared if _norm(re.split(r"[\[<>=]", d)[0]) not in lock and not d.startswith("torch")]
    assert not missing, f"pyproject dependencies without a locked version: {missing}"
