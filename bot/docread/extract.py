"""What an identity card's OCR text says: the NIKs and the name, tolerant of the usual OCR confusions.

Letters that OCR mistakes for digits (O/D/Q→0, I/l/|/!→1, Z→2, S→5, G/b→6, T→7, B→8, g/q→9) are read as digits
only inside a NIK field, i.e. a run of 16 digit-like characters, and a run counts only when it passes the
project's NIK rule (`nlu.entities.numbers.plausible_nik`: province code, birth date, serial).
"""
from __future__ import annotations

import difflib
import re
import unicodedata

from nlu.entities.numbers import plausible_nik

NIK_LENGTH = 16
DIGIT_LIKE = {"O": "0", "o": "0", "D": "0", "Q": "0", "I": "1", "l": "1", "|": "1", "!": "1", "i": "1",
              "L": "1", "Z": "2", "z": "2", "S": "5", "s": "5", "G": "6", "b": "6", "T": "7", "B": "8", "g": "9",
              "q": "9"}
_CHUNK = re.compile(r"[0-9" + re.escape("".join(DIGIT_LIKE)) + r"][0-9" + re.escape("".join(DIGIT_LIKE)) +
                    r" .,\-]*")
_NIK_LABEL = re.compile(r"\bN[I1l|]K\b|\bNIK", re.IGNORECASE)
_NAME_LABEL = re.compile(r"^\W*N[a@]m[a@]\b\s*[:;.\-]*\s*(.+)$", re.IGNORECASE)
NAME_MATCH_RATIO = 0.8  # difflib ratio from which two spellings of a name are taken as the same name


def _digits(run: str) -> str:
    return "".join(DIGIT_LIKE.get(ch, ch) for ch in run if ch.isdigit() or ch in DIGIT_LIKE)


def find_niks(text: str) -> list[str]:
    """Every valid NIK in the text, in reading order, without repeats.

    A line labelled NIK is read leniently (letters that look like digits become digits, stray spaces are
    dropped); elsewhere (a KK's table, the rest of a KTP) only a run of exactly 16 real digits counts, so
    words are never turned into numbers. A run of more than 16 digits is ambiguous (OCR added or doubled a
    digit) and yields nothing: a NIK not read is better than a wrong one."""
    found: list[str] = []
    for line in text.splitlines():
        labelled = _NIK_LABEL.search(line)
        candidates = _lenient(line[labelled.end():]) if labelled else _STRICT.findall(line)
        for nik in candidates:
            if plausible_nik(nik) and nik not in found:
                found.append(nik)
    return found


_STRICT = re.compile(r"(?<!\d)\d{16}(?!\d)")


def _lenient(field: str) -> list[str]:
    """The NIK in a labelled field: whitespace-separated pieces that add up to exactly 16 digits (noise
    before or after is left out); nothing when two different readings are possible."""
    readings: set[str] = set()
    for chunk in _CHUNK.findall(field):
        pieces = [_digits(p) for p in chunk.split()]
        for start in range(len(pieces)):
            digits = ""
            for piece in pieces[start:]:
                digits += piece
                if len(digits) >= NIK_LENGTH:
                    break
            if len(digits) == NIK_LENGTH and plausible_nik(digits):
                readings.add(digits)
    return sorted(readings) if len(readings) == 1 else []


def name_field(text: str) -> str | None:
    """The value after 'Nama' on a KTP ('Nama : SITI AMINAH'), cleaned; None when there is no such line."""
    for line in text.splitlines():
        m = _NAME_LABEL.match(line.strip())
        if m:
            name = normalize_name(m.group(1))
            if name:
                return name
    return None


def normalize_name(value: str) -> str:
    """Upper-case letters and single spaces ('Siti  Aminah,' → 'SITI AMINAH'); titles and marks dropped."""
    value = unicodedata.normalize("NFKD", value)
    value = "".join(ch for ch in value if not unicodedata.combining(ch))
    value = re.sub(r"[^A-Za-z' ]+", " ", value).upper()
    return " ".join(w for w in value.split() if len(w) > 1 or w.isalpha())


def same_name(a: str, b: str) -> bool:
    """Whether two spellings are one name, allowing a few OCR slips (ratio >= NAME_MATCH_RATIO)."""
    x, y = normalize_name(a), normalize_name(b)
    if not x or not y:
        return False
    return x == y or difflib.SequenceMatcher(None, x, y).ratio() >= NAME_MATCH_RATIO


def name_in_text(name: str, text: str) -> bool:
    """Whether `name` appears in the text (any line, as the same number of words), e.g. in a KK's table."""
    target = normalize_name(name)
    if not target:
        return False
    size = len(target.split())
    for line in text.splitlines():
        words = normalize_name(line).split()
        for i in range(0, max(1, len(words) - size + 1)):
            if same_name(" ".join(words[i:i + size]), target):
                return True
    return False
