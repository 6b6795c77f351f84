"""Outgoing webhook: one stored delivery per case event, POSTed to the configured URL and retried with
back-off until the receiver answers 2xx.

Signature: header `X-Hajibot-Timestamp: <unix seconds>` and
`X-Hajibot-Signature: sha256=<hex HMAC-SHA256(webhook_signing_key, "<timestamp>." + body)>`.
The timestamp is inside the signed bytes so a captured request cannot be replayed later with a new one."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
from sqlalchemy import exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.background import BackgroundLoop
from bot.backoffice.serialize import case_json
from bot.backoffice.settings import BackofficeSettings
from storage.db import Database
from storage.models import Case, WebhookDelivery

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hajibot-Signature"
TIMESTAMP_HEADER = "X-Hajibot-Timestamp"
EVENT_HEADER = "X-Hajibot-Event"
DELIVERY_HEADER = "X-Hajibot-Delivery"
BASE_BACKOFF_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 3600.0
NEW_CASE_LOOKBACK = timedelta(hours=24)
LEASE_SECONDS = 120  # a claimed delivery is left alone this long by other processes
IDLE_SECONDS = 2.0  # between passes over due deliveries


def sign(key: bytes, timestamp: int, body: bytes) -> str:
    return "sha256=" + hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(key: bytes, timestamp: str, body: bytes, signature: str, now: float, tolerance: float = 300) -> bool:
    """Receiver-side check (used in tests and shown in the docs)."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    return abs(now - ts) <= tolerance and hmac.compare_digest(sign(key, ts, body), signature)


def backoff_seconds(attempt: int) -> float:
    base = min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * (2 ** (attempt - 1)))
    return base * random.uniform(0.8, 1.2)


class Webhooks:
    """Enqueues events (in the caller's transaction) and delivers them in a background task."""

    def __init__(self, db: Database, settings: BackofficeSettings, key: bytes | None,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.db = db
        self.settings = settings
        self.key = key
        self.clock = clock
        self._loop = BackgroundLoop("webhook deliveries", log, self._pass, lambda: IDLE_SECONDS)
        self._http: aiohttp.ClientSession | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.settings.webhook_url and self.key)

    def enqueue(self, session: AsyncSession, event: str, case: Case, **extra: Any) -> None:
        """Add a delivery for `event` about `case` to the session (committed with the change)."""
        if not self.enabled:
            return
        body = json.dumps({"event": event, "at": self.clock().isoformat(), "case": case_json(case), **extra},
                          ensure_ascii=False, sort_keys=True)
        session.add(WebhookDelivery(event=event, case_id=case.id, url=self.settings.webhook_url, body=body,
                                    status="pending", next_attempt_at=self.clock()))
        self._loop.wake()

    def enqueue_event(self, session: AsyncSession, event: str, payload: dict[str, Any], url: str = "",
                      case_id: int | None = None) -> bool:
        """A signed event that is not a case change (e.g. the SLA digest) to `url` (default: webhook_url)."""
        target = url or self.settings.webhook_url
        if not (target and self.key):
            return False
        body = json.dumps({"event": event, "at": self.clock().isoformat(), **payload},
                          ensure_ascii=False, sort_keys=True)
        session.add(WebhookDelivery(event=event, case_id=case_id, url=target, body=body,
                                    status="pending", next_attempt_at=self.clock()))
        self._loop.wake()
        return True

    async def enqueue_new_submissions(self) -> int:
        """Cases the bot submitted recently that have no `case.submitted` delivery yet."""
        if not self.enabled:
            return 0
        since = self.clock() - NEW_CASE_LOOKBACK  # older cases predate the webhook (or a long outage)
        async with self.db.session() as session:
            has_delivery = exists().where(WebhookDelivery.case_id == Case.id, WebhookDelivery.event == "case.submitted")
            cases = (await session.execute(select(Case).where(Case.submitted_at.is_not(None), Case.submitted_at >= since,
                                                              ~has_delivery).limit(100))).scalars().all()
            for case in cases:
                self.enqueue(session, "case.submitted", case)
            await session.commit()
        return len(cases)

    async def deliver_due(self, http: aiohttp.ClientSession) -> int:
        """Send every due delivery once; returns how many were attempted. Each one is claimed first with a
        lease (next_attempt_at moved ahead) so several service processes never send the same one at once."""
        now = self.clock()
        is_due = or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at <= now)
        async with self.db.session() as session:
            due = (await session.execute(select(WebhookDelivery.id).where(WebhookDelivery.status == "pending", is_due)
                                         .order_by(WebhookDelivery.id).limit(50))).scalars().all()
            claimed = []
            for delivery_id in due:
                result = await session.execute(update(WebhookDelivery).where(
                    WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending", is_due)
                    .values(next_attempt_at=now + timedelta(seconds=LEASE_SECONDS)))
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(delivery_id)
            await session.commit()
            for delivery_id in claimed:
                delivery = await session.get(WebhookDelivery, delivery_id, populate_existing=True)
                assert delivery is not None
                await self._attempt(http, delivery)
                await session.commit()
        return len(claimed)

    async def _attempt(self, http: aiohttp.ClientSession, delivery: WebhookDelivery) -> None:
        assert self.key is not None
        body = delivery.body.encode()
        timestamp = int(self.clock().timestamp())
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp),
                   SIGNATURE_HEADER: sign(self.key, timestamp, body), EVENT_HEADER: delivery.event,
                   DELIVERY_HEADER: str(delivery.id)}
        delivery.attempts += 1
        try:
            timeout = aiohttp.ClientTimeout(total=self.settings.webhook_timeout_seconds)
            async with http.post(delivery.url, data=body, headers=headers, timeout=timeout,
                                 allow_redirects=False) as response:
                delivery.last_status_code = response.status
                ok = 200 <= response.status < 300
                delivery.last_error = None if ok else f"HTTP {response.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            ok = False
            delivery.last_status_code = None
            delivery.last_error = f"{type(exc).__name__}: {exc}"[:500]
        if ok:
            delivery.status = "delivered"
            delivery.delivered_at = self.clock()
            delivery.next_attempt_at = None
        elif self.settings.webhook_max_attempts and delivery.attempts >= self.settings.webhook_max_attempts:
            delivery.status = "failed"
            log.warning("webhook delivery %s gave up after %d attempts", delivery.id, delivery.attempts)
        else:
            delivery.next_attempt_at = self.clock() + timedelta(seconds=backoff_seconds(delivery.attempts))

    # background task -------------------------------------------------------------------------
    def wake(self) -> None:
        self._loop.wake()

    def start(self) -> None:
        if self.enabled:
            self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _pass(self) -> bool:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        await self.enqueue_new_submissions()
        await self.deliver_due(self._http)
        return False  # deliveries wait for their back-off: the next pass comes after the idle wait
