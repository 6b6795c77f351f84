"""Back-office settings (the `backoffice:` section of config.yml)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class BackofficeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sla_hours: float = Field(48, gt=0)
    secure_cookies: bool = False
    max_failed_logins: int = Field(5, ge=1)
    webhook_url: str = ""
