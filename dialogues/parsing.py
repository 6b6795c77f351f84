"""Parsers for what people type: numbers, yes/no, options, names. Vocabulary comes from rules/language.yml;
dates are read by nlu.entities.dates (shared with the NLU)."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

_DIGIT_RUN = re.compile(r"\d(?:[ \t\-.]?\d)*")


class Lexicon(BaseModel):
    """Words the parsers recognise (rules/language.yml)."""

    model_config = ConfigDict(extra="forbid")

    yes_words: list[str]
    no_words: list[str]
    stop: list[str]
    skip: list[str]
    skip_all: list[str]
    done: list[str]
    correction: list[str]
    replace: list[str]
    resume: list[str]
    restart: list[str]
    question: list[str]
    handoff: list[str]
    menu: list[str]
    requirements: list[str]
    info_cost: list[str]
    info_schedule: list[str]
    info_office: list[str]
    subscribe: list[str]
    unsubscribe: list[str]
    negators: list[str] = []
    statement_words: list[str] = []
    hedges: list[str] = []
    ordinals: dict[int, list[str]] = {}
    last_option: list[str] = []
    day_parts: dict[str, tuple[str, str]] = {}
    correction_soft: list[str] = []
    month_names: list[str] = Field(min_length=12, max_length=12)
    weekday_names: list[str] = Field(min_length=7, max_length=7)


_NOT_KEPT = re.compile(r"[^0-9a-z/\-.\s]")
_SPACES = re.compile(r"\s+")
_REPEATS = re.compile(r"(.)\1+")
_WORD_JOINERS = re.compile(r"[/\-.]")
_CACHED_MAX_CHARS = 500  # the parsers see the same short texts and lexicon phrases many times per message


def normalize(text: str) -> str:
    """Lower-case, strip accents and punctuation (except digits/letters/spaces), collapse spaces."""
    text = text or ""
    return _normalize_cached(text) if len(text) <= _CACHED_MAX_CHARS else _normalize(text)


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = _NOT_KEPT.sub(" ", text.lower())
    return _SPACES.sub(" ", text).strip()


_normalize_cached = lru_cache(maxsize=8192)(_normalize)


@lru_cache(maxsize=16384)  # chat repeats its words
def squeeze(word: str) -> str:
    """`word` with each run of one letter written once ('iyaaa' -> 'iya')."""
    return _REPEATS.sub(r"\1", word)


@lru_cache(maxsize=8192)
def _phrase_forms(phrase: str) -> tuple[tuple[str, ...], ...]:
    """A lexicon phrase as matched by contains_phrase, as words: normalised, and with repeated letters squeezed."""
    words = tuple(normalize(phrase).split())
    return tuple(dict.fromkeys((words, tuple(squeeze(w) for w in words))))


@lru_cache(maxsize=8192)
def _squeezed_words(phrase: str) -> tuple[str, ...]:
    """A lexicon phrase as matched by is_only."""
    return tuple(squeeze(w) for w in normalize(phrase).split())


def _strip_suffix(word: str) -> str:
    for suffix in ("nya", "kah", "lah"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


@dataclass(frozen=True)
class _PhraseIndex:
    """The phrases of one list, longest first, indexed by the first word of each of their forms."""

    ordered: tuple[str, ...]
    by_first: dict[str, list[tuple[int, tuple[str, ...]]]]  # word → (rank in `ordered`, form), by rank
    empty: int | None  # rank of the first phrase with no word at all
    firsts: frozenset[str]  # the keys of by_first


@lru_cache(maxsize=4096)
def _phrase_index(phrases: tuple[str, ...]) -> _PhraseIndex:
    ordered = tuple(sorted(phrases, key=len, reverse=True))
    by_first: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
    empty = None
    for rank, phrase in enumerate(ordered):
        for form in _phrase_forms(phrase):
            if form:
                by_first.setdefault(form[0], []).append((rank, form))
            elif empty is None:
                empty = rank
    return _PhraseIndex(ordered, by_first, empty, frozenset(by_first))


def contains_phrase(text: str, phrases: list[str]) -> str | None:
    """Return the first (longest) phrase present in `text` on word boundaries; tolerates repeated
    letters ("iyaa") and the particles -nya/-kah/-lah ("biayanya")."""
    index = _phrase_index(tuple(phrases))
    variants, all_words, _ = _text_forms(text) if len(text or "") <= _CACHED_MAX_CHARS else _forms(text)
    if index.empty is None and all_words.isdisjoint(index.firsts):  # no phrase starts with a word of the text
        return None
    best = len(index.ordered)
    for words in variants:
        if not words:  # an empty text holds only a phrase without words
            best = min(best, index.empty) if index.empty is not None else best
            continue
        for i, word in enumerate(words):
            for rank, form in index.by_first.get(word, ()):
                if rank >= best:
                    break
                if words[i:i + len(form)] == form:
                    best = rank
                    break
    return index.ordered[best] if best < len(index.ordered) else None


def _forms(text: str) -> tuple[frozenset[tuple[str, ...]], frozenset[str], tuple[str, ...]]:
    """The words of `text` as matched by contains_phrase (as typed, with repeated letters squeezed, and without
    the particles -nya/-kah/-lah), all their words, and the squeezed words alone (as matched by is_only)."""
    words = tuple(_WORD_JOINERS.sub(" ", normalize(text)).split())
    squeezed = tuple(squeeze(w) for w in words)
    variants = frozenset({words, squeezed, tuple(_strip_suffix(w) for w in words)})
    return variants, frozenset(w for words in variants for w in words), squeezed


_text_forms = lru_cache(maxsize=2048)(_forms)


def _text_words(text: str) -> tuple[str, ...]:
    """`text` as matched by is_only: words with repeated letters squeezed."""
    return (_text_forms(text) if len(text or "") <= _CACHED_MAX_CHARS else _forms(text))[2]


def is_only(text: str, phrases: list[str]) -> bool:
    """True when the whole message is one of `phrases` (ignoring punctuation and repeated letters)."""
    norm = _text_words(text)
    return any(norm == _squeezed_words(p) for p in phrases)


def only_key(phrase: str) -> tuple[str, ...]:
    """A phrase as is_only compares it: a table {only_key(phrase): ...} looked up with message_key(text) answers
    is_only for all its phrases at once."""
    return _squeezed_words(phrase)


def message_key(text: str) -> tuple[str, ...]:
    """A message as is_only compares it (see only_key)."""
    return _text_words(text)


def parse_yes_no(text: str, lex: Lexicon) -> bool | None:
    """True for yes, False for no, None when unclear, read with negation scope ('blm pernah' is no, 'alah pernah'
    is yes); see dialogues.answers for the full reading with the NLU and the ask-back."""
    from dialogues.answers import read_yes_no  # the one interpreter; imported here to avoid an import cycle

    reading = read_yes_no([text], lex)
    return reading.value if reading.sure else None


def digit_runs(text: str) -> list[tuple[str, int, int]]:
    """Digit sequences, allowing single spaces/dashes/dots between digits: (digits, start, end)."""
    out = []
    for m in _DIGIT_RUN.finditer(text or ""):
        out.append((re.sub(r"\D", "", m.group()), m.start(), m.end()))
    return out


def find_number(text: str, length: int) -> str | None:
    """The first number of exactly `length` digits (spaces/dashes inside allowed)."""
    for digits, _s, _e in digit_runs(text):
        if len(digits) == length:
            return digits
    for token in re.split(r"\s+", text or ""):
        digits = re.sub(r"\D", "", token)
        if len(digits) == length and not re.search(r"[a-zA-Z]", token):
            return digits
    return None


def format_date(value: date, lex: Lexicon) -> str:
    return f"{value.day} {lex.month_names[value.month - 1]} {value.year}"


def years_between(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def pick_option(text: str, labels: list[str], words: list[list[str]]) -> int | None:
    """Index of the chosen option: its number, its label, or one of its words; None if unclear."""
    norm = normalize(text)
    m = re.fullmatch(r"(?:no|nomor|pilih|pilihan)?\s*(\d{1,2})\s*[.)]?", norm)
    if m:
        n = int(m.group(1))
        return n - 1 if 1 <= n <= len(labels) else None
    for i, label in enumerate(labels):
        if normalize(label) == norm:
            return i
    best: tuple[int, int] | None = None
    for i, (label, extra) in enumerate(zip(labels, words)):
        for phrase in [label, *extra]:
            if phrase and contains_phrase(norm, [phrase]):
                score = len(normalize(phrase))
                if best is None or score > best[1]:
                    best = (i, score)
                elif best[0] != i and score == best[1]:
                    best = (best[0], score)
    return best[0] if best else None


_NAME = re.compile(r"^[A-Za-z][A-Za-z .,'`\-]{1,99}$")


def parse_name(text: str) -> str | None:
    """A person's name: letters and a few punctuation marks, 2-100 characters, no digits or '?'."""
    value = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text or "")).strip()
    ascii_value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    if not _NAME.match(ascii_value) or sum(c.isalpha() for c in value) < 2:
        return None
    return value


def mask_name(name: str) -> str:
    """`Siti Aminah Rahman` -> `SITI A***`: first word in full, initial of the second."""
    words = (name or "").upper().split()
    if not words:
        return "***"
    if len(words) == 1:
        return words[0][:2] + "***"
    return f"{words[0]} {words[1][0]}***"
