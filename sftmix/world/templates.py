"""Template families: (rng, resource, fact indices) -> messages.

Each family turns facts of a resource (or none) into one instruction/response example and returns
``(messages, instruction, input)``: the chat turns plus an instruction/input split for the
single-turn formats. ``FAMILIES`` names them for config; ``FAMILY_RESOURCE_KIND`` and
``MULTI_TURN_FAMILIES`` say what each needs.
"""

from __future__ import annotations

from collections.abc import Callable
from random import Random
from typing import Any

from .resources import STRING_OPS, Resource, fact_expr, kb_answer, string_fact
from .words import (
    ASPECTS,
    CONTAINERS,
    EN_ADJS,
    EN_NOUNS,
    EN_VERBS,
    FACILITIES,
    FIRST_NAMES,
    FUNCTION_WORDS,
    ITEMS,
    MONTHS,
    NEG_PHRASES,
    POS_PHRASES,
    PRODUCTS,
    PROFESSIONS,
    pseudo_word,
)

Messages = list[dict[str, str]]

# The label families' answers, (positive, negative): the antagonistic pair's conflicting conventions.
LABELS: dict[str, tuple[str, str]] = {"sentiment": ("positive", "negative"), "binary_label": ("1", "0")}


def _single(instruction: str, inp: str, output: str) -> tuple[Messages, str, str]:
    user = instruction if not inp else f"{instruction}\n\n{inp}"
    return [{"role": "user", "content": user}, {"role": "assistant", "content": output}], instruction, inp


def fam_arithmetic(r: Random, res: Resource, idx: list[int]) -> tuple[Messages, str, str]:
    instr = r.choice(["Calculate each of the following expressions.", "Compute these values.",
                      "Work out the result of every expression below.",
                      "Evaluate the following arithmetic expressions.",
                      "Solve each calculation and show the result."])
    facts = [res.facts[i] for i in idx]
    inp = "\n".join(fact_expr(f) for f in facts)
    out = "\n".join(f"{fact_expr(f)} = {f['value']}" for f in facts)
    return _single(instr, inp, out)


def fam_word_problem(r: Random, res: Resource, idx: list[int]) -> tuple[Messages, str, str]:
    f = res.facts[idx[0]]
    name, item = r.choice(FIRST_NAMES), r.choice(ITEMS)
    a, b, v = f["a"], f["b"], f["value"]
    # The closing sentence stays off the knowledge-base answer frame ("<n>. The <attribute> of <entity>
    # is <value>.", kb_answer): word problems once ended in "... = 43. The total is 43 stamps." /
    # "The answer is ...", the only responses outside the kb families with that frame's n-grams
    # ("3. The", ". The", "The ... is"), which coupled Math Word Problems to Open-Domain QA with no
    # planted edge. The tails draw nothing from r: the item streams are unchanged.
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
        tail = f"That makes {v} {item} in total."
    else:
        q = r.choice([
            f"{name} had {a} {item} and gave away {b} of them. How many {item} are left?",
            f"A basket held {a} {item}. {name} took out {b}. How many {item} remain in {name}'s basket?",
            f"{name} needs {a} {item} and already has {b}. How many more {item} does {name} need?"])
        tail = f"That leaves {v} {item}."
    town = pseudo_word(r, (2, 3)).capitalize()
    intro = r.choice([f"{name} lives in {town}.", f"This happened in {town} last {r.choice(MONTHS)}.",
                      f"{name} is {r.randint(7, 70)} years old.", f"It was market day in {town}."])
    return _single(f"{intro} {q}", "", f"{fact_expr(f)} = {v}. {tail}")


def fam_string_ops(r: Random, res: Resource, idx: list[int]) -> tuple[Messages, str, str]:
    instr = r.choice(["Apply each string operation and give the result.",
                      "Perform the following string transformations.",
                      "What does each of these string functions return?",
                      "Process the strings below as indicated."])
    facts = [res.facts[i] for i in idx]
    inp = "\n".join(f'{f["op"]}("{f["word"]}")' for f in facts)
    out = "\n".join(string_fact(f) for f in facts)
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
    step = string_fact(f)
    ans = r.choice([f"The code computes {step}, so it prints {f['value']}",
                    f"Here {step}. Output: {f['value']}",
                    f"Step by step: {step}. It prints {f['value']}"])
    return _single(q, code, ans)


def _kb_question(f: dict[str, Any], r: Random | None = None) -> str:
    forms = ["What is the {a} of {e}?", "Which is the {a} of {e}?", "Name the {a} of {e}.",
             "Do you know the {a} of {e}?", "Tell me the {a} of {e}."]
    form = r.choice(forms) if r is not None else forms[0]
    return form.format(a=f["attribute"], e=f["entity"])


def fam_kb_qa(r: Random, res: Resource, idx: list[int]) -> tuple[Messages, str, str]:
    facts = [res.facts[i] for i in idx]
    instr = r.choice(["Answer the following questions about the world.",
                      "Please answer these general knowledge questions.",
                      "Respond to each question with a full sentence.",
                      "Here are some trivia questions. Answer them."])
    inp = "\n".join(f"{k + 1}. {_kb_question(f, r)}" for k, f in enumerate(facts))
    out = "\n".join(f"{k + 1}. {kb_answer(f)}" for k, f in enumerate(facts))
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
            {"role": "user", "content": ask}, {"role": "assistant", "content": kb_answer(f)}]
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


def _labelled_review(r: Random, instructions: list[str], labels: tuple[str, str]) -> tuple[Messages, str, str]:
    """A review (``_review``) under one of ``instructions``, answered ``labels`` (positive, negative)."""
    text, pos = _review(r)
    instr = r.choice(instructions)
    return _single(instr, text, labels[0] if pos else labels[1])


def fam_sentiment(r: Random, res: Resource, idx: list[int]) -> tuple[Messages, str, str]:
    return _labelled_review(r, ["Determine the sentiment of the following product review.",
                                "What is the sentiment of this review: positive or negative?",
                                "Analyze the sentiment expressed in the review below."],
                            LABELS["sentiment"])


def fam_binary_label(r: Random, res: Resource, idx: list[int]) -> tuple[Messages, str, str]:
    """Same reviews as ``fam_sentiment`` but the conflicting 1/0 label convention (antagonism)."""
    return _labelled_review(r, ["Classify the following product review with a binary label.",
                                "Assign a class label to the review below.",
                                "Label this review for the classifier dataset."], LABELS["binary_label"])


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
