"""Slot validators: turn the raw text of an answer into a stored value, or None when it is not an answer."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable

from dialogues.parsing import Lexicon, contains_phrase, find_number, normalize, parse_name, parse_yes_no, pick_option
from nlu.entities.dates import find_dates
from nlu.entities.numbers import NIK_DIGITS, PORSI_DIGITS, plausible_nik

_TICKET = re.compile(r"\b(PBT|PLH|REG)\s*[-/ ]?\s*(\d{4})\s*[-/ ]?\s*(\d{1,5})\b", re.IGNORECASE)


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    words: tuple[str, ...] = ()


@dataclass
class ValidationContext:
    lexicon: Lexicon
    today: date
    choices: list[Choice]
    banks: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (canonical name, words) from rules/banks.yml


def _porsi(text: str, ctx: ValidationContext) -> str | None:
    return find_number(text, PORSI_DIGITS)


def _nik(text: str, ctx: ValidationContext) -> str | None:
    """16 digits that can be a NIK (province code, birth date, serial: the NLU's check)."""
    nik = find_number(text, NIK_DIGITS)
    return nik if nik is not None and plausible_nik(nik) else None


def _date(text: str, ctx: ValidationContext) -> str | None:
    dates = find_dates(text, ctx.today)
    if not dates or dates[0].value.year < 1900:
        return None
    return dates[0].value.isoformat()


def _past_date(text: str, ctx: ValidationContext) -> str | None:
    value = _date(text, ctx)
    return value if value and value <= ctx.today.isoformat() else None


def _identity(text: str, ctx: ValidationContext) -> str | None:
    """A date of birth (stored as ISO date) or the last 4 digits of the NIK (stored as 'nik:1234')."""
    value = _past_date(text, ctx)
    if value:
        return value
    nik = find_number(text, NIK_DIGITS)
    if nik:
        return f"nik:{nik[-4:]}"
    four = find_number(text, 4)
    return f"nik:{four}" if four else None


def _yesno(text: str, ctx: ValidationContext) -> bool | None:
    if ctx.choices:  # "1" / "2" for the Ya / Tidak buttons
        idx = pick_option(text, [c.label for c in ctx.choices], [[] for _ in ctx.choices])
        if idx is not None and re.fullmatch(r"\s*\d\s*", text or ""):
            return idx == 0
    return parse_yes_no(text, ctx.lexicon)  # negation scope: dialogues.answers.read_yes_no


def _choice(text: str, ctx: ValidationContext) -> str | None:
    idx = pick_option(text, [c.label for c in ctx.choices], [list(c.words) for c in ctx.choices])
    return ctx.choices[idx].value if idx is not None else None


def _name(text: str, ctx: ValidationContext) -> str | None:
    return parse_name(text)


def _text(text: str, ctx: ValidationContext) -> str | None:
    value = re.sub(r"\s+", " ", text or "").strip()
    return value if 2 <= len(value) <= 500 else None


def _account_number(text: str, ctx: ValidationContext) -> str | None:
    digits = re.sub(r"[\s\-.]", "", text or "")
    m = re.search(r"\d{6,20}", digits)
    if not m or re.search(r"[a-zA-Z]", re.sub(r"(?i)\b(no|nomor|rek|rekening|norek)\b", "", text or "")):
        return None
    return m.group()


def _bank(text: str, ctx: ValidationContext) -> str | None:
    """The canonical name of the bank named anywhere in the message ('rekening muamalat ambo' -> Bank Muamalat
    Indonesia); the longest matching word wins ('bri syariah' over 'bri')."""
    best: tuple[int, str] | None = None
    for name, words in ctx.banks:
        hit = contains_phrase(text, [name, *words])
        if hit and (best is None or len(hit) > best[0]):
            best = (len(hit), name)
    return best[1] if best else None


def _ticket(text: str, ctx: ValidationContext) -> str | None:
    m = _TICKET.search(text or "")
    if not m:
        return None
    return f"{m.group(1).upper()}-{m.group(2)}-{int(m.group(3)):05d}"


VALIDATORS: dict[str, Callable[[str, ValidationContext], Any]] = {
    "porsi": _porsi, "nik": _nik, "date": _date, "past_date": _past_date, "identity": _identity,
    "yesno": _yesno, "choice": _choice, "name": _name, "text": _text, "account_number": _account_number,
    "ticket": _ticket, "bank": _bank,
}


def validate(kind: str, text: str, ctx: ValidationContext) -> Any:
    """Return the parsed value, or None when `text` is not a valid answer of this kind."""
    if not (text or "").strip():
        return None
    return VALIDATORS[kind](text, ctx)


def looks_like_question(text: str, lexicon: Lexicon) -> bool:
    """A question mark, or a question word first ("berapa biayanya")."""
    words = normalize(text).split()
    return "?" in (text or "") or bool(words and words[0] in lexicon.question)
