"""Exactly-once sends after a crash: the outbox commits the attempt before calling the platform, and a send
interrupted by a crash is never repeated blindly: it shows up for staff as 'mungkin terkirim', and a person
decides to send it again."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.core.channel import SendResult
from bot.core.outbox import LEASE_SECONDS, Outbox
from storage.models import AuditLog, Message
from tests.backoffice.conftest import ADMIN_PASSWORD, admin_id, csrf_from, login  # noqa: F401 (fixture)
from tests.channels.helpers import FakeClock, message, queue

ANSWER = "Waalaikumsalam Uda, berkas pembatalan sudah kami terima. Nomor tiket PBT-2026-00007."


class Platform:
    """Telegram/Twilio as seen from the outbox: it accepts what it is given and remembers it."""

    name = "fake"
    push = True
    rate_limits = ()

    def __init__(self, services: Any) -> None:
        self.services = services
        self.received: list[str] = []
        self.seen_in_db: list[tuple[str, bool]] = []

    def setup_routes(self, app: Any) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, conversation: Any, msg: Any) -> SendResult:
        # what another process sees in the database while the API call is in flight
        async with self.services.db.session() as session:
            row = (await session.execute(select(Message).where(Message.id == msg.id))).scalar_one()
            self.seen_in_db.append((row.status, row.attempted_at is not None))
        self.received.append(msg.text)
        return SendResult(ok=True, provider_message_id=f"p{msg.id}")


async def test_attempt_is_committed_before_the_api_call(services):
    platform = Platform(services)
    box = Outbox(services.db, {"fake": platform}, clock=FakeClock())
    [mid] = await queue(services, "fake", "uda-7", ANSWER)
    await box.drain()
    assert platform.seen_in_db == [("sending", True)]
    row = await message(services, mid)
    assert row.status == "sent" and platform.received == [ANSWER]


async def test_crash_after_the_platform_accepted_is_not_sent_twice(services):
    clock = FakeClock()
    platform = Platform(services)
    [mid] = await queue(services, "fake", "uda-7", ANSWER)
    dying = Outbox(services.db, {"fake": platform}, clock=clock)
    [(conversation, claimed)] = await dying._claim()
    await platform.send(conversation, claimed)  # Telegram accepted it ... and the process died here
    restarted = Outbox(services.db, {"fake": platform}, clock=clock)
    assert await restarted.drain() == 0  # lease still running: nobody touches it
    clock.advance(LEASE_SECONDS + 1)
    assert await restarted.drain() == 0
    assert platform.received == [ANSWER]  # exactly once
    row = await message(services, mid)
    assert row.status == "maybe_sent" and "may or may not" in row.error
    # the conversation goes on: the next answer is not held back by the uncertain one
    [later] = await queue(services, "fake", "uda-7", "Ada lagi yang bisa kami bantu?")
    await restarted.drain()
    assert (await message(services, later)).status == "sent"


async def test_slow_send_finishing_after_its_lease_still_records_sent(services):
    clock = FakeClock()
    platform = Platform(services)
    [mid] = await queue(services, "fake", "uda-8", ANSWER)
    box = Outbox(services.db, {"fake": platform}, clock=clock)
    [(conversation, claimed)] = await box._claim()
    clock.advance(LEASE_SECONDS + 1)
    await Outbox(services.db, {"fake": platform}, clock=clock).drain()  # another worker marks it maybe_sent
    result = await platform.send(conversation, claimed)
    await box._record(conversation, claimed, result)  # the slow call returns after all
    assert (await message(services, mid)).status == "sent"


async def test_staff_see_maybe_sent_and_choose_to_resend(client, admin_id, demo_services):
    clock = FakeClock()
    platform = Platform(demo_services)
    [mid] = await queue(demo_services, "fake", "uda-9", ANSWER)
    box = Outbox(demo_services.db, {"fake": platform}, clock=clock)
    await box._claim()  # died before the API call: unknown to us whether it went out
    clock.advance(LEASE_SECONDS + 1)
    await box.drain()
    assert platform.received == []
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    page = await client.get("/backoffice/outbox")
    html = await page.text()
    assert page.status == 200 and "mungkin terkirim" in html and "PBT-2026-00007" in html
    row = await message(demo_services, mid)
    conv_page = await (await client.get(f"/backoffice/conversations/{row.conversation_id}")).text()
    assert "mungkin terkirim" in conv_page
    # a request without the CSRF token changes nothing
    assert (await client.post(f"/backoffice/outbox/{mid}/resend", allow_redirects=False)).status == 403
    resend = await client.post(f"/backoffice/outbox/{mid}/resend", data={"csrf_token": csrf}, allow_redirects=False)
    assert resend.status == 303 and "done_resend_queued" in resend.headers["Location"]
    again = await client.post(f"/backoffice/outbox/{mid}/resend", data={"csrf_token": csrf}, allow_redirects=False)
    assert "resend_not_possible" in again.headers["Location"]  # a double click queues it once
    await box.drain()
    assert platform.received == [ANSWER]
    assert (await message(demo_services, mid)).status == "sent"
    async with demo_services.db.session() as s:
        audited = (await s.execute(select(AuditLog).where(AuditLog.action == "message.resend"))).scalars().all()
    assert [a.actor for a in audited] == ["staff:admin"]
