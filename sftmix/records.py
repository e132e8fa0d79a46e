"""Canonical instruction records, JSONL I/O and stage accounting.

A canonical record is a plain dict::

    {"id": "alpaca_world-0000042",          # stable: source name + row index in the raw file
     "source": "alpaca_world",
     "messages": [{"role": "system"|"user"|"assistant", "content": str}, ...],
     "meta": {...}}                        # free-form: original ids, tags, category, ...

Every stage accounts for its input as ``in = kept + quarantined + duplicates`` and
writes bad rows to a quarantine JSONL with a machine-readable reason.
"""

from __future__ import annotations

import csv
import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Record = dict[str, Any]
ROLES = ("system", "user", "assistant")
RAW_PREVIEW_CHARS = 500


def make_id(source: str, row_index: int) -> str:
    """The canonical id of row ``row_index`` (0-based position in the raw file) of ``source``."""
    return f"{source}-{row_index:07d}"


def source_of_id(record_id: str) -> str:
    """The source of a canonical id (:func:`make_id`): everything before its last ``-``."""
    source, sep, index = str(record_id).rpartition("-")
    if not sep or not source or not index.isdigit():
        raise ValueError(f"{record_id!r} is not a canonical record id (<source>-<row index>)")
    return source


def make_record(
    source: str, row_index: int, messages: list[dict[str, str]], meta: dict[str, Any] | None = None
) -> Record:
    return {"id": make_id(source, row_index), "source": source, "messages": messages, "meta": meta or {}}


def user_text(record: Record) -> str:
    """All user (and system) turns joined: the 'instruction' side of a record."""
    return "\n".join(m["content"] for m in record["messages"] if m["role"] != "assistant")


def first_instruction(record: Record) -> str:
    """The first user turn: what a tagger looks at."""
    for m in record["messages"]:
        if m["role"] == "user":
            return m["content"]
    return ""


def instruction_text(record: Record) -> str:
    """The instruction proper: the first user turn up to its first blank line.

    Alpaca/Dolly rows are ingested as ``instruction + "\n\n" + input``, so this recovers the
    instruction field; for chat data it is the opening request of the conversation.
    """
    return first_instruction(record).strip().split("\n\n", 1)[0]


TEXT_VIEWS = {"instruction": instruction_text, "first_turn": first_instruction, "user_turns": None}


def text_view(name: str):
    """The function that gives the text a tagger reads: ``instruction``, ``first_turn`` or ``user_turns``."""
    if name == "user_turns":
        return user_text
    if name not in TEXT_VIEWS:
        raise ValueError(f"tag.text: unknown text view {name!r}; choose from {sorted(TEXT_VIEWS)}")
    return TEXT_VIEWS[name]


def assistant_text(record: Record) -> str:
    """All assistant turns joined: the 'response' side of a record."""
    return "\n".join(m["content"] for m in record["messages"] if m["role"] == "assistant")


def full_text(record: Record) -> str:
    return "\n".join(m["content"] for m in record["messages"])


def dumps(obj: Any) -> str:
    """Deterministic JSON: sorted keys, UTF-8 kept, no whitespace variance."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(dumps(row))
            fh.write("\n")
            n += 1
    tmp.replace(path)  # never leave a half-written output under the final name
    return n


def read_jsonl(path: str | Path) -> Iterator[Any]:
    """Read a JSONL file written by this package (trusted: raises on malformed lines)."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def write_json(path: str | Path, obj: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def write_tsv(path: str | Path, rows: Iterable[Sequence[str]], columns: Sequence[str], *,
              quoted: bool = False, what: str = "TSV") -> int:
    """Write rows of text fields as UTF-8 TSV with header ``columns`` (atomically: temp file, then
    rename). The one TSV writer of the package; the typed layer (:func:`write_typed_tsv`) formats
    values and calls it.

    ``quoted=False``: fields are written as they are; a tab or newline in one raises (the format
    has no escapes). ``quoted=True``: :mod:`csv` quoting (``csv.writer``, excel dialect with tab
    delimiter and ``\\n`` line ends): a field holding a tab, a newline or ``"`` is quoted, so free
    text round-trips (read it back with ``quoted=True``). Returns the number of rows.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        if quoted:
            w = csv.writer(fh, delimiter="\t", lineterminator="\n")
            w.writerow(columns)
            for fields in rows:
                w.writerow(fields)
                n += 1
        else:
            fh.write("\t".join(columns) + "\n")
            for fields in rows:
                for name, text in zip(columns, fields, strict=True):
                    if any(ch in text for ch in "\t\n\r"):
                        raise ValueError(f"{what}: {name} {text!r} contains a tab or newline")
                fh.write("\t".join(fields) + "\n")
                n += 1
    tmp.replace(path)
    return n


def read_tsv(path: str | Path, columns: Sequence[str] | None = None, *, quoted: bool = False,
             what: str = "TSV") -> list[dict[str, str]]:
    """Read a TSV written by :func:`write_tsv` (same ``quoted``) as rows of text fields.

    ``columns``: the header the file must have (ValueError otherwise); None takes the file's
    header as it is. Blank lines are skipped; a row with another number of fields raises.
    """
    with open(path, encoding="utf-8", newline="") as fh:
        if quoted:
            lines = [row for row in csv.reader(fh, delimiter="\t") if row]
        else:
            lines = [line.split("\t") for line in fh.read().split("\n")]
    header = tuple(lines[0]) if lines else ()
    if columns is not None and header != tuple(columns):
        raise ValueError(f"{path}: not a {what} (header must be {' '.join(columns)})")
    if not header or header == ("",):
        raise ValueError(f"{path}: not a {what} (no header)")
    out: list[dict[str, str]] = []
    for lineno, parts in enumerate(lines[1:], start=2):
        if parts == [""]:
            continue
        if len(parts) != len(header):
            raise ValueError(f"{path}:{lineno}: expected {len(header)} fields, got {len(parts)}")
        out.append(dict(zip(header, parts, strict=True)))
    return out


def write_typed_tsv(path: str | Path, rows: Iterable[Any], columns: tuple[str, ...], *,
                    ints: frozenset[str] = frozenset(), floats: frozenset[str] = frozenset(),
                    float_format: str | None = None, quoted: bool = False, what: str = "TSV") -> int:
    """Write rows (mappings with at least ``columns``) as UTF-8 TSV with header ``columns``.

    Float columns are written with ``repr`` (shortest round-trip form; ``nan``/``inf`` as such;
    None as ``nan``) or, with ``float_format``, as ``format(value, float_format)`` (e.g.
    ``".6f"``: not exact on reading back); int columns as ints; others as text. Without
    ``quoted`` a tab or newline in a text field raises; see :func:`write_tsv`. With ``repr``,
    :func:`read_typed_tsv` gives back the same values and the same rows give the same bytes.
    Returns the number of rows.
    """
    def field(name: str, value: Any) -> str:
        if name in floats:
            x = float(value if value is not None else "nan")
            return repr(x) if float_format is None else format(x, float_format)
        if name in ints:
            return str(int(value))
        return str(value)

    return write_tsv(path, ([field(c, r[c]) for c in columns] for r in rows), columns,
                     quoted=quoted, what=what)


def read_typed_tsv(path: str | Path, columns: tuple[str, ...], *, ints: frozenset[str] = frozenset(),
                   floats: frozenset[str] = frozenset(), quoted: bool = False,
                   what: str = "TSV") -> list[dict[str, Any]]:
    """Read a TSV written by :func:`write_typed_tsv` with the same columns, types and ``quoted``."""
    return [{c: float(v) if c in floats else int(v) if c in ints else v for c, v in r.items()}
            for r in read_tsv(path, columns, quoted=quoted, what=what)]


def read_json(path: str | Path) -> Any:
    """Read a JSON file (as written by :func:`write_json`)."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def quarantine_row(stage: str, reason: str, raw: Any, *, source: str = "", row: int | None = None,
                   record_id: str | None = None, detail: str = "") -> dict[str, Any]:
    """A quarantine entry: where it came from, why, and a bounded preview of the raw row."""
    if isinstance(raw, bytes):
        preview = raw[:RAW_PREVIEW_CHARS].decode("utf-8", errors="backslashreplace")
    elif isinstance(raw, str):
        preview = raw[:RAW_PREVIEW_CHARS]
    else:
        try:
            preview = dumps(raw)[:RAW_PREVIEW_CHARS]
        except (TypeError, ValueError):
            preview = repr(raw)[:RAW_PREVIEW_CHARS]
    # a preview must be writable as UTF-8 whatever the row held (lone surrogates -> \\udXXX)
    preview = preview.encode("utf-8", errors="backslashreplace").decode("utf-8")
    return {"stage": stage, "reason": reason, "detail": detail, "source": source, "row": row,
            "id": record_id, "raw": preview}


@dataclass
class StageCounts:
    """Accounting for one stage: ``n_in == kept + quarantined + duplicates`` must hold."""

    stage: str
    n_in: int = 0
    kept: int = 0
    duplicates: int = 0
    reasons: Counter = field(default_factory=Counter)

    @property
    def quarantined(self) -> int:
        return sum(self.reasons.values())

    def quarantine(self, reason: str) -> None:
        self.reasons[reason] += 1

    def check(self) -> None:
        total = self.kept + self.quarantined + self.duplicates
        if total != self.n_in:
            raise AssertionError(
                f"{self.stage}: accounting broken: in={self.n_in} != kept={self.kept} + "
                f"quarantined={self.quarantined} + duplicates={self.duplicates} (= {total})"
            )

    def line(self) -> str:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.reasons.items())) or "none"
        return (f"{self.stage}: in={self.n_in} = kept={self.kept} + quarantined={self.quarantined} "
                f"+ duplicates={self.duplicates} [quarantine reasons: {reasons}]")

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "in": self.n_in, "kept": self.kept,
                "quarantined": self.quarantined, "duplicates": self.duplicates,
                "reasons": dict(sorted(self.reasons.items()))}

    def report(self, log: logging.Logger | None = None) -> str:
        self.check()
        msg = self.line()
        if log is not None:
            log.info(msg)
        return msg
