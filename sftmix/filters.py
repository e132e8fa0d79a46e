"""Quality filter: configurable rules over canonical records.

Each rule is checked in a fixed order and the first that fails names the quarantine reason:

``empty_response``            an assistant turn is empty (after stripping whitespace)
``trivial_response``          the last response is in the trivial list ("n/a", "ok", ...) or
                              shorter than ``min_response_chars``
``response_echoes_instruction`` the response repeats the instruction verbatim
``short_instruction``         the first user turn is shorter than ``min_instruction_chars``
``long_instruction``          user text longer than ``max_instruction_chars``
``long_response``             assistant text longer than ``max_response_chars``
``too_many_turns``            more than ``max_turns`` messages
``garbled``                   more than ``max_garbled_ratio`` of characters are control or
                              replacement characters
"""

from __future__ import annotations

import unicodedata
from typing import Any

from .records import (
    Record,
    StageCounts,
    assistant_text,
    first_instruction,
    quarantine_row,
    user_text,
)


def garbled_ratio(text: str) -> float:
    """Share of characters that are U+FFFD or control characters other than newline/tab."""
    if not text:
        return 0.0
    bad = sum(1 for ch in text if ch == "\ufffd" or (unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\n\t\r"))
    return bad / len(text)


def check_record(rec: Record, cfg: dict[str, Any]) -> str | None:
    """The first failing rule's reason, or None if the record passes."""
    c = cfg  # the validated filter section: every default comes from the config schema
    answers = [m["content"] for m in rec["messages"] if m["role"] == "assistant"]
    if not answers or any(not a.strip() for a in answers):
        return "empty_response"
    last = answers[-1].strip()
    if last.lower() in {t.lower() for t in c["trivial_responses"]} or len(last) < c["min_response_chars"]:
        return "trivial_response"
    instr = first_instruction(rec).strip()
    if c["drop_echo"] and last == instr:
        return "response_echoes_instruction"
    if len(instr) < c["min_instruction_chars"]:
        return "short_instruction"
    if len(user_text(rec)) > c["max_instruction_chars"]:
        return "long_instruction"
    if len(assistant_text(rec)) > c["max_response_chars"]:
        return "long_response"
    if len(rec["messages"]) > c["max_turns"]:
        return "too_many_turns"
    if max(garbled_ratio(user_text(rec)), garbled_ratio(assistant_text(rec))) > c["max_garbled_ratio"]:
        return "garbled"
    return None


def filter_records(records: list[Record], cfg: dict[str, Any], *, stage: str = "filter"
                   ) -> tuple[list[Record], list[dict[str, Any]], StageCounts]:
    """Apply ``check_record`` to every record; returns ``(kept, quarantine, counts)``."""
    counts = StageCounts(stage=stage)
    kept: list[Record] = []
    quarantine: list[dict[str, Any]] = []
    for rec in records:
        counts.n_in += 1
        reason = check_record(rec, cfg)
        if reason is None:
            kept.append(rec)
            counts.kept += 1
        else:
            counts.quarantine(reason)
            quarantine.append(quarantine_row("filter", reason, rec, source=rec["source"], record_id=rec["id"]))
    counts.check()
    return kept, quarantine, counts
