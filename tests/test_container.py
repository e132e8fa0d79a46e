"""Issue 18, environments: the container every job runs in with ``--sdm apptainer`` (container/)
holds the project's own pins, and the workflow's ``container:`` directive comes from the config."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import pytest
import yaml

from sftmix.config import container_image

from . import smk

ROOT = Path(__file__).resolve().parents[1]
CONTAINER = ROOT / "container"
IMAGE_URI = "docker://registry.example.invalid/sftmix:0.1.0"


def _pins(text: str) -> dict[str, str]:
    return {m.group(1).lower(): m.group(2) for m in re.finditer(r"\b([A-Za-z][\w.-]*)==([\w.]+)", text)}


def test_the_image_definitions_pin_what_the_project_pins():
    """Both definitions start from the Python the conda envs pin and run one install script, whose
    pip and torch pins are the envs' and the Makefile's, which installs requirements.lock exactly
    (and no other version) and then this package: a drift in any of them fails here."""
    makefile = (ROOT / "Makefile").read_text()
    torch = _pins(makefile)["torch"]
    env_pins = set()
    for path in (ROOT / "envs").glob("*.yaml"):
        conda = [d for d in yaml.safe_load(path.read_text())["dependencies"] if isinstance(d, str)]
        env_pins.add(tuple(sorted(conda)))
    assert len(env_pins) == 1, f"the conda envs disagree on python/pip: {env_pins}"
    conda = dict(d.split("=") for d in env_pins.pop())
    python, pip = conda["python"], conda["pip"]

    install = (CONTAINER / "install.sh").read_text()
    commands = [line.strip() for line in install.splitlines() if line.strip().startswith("python -m pip install")]
    assert commands == ["python -m pip install --quiet pip==" + pip,
                        'python -m pip install --quiet --find-links "$src/container/wheels" torch==' + torch,
                        'python -m pip install --quiet -r "$src/requirements.lock"',
                        'python -m pip install --quiet --no-deps "$src"'], commands
    # into a venv (Debian's python3 refuses a system-wide install, PEP 668), first on every image's PATH
    assert "python3 -m venv /opt/venv\n. /opt/venv/bin/activate\n" in install
    # the lock pins every line exactly, so "-r requirements.lock" installs exactly those versions
    lock = [ln for ln in (ROOT / "requirements.lock").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lock and all(re.fullmatch(r"[\w.-]+==[\w.]+", ln) for ln in lock)
    assert "torch" not in _pins("\n".join(lock)), "torch's pin is the Makefile's alone"

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    docker = (CONTAINER / "Dockerfile").read_text()
    apptainer = (CONTAINER / "sftmix.def").read_text()
    debian = (CONTAINER / "sftmix-debian.def").read_text()  # the same image without Docker Hub
    assert re.search(rf"^ARG BASE=python:{re.escape(python)}-slim-bookworm\nFROM \$\{{BASE\}}$", docker, re.M), docker
    assert re.search(rf"^From: python:{re.escape(python)}-slim-bookworm$", apptainer, re.M), apptainer
    assert re.search(r"^Bootstrap: docker$", apptainer, re.M)
    # Debian's own python3 (bookworm: 3.11.x, not the pinned patch release), the rest as pinned
    assert re.search(r"^Bootstrap: debootstrap\nOSVersion: bookworm\nMirrorURL: http://deb.debian.org/debian\n"
                     r"Include: python3 python3-venv ca-certificates$", debian, re.M), debian
    assert python.startswith("3.11.") and "Debian bookworm's python 3.11" in debian
    assert "RUN sh /opt/sftmix/container/install.sh /opt/sftmix" in docker
    assert "PATH=/opt/venv/bin:$PATH" in docker
    for definition in (apptainer, debian):
        assert re.search(r"^%post\n(\s+.*\n)*\s+sh /opt/sftmix/container/install.sh /opt/sftmix$", definition, re.M)
        assert re.search(r"^%environment\n\s+export PATH=/opt/venv/bin:\$PATH$", definition, re.M)
        assert f"org.opencontainers.image.version {version}" in definition
    for needed in ("requirements.lock", "pyproject.toml", "README.md", "sftmix", "container/install.sh",
                   "container/wheels"):
        assert re.search(rf"^COPY .*\b{re.escape(needed)}/? ", docker, re.M), f"Dockerfile does not copy {needed}"
        for definition in (apptainer, debian):
            assert re.search(rf"^\s+{re.escape(needed)} /opt/sftmix/{re.escape(needed)}$", definition, re.M), needed
    assert f'org.opencontainers.image.version="{version}"' in docker
    assert f"python {python}, torch {torch}" in docker and f"python {python}, torch {torch}" in apptainer
    assert f"python 3.11, torch {torch}" in debian
    # what docker build sends: the same files and nothing else (.dockerignore at the context root)
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") + 1:][:6] == ["!requirements.lock", "!pyproject.toml", "!README.md",
                                                  "!sftmix/", "!container/install.sh", "!container/wheels/"]
    # container/wheels/ (a CPU-only torch, optional) exists in a clone: the COPY and %files need it
    assert (CONTAINER / "wheels/README.md").is_file()


def test_the_container_directive_resolves_from_the_config(tmp_path, smoke_config):
    """The schema's default is the image `make container` builds; a URI goes to Snakemake as it is,
    a local path resolves against the workflow folder, and a missing local image stops a
    --sdm apptainer run with the key's name (not the first job, deep in a run)."""
    assert smoke_config["container"] == "container/sftmix.sif"
    assert container_image(IMAGE_URI, tmp_path, apptainer=True) == IMAGE_URI
    assert container_image("container/sftmix.sif", tmp_path, apptainer=False) == str(tmp_path / "container/sftmix.sif")
    with pytest.raises(ValueError, match="config key 'container'"):
        container_image("container/sftmix.sif", tmp_path, apptainer=True)
    image = tmp_path / "sftmix.sif"
    image.write_bytes(b"")
    assert container_image(str(image), ROOT, apptainer=True) == str(image)
    makefile = (ROOT / "Makefile").read_text()
    assert "apptainer build $(APPTAINER_FLAGS) container/sftmix.sif $(DEF)" in makefile
    assert "DEF ?= container/sftmix.def" in makefile


def _stub_apptainer(tmp_path: Path) -> dict[str, str]:
    """Snakemake's dry run with --sdm apptainer asks the apptainer binary for its version (and
    nothing else) before it builds the DAG; where none is installed, a stub answers that."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "apptainer"
    stub.write_text('#!/bin/sh\n[ "$1" = --version ] && echo "apptainer version 1.3.6" && exit 0\n'
                    'echo "stub apptainer (tests/test_container.py): only --version" >&2\nexit 1\n')
    stub.chmod(0o755)
    env = smk.guarded_env(tmp_path)
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    return env


def test_a_sdm_apptainer_dry_run_builds_the_dag_in_the_configured_image(tmp_path):
    """`snakemake -n --sdm apptainer` (through profiles/apptainer) on the smoke DAG: the jobs of the
    DAG run in the configured image (Snakemake collects the images of the DAG's jobs and would pull
    this one, the only one), and the default's missing local image stops the run naming the key."""
    env = _stub_apptainer(tmp_path)
    profile = ["--profile", str(ROOT / "profiles/apptainer")]  # --sdm apptainer, the cluster's way
    out = smk.snakemake(tmp_path, "-n", *profile, "--configfile", str(smk.SMOKE_CONFIG),
                        "--config", f"container={IMAGE_URI}", env=env).stdout
    assert re.findall(r"^Singularity image (\S+) will be pulled\.$", out, re.M) == [IMAGE_URI], out[-2000:]
    total = re.search(r"^total\s+(\d+)$", out, re.M)
    assert total and int(total.group(1)) > 100, out[-2000:]
    if not (ROOT / "container/sftmix.sif").exists():
        proc = smk.snakemake(tmp_path, "-n", "--sdm", "apptainer", "--configfile", str(smk.SMOKE_CONFIG),
                             env=env, check=False)
        assert proc.returncode != 0
        assert "config key 'container': no image at" in proc.stdout + proc.stderr


def test_a_sdm_apptainer_dry_run_with_the_real_apptainer(tmp_path):
    """The same dry run with the installed apptainer (or singularity), where there is one."""
    binary = shutil.which("apptainer") or shutil.which("singularity")
    if binary is None:
        pytest.skip("no apptainer or singularity on PATH: Snakemake's --sdm apptainer needs the binary "
                    "even for a dry run (the stub test above covers the DAG)")
    out = smk.snakemake(tmp_path, "-n", "--sdm", "apptainer", "--configfile", str(smk.SMOKE_CONFIG),
                        "--config", f"container={IMAGE_URI}").stdout
    assert f"Singularity image {IMAGE_URI} will be pulled." in out


def test_the_built_image_holds_the_locked_versions():
    """Where an image has been built (container/sftmix.sif) and apptainer runs: the image's Python
    packages are requirements.lock's versions, torch the Makefile's, and its sftmix is this one."""
    binary = shutil.which("apptainer") or shutil.which("singularity")
    image = ROOT / "container/sftmix.sif"
    if binary is None or not image.is_file():
        pytest.skip("needs apptainer on PATH and a built container/sftmix.sif (make container; "
                    "benchmarks/container_check.sh builds one without Docker Hub)")
    import subprocess

    proc = subprocess.run([binary, "exec", "--cleanenv", str(image), "python", "-m", "pip", "list",
                           "--format=freeze"], capture_output=True, text=True, timeout=120, check=True)
    def canonical(pins: dict[str, str]) -> dict[str, str]:  # PEP 503 names: pip's spelling may differ
        return {re.sub(r"[-_.]+", "-", name): version for name, version in pins.items()}

    installed = canonical(_pins(proc.stdout))
    lock = canonical(_pins((ROOT / "requirements.lock").read_text()))
    wrong = {name: (version, installed.get(name)) for name, version in lock.items() if installed.get(name) != version}
    assert not wrong, wrong
    assert installed["torch"].split("+")[0] == _pins((ROOT / "Makefile").read_text())["torch"]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert installed["sftmix"] == version
