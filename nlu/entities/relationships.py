"""Family relationship of an heir / recipient → one of the canonical values.

Unambiguous words (suami, istri, ayah, amak, anak kandung, …) always count. Words that are also forms of
address (bapak, ibu, uda, uni, kakak, adik, …) count only with a possessive after them (`ibu saya`,
`amak ambo`, `bapaknya`), a relationship cue before them (`almarhum`, `ke`, `untuk`, `penerima`), or when
the message is nothing but that word (an answer to "apa hubungan Anda?").
Short forms of address (pak, bu, kak) are never read as relationships.
"""
from __future__ import annotations

import re

CANONICAL = ("suami", "istri", "ayah", "ibu", "anak_kandung", "saudara_kandung", "saudara_seayah", "saudara_seibu")

_PHRASES: dict[str, str] = {
    "saudara seayah": "saudara_seayah", "sodara seayah": "saudara_seayah", "saudara sebapak": "saudara_seayah",
    "adik seayah": "saudara_seayah", "kakak seayah": "saudara_seayah", "saudara se ayah": "saudara_seayah",
    "saudara seibu": "saudara_seibu", "sodara seibu": "saudara_seibu", "adik seibu": "saudara_seibu",
    "kakak seibu": "saudara_seibu", "saudara se ibu": "saudara_seibu", "saudara seamak": "saudara_seibu",
    "saudara kandung": "saudara_kandung", "sodara kandung": "saudara_kandung", "kakak kandung": "saudara_kandung",
    "adik kandung": "saudara_kandung", "adek kandung": "saudara_kandung", "abang kandung": "saudara_kandung",
    "anak kandung": "anak_kandung", "putra kandung": "anak_kandung", "putri kandung": "anak_kandung",
    "ibu kandung": "ibu", "ayah kandung": "ayah", "bapak kandung": "ayah",
}
_CLEAR: dict[str, str] = {
    "suami": "suami", "suamiku": "suami", "laki": "suami", "lakinya": "suami",
    "istri": "istri", "isteri": "istri", "istriku": "istri", "bini": "istri",
    "ayah": "ayah", "ayahku": "ayah", "ayahanda": "ayah", "abah": "ayah", "apak": "ayah", "abak": "ayah",
    "bokap": "ayah", "papa": "ayah", "papah": "ayah",
    "amak": "ibu", "mandeh": "ibu", "emak": "ibu", "ibunda": "ibu", "ibuku": "ibu", "nyokap": "ibu",
    "mama": "ibu", "mamah": "ibu", "umi": "ibu", "ummi": "ibu",
    "anak": "anak_kandung", "anakku": "anak_kandung", "putra": "anak_kandung", "putri": "anak_kandung",
    "putranya": "anak_kandung", "putrinya": "anak_kandung", "anaknya": "anak_kandung",
    "saudara": "saudara_kandung", "sodara": "saudara_kandung", "saudaraku": "saudara_kandung",
    "adiak": "saudara_kandung", "kakaknya": "saudara_kandung", "adiknya": "saudara_kandung",
}
_AMBIGUOUS: dict[str, str] = {
    "bapak": "ayah", "bpk": "ayah", "bapa": "ayah", "abi": "ayah",
    "ibu": "ibu", "ibuk": "ibu", "mak": "ibu", "bunda": "ibu",
    "uda": "saudara_kandung", "uni": "saudara_kandung", "kakak": "saudara_kandung",
    "adik": "saudara_kandung", "adek": "saudara_kandung", "mamak": "ibu", "abang": "saudara_kandung", "etek": "saudara_kandung",
}
# mamak: Minang maternal uncle (also a polite address), Indonesian "ibu"; only counted with a possessive/cue.
_POSSESSIVE = {"saya", "sy", "aku", "ku", "ambo", "awak", "den", "kami", "kita", "kandung", "beliau", "gw",
               "gue", "sya", "ane", "nya", "alm", "almarhum", "almarhumah"}
_CUE_BEFORE = {"almarhum", "almarhumah", "alm", "almh", "mendiang", "ke", "kepada", "kpd", "untuk", "utk",
               "buat", "penerima", "oleh", "dgn", "dengan", "sama", "sm", "punya", "porsi", "hubungan", "sebagai",
               "yaitu", "yakni", "adalah", "dari", "milik", "ahli", "waris", "limpahkan", "dilimpahkan"}
_EXCLUDE_AFTER = {"angkat", "tiri", "menantu", "sepupu", "ipar", "mertua", "haji", "petugas", "kepala", "camat",
                  "lurah", "dokter", "rt", "rw"}
_WORD = re.compile(r"[a-zA-Z]+(?:-[a-zA-Z]+)?")  # keeps reduplication (anak-anaknya) as one word


def _base(word: str) -> str:
    """`anak-anaknya` → `anaknya`; other hyphenated words stay as they are."""
    first, _, second = word.partition("-")
    return second if second and second.startswith(first) else word


def extract_relationships(text: str) -> list[tuple[str, str, int, int, float]]:
    words = [(_base(m.group(0).lower()), m.start(), m.end()) for m in _WORD.finditer(text)]
    out = []
    i = 0
    only_word = len(words) == 1
    while i < len(words):
        w, s, e = words[i]
        nxt = words[i + 1][0] if i + 1 < len(words) else ""
        prev = words[i - 1][0] if i > 0 else ""
        pair = f"{w} {nxt[:-3] if nxt.endswith('nya') else nxt}"
        if nxt and pair in _PHRASES and not text[e:words[i + 1][1]].strip():
            out.append(("relationship", _PHRASES[pair], s, words[i + 1][2], 1.0))
            i += 2
            continue
        if nxt in _EXCLUDE_AFTER:
            i += 1
            continue
        if w in _CLEAR:
            out.append(("relationship", _CLEAR[w], s, e, 0.95))
        elif w in _AMBIGUOUS and (prev in _CUE_BEFORE or only_word or (
                nxt in _POSSESSIVE and not text[e:words[i + 1][1]].strip())):
            out.append(("relationship", _AMBIGUOUS[w], s, e, 0.8))
        elif w.endswith("nya") and w[:-3] in _AMBIGUOUS :
            out.append(("relationship", _AMBIGUOUS[w[:-3]], s, e, 0.7))
        i += 1
    return out
