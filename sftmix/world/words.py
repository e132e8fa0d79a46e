"""Vocabulary of the world: fixed English word lists and seeded pseudo-words.

Content only (names, items, products, review phrases, the toy language's English side); category
names live in config.
"""

from __future__ import annotations

from random import Random

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
