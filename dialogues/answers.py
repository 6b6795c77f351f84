"""The one answer interpreter: reads a message as the answer to the question being asked.

Every question type goes through `interpret()`: yes/no (with negation scope: "blm pernah" is no, "alah pernah" is
yes), choices (numbers, ordinals "yang kedua", words, "kamis siang", exclusions "jangan jumat"), typed values
(dates, numbers, names, free text). It combines the words of the message, the NLU's affirm/deny reading and its
confidence, and says when it is not sure (`Reading.sure`), so the engine asks back instead of guessing. Word lists
come from rules/language.yml (office-editable) but no single word decides alone.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Sequence

from dialogues.parsing import Lexicon, is_only, normalize, squeeze
from dialogues.validators import Choice, ValidationContext, validate

_CLAUSE_BREAK = re.compile(r"[,.;!?\n]+|\b(?:tapi|tp|tetapi|namun|cuma|cuman|baru)\b")
_TIME = re.compile(r"(\d{1,2})[.:](\d{2})")
_NUMBER_ONLY = re.compile(r"(?:no|nomor|nmr|pilih|pilihan|yang|yg|ke)?\s*(?:ke\s*)?(\d{1,2})\s*[.)]?")
NEGATION_WINDOW = 3  # a negator reaches this many words ahead: "blm pernah", "tidak pernah sama sekali"
NLU_SURE = 0.8
NLU_GUESS = 0.5
_PARTICLES = ("nya", "nyo", "lah", "kah", "pun")  # 'cucunyo', 'kamislah', 'anaknya'
FREE_TEXT_KINDS = ("name", "text", "account_number", "bank")
_ORDINAL_MARKERS = frozenset({"yang", "yg", "pilihan", "pilih", "no", "nomor", "nmr", "ke", "nomer", "opsi"})


@dataclass(frozen=True)
class Signal:
    """One yes or no found in the message; `statement` when it answers the content ('belum pernah')."""

    value: bool
    statement: bool
    clause: int


@dataclass(frozen=True)
class Reading:
    """What the message means as an answer. `value` is None when it is no answer to this question; `sure` is
    False when the engine should ask back about `candidates`; `stale` when it is a button label of another question."""

    value: Any = None
    sure: bool = True
    candidates: tuple[Any, ...] = ()
    stale: bool = False
    excluded: tuple[Any, ...] = field(default=())

    @property
    def answered(self) -> bool:
        return self.value is not None and self.sure


NO_READING = Reading()


def _tokens(text: str) -> list[str]:
    return [squeeze(w) for w in re.sub(r"[/\-]", " ", normalize(text)).split()]


def _phrases(words: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """The word lists as token phrases, longest first (worked out once per list: they come from configuration)."""
    return _phrases_of(tuple(words))


@lru_cache(maxsize=1024)
def _phrases_of(words: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    out = {tuple(_tokens(w)) for w in words}
    return tuple(sorted((p for p in out if p), key=len, reverse=True))


def _phrase_words(words: Sequence[str]) -> frozenset[str]:
    """Every token of the phrases of `words`."""
    return _phrase_words_of(tuple(words))


@lru_cache(maxsize=256)
def _phrase_words_of(words: tuple[str, ...]) -> frozenset[str]:
    return frozenset(w for p in _phrases_of(words) for w in p)


@lru_cache(maxsize=64)
def _ordinals(ordinals: tuple[tuple[int, tuple[str, ...]], ...]
              ) -> tuple[dict[tuple[str, ...], int], tuple[tuple[str, ...], ...]]:
    """The ordinal phrases with their numbers, and the phrases longest first."""
    table = {p: n for n, words in ordinals for p in _phrases_of(words)}
    return table, tuple(sorted(table, key=len, reverse=True))


def _match(tokens: list[str], i: int, phrases: Sequence[tuple[str, ...]]) -> tuple[str, ...] | None:
    for p in phrases:
        if tuple(tokens[i:i + len(p)]) == p:
            return p
    return None


def _clauses(text: str) -> list[list[str]]:
    return [t for t in (_tokens(part) for part in _CLAUSE_BREAK.split((text or "").lower())) if t]


def yes_no_signals(text: str, lex: Lexicon) -> list[Signal]:
    """Yes/no signals per clause. A negator scopes over the next few words: 'blm pernah haji' is one no."""
    yes = _phrases(lex.yes_words)
    no = _phrases(lex.no_words)
    neg = _phrases(lex.negators)
    statement = _phrase_words(lex.statement_words)
    out: list[Signal] = []
    for c, tokens in enumerate(_clauses(text)):
        i = 0
        while i < len(tokens):
            n = _match(tokens, i, neg)
            if n:
                j = i + len(n)
                hit = None
                for k in range(j, min(j + NEGATION_WINDOW, len(tokens))):
                    y = _match(tokens, k, yes)
                    if y:
                        hit = (k, y)
                        break
                if hit:
                    out.append(Signal(False, any(w in statement for w in hit[1]), c))
                    i = hit[0] + len(hit[1])
                else:
                    out.append(Signal(False, False, c))
                    i = j
                continue
            n = _match(tokens, i, no)
            if n:
                out.append(Signal(False, any(w in statement for w in n), c))
                i += len(n)
                continue
            y = _match(tokens, i, yes)
            if y:
                out.append(Signal(True, any(w in statement for w in y), c))
                i += len(y)
                continue
            i += 1
    return out


def _hedged(text: str, lex: Lexicon) -> bool:
    tokens = _tokens(text)
    phrases = _phrases(lex.hedges)
    return any(_match(tokens, i, phrases) for i in range(len(tokens)))


def read_yes_no(readings: Sequence[str], lex: Lexicon, intent: str | None = None,
                confidence: float = 0.0) -> Reading:
    """Yes (True) / no (False) to the question asked, with how sure the reading is."""
    nlu = (intent == "affirm") if intent in ("affirm", "deny") else None
    if readings and re.search(r"\d", readings[0]):
        readings = readings[:1]  # data ('4 jan 1950'): the normaliser's reading ('4 jangan 1950') would mislead
    for text in readings:
        if re.fullmatch(r"\s*[12]\s*", text or ""):  # the numbered Ya / Tidak buttons
            return Reading(text.strip() == "1")
        signals = yes_no_signals(text, lex)
        if not signals:
            continue
        statements = [s for s in signals if s.statement]
        pool = statements or signals
        value = pool[0].value
        agree = all(s.value == value for s in pool)
        sure = agree and not _hedged(text, lex)
        if sure and not statements and nlu is not None and confidence >= 0.9 and nlu != value:
            sure = False  # 'iya' and a confident 'deny' from the NLU: ask
        if not agree and nlu is not None and confidence >= NLU_SURE:
            value, sure = nlu, True
        return Reading(value, sure, (value,))
    if nlu is not None and confidence >= NLU_SURE:
        return Reading(nlu)
    if nlu is not None and confidence >= NLU_GUESS:
        return Reading(nlu, False, (nlu,))
    return NO_READING


def read_ordinal(tokens: list[str], lex: Lexicon, count: int) -> int | None:
    """'yang kedua', 'pilihan ke 2', 'no 2', 'yg terakhir' in a short message: the 0-based index."""
    if len(tokens) > 6:
        return None
    last = _phrases(lex.last_option)
    for i in range(len(tokens)):
        if _match(tokens, i, last):
            return count - 1
    table, longest_first = _ordinals(tuple((n, tuple(words)) for n, words in lex.ordinals.items()))
    for i in range(len(tokens)):
        p = _match(tokens, i, longest_first)
        if p is None:
            continue
        word = " ".join(p)
        ordinal_form = word.startswith("ke") or word.startswith("ka") or word in ("pertama", "partamo")
        if ordinal_form or (i > 0 and tokens[i - 1] in _ORDINAL_MARKERS):
            n = table[p]
            return n - 1 if 1 <= n <= count else None
    for i, t in enumerate(tokens[:-1]):
        if t in _ORDINAL_MARKERS and tokens[i + 1].isdigit():
            n = int(tokens[i + 1])
            return n - 1 if 1 <= n <= count else None
        if t in _ORDINAL_MARKERS and re.fullmatch(r"ke\d", tokens[i + 1]):
            n = int(tokens[i + 1][2:])
            return n - 1 if 1 <= n <= count else None
    return None


def _minutes(hhmm: str) -> int:
    h, _, m = hhmm.replace(".", ":").partition(":")
    return int(h) * 60 + int(m or 0)


def day_part_minutes(lex: Lexicon, name: str) -> tuple[int, int] | None:
    """The day part's span in minutes after midnight, start included, end excluded ('sore' -> 13:00-18:30)."""
    span = lex.day_parts.get(name)
    return (_minutes(span[0]), _minutes(span[1])) if span else None


def _day_part_hits(tokens: list[str], choice: Choice, lex: Lexicon, neg: frozenset[str]) -> tuple[bool, bool]:
    """Whether the option's time is in a day part named (pagi/siang/sore), and whether one named negated
    ('bukan kamis pagi') covers it: (named, refused)."""
    m = _TIME.search(choice.label)
    if not m:
        return False, False
    at = int(m.group(1)) * 60 + int(m.group(2))
    named = refused = False
    for i, token in enumerate(tokens):
        span = day_part_minutes(lex, token)
        if span and span[0] <= at < span[1]:
            if any(w in neg for w in tokens[max(0, i - 2):i]):
                refused = True
            else:
                named = True
    return named, refused


def _phrase_spans(tokens: list[str], phrase: tuple[str, ...]) -> list[int]:
    out = []
    for i in range(len(tokens) - len(phrase) + 1):
        window = tokens[i:i + len(phrase)]
        if all(w == p or (w.endswith(_PARTICLES) and w[:-3] == p) for w, p in zip(window, phrase)):
            out.append(i)
    return out


def read_choice(readings: Sequence[str], choices: Sequence[Choice], lex: Lexicon) -> Reading:
    """The chosen option's value; unsure with the candidates when several fit equally; 'jangan jumat' excludes."""
    if not choices:
        return NO_READING
    neg = _phrase_words(lex.negators)
    for text in readings:
        norm = normalize(text)
        m = re.fullmatch(_NUMBER_ONLY, norm)
        if m:
            n = int(m.group(1))
            return Reading(choices[n - 1].value) if 1 <= n <= len(choices) else NO_READING
        for c in choices:
            if normalize(c.label) == norm:
                return Reading(c.value)
        tokens = _tokens(text)
        idx = read_ordinal(tokens, lex, len(choices))
        if idx is not None:
            return Reading(choices[idx].value)
        scores: dict[int, int] = {}
        excluded: set[int] = set()
        for i, c in enumerate(choices):
            best = 0
            for phrase in _phrases([c.label, *c.words]):
                for start in _phrase_spans(tokens, phrase):
                    before = tokens[max(0, start - 2):start]
                    if any(w in neg for w in before):
                        excluded.add(i)
                        continue
                    best = max(best, len(" ".join(phrase)))
            part, refused = _day_part_hits(tokens, c, lex, neg)
            if refused and not part:
                excluded.add(i)
            elif best or part:
                scores[i] = best + (100 if part else 0)
        excluded = {i for i in excluded if i not in scores}  # 'bukan kamis pagi, kamis siang'
        if scores:
            top = max(scores.values())
            best_ids = [i for i, s in scores.items() if s == top]
            if len(best_ids) == 1:
                return Reading(choices[best_ids[0]].value)
            return Reading(choices[best_ids[0]].value, False, tuple(choices[i].value for i in best_ids))
        if excluded:
            rest = [c.value for i, c in enumerate(choices) if i not in excluded]
            if len(rest) == 1:
                return Reading(rest[0], excluded=tuple(choices[i].value for i in excluded))
            if rest:
                return Reading(rest[0], False, tuple(rest), excluded=tuple(choices[i].value for i in excluded))
    return NO_READING


def named_options(text: str, choices: Sequence[Choice], lex: Lexicon) -> set[Any]:
    """Options named (not negated) by their words anywhere in a free message: 'ibu belum meninggal, tapi
    stroke' names only the illness."""
    neg = _phrase_words(lex.negators)
    tokens = _tokens(text)
    out = set()
    for c in choices:
        for phrase in _phrases(c.words):
            if any(not any(w in neg for w in tokens[max(0, s - 2):s]) for s in _phrase_spans(tokens, phrase)):
                out.add(c.value)
                break
    return out


def is_stale_choice(text: str, labels: Sequence[str], lex: Lexicon) -> bool:
    """A bare yes/no word, menu label or button label: not a name, bank, reason or address."""
    return is_only(text, [*lex.yes_words, *lex.no_words, *lex.resume, *lex.restart, *lex.menu, *labels])


def interpret(kind: str, readings: Sequence[str], vctx: ValidationContext, intent: str | None = None,
              confidence: float = 0.0, stale_labels: Sequence[str] = ()) -> Reading:
    """Read `readings` (the message, then the NLU's normalised reading) as the answer to a question of `kind`."""
    readings = [r for r in readings if r and r.strip()]
    if not readings:
        return NO_READING
    if kind == "yesno":
        return read_yes_no(readings, vctx.lexicon, intent, confidence)
    if kind == "choice":
        return read_choice(readings, vctx.choices, vctx.lexicon)
    if kind in FREE_TEXT_KINDS and is_stale_choice(readings[0], stale_labels, vctx.lexicon):
        return Reading(stale=True)
    texts = readings if kind not in ("name", "text") else readings[:1]  # names and reasons as written
    for text in texts:
        value = validate(kind, text, vctx)
        if value is not None:
            return Reading(value)
    return NO_READING


def resolve_yes_no_askback(readings: Sequence[str], lex: Lexicon, guess: bool, intent: str | None = None,
                           confidence: float = 0.0) -> Reading:
    """The answer to 'Maksudnya belum pernah, ya?': a statement ('belum pernah') answers the first question
    directly; a bare 'ya'/'bukan' confirms or turns round the guess."""
    for text in readings:
        statements = [s for s in yes_no_signals(text, lex) if s.statement]
        if statements and all(s.value == statements[0].value for s in statements):
            return Reading(statements[0].value)
    reading = read_yes_no(readings, lex, intent, confidence)
    if not reading.answered:
        return NO_READING
    return Reading(guess if reading.value else not guess)
