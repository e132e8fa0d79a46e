"""benchmarks/dependency_world_seeds.py: the per-world overlay and the table it collects (the
heavy runs themselves are a benchmark, not a test)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("dws", ROOT / "benchmarks/dependency_world_seeds.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_overlay_and_collected_table(tmp_path, monkeypatch):
    mod = _module()
    assert yaml.safe_load(mod.overlay("config/config.yaml", 7)) == {"extends": "config/config.yaml",
                                                                      "run": "depseed_7", "seed": 7}
    validation = {"published": {"precision": 0.5, "recall": 1.0, "edges": [["A", "B"], ["C", "D"]],
                                "tp": [["A", "B"]], "fp": [["C", "D"]], "fn": []},
                  "calibrated": {"precision": 1.0, "recall": 1.0, "edges": [["A", "B"]], "tp": [["A", "B"]],
                                 "fp": [], "fn": []},
                  "seed_false_positive_rate": 0.2, "calibrated_seed_false_positive_rate": 0.02}
    rows = mod.rows_of(7, validation)
    assert [(r["test"], r["precision"], r["fp"], r["seed_fp_rate"]) for r in rows] == [
        ("published", 0.5, "C -> D", 0.2), ("calibrated", 1.0, "-", 0.02)]
    monkeypatch.setattr(mod, "ROOT", tmp_path)
    path = tmp_path / "results/depseed_7/validation/tiny/dependency.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(validation))
    out = tmp_path / "out/dws"
    assert mod.main(["--collect-only", "--seeds", "7", "8", "--out", str(out)]) == 0
    tsv = out.with_suffix(".tsv").read_text().splitlines()
    assert tsv[0].split("\t") == list(mod.COLUMNS) and len(tsv) == 3
    assert "calibrated: mean precision 1.000, mean recall 1.000 over 1 worlds" in out.with_suffix(".md").read_text()


def test_command_plans_the_world_run(tmp_path):
    """The Snakemake call the benchmark makes, dry-run on the real workflow: the overlay resolves and
    the target is planned (the target must not be swallowed by ``--configfile``)."""
    mod = _module()
    cfg = tmp_path / "depseed_7.yaml"
    cfg.write_text(mod.overlay("config/config.yaml", 7), encoding="utf-8")
    cmd = mod.command(7, cfg, 1, ["-n", "--quiet", "rules"])
    assert cmd.index(mod.target_of(7)) < cmd.index("--configfile")
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "validate_dependency" in done.stdout + done.stderr
    assert not (ROOT / "results/depseed_7").exists()


def test_benchmarks_read_configs_as_the_workflow_does():
    """benchmarks/benchlib.load_config resolves ``extends`` (config/smoke.yaml has no seed of its own)
    and fills the train section's schema defaults."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from benchlib import load_config

    smoke = load_config(ROOT / "config/smoke.yaml")
    assert "seed" not in yaml.safe_load((ROOT / "config/smoke.yaml").read_text()) and isinstance(smoke["seed"], int)
    assert smoke["train"]["packing"] is True and "world" in smoke
