"""Back-office settings (the `backoffice:` section of config.yml)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bot.core.requester import ProxyList


class BackofficeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sla_hours: float | None = Field(
        None, description="Ignored (kept so older config files still load): the service standards in "
                          "dialogues/rules/service_levels.yml decide which cases are late")
    secure_cookies: bool = Field(False, description="Set the Secure flag on cookies (true behind HTTPS)")
    login_free_failures_account: int = Field(5, ge=1, description="Failed sign-ins to one account name after "
                                             "which attempts are delayed (1, 2, 4 ... s)")
    login_max_delay_account_seconds: float = Field(
        30, gt=0, description="Longest delay for an account name (short: the real officer still gets in)")
    login_free_failures_ip: int = Field(10, ge=1, description="Failed sign-ins from one client IP after which attempts are delayed")
    login_max_delay_ip_seconds: float = Field(900, gt=0, description="Longest delay for one client IP")
    trusted_proxies: ProxyList = Field(
        default_factory=lambda: ["127.0.0.1/32", "::1/128"],
        description="Reverse proxies whose X-Forwarded-For names the client (addresses or networks)")
    session_hours: float = Field(12, gt=0, description="Idle time after which a staff session ends")
    webhook_url: str = Field("", description="POST target for case events; empty = no webhook")
    webhook_max_attempts: int = Field(0, ge=0, description="0 = retry until acknowledged")
    webhook_timeout_seconds: float = Field(10, gt=0)
    sla_head_of_section: str = Field("", description="Head of section told of cases about to breach the service "
                                     "standard (name or contact, sent in the signed event); empty = no alerts")
    sla_alert_url: str = Field("", description="POST target for SLA alerts and the daily digest; empty = webhook_url")
    sla_digest_hour: int = Field(7, ge=0, le=23, description="Local hour after which the daily SLA digest is sent")
    sla_check_minutes: float = Field(10, gt=0, description="How often open cases are checked against the standard")
    inbox_poll_seconds: float = Field(5, gt=0, le=120)
    page_size: int = Field(50, ge=5, le=500)

