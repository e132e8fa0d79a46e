"""Clean items: every category's template family over its resource, kept pairwise distinct."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..rng import rng
from .resources import Resource
from .templates import FAMILIES, Messages


@dataclass
class Item:
    """One generated example before it is written in a source format."""

    category: str
    messages: Messages
    facts: list[int]  # indices into the resource's facts
    # an instruction/input split for single-turn formats (alpaca, dolly): input may be ""
    instruction: str = ""
    input: str = ""


class _DistinctGuard:
    """Keeps generated originals pairwise distinct: Jaccard of character 5-grams < ``max_jaccard``.

    Templates filled with the same latent fact can come out nearly identical (same question,
    same answer); such accidental copies would be true near duplicates missing from the ground
    truth. Candidates come from a MinHash LSH index; the decision uses the exact Jaccard.
    """

    def __init__(self, max_jaccard: float = 0.7, seed: int = 1) -> None:
        from datasketch import MinHash, MinHashLSH

        from ..dedup import normalize_text, shingle_set

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
