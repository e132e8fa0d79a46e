"""Writers of the raw source formats: alpaca JSON, ShareGPT JSONL, Dolly JSONL, OpenOrca JSONL.

``FORMAT_EXT`` (format -> file extension) is the one home of that file-format fact. ``to_format``
renders an item as one raw row, ``write_source`` writes a source's rows as bytes, turning
``INVALID_UTF8_MARK`` (planted by ``corrupt.malform``) into raw invalid UTF-8.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Any

from .templates import Messages

FORMAT_EXT = {"alpaca": "json", "sharegpt": "jsonl", "dolly": "jsonl", "openorca": "jsonl"}
_ROLE_TO_SHAREGPT = {"user": "human", "assistant": "gpt", "system": "system"}
INVALID_UTF8_MARK = "\u0000INVALID_UTF8\u0000"


def to_format(fmt: str, messages: Messages, instruction: str, inp: str, r: Random,
              row_id: str) -> dict[str, Any]:
    """Render an item as one raw row of source format ``fmt``."""
    response = messages[-1]["content"]
    if fmt == "alpaca":
        return {"instruction": instruction, "input": inp, "output": response}
    if fmt == "dolly":
        return {"instruction": instruction, "context": inp, "response": response,
                "category": r.choice(["open_qa", "closed_qa", "generation", "information_extraction",
                                      "classification", "summarization", "brainstorming"])}
    if fmt == "openorca":
        question = instruction if not inp else f"{instruction}\n\n{inp}"
        system = r.choice(["", "You are a helpful assistant.",
                           "You are an AI assistant. Answer accurately and concisely."])
        return {"id": row_id, "system_prompt": system, "question": question, "response": response}
    if fmt == "sharegpt":
        return {"id": row_id, "conversations": [{"from": _ROLE_TO_SHAREGPT[m["role"]], "value": m["content"]}
                                                for m in messages]}
    raise ValueError(f"unknown source format {fmt!r}")


@dataclass
class RawRow:
    """One row of a raw source with its ground truth."""

    source: str
    payload: dict[str, Any] | str  # str: a broken JSON line
    truth: dict[str, Any]


def _encode_line(obj: Any) -> bytes:
    text = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False, sort_keys=True)
    data = text.encode("utf-8")
    mark = json.dumps(INVALID_UTF8_MARK)[1:-1].encode("utf-8")
    return data.replace(mark, b"\xff\xfe\xc3(")


def write_source(path: str | Path, fmt: str, rows: list[RawRow]) -> None:
    """Write raw rows in the source's own file format (JSON array for alpaca, else JSONL)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if FORMAT_EXT[fmt] == "json":
        body = b"[\n" + b",\n".join(_encode_line(rw.payload) for rw in rows) + b"\n]\n"
    else:
        body = b"".join(_encode_line(rw.payload) + b"\n" for rw in rows)
    path.write_bytes(body)
