"""Load the editable word lexicons in nlu/data/lexicons/ (plain TSV / word lists)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


PLACEHOLDER_WORDS = {"nomorporsi", "nomornik", "nomorhp", "kodetiket", "tanggalx"}


@dataclass
class Lexicons:
    """Word mappings (may be multi-word keys), protected words, known vocabulary and emoji words."""

    mapping: dict[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict)
    protected: set[str] = field(default_factory=set)
    vocabulary: set[str] = field(default_factory=set)
    emoji: dict[str, str] = field(default_factory=dict)
    domain: set[str] = field(default_factory=set)
    off_topic: set[tuple[str, ...]] = field(default_factory=set)
    weak_domain: set[str] = field(default_factory=set)
    joiners: list[tuple[tuple[str, ...], bool]] = field(default_factory=list)  # (words, only before a question word)
    question_words: set[str] = field(default_factory=set)

    def is_off_topic_text(self, normalized: str) -> bool:
        """True if the message names another topic (off_topic_words.txt) and has no strong Hajj word
        (a domain word that is not in weak_domain_words.txt, or shares its first 5 letters with one)."""
        words = normalized.split()
        if not self.off_topic or not self._names_off_topic(words):
            return False
        strong = self.__dict__.get("_strong")
        if strong is None:
            strong = self.domain - self.weak_domain
            prefixes = {w[:5] for w in strong if len(w) >= 5 and w not in PLACEHOLDER_WORDS}
            strong = (strong, prefixes)
            self.__dict__["_strong"] = strong
        return not any(t in strong[0] or (len(t) >= 5 and t[:5] in strong[1] and t not in self.weak_domain)
                       for t in words)

    def joiners_starting(self, word: str) -> list[tuple[tuple[str, ...], bool]]:
        """The joiners (longest first) whose first word is `word`."""
        index = self.__dict__.get("_joiner_first")
        if index is None:
            index = {}
            for joiner in self.joiners:
                index.setdefault(joiner[0][0], []).append(joiner)
            self.__dict__["_joiner_first"] = index
        return index.get(word, [])

    def _names_off_topic(self, words: list[str]) -> bool:
        by_first = self.__dict__.get("_off_first")
        if by_first is None:
            by_first = {}
            for phrase in self.off_topic:
                by_first.setdefault(phrase[0], []).append(phrase)
            self.__dict__["_off_first"] = by_first
        for i, word in enumerate(words):
            for phrase in by_first.get(word, ()):
                if tuple(words[i:i + len(phrase)]) == phrase:
                    return True
        return False

    def is_domain_text(self, normalized: str) -> bool:
        """True if any word is a Hajj-domain word (or shares its first 5 letters with one)."""
        prefixes = self._domain_prefixes()
        return any(t in self.domain or (len(t) >= 5 and t[:5] in prefixes) for t in normalized.split())

    def _domain_prefixes(self) -> set[str]:
        cached = self.__dict__.get("_prefixes")
        if cached is None:
            cached = {w[:5] for w in self.domain if len(w) >= 5 and w not in PLACEHOLDER_WORDS}
            self.__dict__["_prefixes"] = cached
        return cached

    @property
    def max_key_len(self) -> int:
        return max((len(k) for k in self.mapping), default=1)


def _rows(path: Path) -> list[list[str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        rows.append(line.split("\t"))
    return rows


def _words(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {r[0].strip().lower() for r in _rows(path) if r and r[0].strip()}


def load_lexicons(directory: Path) -> Lexicons:
    """Mapping files `NN_name.tsv` load in name order; a later file overrides an earlier one."""
    lex = Lexicons()
    lex.protected = _words(directory / "protected.txt")
    lex.vocabulary = _words(directory / "indonesian_words.txt")
    lex.domain = _words(directory / "domain_words.txt")
    lex.off_topic = {tuple(w.split()) for w in _words(directory / "off_topic_words.txt")}
    lex.weak_domain = _words(directory / "weak_domain_words.txt")
    joiners = _words(directory / "question_joiners.txt")
    lex.joiners = sorted(((tuple(w.lstrip("? ").split()), w.startswith("?")) for w in joiners),
                         key=lambda j: -len(j[0]))
    lex.question_words = _words(directory / "question_words.txt")
    emoji_file = directory / "emoji.tsv"
    if emoji_file.exists():
        lex.emoji = {r[0].strip(): r[1].strip() for r in _rows(emoji_file) if len(r) >= 2}
    for path in sorted(directory.glob("[0-9]*.tsv")):
        for row in _rows(path):
            if len(row) < 2:
                continue
            key = tuple(row[0].strip().lower().split())
            if not key or (len(key) == 1 and key[0] in lex.protected):
                continue
            value = tuple(row[1].strip().lower().split())
            lex.mapping[key] = value
    for value in lex.mapping.values():
        lex.vocabulary.update(value)
    return lex


def lexicon_files(directory: Path) -> list[Path]:
    """All files that influence normalisation (for the model cache key)."""
    return sorted(p for p in directory.glob("*") if p.suffix in {".tsv", ".txt"})
