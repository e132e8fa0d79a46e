#!/bin/sh
# Installs sftmix with the project's own pins into the image's Python; container/Dockerfile and
# container/sftmix.def both run it (one install recipe for both images). The pins agree with the
# rest of the project (tests/test_container.py): pip as in envs/*.yaml, torch at the Makefile's pin
# (installed first, as the Makefile does; PyPI's Linux wheel carries CUDA for `--nv` GPU jobs),
# everything else exactly as requirements.lock says, then this package itself (not editable: the
# image holds the code it was built from; rebuild it when sftmix/ changes).
#   usage: sh container/install.sh <folder holding requirements.lock, pyproject.toml and sftmix/>
set -eu
src=${1:?usage: install.sh <source folder>}
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
python -m pip install --quiet pip==26.3
python -m pip install --quiet torch==2.13.0
python -m pip install --quiet -r "$src/requirements.lock"
python -m pip install --quiet --no-deps "$src"
python -m pip check
python -c "import sftmix, snakemake, torch; print('sftmix image:', 'torch', torch.__version__, 'snakemake', snakemake.__version__)"
