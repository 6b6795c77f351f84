"""The personal message of one update, from the office-editable texts in dialogues/responses/kabar.yml."""
from __future__ import annotations

from typing import Any

from bot.broadcast.render import mask_porsi
from dialogues.calendar import hajj_hijri_year
from dialogues.parsing import mask_name
from storage.registry_changes import status_key

OPENING, CLOSING, OTHER_STATUS = "kabar_pembuka", "kabar_penutup", "kabar_status_lain"
REQUIRED = (OPENING, CLOSING, OTHER_STATUS, "kabar_estimasi_maju", "kabar_estimasi_mundur", "kabar_estimasi_baru")


def missing_texts(engine: Any) -> list[str]:
    """Keys of kabar.yml the engine's responses lack (checked when the service starts)."""
    return [key for key in REQUIRED if key not in engine.bundle.responses]


def status_label(engine: Any, status: str | None) -> str:
    info = engine.rules.porsi_status.get(status_key(status))
    return info.label if info is not None and info.label != "-" else (status or "-")


def compose(engine: Any, kinds: list[str], *, nama: str, porsi: str, old_status: str | None,
            new_status: str | None, old_year: int | None, new_year: int | None) -> str:
    """Opening, one paragraph per change (status, then estimate), closing."""
    parts = [engine.render(OPENING, nama=mask_name(nama), porsi=mask_porsi(porsi))]
    for kind in kinds:
        family, _, value = kind.partition(":")
        if family == "status":
            key = f"kabar_status_{value}"
            info = engine.rules.porsi_status.get(value) or engine.rules.porsi_status["default"]
            parts.append(engine.render(key if key in engine.bundle.responses else OTHER_STATUS,
                                       status_baru=status_label(engine, new_status),
                                       status_lama=status_label(engine, old_status), langkah=info.next))
        elif family == "estimasi" and new_year is not None:
            parts.append(engine.render(f"kabar_estimasi_{value}", tahun_lama=old_year, tahun_baru=new_year,
                                       tahun_hijriah=hajj_hijri_year(new_year)))
    parts.append(engine.render(CLOSING))
    return "\n\n".join(p for p in parts if p)
