"""Duplicates and malformed rows: exact and near variants of an item, corrupted raw rows."""

from __future__ import annotations

import json
from random import Random
from typing import Any

from .formats import INVALID_UTF8_MARK
from .templates import Messages


def exact_variant(r: Random, messages: Messages) -> Messages:
    """A verbatim copy, or one differing only in case/whitespace (identical after normalization)."""
    out = [dict(m) for m in messages]
    mode = r.choice(["verbatim", "verbatim", "case", "space"])
    k = r.randrange(len(out))
    if mode == "case":
        out[k]["content"] = out[k]["content"].upper() if r.random() < 0.5 else out[k]["content"].lower()
    elif mode == "space":
        out[k]["content"] = "  " + out[k]["content"].replace(" ", "  ", 2) + " "
    return out


def near_variant(r: Random, messages: Messages) -> Messages:
    """One small edit (two on long turns): a typo, swapped words, a dropped/added word, punctuation."""
    out = [dict(m) for m in messages]
    user_turns = [i for i, m in enumerate(out) if m["role"] == "user"]
    n_words = sum(len(out[i]["content"].split()) for i in user_turns)
    for _ in range(2 if n_words > 40 and r.random() < 0.5 else 1):
        k = r.choice(user_turns)
        words = out[k]["content"].split(" ")
        if len(words) < 4:
            words.append(r.choice(["please", "thanks", "now"]))
            out[k]["content"] = " ".join(words)
            continue
        j = r.randrange(len(words) - 1)
        edit = r.choice(["typo", "swap", "drop", "add", "punct"])
        if edit == "typo" and len(words[j]) > 2:
            w = words[j]
            p = r.randrange(len(w) - 1)
            words[j] = w[:p] + w[p + 1] + w[p] + w[p + 2:]
        elif edit == "swap":
            words[j], words[j + 1] = words[j + 1], words[j]
        elif edit == "drop":
            del words[j]
        elif edit == "add":
            words.insert(j, r.choice(["really", "please", "also", "just", "kindly"]))
        else:
            words[j] = words[j].rstrip(".,?!") + r.choice([",", ";", " -"])
        out[k]["content"] = " ".join(words)
    return out


MALFORMED_KINDS_JSONL = ["broken_json", "invalid_utf8", "missing_field", "wrong_type",
                         "empty_response", "overlong_record"]
MALFORMED_KINDS_JSON = ["invalid_utf8", "missing_field", "wrong_type", "empty_response",
                        "overlong_record"]
_RESPONSE_FIELD = {"alpaca": "output", "dolly": "response", "openorca": "response"}


def malform(kind: str, fmt: str, row: dict[str, Any], r: Random, overlong_chars: int) -> dict[str, Any] | str:
    """Corrupt a raw row. Returns a dict (still JSON) or, for broken_json, the broken line text.

    Invalid UTF-8 is written as a marker that ``write_source`` turns into raw invalid bytes.
    The number of draws from ``r`` does not depend on the row's content.
    """
    row = json.loads(json.dumps(row))
    if fmt == "sharegpt":
        conv = row["conversations"]
        if kind == "missing_field":
            del row["conversations"]
        elif kind == "wrong_type":
            row["conversations"] = r.choice([{"from": "human"}, "human: hi", 42])
        elif kind == "empty_response":
            conv[-1]["value"] = r.choice(["", "   "])
        elif kind == "invalid_utf8":
            conv[0]["value"] = conv[0]["value"] + " " + INVALID_UTF8_MARK
        elif kind == "overlong_record":
            conv[-1]["value"] = (conv[-1]["value"] + " ") * (overlong_chars // max(1, len(conv[-1]["value"])) + 2)
    else:
        field_ = _RESPONSE_FIELD[fmt]
        if kind == "missing_field":
            del row[r.choice([field_, "instruction" if fmt != "openorca" else "question"])]
        elif kind == "wrong_type":
            row[field_] = r.choice([42, ["a", "list"], None, {"text": row[field_]}])
        elif kind == "empty_response":
            row[field_] = r.choice(["", "  ", "\n"])
        elif kind == "invalid_utf8":
            key = "instruction" if fmt != "openorca" else "question"
            row[key] = row[key] + " " + INVALID_UTF8_MARK
        elif kind == "overlong_record":
            row[field_] = (row[field_] + " ") * (overlong_chars // max(1, len(row[field_])) + 2)
    if kind == "broken_json":
        text = json.dumps(row, ensure_ascii=False)
        # one draw whatever the text's length (randrange's draw count varies with its range): the
        # rows after this one keep their draws when a defect changes this row's length
        lo, hi = len(text) // 3, len(text) - 1
        return text[: max(1, lo + int(r.random() * max(1, hi - lo)))]
    return row
