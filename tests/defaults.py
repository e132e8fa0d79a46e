"""The config schema's defaults for unit tests that call the library without a workflow: the
schema is their one home (sftmix.config.section_defaults)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from sftmix.config import load_schema, section_defaults

SCHEMA = Path(__file__).resolve().parents[1] / "config/schemas/config.schema.yaml"


@cache
def _schema() -> dict[str, Any]:
    return load_schema(SCHEMA)


def defaults(section: str, **overrides: Any) -> dict[str, Any]:
    """A fresh copy of ``section``'s defaults with ``overrides`` applied."""
    return {**section_defaults(_schema(), section), **overrides}
