"""`ops:` section of config.yml: background sweeps and data retention (UU 27/2022)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RetentionSettings(BaseModel):
    """How long personal data is kept. 0 days disables that part."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    closed_case_documents_days: int = Field(365, ge=0, description="documents of closed cases, after closed_at")
    messages_days: int = Field(730, ge=0, description="chat transcripts (messages), after created_at")
    run_every_minutes: float = Field(60, gt=0)
    batch: int = Field(500, ge=1, le=100_000)


class OpsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sweep_seconds: float = Field(5.0, gt=0, description="how often unprocessed inbound messages are looked for")
    stale_seconds: float = Field(15.0, ge=0, description="age after which a 'received' message is swept")
    retention: RetentionSettings = RetentionSettings()
    metrics_refresh_seconds: float = Field(15.0, gt=0, description="how often the database gauges of /metrics "
                                                                   "are read (a scrape never queries)")
    metrics_listen: str = Field("", pattern=r"^$|^[\w.\-\[\]:]+:\d{1,5}$",
                                description="host:port of a separate /metrics listener without token "
                                            "(private address); empty = none")
