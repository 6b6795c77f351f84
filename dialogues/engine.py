"""Dialogue engine: decides what to say for one turn, on the conversation's stored state.

Minimal first version (greeting, menu, porsi look-up); the flow engine replaces its insides
while keeping `DialogueEngine.load` and `DialogueEngine.step`.
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dialogues.replies import Reply
from dialogues.responses_store import Responses
from dialogues.settings import DialogueSettings, OfficeSettings
from dialogues.turn import Turn
from storage.files import FileStore
from storage.models import Pilgrim


class DialogueEngine:
    def __init__(self, responses: Responses, office: OfficeSettings, settings: DialogueSettings) -> None:
        self.responses = responses
        self.office = office
        self.settings = settings

    @classmethod
    def load(cls, settings: DialogueSettings, office: OfficeSettings, base_dir: Path) -> "DialogueEngine":
        """Load and validate flows, responses and rules; raises on invalid files."""
        return cls(Responses.load(base_dir / settings.responses_dir), office, settings)

    async def step(self, session: AsyncSession, files: FileStore, turn: Turn) -> list[Reply]:
        """Run one turn; may read/write through `session` (same transaction as the replies)."""
        intent = turn.parse.get("intent", {}).get("name")
        porsi = next((e["value"] for e in turn.parse.get("entities", []) if e["entity"] == "porsi_number"), None)
        r = self.responses
        if porsi:
            return [await self._porsi_status(session, porsi)]
        if intent == "greet":
            return [Reply(r.text("greet", office_name=self.office.name)),
                    Reply(r.text("menu"), choices=r.items("menu_choices"))]
        if intent == "menu":
            return [Reply(r.text("menu"), choices=r.items("menu_choices"))]
        if intent == "check_porsi":
            return [Reply(r.text("ask_porsi"))]
        return [Reply(r.text("not_understood"))]

    async def _porsi_status(self, session: AsyncSession, porsi: str) -> Reply:
        pilgrim = (await session.execute(select(Pilgrim).where(Pilgrim.nomor_porsi == porsi))).scalar_one_or_none()
        if pilgrim is None:
            return Reply(self.responses.text("porsi_not_found", porsi=porsi, office_name=self.office.name))
        return Reply(self.responses.text(
            "porsi_status", porsi=porsi, nama=pilgrim.nama[:1] + "***", kab_kota=pilgrim.kab_kota,
            status=pilgrim.status, estimasi=pilgrim.estimasi_tahun or "-"))
