"""Back-office settings (the `backoffice:` section of config.yml)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class BackofficeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sla_hours: float = Field(48, gt=0, description="Open cases waiting longer than this are highlighted")
    secure_cookies: bool = Field(False, description="Set the Secure flag on cookies (true behind HTTPS)")
    max_failed_logins: int = Field(5, ge=1, description="Failed logins in a row before the account locks")
    lockout_minutes: float = Field(15, gt=0)
    session_hours: float = Field(12, gt=0, description="Idle time after which a staff session ends")
    webhook_url: str = Field("", description="POST target for case events; empty = no webhook")
    webhook_max_attempts: int = Field(0, ge=0, description="0 = retry until acknowledged")
    webhook_timeout_seconds: float = Field(10, gt=0)
    inbox_poll_seconds: float = Field(5, gt=0, le=120)
    page_size: int = Field(50, ge=5, le=500)
