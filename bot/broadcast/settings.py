"""Broadcast settings (the `broadcast:` section of config.yml)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class BroadcastSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    require_approval: bool = False
    batch_size: int = Field(500, ge=1)
