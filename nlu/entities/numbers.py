"""Digit-based entities (shared with the dialogue validators: one NIK check, one porsi length): nomor porsi (10 digits), NIK (16 digits, plausibility-checked), phone (→ +62…).

Digits may be grouped with spaces, dashes or dots. A run of groups is split greedily into the longest
valid entities. A 10-digit number starting with 08 is a phone number unless the nearest keyword before it
says porsi. A 16-digit number that fails the NIK checks (province code, birth date) yields no entity; the
dialogue can then ask again.
"""
from __future__ import annotations

import calendar
import re

_RUN = re.compile(r"(?<![\w+])(\+?\d+(?:[ \-.]{1,2}\d+)*)(?![\w])")
_GROUP = re.compile(r"\+?\d+")
_PHONE_CTX = re.compile(r"\b(hp|wa|whatsapp|telp|telepon|telpon|tlp|kontak|nope|handphone|ponsel|hubungi|call|sms)\b")
_PORSI_CTX = re.compile(r"\b(porsi|prsi|porsinya|spph|sph)\b")
PORSI_DIGITS = 10
NIK_DIGITS = 16
MAX_DIGITS = NIK_DIGITS
PROVINCES = {11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 31, 32, 33, 34, 35, 36, 51, 52, 53, 61, 62, 63, 64, 65,
             71, 72, 73, 74, 75, 76, 81, 82, 91, 92, 93, 94, 95, 96, 97}


def plausible_nik(digits: str) -> bool:
    """Province code, DDMMYY birth date (women +40 on the day), non-zero serial, not one digit repeated."""
    if len(digits) != NIK_DIGITS or not digits.isdigit() or len(set(digits)) == 1:
        return False
    if int(digits[:2]) not in PROVINCES:
        return False
    day, month = int(digits[6:8]), int(digits[8:10])
    if day > 40:
        day -= 40
    if not 1 <= month <= 12 or day < 1 or day > calendar.monthrange(2000, month)[1]:
        return False
    return digits[12:] != "0000"


def phone_value(digits: str) -> str | None:
    """Normalise an Indonesian mobile number to +62…; None if it is not one."""
    d = digits.lstrip("+")
    if d.startswith("62"):
        d = "0" + d[2:]
    if d.startswith("08") and 10 <= len(d) <= 13:
        return "+62" + d[1:]
    return None


def _prefers_phone(text: str, start: int) -> bool:
    window = text[max(0, start - 40):start].lower()
    phone = [m.end() for m in _PHONE_CTX.finditer(window)]
    porsi = [m.end() for m in _PORSI_CTX.finditer(window)]
    if porsi and (not phone or max(porsi) > max(phone)):
        return False
    return True


def _classify(text: str, digits: str, start: int) -> tuple[str, str, float] | None:
    plus = digits.startswith("+")
    d = digits.lstrip("+")
    if len(d) == NIK_DIGITS and not plus:
        return ("nik", d, 1.0) if plausible_nik(d) else None
    if len(d) == PORSI_DIGITS and not plus and not (d.startswith("08") and _prefers_phone(text, start)):
        return ("porsi_number", d, 1.0)
    phone = phone_value(digits)
    if phone and (plus or not d.startswith("62") or len(d) >= 11):
        return ("phone", phone, 1.0)
    return None


def extract_numbers(text: str) -> list[tuple[str, str, int, int, float]]:
    out = []
    for run in _RUN.finditer(text):
        groups = [(m.group(0), run.start() + m.start(), run.start() + m.end()) for m in _GROUP.finditer(run.group(0))]
        i = 0
        while i < len(groups):
            # candidate ends, longest first, never more than MAX_DIGITS digits (keeps this linear)
            ends, total = [], 0
            for j in range(i, len(groups)):
                total += len(groups[j][0].lstrip("+"))
                if total > MAX_DIGITS or (j > i and groups[j][0].startswith("+")):
                    break
                ends.append(j + 1)
            for j in reversed(ends):
                digits = "".join(g[0] for g in groups[i:j])
                hit = _classify(text, digits, groups[i][1])
                if hit:
                    out.append((hit[0], hit[1], groups[i][1], groups[j - 1][2], hit[2]))
                    i = j
                    break
            else:
                i += 1
    return out
