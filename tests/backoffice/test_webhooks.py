"""Outgoing webhook: signature, stored deliveries, retries with back-off until acknowledged."""
import json
import time
from datetime import datetime, timedelta, timezone

import aiohttp
from aiohttp import web
from sqlalchemy import select

from bot.backoffice.settings import BackofficeSettings
from bot.backoffice.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, Webhooks, backoff_seconds, sign, verify
from storage.models import WebhookDelivery
from tests.backoffice.conftest import seed_case

KEY = b"test-signing-key"


def test_signature_roundtrip():
    body = b'{"event":"case.submitted"}'
    ts = int(time.time())
    signature = sign(KEY, ts, body)
    assert signature.startswith("sha256=") and len(signature) == 71
    assert verify(KEY, str(ts), body, signature, now=time.time())
    assert not verify(KEY, str(ts), body + b" ", signature, now=time.time())
    assert not verify(b"other", str(ts), body, signature, now=time.time())
    assert not verify(KEY, str(ts - 3600), body, sign(KEY, ts - 3600, body), now=time.time())


def test_backoff_grows_and_is_capped():
    assert backoff_seconds(1) < backoff_seconds(4) < backoff_seconds(8)
    assert backoff_seconds(50) <= 3600 * 1.2


class Receiver:
    def __init__(self, fail_times: int) -> None:
        self.fail_times = fail_times
        self.calls: list[tuple[dict, bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append((dict(request.headers), await request.read()))
        if len(self.calls) <= self.fail_times:
            return web.Response(status=503)
        return web.Response(status=204)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now


async def test_retries_until_acknowledged_with_valid_signature(demo_services, aiohttp_server):
    receiver = Receiver(fail_times=2)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    server = await aiohttp_server(app)
    clock = Clock()
    settings = BackofficeSettings(webhook_url=str(server.make_url("/hook")))
    hooks = Webhooks(demo_services.db, settings, KEY, clock=clock)
    seeded = await seed_case(demo_services)
    assert await hooks.enqueue_new_submissions() == 1
    assert await hooks.enqueue_new_submissions() == 0  # once per case
    async with aiohttp.ClientSession() as http:
        assert await hooks.deliver_due(http) == 1
        assert await hooks.deliver_due(http) == 0  # not yet due: backing off
        for _ in range(2):
            async with demo_services.db.session() as s:
                delivery = (await s.execute(select(WebhookDelivery))).scalar_one()
            assert delivery.status == "pending" and delivery.last_status_code == 503
            clock.now = delivery.next_attempt_at + timedelta(seconds=1)
            await hooks.deliver_due(http)
    async with demo_services.db.session() as s:
        delivery = (await s.execute(select(WebhookDelivery))).scalar_one()
    assert delivery.status == "delivered" and delivery.attempts == 3 and delivery.last_status_code == 204
    assert len(receiver.calls) == 3
    headers, body = receiver.calls[-1]
    assert verify(KEY, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER], now=clock.now.timestamp())
    payload = json.loads(body)
    assert payload["event"] == "case.submitted" and payload["case"]["ticket"] == seeded.ticket


async def test_unreachable_receiver_is_retried(demo_services):
    clock = Clock()
    hooks = Webhooks(demo_services.db, BackofficeSettings(webhook_url="http://127.0.0.1:9/hook"), KEY, clock=clock)
    await seed_case(demo_services)
    await hooks.enqueue_new_submissions()
    async with aiohttp.ClientSession() as http:
        await hooks.deliver_due(http)
    async with demo_services.db.session() as s:
        delivery = (await s.execute(select(WebhookDelivery))).scalar_one()
    assert delivery.status == "pending" and delivery.attempts == 1 and delivery.last_error
    assert delivery.next_attempt_at > clock.now


async def test_gives_up_only_when_configured(demo_services):
    clock = Clock()
    settings = BackofficeSettings(webhook_url="http://127.0.0.1:9/hook", webhook_max_attempts=1)
    hooks = Webhooks(demo_services.db, settings, KEY, clock=clock)
    await seed_case(demo_services)
    await hooks.enqueue_new_submissions()
    async with aiohttp.ClientSession() as http:
        await hooks.deliver_due(http)
    async with demo_services.db.session() as s:
        assert (await s.execute(select(WebhookDelivery))).scalar_one().status == "failed"


async def test_status_change_from_staff_enqueues_event(make_settings, aiohttp_client):
    from bot.app import create_app
    from bot.services import build_services
    from storage.demo import seed_demo
    from tests.backoffice.conftest import ADMIN_PASSWORD, add_staff, login

    settings = make_settings({"backoffice": {"webhook_url": "http://127.0.0.1:9/hook"}},
                             env={"HAJIBOT_WEBHOOK_SIGNING_KEY": "k" * 32})
    services = await build_services(settings)
    try:
        async with services.db.session() as s:
            await seed_demo(s)
        await add_staff(services, "admin", "admin", ADMIN_PASSWORD)
        seeded = await seed_case(services)
        client = await aiohttp_client(create_app(services))
        csrf = await login(client, "admin", ADMIN_PASSWORD)
        await client.post(f"/backoffice/cases/{seeded.case_id}/action",
                          data={"csrf_token": csrf, "action": "start_review"})
        async with services.db.session() as s:
            events = (await s.execute(select(WebhookDelivery.event, WebhookDelivery.body))).all()
        changed = [json.loads(b) for e, b in events if e == "case.status_changed"]
        assert changed and changed[0]["case"]["status"] == "in_review"
        assert changed[0]["previous_status"] == "submitted"
        page = await (await client.get("/backoffice/webhooks")).text()
        assert "case.status_changed" in page
    finally:
        await services.close()


async def test_admin_can_requeue_a_failed_delivery(client, demo_services):
    from tests.backoffice.conftest import ADMIN_PASSWORD, add_staff, login

    seeded = await seed_case(demo_services)
    async with demo_services.db.session() as s:
        s.add(WebhookDelivery(event="case.submitted", case_id=seeded.case_id, url="http://127.0.0.1:9/x", body="{}",
                              status="failed", attempts=9))
        await s.commit()
    await add_staff(demo_services, "admin", "admin", ADMIN_PASSWORD)
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    r = await client.post("/backoffice/webhooks/1/retry", data={"csrf_token": csrf}, allow_redirects=False)
    assert r.status == 303
    async with demo_services.db.session() as s:
        assert (await s.get(WebhookDelivery, 1)).status == "pending"


async def test_two_senders_never_send_the_same_delivery_twice(demo_services, aiohttp_server):
    import asyncio

    receiver = Receiver(fail_times=0)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    server = await aiohttp_server(app)
    settings = BackofficeSettings(webhook_url=str(server.make_url("/hook")))
    clock = Clock()
    first, second = (Webhooks(demo_services.db, settings, KEY, clock=clock) for _ in range(2))
    for n in range(3):
        await seed_case(demo_services, f"user-{n}", f"PBT-2026-0010{n}")
    await first.enqueue_new_submissions()
    async with aiohttp.ClientSession() as http:
        counts = await asyncio.gather(first.deliver_due(http), second.deliver_due(http))
    assert sum(counts) == 3 and len(receiver.calls) == 3
