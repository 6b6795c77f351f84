"""Everything the back office needs at request time, built once at start-up."""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from bot.backoffice.auth import SessionKeys
from bot.backoffice.notify import render
from bot.backoffice.office_rules import OfficeRules
from bot.backoffice.settings import BackofficeSettings
from bot.backoffice.throttle import LoginThrottle
from bot.backoffice.webhooks import Webhooks

log = logging.getLogger(__name__)


@dataclass
class Backoffice:
    services: Any  # bot.services.Services
    settings: BackofficeSettings
    rules: OfficeRules
    keys: SessionKeys
    webhooks: Webhooks
    throttle: LoginThrottle = None  # type: ignore[assignment]  # built from `settings` when not given

    def __post_init__(self) -> None:
        if self.throttle is None:
            self.throttle = LoginThrottle(self.settings)

    @classmethod
    def build(cls, services: Any) -> "Backoffice":
        config = services.settings.config
        secrets_ = services.settings.secrets
        key = secrets_.session_key
        if not key:
            log.warning("HAJIBOT_SESSION_KEY is not set: using a random key; staff sessions end at restart")
            key = secrets.token_hex(32)
        rules = OfficeRules(services.engine.rules, services.engine.tz)
        if config.backoffice.sla_hours is not None:
            log.warning("backoffice.sla_hours is ignored: late cases follow dialogues/rules/service_levels.yml")
        webhook_key = secrets_.webhook_signing_key.encode() if secrets_.webhook_signing_key else None
        if config.backoffice.webhook_url and webhook_key is None:
            log.error("backoffice.webhook_url is set but HAJIBOT_WEBHOOK_SIGNING_KEY is not: webhook disabled")
        webhooks = Webhooks(services.db, config.backoffice, webhook_key)
        services.pipeline.case_events = webhooks.enqueue  # a pilgrim's reply or late document: staff notified
        return cls(services, config.backoffice, rules, SessionKeys(key.encode()), webhooks)

    def format_when(self, moment: datetime) -> str:
        """A pilgrim-facing date and time in the office's time zone, from templates."""
        local = moment.astimezone(self.rules.tz)
        days = render(self.services.engine, "bo_day_names").split(",")
        return render(self.services.engine, "bo_datetime", day=days[local.weekday()].strip(),
                      date=local.strftime("%d-%m-%Y"), time=local.strftime("%H.%M"), tz=local.tzname() or "")


BACKOFFICE_KEY: web.AppKey[Backoffice] = web.AppKey("backoffice", Backoffice)
