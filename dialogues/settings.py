"""Dialogue and office settings (the `office:` and `dialogue:` sections of config.yml)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OfficeSettings(BaseModel):
    """The office is configuration: any kab/kota office can run the service."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kab_kota: str
    provinsi: str
    address: str
    phone: str
    hours: str | None = Field(None, description="Opening hours as shown to pilgrims; by default written from "
                              "office_hours in dialogues/rules/office.yml (e.g. 'Senin-Kamis 08.00-16.00 WIB')")
    timezone: str = "Asia/Jakarta"
    logo: str | None = Field(None, description="Letterhead logo of the ready-to-sign letters (PNG/JPEG; a relative "
                             "path is next to config.yml); none: the letterhead is text only")


class DialogueSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flows_dir: str = "dialogues/flows"
    responses_dir: str = "dialogues/responses"
    rules_dir: str = "dialogues/rules"
    letters_dir: str = "dialogues/letters"
    resume_window_hours: float = Field(72, gt=0, description="After this, an unfinished flow is offered a restart")
    max_failed_attempts: int = Field(3, ge=1)
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1024)
