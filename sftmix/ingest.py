"""Ingest: raw instruction datasets in their own shapes -> canonical records + quarantine.

Supported shapes (``format``):

* ``alpaca``   ``{instruction, input?, output}`` (Alpaca, Alpaca-GPT4, WizardLM, ...)
* ``dolly``    ``{instruction, context?, response}`` (databricks-dolly-15k)
* ``openorca`` ``{system_prompt?, question, response}`` (OpenOrca)
* ``sharegpt`` ``{conversations: [{from, value}, ...]}`` (ShareGPT, Vicuna) or
  ``{messages: [{role, content}, ...]}`` (UltraChat, OASST-style chat, tulu)

A source is a local ``.json`` (array), ``.jsonl`` or ``.parquet`` file, or a hub dataset id loaded
with ``datasets.load_dataset`` (for clusters; never in the offline default). Field names can be
remapped per source (``fields: {output: completion}``).

Bad rows never vanish: each is returned as a quarantine entry with a reason, and the counts
satisfy ``in = kept + quarantined``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .records import Record, StageCounts, make_record, quarantine_row

FORMATS = ("alpaca", "dolly", "openorca", "sharegpt")
DEFAULT_FIELDS: dict[str, dict[str, str]] = {
    "alpaca": {"instruction": "instruction", "input": "input", "output": "output"},
    "dolly": {"instruction": "instruction", "context": "context", "response": "response"},
    "openorca": {"system": "system_prompt", "question": "question", "response": "response"},
    "sharegpt": {"conversations": "conversations", "messages": "messages"},
}
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "bing": "assistant", "bard": "assistant", "model": "assistant",
                  "system": "system"}


class RowError(Exception):
    """A row that cannot become a canonical record; ``reason`` is machine-readable."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# --------------------------------------------------------------------------------------------
# Reading raw rows: (row_index, raw) where raw is a decoded object or a RowError
# --------------------------------------------------------------------------------------------

RawItem = tuple[int, Any, bytes | str | None]  # (row index, object or RowError, raw text for quarantine)


def _has_surrogates(obj: Any, lo: str = "\ud800", hi: str = "\udfff") -> bool:
    """Whether any string (key or value) holds a UTF-16 surrogate in ``[lo, hi]``.

    Such strings cannot be written as UTF-8: undecodable bytes read with ``surrogateescape`` land
    in U+DC80..U+DCFF, and JSON escapes like ``"\\ud800"`` decode to lone surrogates.
    """
    if isinstance(obj, str):
        return any(lo <= ch <= hi for ch in obj)
    if isinstance(obj, dict):
        return any(_has_surrogates(k, lo, hi) or _has_surrogates(v, lo, hi) for k, v in obj.items())
    if isinstance(obj, list):
        return any(_has_surrogates(v, lo, hi) for v in obj)
    return False


def _lone_surrogate() -> RowError:
    return RowError("lone_surrogate", "an unpaired UTF-16 surrogate escape in a field")


def iter_jsonl(path: str | Path, max_record_chars: int) -> Iterator[RawItem]:
    """One row per line; line index is the row index (blank lines are skipped but counted)."""
    with open(path, "rb") as fh:
        for i, line in enumerate(fh):
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            if len(line) > max_record_chars:
                yield i, RowError("overlong_record", f"{len(line)} bytes > {max_record_chars}"), line
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as e:
                yield i, RowError("invalid_utf8", str(e)), line
                continue
            try:
                obj = json.loads(text)
            except (json.JSONDecodeError, RecursionError) as e:
                yield i, RowError("invalid_json", str(e)[:200]), text
                continue
            yield i, (_lone_surrogate() if _has_surrogates(obj) else obj), text


def iter_json_array(path: str | Path, max_record_chars: int) -> Iterator[RawItem]:
    """A JSON array file. Invalid UTF-8 bytes are located per row (surrogateescape)."""
    text = Path(path).read_bytes().decode("utf-8", errors="surrogateescape")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        # A broken array cannot be split into rows reliably; fail loudly rather than guess.
        raise ValueError(f"{path}: not a valid JSON array ({e}); use JSONL for row-level recovery") from e
    if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), list):
        data = next(iter(data.values()))  # {"data": [...]}-style wrappers
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON array of rows, got {type(data).__name__}")
    for i, row in enumerate(data):
        if _has_surrogates(row):
            raw = json.dumps(row, ensure_ascii=True)[:500]
            bad_bytes = _has_surrogates(row, "\udc80", "\udcff")
            yield i, (RowError("invalid_utf8", "undecodable bytes in a field") if bad_bytes else _lone_surrogate()), raw
            continue
        size = len(json.dumps(row, ensure_ascii=False))
        if size > max_record_chars:
            yield i, RowError("overlong_record", f"{size} chars > {max_record_chars}"), None
            continue
        yield i, row, None


def iter_parquet(path: str | Path, max_record_chars: int) -> Iterator[RawItem]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    for i, row in enumerate(table.to_pylist()):
        size = len(json.dumps(row, ensure_ascii=False, default=str))
        if size > max_record_chars:
            yield i, RowError("overlong_record", f"{size} chars > {max_record_chars}"), None
            continue
        yield i, row, None


def iter_hub(hub_id: str, *, split: str = "train", name: str | None = None,
             revision: str | None = None, max_record_chars: int = 100_000) -> Iterator[RawItem]:
    """Rows of a hub dataset (clusters only; the offline default never calls this)."""
    import datasets

    ds = datasets.load_dataset(hub_id, name=name, split=split, revision=revision)
    for i, row in enumerate(ds):
        size = len(json.dumps(row, ensure_ascii=False, default=str))
        if size > max_record_chars:
            yield i, RowError("overlong_record", f"{size} chars > {max_record_chars}"), None
            continue
        yield i, row, None


def iter_source(spec: dict[str, Any], path: str | Path | None, max_record_chars: int) -> Iterator[RawItem]:
    """Dispatch on a source spec: local ``path`` (by suffix) or ``spec['hub']``."""
    if path:
        suffix = Path(path).suffix.lower()
        if suffix == ".jsonl":
            return iter_jsonl(path, max_record_chars)
        if suffix == ".json":
            return iter_json_array(path, max_record_chars)
        if suffix == ".parquet":
            return iter_parquet(path, max_record_chars)
        raise ValueError(f"{path}: unsupported file type {suffix!r} (json, jsonl, parquet)")
    if spec.get("hub"):
        return iter_hub(spec["hub"], split=spec.get("split", "train"), name=spec.get("subset"),
                        revision=spec.get("revision"), max_record_chars=max_record_chars)
    raise ValueError("a source needs either a local path or a hub id")


# --------------------------------------------------------------------------------------------
# Row -> messages
# --------------------------------------------------------------------------------------------

def _get_str(row: dict[str, Any], key: str, *, required: bool) -> str:
    if key not in row:
        if required:
            raise RowError(f"missing_field:{key}")
        return ""
    value = row[key]
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise RowError(f"wrong_type:{key}", f"expected string, got {type(value).__name__}")
    return value


def _join(instruction: str, extra: str) -> str:
    return instruction if not extra.strip() else f"{instruction}\n\n{extra}"


def row_to_messages(row: Any, fmt: str, fields: dict[str, str] | None = None) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """Convert one decoded raw row to ``(messages, meta)`` or raise ``RowError``."""
    if not isinstance(row, dict):
        raise RowError("not_an_object", f"row is {type(row).__name__}")
    f = {**DEFAULT_FIELDS[fmt], **(fields or {})}
    meta: dict[str, Any] = {"format": fmt}
    if fmt == "alpaca":
        instr = _get_str(row, f["instruction"], required=True)
        inp = _get_str(row, f["input"], required=False)
        out = _get_str(row, f["output"], required=True)
        msgs = [{"role": "user", "content": _join(instr, inp)}, {"role": "assistant", "content": out}]
    elif fmt == "dolly":
        instr = _get_str(row, f["instruction"], required=True)
        ctx = _get_str(row, f["context"], required=False)
        out = _get_str(row, f["response"], required=True)
        msgs = [{"role": "user", "content": _join(instr, ctx)}, {"role": "assistant", "content": out}]
        if isinstance(row.get("category"), str):
            meta["orig_category"] = row["category"]
    elif fmt == "openorca":
        system = _get_str(row, f["system"], required=False)
        q = _get_str(row, f["question"], required=True)
        out = _get_str(row, f["response"], required=True)
        msgs = ([{"role": "system", "content": system}] if system.strip() else [])
        msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": out}]
    elif fmt == "sharegpt":
        msgs = _conversation(row, f)
    else:
        raise ValueError(f"unknown format {fmt!r}; choose from {FORMATS}")
    for key in ("id", "idx", "conversation_id"):
        if key in row and isinstance(row[key], str | int):
            meta["orig_id"] = row[key]
            break
    return msgs, meta


def _conversation(row: dict[str, Any], f: dict[str, str]) -> list[dict[str, str]]:
    if f["conversations"] in row:
        key, role_key, text_key = f["conversations"], "from", "value"
    elif f["messages"] in row:
        key, role_key, text_key = f["messages"], "role", "content"
    else:
        raise RowError(f"missing_field:{f['conversations']}")
    turns = row[key]
    if not isinstance(turns, list):
        raise RowError(f"wrong_type:{key}", f"expected list, got {type(turns).__name__}")
    msgs: list[dict[str, str]] = []
    for k, t in enumerate(turns):
        if not isinstance(t, dict):
            raise RowError(f"wrong_type:{key}[{k}]", f"expected object, got {type(t).__name__}")
        role = t.get(role_key)
        text = t.get(text_key)
        if not isinstance(role, str) or role.lower() not in SHAREGPT_ROLES:
            raise RowError("bad_role", f"turn {k}: {role!r}")
        if not isinstance(text, str):
            raise RowError(f"wrong_type:{key}[{k}].{text_key}", f"expected string, got {type(text).__name__}")
        msgs.append({"role": SHAREGPT_ROLES[role.lower()], "content": text})
    return validate_turns(msgs)


def validate_turns(msgs: list[dict[str, str]]) -> list[dict[str, str]]:
    """Check the turn structure: optional system first, then user/assistant alternating.

    A trailing user turn with no answer is dropped (common in ShareGPT dumps); a conversation
    with no assistant turn is an error.
    """
    body = msgs[1:] if msgs and msgs[0]["role"] == "system" else msgs
    if any(m["role"] == "system" for m in body):
        raise RowError("bad_role", "system turn after the start")
    if body and body[-1]["role"] == "user":
        body = body[:-1]
    if not body:
        raise RowError("empty_conversation")
    for k, m in enumerate(body):
        expected = "user" if k % 2 == 0 else "assistant"
        if m["role"] != expected:
            raise RowError("bad_role", f"turn {k} is {m['role']}, expected {expected}")
    if body[-1]["role"] != "assistant":  # two user turns: the answerless one dropped, no answer left
        raise RowError("empty_conversation", "no assistant turn")
    return (msgs[:1] if msgs and msgs[0]["role"] == "system" else []) + body


# --------------------------------------------------------------------------------------------
# The stage
# --------------------------------------------------------------------------------------------

def ingest(raw_rows: Iterator[RawItem], *, source: str, fmt: str,
           fields: dict[str, str] | None = None) -> tuple[list[Record], list[dict[str, Any]], StageCounts]:
    """Turn raw rows into canonical records; returns ``(records, quarantine, counts)``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {FORMATS}")
    counts = StageCounts(stage=f"ingest[{source}]")
    records: list[Record] = []
    quarantine: list[dict[str, Any]] = []
    for i, obj, raw in raw_rows:
        counts.n_in += 1
        try:
            if isinstance(obj, RowError):
                raise obj
            msgs, meta = row_to_messages(obj, fmt, fields)
        except RowError as e:
            counts.quarantine(e.reason.split(":")[0])
            quarantine.append(quarantine_row("ingest", e.reason, raw if raw is not None else obj,
                                             source=source, row=i, detail=e.detail))
            continue
        records.append(make_record(source, i, msgs, meta))
        counts.kept += 1
    counts.check()
    return records, quarantine, counts
