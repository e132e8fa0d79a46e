"""Which library files a script runs: the inputs that make a stage rerun when its code changes.

Snakemake's code trigger sees only a rule's own script. A stage also runs the library modules
its script imports, directly or through other library modules; the workflow declares those files
as inputs, computed here from the import statements (read with :mod:`ast`, nothing is imported)
when the DAG is built, so the list cannot drift from the code.

Every import counts, also one inside a function (a lazy import still runs the module when the
stage runs). A module inside a package also runs the package's ``__init__.py``. A script that
imports another script of its own folder (``import finetune``: a study's wrapper around the
engine's command line) runs that script and its library imports too.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGE = "sftmix"


@cache
def _module_file(package_dir: Path, module: str) -> Path | None:
    """``sftmix.world.formats`` -> its file under ``package_dir`` (module or package), or None."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = package_dir.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(package_dir: Path, path: Path) -> str:
    rel = path.relative_to(package_dir).with_suffix("")
    parts = [PACKAGE, *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _imported_modules(path: Path, package_dir: Path) -> frozenset[str]:
    """Absolute names of the ``sftmix`` modules ``path`` imports (any scope, relative included).
    ``from sftmix.x import y`` yields ``sftmix.x`` and ``sftmix.x.y`` (``y`` may be a submodule)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    inside = path.is_relative_to(package_dir)
    here = _module_name(package_dir, path).split(".") if inside else []
    if inside and path.name != "__init__.py":
        here = here[:-1]  # the package a module lives in
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if not inside:
                    continue
                anchor = here[: len(here) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            if base.split(".")[0] != PACKAGE:
                continue
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return frozenset(found)


@cache
def _sibling_scripts(path: Path) -> frozenset[Path]:
    """The scripts of ``path``'s own folder that ``path`` imports by name (``import finetune``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and not node.level
              and node.module}
    return frozenset(f for n in names if "." not in n and (f := path.parent / f"{n}.py").is_file() and f != path)


@cache
def _closure(path: Path, package_dir: Path) -> frozenset[Path]:
    seen: set[Path] = set()
    todo = [path]
    while todo:
        current = todo.pop()
        if not current.is_relative_to(package_dir):
            for f in _sibling_scripts(current) - seen:
                seen.add(f)
                todo.append(f)
        for module in _imported_modules(current, package_dir):
            parts = module.split(".")
            # importing a.b.c runs a/__init__, a/b/__init__ and a/b/c
            for k in range(1, len(parts) + 1):
                f = _module_file(package_dir, ".".join(parts[:k]))
                if f is not None and f not in seen:
                    seen.add(f)
                    todo.append(f)
    return frozenset(seen)


def library_files(script: str | Path, package_dir: str | Path) -> list[str]:
    """Sorted paths of every library file that ``script`` imports, transitively.

    ``package_dir`` is the ``sftmix`` package folder whose files count (the checkout's)."""
    return sorted(str(p) for p in _closure(Path(script).resolve(), Path(package_dir).resolve()))
