#!/bin/sh
# Installs sftmix with the project's own pins into a virtual environment at /opt/venv (the images'
# PATH puts it first); container/Dockerfile, container/sftmix.def and container/sftmix-debian.def
# all run it (one install recipe for every image). A venv works the same on the Docker Hub Python
# and on Debian's own python3, which refuses a system-wide pip install (PEP 668). The pins agree
# with the rest of the project (tests/test_container.py): pip as in envs/*.yaml, torch at the
# Makefile's pin (installed first, as the Makefile does), everything else exactly as
# requirements.lock says, then this package itself (not editable: the image holds the code it was
# built from; rebuild it when sftmix/ changes).
# torch: PyPI's Linux wheel of torch==2.13.0 carries CUDA (~0.5 GB, plus nvidia-* wheels, not sized here,
# what `--nv` GPU jobs need). A wheel put in container/wheels/ wins over PyPI's when it is
# the same pinned version: `pip download torch==2.13.0 --no-deps -d container/wheels --index-url
# https://download.pytorch.org/whl/cpu` makes a CPU-only image (2.13.0+cpu, ~0.2 GB, no nvidia-*).
# The wheels are removed from the image once installed.
#   usage: sh container/install.sh <folder holding requirements.lock, pyproject.toml and sftmix/>
set -eu
src=${1:?usage: install.sh <source folder>}
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
# pip trusts the image's CA store (not only its bundled certifi): a build behind a TLS-inspecting
# proxy binds the host's bundle over it (`apptainer build --bind <host bundle>:/etc/ssl/certs/...`)
if [ -z "${PIP_CERT:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    export PIP_CERT=/etc/ssl/certs/ca-certificates.crt
fi
python3 -m venv /opt/venv
. /opt/venv/bin/activate
python -m pip install --quiet pip==26.3
python -m pip install --quiet --find-links "$src/container/wheels" torch==2.13.0
python -m pip install --quiet -r "$src/requirements.lock"
python -m pip install --quiet --no-deps "$src"
python -m pip check
rm -rf "$src/container/wheels"
python -c "import sys, sftmix, snakemake, torch; print('sftmix image: python', sys.version.split()[0], 'torch', torch.__version__, 'snakemake', snakemake.__version__)"
