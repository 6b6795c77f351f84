"""Text normalisation before intent classification.

lowercase → strip control chars/emoji → collapse letter elongation → reduplication (`anak2`) →
lexicon mapping (slang, typos, Minang → Indonesian; multi-word keys, longest match first).
Entity spans are replaced by placeholder words beforehand (see `nlu.features`), so numbers do not leak.
"""
from __future__ import annotations

import re
import unicodedata

from nlu.lexicon import Lexicons
from nlu.spelling import SpellCorrector

_ELONGATED = re.compile(r"([a-z])\1{2,}")
_DOUBLED = re.compile(r"([a-z])\1")
_REDUP = re.compile(r"^([a-z]{2,})2$")
_TOKEN = re.compile(r"[a-z0-9_]+")
_DIGIT_GROUPS = re.compile(r"(?<![\d])\d+(?:[ \-.]\d+)+(?![\d])")
_FIXED_MAX, _FIXED_LEN = 20_000, 32  # tokens (of at most _LEN letters) whose fix_token answer is kept


# ASCII letters and digits are kept, apostrophes dropped, anything else becomes a space (as below, per character)
_ASCII_NOISE = {c: (chr(c) if chr(c).isalnum() else None if chr(c) == "'" else " ") for c in range(128)}


def strip_noise(text: str) -> str:
    """NFKC, lowercase, drop control characters, emoji and other symbols (keep letters/digits/space)."""
    if text.isascii():  # NFKC leaves ASCII as it is
        return text.lower().translate(_ASCII_NOISE)
    text = unicodedata.normalize("NFKC", text).lower()
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat[0] in "LN":
            out.append(ch)
        elif ch == "'" or ch == "’":
            continue  # istitha'ah → istithaah, jum'at → jumat
        else:
            out.append(" ")
    return "".join(out)


def join_digit_groups(text: str, min_digits: int = 9) -> str:
    """`0312 3456 78` → `0312345678` when the groups together form a long number."""
    def repl(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        return digits if len(digits) >= min_digits else m.group(0)
    return _DIGIT_GROUPS.sub(repl, text)


def emoji_words(text: str, lex: Lexicons) -> str:
    """For messages without letters/digits: turn known emoji into words (👍 → oke)."""
    words = [w for e, w in lex.emoji.items() if e in text]
    return " ".join(words)


class Normalizer:
    """Stateless after construction; safe to share between coroutines."""

    def __init__(self, lexicons: Lexicons) -> None:
        self.lex = lexicons
        self._max_key = lexicons.max_key_len
        self._known = lexicons.vocabulary | {w for k in lexicons.mapping for w in k} | lexicons.protected
        self.speller: SpellCorrector | None = None
        self._fixed: dict[str, str] = {}  # fix_token's answers (bounded; cleared when the speller changes)
        self._key_lengths: dict[str, list[int]] = {}  # first word of a mapping key → key lengths, longest first
        for key in lexicons.mapping:
            self._key_lengths.setdefault(key[0], []).append(len(key))
        for lengths in self._key_lengths.values():
            lengths[:] = sorted(set(lengths), reverse=True)

    def set_speller(self, speller: SpellCorrector | None) -> None:
        """Attach a corrector built from the training vocabulary (done by training)."""
        self.speller = speller
        self._fixed = {}

    def fix_token(self, token: str) -> str:
        """Collapse elongation: `tolooong` → `tolong`, `pagiiii` → `pagi`, `tolongg` → `tolong`."""
        fixed = self._fixed.get(token)
        if fixed is None:
            fixed = self._fix_token(token)
            if len(token) <= _FIXED_LEN:
                if len(self._fixed) >= _FIXED_MAX:
                    self._fixed = {}
                self._fixed[token] = fixed
        return fixed

    def _fix_token(self, token: str) -> str:
        if token in self._known:
            return token
        collapsed = _ELONGATED.sub(r"\1", token)
        if collapsed in self._known:
            return collapsed
        single = _DOUBLED.sub(r"\1", collapsed)
        if single != collapsed and single in self._known:
            return single
        if collapsed.endswith("nyo") and collapsed[:-3] in self._known:  # Minang -nyo = -nya
            return collapsed[:-3] + "nya"
        if collapsed.endswith(("lah", "kah")) and collapsed[:-3] in self._known:  # particles: iyolah, bisakah
            return collapsed[:-3]
        if self.speller is not None:
            return self.speller.correct(collapsed)
        return collapsed

    def tokens(self, text: str) -> list[str]:
        if not any(ch.isalnum() for ch in text):
            text = emoji_words(text, self.lex)
        raw = _TOKEN.findall(join_digit_groups(strip_noise(text)))
        toks: list[str] = []
        for t in raw:
            m = _REDUP.match(t)
            if m:
                toks.extend([self.fix_token(m.group(1))] * 2)
            else:
                toks.append(self.fix_token(t))
        return self._map(toks)

    def _map(self, toks: list[str]) -> list[str]:
        """Longest mapping key first; only the key lengths that start with the word are tried."""
        out: list[str] = []
        i = 0
        mapping, protected, lengths = self.lex.mapping, self.lex.protected, self._key_lengths
        while i < len(toks):
            for n in lengths.get(toks[i], ()):
                if n > len(toks) - i:
                    continue
                key = tuple(toks[i:i + n])
                if n == 1 and key[0] in protected:
                    continue
                if key in mapping:
                    out.extend(mapping[key])
                    i += n
                    break
            else:
                out.append(toks[i])
                i += 1
        return out

    def __call__(self, text: str) -> str:
        return " ".join(self.tokens(text))
