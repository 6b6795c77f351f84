"""Delivery reports move broadcast rows to delivered/read, or failed (unreachable numbers get blocked)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.broadcast import service
from bot.broadcast.audience import Segment
from bot.broadcast.receipts import listen_to_whatsapp_receipts
from bot.broadcast.worker import BroadcastWorker
from storage.broadcast_models import BroadcastDelivery
from storage.models import Conversation
from tests.broadcast.conftest import FakeChannel, add_chats, fast_settings


class ChannelWithReports(FakeChannel):
    """Like the WhatsApp channel: records its own reports, then offers each one to `status_listeners`."""

    def __init__(self) -> None:
        super().__init__("whatsapp")
        self.reports: list[tuple[str, str]] = []
        self.status_listeners: list[Any] = []

    async def apply_status(self, sid: str, status: str, code: str = "") -> bool:
        self.reports.append((sid, status))
        return any([await listener(sid, status, code) for listener in self.status_listeners])


async def test_reports_update_deliveries(db, clock):
    await add_chats(db, 3, channel="whatsapp")
    channel = ChannelWithReports()
    listen_to_whatsapp_receipts(channel, db)
    listen_to_whatsapp_receipts(channel, db)  # idempotent
    assert len(channel.status_listeners) == 1
    async with db.session() as s:
        b = await service.create(s, title="t", text="x", segment=Segment(), actor="cli")
        await service.submit(s, b.id, "cli", require_approval=False, admin=True)
    worker = BroadcastWorker(db, {"whatsapp": channel}, fast_settings(), clock=clock)
    for _ in range(3):
        await worker.step()
    assert await channel.apply_status("p-1", "delivered") is True
    await channel.apply_status("p-1", "read")
    await channel.apply_status("p-1", "delivered")  # late, out of order: stays read
    await channel.apply_status("p-2", "delivered")
    await channel.apply_status("p-3", "undelivered", "63024")
    assert await channel.apply_status("SM-unknown", "read") is False
    assert len(channel.reports) == 6  # the channel's own handling still runs
    async with db.session() as s:
        rows = {r.provider_message_id: r for r in (await s.execute(select(BroadcastDelivery))).scalars()}
        assert rows["p-1"].status == "read" and rows["p-2"].status == "delivered"
        assert rows["p-3"].status == "failed" and rows["p-3"].error.startswith("blocked")
        assert (await s.get(Conversation, rows["p-3"].conversation_id)).blocked
        p = await service.progress(s, b.id)
    assert p.by_state == {"read": 1, "delivered": 1, "failed": 1} and p.sent == 2
    _: Any = None
