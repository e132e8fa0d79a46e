"""Config files: overlays and the schema's defaults.

Every default lives in the JSON schema (``config/schemas/config.schema.yaml``), each with its
description. A config file says only what differs: from the schema's defaults, or, with
``extends: <path>``, from another config file (``config/smoke.yaml`` is the embedded default,
``config/config.yaml``, made tiny). Paths in ``extends`` are relative to the workflow's folder.
Mappings merge key by key; a list or scalar in the overlay replaces the base's, and so does a
mapping the overlay names in ``replace`` (dotted keys: ``replace: [sources]`` drops the base's
other sources).

The Snakefile resolves ``extends`` and lets Snakemake validate and fill the defaults; tests and
tools use :func:`load_config`, which does both the same way.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

EXTENDS = "extends"
REPLACE = "replace"


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any], replace: frozenset[str] = frozenset(),
               _at: str = "") -> dict[str, Any]:
    """``overlay`` over ``base``: mappings merge recursively, except at the dotted keys in
    ``replace``; anything else in ``overlay`` wins."""
    out = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        path = f"{_at}{key}"
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and path not in replace:
            out[key] = deep_merge(out[key], value, replace, f"{path}.")
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config file must be a mapping")
    return data


def resolve_extends(config: Mapping[str, Any], root: str | Path, _chain: tuple[str, ...] = ()) -> dict[str, Any]:
    """``config`` over the file its ``extends`` names (itself resolved), without the key."""
    parent = config.get(EXTENDS)
    replace = config.get(REPLACE) or []
    out = {k: v for k, v in config.items() if k not in (EXTENDS, REPLACE)}
    if parent is None:
        if replace:
            raise ValueError(f"{REPLACE}: only an overlay (a config with extends) replaces its base's keys")
        return copy.deepcopy(out)
    path = (Path(root) / parent).resolve()
    if str(path) in _chain:
        raise ValueError(f"extends: cycle through {path}")
    if not path.is_file():
        raise ValueError(f"extends: {parent!r} is not a file under {root}")
    base = resolve_extends(read_yaml(path), root, (*_chain, str(path)))
    missing = [k for k in replace if not _has(out, k)]
    if missing:
        raise ValueError(f"{REPLACE}: {missing} are not set in this overlay")
    return deep_merge(base, out, frozenset(replace))


def _has(config: Mapping[str, Any], dotted: str) -> bool:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _validator(schema: Mapping[str, Any]):
    from jsonschema import Draft202012Validator, validators

    check_properties = Draft202012Validator.VALIDATORS["properties"]

    def fill_defaults(validator, properties, instance, subschema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from check_properties(validator, properties, instance, subschema)

    return validators.extend(Draft202012Validator, {"properties": fill_defaults})(schema)


def with_defaults(config: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """A validated copy of ``config`` with every schema default filled in; an invalid config
    raises ``ValueError`` naming the key (``dedup.thresold: ...``)."""
    out = copy.deepcopy(dict(config))
    errors = sorted(_validator(schema).iter_errors(out), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = ".".join(str(p) for p in e.absolute_path) or "(top level)"
        raise ValueError(f"{where}: {e.message}")
    return out


def load_schema(path: str | Path) -> dict[str, Any]:
    return read_yaml(path)


def load_config(path: str | Path, schema_path: str | Path, root: str | Path) -> dict[str, Any]:
    """The config a workflow run sees for ``--configfile path``: overlays resolved, validated,
    defaults filled."""
    return with_defaults(resolve_extends(read_yaml(path), root), load_schema(schema_path))


def section_defaults(schema: Mapping[str, Any], section: str) -> dict[str, Any]:
    """The schema's defaults of one top-level section (e.g. ``train``), as a run would see them
    when the config leaves the section out."""
    sub = schema["properties"][section]
    value = copy.deepcopy(sub.get("default", {}))
    return with_defaults({section: value}, {"type": "object", "properties": {section: sub}})[section]


def container_image(value: str, basedir: str | Path, apptainer: bool) -> str:
    """Config key ``container`` as Snakemake's ``container:`` directive takes it: a URI that
    Apptainer pulls or reads (``docker://``, ``oras://``, ``library://``, ``docker-daemon://``) as
    it is, a local image file resolved against the workflow folder. With ``--sdm apptainer``
    (``apptainer``) a local image that is not there is an error naming the key: Snakemake itself
    would only fail in the first job."""
    if "://" in value:
        return value
    path = Path(value) if Path(value).is_absolute() else Path(basedir) / value
    if apptainer and not path.is_file():
        raise ValueError(f"config key 'container': no image at {path} (build it with `make container`, "
                         f"or set container to a URI such as docker://<registry>/sftmix:<version>)")
    return str(path)
