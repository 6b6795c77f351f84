"""Edit-distance-1 spelling correction against the training vocabulary (SymSpell-style delete index).

Only words of 5+ letters that are unknown to the vocabulary and lexicons are corrected, and only to a
word seen in the training data; ties go to the more frequent word. Vowel-less chat abbreviations
(`kntr`, `almt`, `mnsk`) are expanded to the most frequent training word with the same consonants.
"""
from __future__ import annotations

from collections import Counter

MIN_LEN = 5
VOWELS = set("aeiou")


def skeleton(word: str) -> str:
    """First letter + the remaining consonants: kantor → kntr, alamat → almt."""
    return word[:1] + "".join(c for c in word[1:] if c not in VOWELS)


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


class SpellCorrector:
    def __init__(self, counts: Counter[str] | dict[str, int]) -> None:
        self.counts = {w: c for w, c in counts.items() if len(w) >= MIN_LEN - 1 and w.isalpha()}
        self.index: dict[str, list[str]] = {}
        for w in self.counts:
            for d in _deletes(w):
                self.index.setdefault(d, []).append(w)
        self.skeletons: dict[str, str] = {}
        for w, c in sorted(self.counts.items(), key=lambda wc: (-wc[1], wc[0])):
            self.skeletons.setdefault(skeleton(w), w)

    def expand(self, word: str) -> str:
        """`kntr` → `kantor` when the word has no vowel after its first letter."""
        if len(word) >= 3 and word.isalpha() and not (set(word[1:]) & VOWELS):
            return self.skeletons.get(word, word)
        return word

    def correct(self, word: str) -> str:
        if word in self.counts:
            return word
        expanded = self.expand(word)
        if expanded != word:
            return expanded
        if len(word) < MIN_LEN or not word.isalpha():
            return word
        candidates: set[str] = set(self.index.get(word, ()))  # one letter missing in `word`
        for d in _deletes(word):
            if d in self.counts:  # one letter too many
                candidates.add(d)
            candidates.update(c for c in self.index.get(d, ()) if len(c) == len(word))  # substitution/swap
        if not candidates:
            return word
        return max(candidates, key=lambda c: (self.counts[c], c))
