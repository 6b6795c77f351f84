"""Split one message into the questions it asks: "brp biaya haji skrg? trs kantor dmn? jam brp buka?" →
["brp biaya haji skrg", "kantor dmn", "jam brp buka"]. Splits at sentence ends and at joiner words
(lexicons/question_joiners.txt); a conjunction ("dan", "sama") splits only before a question word."""
from __future__ import annotations

import re

from nlu.lexicon import Lexicons

_SENTENCES = re.compile(r"[?!;\n]+|\.+(?=\s|$)")
_WORD = re.compile(r"\S+")
_STRIP = re.compile(r"^\W+|\W+$")
# forms of address that are not a question on their own: merged into the part before
_MIN_WORDS = 2


def _bare(word: str) -> str:
    """The word without leading/trailing non-word characters (a word of letters and digits has none)."""
    return word if word.isalnum() else _STRIP.sub("", word)


def _cut_at_joiners(sentence: str, lex: Lexicons) -> list[str]:
    tokens = [(m.start(), m.end(), _bare(m.group().lower())) for m in _WORD.finditer(sentence)]
    words = [t[2] for t in tokens]
    parts: list[str] = []
    start, i = 0, 0
    while i < len(tokens):
        hit = 0
        for phrase, conditional in lex.joiners_starting(words[i]):
            n = len(phrase)
            if tuple(words[i:i + n]) == phrase:
                following = words[i + n] if i + n < len(words) else ""
                if not conditional or following in lex.question_words:
                    hit = n
                    break
        if hit:
            parts.append(sentence[start:tokens[i][0]])
            start = tokens[i + hit - 1][1]
            i += hit
            continue
        i += 1
    parts.append(sentence[start:])
    return parts


def split_questions(text: str, lex: Lexicons, max_parts: int = 5) -> list[str]:
    """The questions of a message, in order (at most `max_parts`); one element when nothing splits."""
    pieces: list[str] = []
    for sentence in _SENTENCES.split(text or ""):
        for part in _cut_at_joiners(sentence, lex):
            part = _STRIP.sub("", part.strip()).strip()
            if not part:
                continue
            if pieces and len(part.split()) < _MIN_WORDS:
                pieces[-1] = f"{pieces[-1]} {part}"  # "pak", "min", "yo" belong to the question before
            else:
                pieces.append(part)
    if len(pieces) > 1 and len(pieces[0].split()) < _MIN_WORDS:
        pieces[1] = f"{pieces[0]} {pieces[1]}"
        pieces.pop(0)
    return pieces[:max_parts] if pieces else [text]
