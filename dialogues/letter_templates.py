"""Ready-to-sign letter templates (dialogues/letters/*.yml, edited by the office): loading, validation and
filling the placeholders. An answer that is missing or empty becomes a dotted line to fill in by hand."""
from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dialogues.errors import DialogueConfigError
from dialogues.loader import read_yaml, validate

BLANK = "." * 40
# derived values every letter may use (besides the flows' answers and their choice labels)
DERIVED = ("office_name", "office_kab_kota", "office_provinsi", "office_address", "office_phone", "office_city",
           "letter_date", "ticket", "nomor_porsi", "pilgrim_name", "pilgrim_dob", "phone", "reason_text")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Signature(_Strict):
    label: str
    name: str
    meterai: str | None = None  # text in the box where the stamp duty is stuck (None: no box)


class Block(_Strict):
    """One of: a paragraph, label/value rows, a signature."""

    text: str | None = None
    fields: list[tuple[str, str]] | None = None
    signature: Signature | None = None
    align: Literal["left", "right", "center", "justify"] = "left"

    @model_validator(mode="after")
    def _one_kind(self) -> "Block":
        if sum(x is not None for x in (self.text, self.fields, self.signature)) != 1:
            raise ValueError("a block has exactly one of text, fields, signature")
        return self


class LetterTemplate(_Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")
    name: str
    service: str
    variants: list[str] = []
    heading: str
    blocks: list[Block]

    def applies(self, service: str, variant: str | None) -> bool:
        return self.service == service and (not self.variants or (variant or "") in self.variants)

    def texts(self) -> list[str]:
        out = [self.heading]
        for block in self.blocks:
            if block.text is not None:
                out.append(block.text)
            for label, value in block.fields or []:
                out += [label, value]
            if block.signature is not None:
                out += [block.signature.label, block.signature.name, block.signature.meterai or ""]
        return out


class _File(_Strict):
    letter: LetterTemplate


@dataclass(frozen=True)
class FilledBlock:
    """A block with its placeholders filled (plain data: it crosses to the worker process)."""

    kind: str  # text | fields | signature
    align: str = "left"
    text: str = ""
    rows: tuple[tuple[str, str], ...] = ()
    label: str = ""
    meterai: str | None = None


@dataclass(frozen=True)
class FilledLetter:
    key: str
    name: str
    heading: str
    blocks: tuple[FilledBlock, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Letterhead:
    """The kop surat: from config.yml `office` (logo: a PNG/JPEG path, optional)."""

    name: str
    address: str
    phone: str
    logo: str | None = None
    phone_label: str = "Telp."


def placeholders(text: str) -> set[str]:
    names = set()
    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is not None:
            if not name.isidentifier() or spec or conversion:
                raise ValueError(f"placeholder '{{{name}}}' must be a plain name")
            names.add(name)
    return names


def load_letters(directory: Path, known: set[str]) -> list[LetterTemplate]:
    """Every letter template in `directory`, checked: valid fields and only `known` placeholders (plus the
    derived values). Raises DialogueConfigError naming the file."""
    letters: list[LetterTemplate] = []
    if not directory.is_dir():
        return letters
    allowed = known | set(DERIVED)
    for path in sorted(directory.glob("*.yml")):
        letter = validate(_File, read_yaml(path), path).letter
        for text in letter.texts():
            try:
                unknown = placeholders(text) - allowed
            except ValueError as exc:
                raise DialogueConfigError(f"{path}: {exc}") from None
            if unknown:
                raise DialogueConfigError(f"{path}: unknown placeholder {{{sorted(unknown)[0]}}} "
                                          f"(see dialogues/letters/README.md)")
        letters.append(letter)
    return letters


class _Blanks(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return BLANK


def fill(text: str, values: dict[str, Any]) -> str:
    """`text` with each {name} replaced by its value, or a dotted line when the value is missing or empty."""
    if not text.strip():
        return BLANK
    shown = _Blanks({k: str(v) for k, v in values.items() if v is not None and str(v).strip()})
    return text.format_map(shown)


def fill_letter(template: LetterTemplate, values: dict[str, Any]) -> FilledLetter:
    blocks: list[FilledBlock] = []
    for block in template.blocks:
        if block.text is not None:
            blocks.append(FilledBlock("text", block.align, text=fill(block.text, values)))
        elif block.fields is not None:
            blocks.append(FilledBlock("fields", block.align,
                                      rows=tuple((fill(k, values), fill(v, values)) for k, v in block.fields)))
        elif block.signature is not None:
            sig = block.signature
            blocks.append(FilledBlock("signature", block.align, text=fill(sig.name, values),
                                      label=fill(sig.label, values),
                                      meterai=fill(sig.meterai, values) if sig.meterai else None))
    return FilledLetter(template.key, template.name, fill(template.heading, values), tuple(blocks))
