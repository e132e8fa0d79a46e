"""The embedded default's instruction world: a seeded generator with planted structure.

No machine here reaches a dataset hub, so the default run makes its own raw instruction
datasets, written the way real ones come (alpaca JSON, ShareGPT JSONL, Dolly JSONL,
OpenOrca JSONL), with what the pipeline must cope with planted on purpose:

* **categories** named like the paper's, each produced by a *template family* (the code below)
  over a *resource* (latent content: an arithmetic fact table, string-operation facts, a knowledge
  base, a toy-language lexicon). Names live in config; families are code.
* **planted dependencies**: a dependent category draws on a prerequisite's resource. The
  prerequisite's items drill ``facts_per_item`` facts each, the dependent's items use one fact
  each, and the resource is sized (``size``) so that the dependent's own training examples cover
  it only partly; its evaluation items then need facts it can only have learned from the
  prerequisite. Removing the prerequisite from training must therefore hurt the dependent, while
  removing the dependent barely touches the prerequisite (the asymmetry the taxonomy test needs).
* an **antagonistic pair**: two categories with the same kind of prompt and conflicting answer
  conventions (``positive``/``negative`` versus ``1``/``0`` on the same reviews).
* exact duplicates (verbatim, or differing only in case/whitespace), near duplicates (one or two
  small edits), and malformed rows (broken JSON, invalid UTF-8, missing or mistyped fields, empty
  responses, overlong records).
* a **ground truth** file (true category, planted edges, duplicate clusters, malformed kinds) that
  only tests and validation reports read, never the pipeline stages.

Everything is a pure function of the config and its seed: the same config gives the same bytes.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any

from .records import make_id
from .rng import rng

Messages = list[dict[str, str]]

# ---------------------------------------------------------------------------------------------
# Vocabulary: pseudo-words and fixed English word lists (content, not category names)
# ---------------------------------------------------------------------------------------------

_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gl",
           "kr", "pl", "st", "tr", "sh", "th", "ch"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou", "ei"]
_CODAS = ["", "", "n", "r", "l", "s", "m", "k", "th"]

FIRST_NAMES = ["Ava", "Ben", "Chloe", "Dario", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas",
               "Kira", "Liam", "Maya", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tara",
               "Umar", "Vera", "Wen", "Ximena", "Yusuf", "Zoe", "Aiko", "Bruno", "Cleo", "Dmitri"]
ITEMS = ["apples", "marbles", "stickers", "pencils", "cookies", "stamps", "shells", "coins",
         "books", "plums", "beads", "cards", "lemons", "candles", "tulips", "buttons"]
CONTAINERS = ["boxes", "bags", "baskets", "crates", "jars", "trays", "bins", "packs"]
PRODUCTS = ["blender", "backpack", "desk lamp", "rain jacket", "coffee grinder", "bike helmet",
            "phone case", "hiking boots", "kettle", "keyboard", "tent", "water bottle", "headphones",
            "office chair", "toaster", "yoga mat"]
ASPECTS = ["build quality", "price", "battery", "delivery", "design", "comfort", "sound",
           "customer service", "packaging", "durability", "size", "finish"]
POS_PHRASES = ["works perfectly", "exceeded my expectations", "is excellent", "feels sturdy",
               "was a pleasant surprise", "is worth every penny", "makes me happy",
               "is better than advertised", "holds up great", "is superb"]
NEG_PHRASES = ["broke after a week", "is a letdown", "feels cheap", "was a waste of money",
               "stopped working", "is worse than advertised", "disappointed me",
               "arrived damaged", "is flimsy", "is frustrating"]
EN_LEXICON_WORDS = ["cat", "dog", "river", "house", "tree", "child", "bird", "stone", "moon",
                    "ship", "road", "horse", "garden", "song", "window", "bread", "king", "girl",
                    "boy", "mountain", "fish", "lamp", "door", "letter", "sees", "likes", "finds",
                    "carries", "paints", "follows", "red", "old", "small", "happy", "green",
                    "quiet", "tall", "bright", "cold", "brave"]
FUNCTION_WORDS = {"the": "ka", "and": "ti"}  # the toy language's closed class
EN_NOUNS = EN_LEXICON_WORDS[:24]
EN_VERBS = EN_LEXICON_WORDS[24:30]
EN_ADJS = EN_LEXICON_WORDS[30:]
KB_ATTRIBUTES = ["capital", "currency", "national animal", "main export", "oldest river",
                 "founding hero"]
FACILITIES = ["factory", "research lab", "warehouse", "store", "data center", "training school"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
PROFESSIONS = ["architect", "botanist", "chemist", "engineer", "historian", "painter", "pilot",
               "surgeon", "teacher", "violinist"]


def pseudo_word(r: Random, syllables: tuple[int, int] = (2, 3)) -> str:
    n = r.randint(*syllables)
    return "".join(r.choice(_ONSETS) + r.choice(_VOWELS) + r.choice(_CODAS) for _ in range(n))


def unique_words(r: Random, n: int, syllables: tuple[int, int] = (2, 3), *,
                 exclude: set[str] | None = None) -> list[str]:
    seen: set[str] = set(exclude or ())
    out: list[str] = []
    while len(out) < n:
        w = pseudo_word(r, syllables)
        if w not in seen and len(w) >= 4:
            seen.add(w)
            out.append(w)
    return out


# ---------------------------------------------------------------------------------------------
# Resources: latent content with a finite list of facts
# ---------------------------------------------------------------------------------------------

@dataclass
class Resource:
    """Latent content: ``facts`` is a list of plain dicts; kind-specific extras in ``extra``."""

    name: str
    kind: str
    facts: list[dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)


def _caesar(word: str) -> str:
    return "".join(string.ascii_lowercase[(string.ascii_lowercase.index(c) + 1) % 26] for c in word)


STRING_OPS: dict[str, tuple[Callable[[str], str], str]] = {
    # op name: (function, python expression template over variable {v})
    "reverse": (lambda w: w[::-1], "{v}[::-1]"),
    "shift": (_caesar, "''.join(chr((ord(c) - 96) % 26 + 97) for c in {v})"),
    "sort": (lambda w: "".join(sorted(w)), "''.join(sorted({v}))"),
    "novowels": (lambda w: "".join(c for c in w if c not in "aeiou"),
                 "''.join(c for c in {v} if c not in 'aeiou')"),
}


def make_resource(name: str, spec: dict[str, Any], seed: int) -> Resource:
    """Build a resource of ``spec['kind']`` with ``spec['size']`` facts."""
    kind, size = spec["kind"], int(spec["size"])
    r = rng(seed, "resource", name)
    facts: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    if kind == "arithmetic":
        lo, hi = spec.get("operand_range", [2, 49])
        seen: set[tuple[int, str, int]] = set()
        while len(facts) < size:
            a, b, op = r.randint(lo, hi), r.randint(lo, hi), r.choice(["+", "-", "*"])
            if op == "-" and b > a:
                a, b = b, a
            if (a, op, b) in seen:
                continue
            seen.add((a, op, b))
            value = a + b if op == "+" else a - b if op == "-" else a * b
            facts.append({"a": a, "op": op, "b": b, "value": value})
    elif kind == "strings":
        words = unique_words(r, max(4, size // len(STRING_OPS) + 1), (2, 2))
        pairs = [(w, op) for w in words for op in STRING_OPS]
        r.shuffle(pairs)
        for w, op in pairs[:size]:
            facts.append({"word": w, "op": op, "value": STRING_OPS[op][0](w)})
    elif kind == "kb":
        n_entities = max(2, -(-size // len(KB_ATTRIBUTES)))
        entities = [w.capitalize() for w in unique_words(r, n_entities, (2, 3))]
        values = [w.capitalize() for w in unique_words(r, size, (2, 2), exclude=set(entities))]
        slots = [(e, a) for e in entities for a in KB_ATTRIBUTES]
        r.shuffle(slots)
        for (e, a), v in zip(slots[:size], values, strict=False):
            facts.append({"entity": e, "attribute": a, "value": v})
        extra["entities"] = sorted({f["entity"] for f in facts})
    elif kind == "lexicon":
        words = EN_LEXICON_WORDS[: max(1, min(size, len(EN_LEXICON_WORDS)))]
        toy = unique_words(r, len(words), (1, 2))
        facts = [{"en": e, "toy": t} for e, t in zip(words, toy, strict=True)]
        extra["language"] = spec.get("language_name") or pseudo_word(r, (2, 2)).capitalize() + "ish"
    elif kind == "none":
        facts = []
    else:
        raise ValueError(f"world.resources.{name}.kind: unknown resource kind {kind!r}")
    return Resource(name=name, kind=kind, facts=facts, extra=extra)


# ---------------------------------------------------------------------------------------------
# Template families: (rng, resource, fact indices) -> messages
# ---------------------------------------------------------------------------------------------

@dataclass
class Item:
    """One generated example before it is written in a source format."""

    category: str
    messages: Messages
    facts: list[int]  # indices into the resource's facts
    # an instruction/input split for single-turn formats (alpaca, dolly): input may be ""
    instruction: str = ""
    input: str = ""


def _single(instruction: str, inp: str, output: str) -> tuple[Messages, str, str]:
    user = instruction if not inp else f"{instruction}\n\n{inp}"
    return [{"role": "user", "content": user}, {"role": "assistant", "content": output}], instruction, inp


def _expr(f: dict[str, Any]) -> str:
    return f"{f['a']} {f['op']} {f['b']}"


def fam_arithmetic(r: Random, res: Resource, idx: list[int]) -> tuple[Messages, str, str]:
    instr = r.choice(["Calculate each of the following expressions.", "Compute these values.",
                      "Work out the result of every expression below.",
                      "Evaluate the following arithmetic expressions.",
                      "Solve each calculation and show the result."])
    facts = [res.facts[i] for i in idx]
    inp = "\n".join(_expr(f) for f in facts)
    out = "\n".join(f"{_expr(f)} = {f['value']}" for f in facts)
    return _single(instr, inp, out)


def fam_word_problem(r: Random, res: Resource, idx: list[int]) -> tuple[Messages, str, str]:
    f = res.facts[idx[0]]
    name, item = r.choice(FIRST_NAMES), r.choice(ITEMS)
    a, b, v = f["a"], f["b"], f["value"]
    if f["op"] == "*":
        cont = r.choice(CONTAINERS)
        q = r.choice([
            f"{name} has {a} {cont} with {b} {item} in each. How many {item} does {name} have in total?",
            f"{name} sees {a} {cont} on the shelf and every one holds {b} {item}. How many {item} does {name} see?",
            f"{name} packs {b} {item} into each of {a} {cont}. How many {item} are packed altogether?"])
        tail = f"So there are {v} {item}."
    elif f["op"] == "+":
        q = r.choice([
            f"{name} collected {a} {item} on Monday and {b} {item} on Tuesday. How many {item} did {name} collect?",
            f"{name}'s shop sold {a} {item} before noon and {b} {item} after noon. How many {item} were sold that day?",
            f"{name} had {a} {item} and received {b} more. How many {item} does {name} have now?"])
        tail = f"The total is {v} {item}."
    else:
        q = r.choice([
            f"{name} had {a} {item} and gave away {b} of them. How many {item} are left?",
            f"A basket held {a} {item}. {name} took out {b}. How many {item} remain in {name}'s basket?",
            f"{name} needs {a} {item} and already has {b}. How many more {item} does {name} need?"])
        tail = f"The answer is {v} {item}."
    town = pseudo_word(r, (2, 3)).capitalize()
    intro = r.choice([f"{name} lives in {town}.", f"This happened in {town} last {r.choice(MONTHS)}.",
                      f"{name} is {r.randint(7, 70)} years old.", f"It was market day in {town}."])
    return _single(f"{intro} {q}", "", f"{_expr(f)} = {v}. {tail}")


def fam_string_ops(r: Random, res: Resource, idx: list[int]) -> tuple[Messages, str, str]:
    instr = r.choice(["Apply each string operation and give the result.",
                      "Perform the following string transformations.",
                      "What does each of these string functions return?",
                      "Process the strings below as indicated."])
    facts = [res.facts[i] for i in idx]
    inp = "\n".join(f'{f["op"]}("{f["word"]}")' for f in facts)
    out = "\n".join(f'{f["op"]}("{f["word"]}") = "{f["value"]}"' for f in facts)
    return _single(instr, inp, out)


def fam_python_exec(r: Random, res: Resource, idx: list[int]) -> tuple[Messages, str, str]:
    f = res.facts[idx[0]]
    var = r.choice(["s", "word", "text", "name", "token", "value", "item", "w"])
    other = r.choice(["count", "total", "flag", "limit", "size", "step"])
    expr = STRING_OPS[f["op"]][1].format(v=var)
    lines = [f'{var} = "{f["word"]}"']
    extra = f"{other} = {r.randint(2, 999)}"  # a distractor line: keeps programs distinct
    lines.insert(r.randrange(2), extra)
    lines.append(f"result = {expr}")
    lines.append("print(result)")
    q = r.choice(["What does this Python program print?", "What is the output of the following Python code?",
                  "Run this Python snippet in your head and tell me what it prints.",
                  "Predict the output of this Python script."])
    code = "```python\n" + "\n".join(lines) + "\n```"
    # The explanation names the operation in the string-processing drills' own notation, as a
    # worked answer would: the value is what those drills teach (the planted dependency).
    step = f'{f["op"]}("{f["word"]}") = "{f["value"]}"'
    ans = r.choice([f"The code computes {step}, so it prints {f['value']}",
                    f"Here {step}. Output: {f['value']}",
                    f"Step by step: {step}. It prints {f['value']}"])
    return _single(q, code, ans)


def _kb_question(f: dict[str, Any], r: Random | None = None) -> str:
    forms = ["What is the {a} of {e}?", "Which is the {a} of {e}?", "Name the {a} of {e}.",
             "Do you know the {a} of {e}?", "Tell me the {a} of {e}."]
    form = r.choice(forms) if r is not None else forms[0]
    return form.format(a=f["attribute"], e=f["entity"])


def _kb_answer(f: dict[str, Any]) -> str:
    return f"The {f['attribute']} of {f['entity']} is {f['value']}."


def fam_kb_qa(r: Random, res: Resource, idx: list[int]) -> tuple[Messages, str, str]:
    facts = [res.facts[i] for i in idx]
    instr = r.choice(["Answer the following questions about the world.",
                      "Please answer these general knowledge questions.",
                      "Respond to each question with a full sentence.",
                      "Here are some trivia questions. Answer them."])
    inp = "\n".join(f"{k + 1}. {_kb_question(f, r)}" for k, f in enumerate(facts))
    out = "\n".join(f"{k + 1}. {_kb_answer(f)}" for k, f in enumerate(facts))
    return _single(instr, inp, out)


def fam_dialogue(r: Random, res: Resource, idx: list[int]) -> tuple[Messages, str, str]:
    f = res.facts[idx[0]]
    e = f["entity"]
    friend = r.choice(FIRST_NAMES)
    opener = r.choice([f"Hi! I am planning a trip to {e} with {friend} next {r.choice(MONTHS)}.",
                       f"Hello there! My friend {friend} just moved to {e} and I miss chatting with them.",
                       f"Hey! How are you today? {friend} and I want to chat about {e} for a school project.",
                       f"Good morning! {friend} keeps talking about {e} since {r.choice(MONTHS)}, so I wanted to chat."])
    reply1 = r.choice(["How exciting!", "How nice!", "Happy to help.", "Sure, ask away."])
    ask = r.choice([f"Can you tell me what its {f['attribute']} is?",
                    f"By the way, what is the {f['attribute']} there?",
                    f"Do you know the {f['attribute']} of {e}?"])
    # Two exchanges: small talk, then the question whose answer needs the latent fact. The small
    # talk reply is short so the fact is a real share of the scored response tokens (a long chat
    # dilutes the effect: with a one-sentence reply the fact was ~1/10 of them and the planted
    # QA -> Dialogue edge sank into seed noise on the default).
    msgs = [{"role": "user", "content": opener}, {"role": "assistant", "content": reply1},
            {"role": "user", "content": ask}, {"role": "assistant", "content": _kb_answer(f)}]
    return msgs, opener, ""


def fam_translation(r: Random, res: Resource, idx: list[int]) -> tuple[Messages, str, str]:
    lex = {f["en"]: f["toy"] for f in res.facts}
    lang = res.extra["language"]
    nouns = [w for w in EN_NOUNS if w in lex] or list(lex)
    verbs = [w for w in EN_VERBS if w in lex] or list(lex)
    adjs = [w for w in EN_ADJS if w in lex] or list(lex)
    def clause() -> list[str]:
        if r.random() < 0.5:
            return ["the", r.choice(nouns), r.choice(verbs), "the", r.choice(nouns)]
        return ["the", r.choice(adjs), r.choice(nouns), r.choice(verbs), "the", r.choice(adjs),
                r.choice(nouns)]

    words = clause() + ["and"] + clause()
    src = " ".join(words)
    toy = " ".join(lex.get(w, FUNCTION_WORDS.get(w, w)) for w in words)
    instr = r.choice([f"Translate the following sentence into {lang}.",
                      f"How do you say this in {lang}?",
                      f"Render this English sentence in {lang}.",
                      f"Give the {lang} translation of the sentence below."])
    return _single(instr, src.capitalize() + ".", toy.capitalize() + ".")


def _review(r: Random) -> tuple[str, bool]:
    positive = r.random() < 0.5
    prod = r.choice(PRODUCTS)
    main = r.sample(POS_PHRASES if positive else NEG_PHRASES, 2)
    aspects = r.sample(ASPECTS, 2)
    minor = r.choice(NEG_PHRASES if positive else POS_PHRASES)
    text = (f"I bought this {prod} {r.choice(['last week', 'a month ago', 'in spring', 'for my sister', 'on sale'])}. "
            f"The {aspects[0]} {main[0]} and overall it {main[1]}. "
            f"Only the {aspects[1]} {minor}, but that is a small point.")
    return text, positive


def fam_sentiment(r: Random, res: Resource, idx: list[int]) -> tuple[Messages, str, str]:
    text, pos = _review(r)
    instr = r.choice(["Determine the sentiment of the following product review.",
                      "What is the sentiment of this review: positive or negative?",
                      "Analyze the sentiment expressed in the review below."])
    return _single(instr, text, "positive" if pos else "negative")


def fam_binary_label(r: Random, res: Resource, idx: list[int]) -> tuple[Messages, str, str]:
    """Same reviews as ``fam_sentiment`` but the conflicting 1/0 label convention (antagonism)."""
    text, pos = _review(r)
    instr = r.choice(["Classify the following product review with a binary label.",
                      "Assign a class label to the review below.",
                      "Label this review for the classifier dataset."])
    return _single(instr, text, "1" if pos else "0")


def fam_extraction(r: Random, res: Resource, idx: list[int]) -> tuple[Messages, str, str]:
    person = f"{r.choice(FIRST_NAMES)} {pseudo_word(r, (2, 2)).capitalize()}"
    city = pseudo_word(r, (2, 3)).capitalize()
    day, month, year = r.randint(1, 28), r.choice(MONTHS), r.randint(1901, 2019)
    prof = r.choice(PROFESSIONS)
    text = (f"{person} was born on {day} {month} {year} in the town of {city}. "
            f"After years of study, {person.split()[0]} became a well known {prof}. "
            f"{r.choice(['Friends', 'Colleagues', 'Neighbours'])} describe {person.split()[0]} as "
            f"{r.choice(['patient', 'curious', 'generous', 'stubborn', 'cheerful'])}.")
    fields = r.sample(["name", "birth date", "birthplace", "profession"], 2)
    values = {"name": person, "birth date": f"{day} {month} {year}", "birthplace": city,
              "profession": prof}
    instr = (f"Extract the {fields[0]} and the {fields[1]} from the text "
             f"{r.choice(['below', 'that follows', 'given here'])}.")
    out = "\n".join(f"{k.capitalize()}: {values[k]}" for k in fields)
    return _single(instr, text, out)


def fam_summarization(r: Random, res: Resource, idx: list[int]) -> tuple[Messages, str, str]:
    company = pseudo_word(r, (2, 3)).capitalize() + r.choice([" Labs", " Group", " Works", " Systems"])
    city = pseudo_word(r, (2, 3)).capitalize()
    fac, jobs = r.choice(FACILITIES), r.randint(2, 95) * 10
    month = r.choice(MONTHS)
    text = (f"On a {r.choice(['rainy', 'sunny', 'cold', 'busy'])} morning in {month}, {company} "
            f"announced plans for a new {fac} in {city}. The company said the project would create "
            f"about {jobs} jobs over the next {r.randint(2, 6)} years. Local officials welcomed the "
            f"news, and {r.choice(FIRST_NAMES)}, a {r.choice(PROFESSIONS)} from {city}, said it was "
            f"{r.choice(['long overdue', 'a turning point', 'great for families', 'a surprise'])}.")
    instr = r.choice(["Summarize the following news paragraph in one sentence.",
                      "Write a one-sentence summary of this text.",
                      "Give a short summary of the passage below."])
    return _single(instr, text, f"{company} plans a new {fac} in {city} that will create about {jobs} jobs.")


FAMILIES: dict[str, Callable[[Random, Resource, list[int]], tuple[Messages, str, str]]] = {
    "arithmetic": fam_arithmetic,
    "word_problem": fam_word_problem,
    "string_ops": fam_string_ops,
    "python_exec": fam_python_exec,
    "kb_qa": fam_kb_qa,
    "dialogue": fam_dialogue,
    "translation": fam_translation,
    "sentiment": fam_sentiment,
    "binary_label": fam_binary_label,
    "extraction": fam_extraction,
    "summarization": fam_summarization,
}
# Families that need several turns, so only conversation formats can carry them.
MULTI_TURN_FAMILIES = {"dialogue"}
# Resource kind each family reads (None: the family needs no resource).
FAMILY_RESOURCE_KIND = {"arithmetic": "arithmetic", "word_problem": "arithmetic",
                        "string_ops": "strings", "python_exec": "strings", "kb_qa": "kb",
                        "dialogue": "kb", "translation": "lexicon", "sentiment": None,
                        "binary_label": None, "extraction": None, "summarization": None}


# ---------------------------------------------------------------------------------------------
# Source formats
# ---------------------------------------------------------------------------------------------

FORMAT_EXT = {"alpaca": "json", "sharegpt": "jsonl", "dolly": "jsonl", "openorca": "jsonl"}
_ROLE_TO_SHAREGPT = {"user": "human", "assistant": "gpt", "system": "system"}


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


# ---------------------------------------------------------------------------------------------
# Duplicates and malformed rows
# ---------------------------------------------------------------------------------------------

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
INVALID_UTF8_MARK = "\u0000INVALID_UTF8\u0000"


def malform(kind: str, fmt: str, row: dict[str, Any], r: Random, overlong_chars: int) -> dict[str, Any] | str:
    """Corrupt a raw row. Returns a dict (still JSON) or, for broken_json, the broken line text.

    Invalid UTF-8 is written as a marker that ``write_source`` turns into raw invalid bytes.
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
        return text[: max(1, r.randrange(len(text) // 3, len(text) - 1))]
    return row


# ---------------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------------

@dataclass
class RawRow:
    source: str
    payload: dict[str, Any] | str  # str: a broken JSON line
    truth: dict[str, Any]


def _validate_world(cfg: dict[str, Any]) -> None:
    cats = cfg["categories"]
    res = cfg.get("resources", {})
    for name, c in cats.items():
        fam = c["template"]
        if fam not in FAMILIES:
            raise ValueError(f"world.categories.{name}.template: unknown template {fam!r}; "
                             f"choose from {sorted(FAMILIES)}")
        kind = FAMILY_RESOURCE_KIND[fam]
        if kind is not None:
            rname = c.get("resource")
            if rname not in res:
                raise ValueError(f"world.categories.{name}.resource: template {fam!r} needs a "
                                 f"resource of kind {kind!r}; {rname!r} is not in world.resources")
            if res[rname]["kind"] != kind:
                raise ValueError(f"world.categories.{name}.resource: {rname!r} is of kind "
                                 f"{res[rname]['kind']!r}, template {fam!r} needs {kind!r}")
    for k, e in enumerate(cfg.get("dependencies", [])):
        for role in ("prerequisite", "dependent"):
            if e[role] not in cats:
                raise ValueError(f"world.dependencies[{k}].{role}: unknown category {e[role]!r}")
        if cats[e["prerequisite"]].get("resource") != cats[e["dependent"]].get("resource"):
            raise ValueError(f"world.dependencies[{k}]: a planted dependency is carried by a shared "
                             f"resource; give {e['prerequisite']!r} and {e['dependent']!r} the same "
                             f"world.categories.*.resource")
    for k, pair in enumerate(cfg.get("antagonistic", [])):
        for c in pair:
            if c not in cats:
                raise ValueError(f"world.antagonistic[{k}]: unknown category {c!r}")
    multi = [s for s, sc in cfg["sources"].items() if sc["format"] == "sharegpt"]
    for name, c in cats.items():
        if c["template"] in MULTI_TURN_FAMILIES and not multi:
            raise ValueError(f"world.categories.{name}: multi-turn template needs a sharegpt source "
                             f"in world.sources")


def build_resources(cfg: dict[str, Any], seed: int) -> dict[str, Resource]:
    return {n: make_resource(n, s, seed) for n, s in sorted(cfg.get("resources", {}).items())}


class _DistinctGuard:
    """Keeps generated originals pairwise distinct: Jaccard of character 5-grams < ``max_jaccard``.

    Templates filled with the same latent fact can come out nearly identical (same question,
    same answer); such accidental copies would be true near duplicates missing from the ground
    truth. Candidates come from a MinHash LSH index; the decision uses the exact Jaccard.
    """

    def __init__(self, max_jaccard: float = 0.7, seed: int = 1) -> None:
        from datasketch import MinHash, MinHashLSH

        from .dedup import normalize_text, shingle_set

        self._minhash, self._norm, self._shingles = MinHash, normalize_text, shingle_set
        self.max_jaccard, self.seed = max_jaccard, seed
        self.lsh = MinHashLSH(threshold=max_jaccard - 0.1, num_perm=64)
        self.sets: list[set[str]] = []

    def _prepare(self, msgs: Messages) -> tuple[set[str], object]:
        text = self._norm("\n".join(m["content"] for m in msgs if m["role"] != "system"))
        sh = self._shingles(text, "char", 5)
        m = self._minhash(num_perm=64, seed=self.seed)
        m.update_batch([x.encode("utf-8") for x in sh])
        return sh, m

    def admit(self, msgs: Messages) -> bool:
        """Record ``msgs`` and return True unless it is too close to an admitted item."""
        sh, m = self._prepare(msgs)
        for key in self.lsh.query(m):
            other = self.sets[key]
            if len(sh & other) / len(sh | other) >= self.max_jaccard:
                return False
        self.lsh.insert(len(self.sets), m, check_duplication=False)
        self.sets.append(sh)
        return True


def generate_items(cfg: dict[str, Any], seed: int, resources: dict[str, Resource]) -> list[Item]:
    """Generate ``n_per_category`` clean items per category (category order = config order).

    A category with ``facts_per_item`` k > 1 drills k distinct facts per item and cycles through its
    resource in shuffled passes (full coverage); one with k = 1 draws a fact uniformly at random,
    so a small training set covers only part of a large resource.
    """
    items: list[Item] = []
    guard = _DistinctGuard(seed=seed)
    retries: dict[str, int] = {}
    n = int(cfg["n_per_category"])
    for cat, c in cfg["categories"].items():
        r = rng(seed, "items", cat)
        fam = FAMILIES[c["template"]]
        res = resources.get(c.get("resource", ""), Resource("none", "none", []))
        k = int(c.get("facts_per_item", 1))
        order: list[int] = []
        for _ in range(n):
            idx: list[int] = []
            if res.facts:
                if k > 1:
                    while len(idx) < k:
                        if not order:
                            order = list(range(len(res.facts)))
                            r.shuffle(order)
                        i = order.pop()
                        if i not in idx:
                            idx.append(i)
            for attempt in range(100):  # originals must be distinct: no accidental duplicates
                if res.facts and (k == 1 or attempt >= 10):
                    idx = r.sample(range(len(res.facts)), min(k, len(res.facts)))
                msgs, instr, inp = fam(r, res, idx)
                if guard.admit(msgs):
                    break
            else:
                raise ValueError(f"world.categories.{cat}: cannot generate {n} distinct items; "
                                 f"enlarge its resource or lower world.n_per_category")
            retries[cat] = retries.get(cat, 0) + attempt
            items.append(Item(category=cat, messages=msgs, facts=idx, instruction=instr, input=inp))
    return items


def generate_world(cfg: dict[str, Any], seed: int) -> tuple[dict[str, list[RawRow]], dict[str, Any]]:
    """Generate every raw source of the world plus its ground truth.

    ``cfg`` is the ``world`` section of the config. Returns ``(rows_by_source, ground_truth)``;
    canonical ids in the ground truth are ``make_id(source, row_index)``, which is what ingest gives
    the same rows.
    """
    _validate_world(cfg)
    resources = build_resources(cfg, seed)
    items = generate_items(cfg, seed, resources)
    sources = cfg["sources"]
    names = list(sources)
    weights = [float(sources[s].get("weight", 1.0)) for s in names]
    multi_ok = [s for s in names if sources[s]["format"] == "sharegpt"]
    r = rng(seed, "assign")

    # (source, messages, instruction, input, truth) before shuffling rows within each source
    staged: dict[str, list[tuple[Messages, str, str, dict[str, Any]]]] = {s: [] for s in names}
    originals: list[tuple[str, int]] = []  # (source, position in staged list)
    for n_item, it in enumerate(items):
        fam = cfg["categories"][it.category]["template"]
        src = r.choice(multi_ok) if fam in MULTI_TURN_FAMILIES else r.choices(names, weights)[0]
        truth = {"category": it.category, "kind": "original", "item": n_item, "facts": it.facts,
                 "duplicate_of_item": None, "malformed": None}
        staged[src].append((it.messages, it.instruction, it.input, truth))
        originals.append((src, len(staged[src]) - 1))

    dup = cfg.get("duplicates", {})
    n_items = len(items)
    rd = rng(seed, "duplicates")
    for kind, rate in (("exact_duplicate", dup.get("exact_rate", 0.0)), ("near_duplicate", dup.get("near_rate", 0.0))):
        for _ in range(int(round(rate * n_items))):
            n_item = rd.randrange(n_items)
            it = items[n_item]
            fam = cfg["categories"][it.category]["template"]
            msgs = exact_variant(rd, it.messages) if kind == "exact_duplicate" else near_variant(rd, it.messages)
            instr, inp = it.instruction, it.input
            if len(msgs) == 2:  # keep instruction/input consistent with the edited user turn
                instr, inp = msgs[0]["content"], ""
            src = rd.choice(multi_ok) if fam in MULTI_TURN_FAMILIES else rd.choices(names, weights)[0]
            truth = {"category": it.category, "kind": kind, "item": n_item, "facts": it.facts,
                     "duplicate_of_item": n_item, "malformed": None}
            staged[src].append((msgs, instr, inp, truth))

    # shuffle within each source, render rows, then corrupt some
    mal = cfg.get("malformed", {})
    mal_rate = float(mal.get("rate", 0.0))
    overlong = int(mal.get("overlong_chars", 40000))
    rows_by_source: dict[str, list[RawRow]] = {}
    item_to_ids: dict[int, list[str]] = {}
    truth_records: dict[str, dict[str, Any]] = {}
    for s in names:
        fmt = sources[s]["format"]
        rs = rng(seed, "source", s)
        order = list(range(len(staged[s])))
        rs.shuffle(order)
        rows: list[RawRow] = []
        kinds = MALFORMED_KINDS_JSON if FORMAT_EXT[fmt] == "json" else MALFORMED_KINDS_JSONL
        for pos, k in enumerate(order):
            msgs, instr, inp, truth = staged[s][k]
            truth = dict(truth)
            rid = make_id(s, pos)
            payload: dict[str, Any] | str = to_format(fmt, msgs, instr, inp, rs, f"{s}_{pos}")
            if truth["kind"] == "original" and rs.random() < mal_rate:
                mk = rs.choice(kinds)
                payload = malform(mk, fmt, payload, rs, overlong)
                truth["malformed"] = mk
            rows.append(RawRow(s, payload, truth))
            truth_records[rid] = truth
            item_to_ids.setdefault(truth["item"], []).append(rid)
        rows_by_source[s] = rows

    # duplicate clusters in canonical ids: cluster = all rows carrying the same item
    clusters = [sorted(ids) for _, ids in sorted(item_to_ids.items()) if len(ids) > 1]
    for t in truth_records.values():
        t["cluster"] = None
    for ci, ids in enumerate(clusters):
        for rid in ids:
            truth_records[rid]["cluster"] = ci

    ground_truth = {
        "seed": seed,
        "categories": {c: {"template": v["template"], "resource": v.get("resource")}
                       for c, v in cfg["categories"].items()},
        "edges": [{"prerequisite": e["prerequisite"], "dependent": e["dependent"],
                   "resource": cfg["categories"][e["dependent"]].get("resource")}
                  for e in cfg.get("dependencies", [])],
        "antagonistic": [list(p) for p in cfg.get("antagonistic", [])],
        "resources": {n: {"kind": res.kind, "n_facts": len(res.facts), "extra": res.extra}
                      for n, res in resources.items()},
        "n_items": n_items,
        "duplicate_clusters": clusters,
        "records": truth_records,
    }
    return rows_by_source, ground_truth


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


def resource_facts_text(res: Resource) -> list[str]:
    """Human-readable facts of a resource (for reports and for building probes)."""
    out = []
    for f in res.facts:
        if res.kind == "arithmetic":
            out.append(f"{_expr(f)} = {f['value']}")
        elif res.kind == "strings":
            out.append(f'{f["op"]}("{f["word"]}") = "{f["value"]}"')
        elif res.kind == "kb":
            out.append(_kb_answer(f))
        elif res.kind == "lexicon":
            out.append(f"{f['en']} = {f['toy']}")
    return out
