from __future__ import annotations

from bot.broadcast import service
from bot.broadcast.audience import Segment, count
from bot.broadcast.worker import BroadcastWorker
from tests.broadcast.conftest import FakeChannel, add_chats, fast_settings


async def test_end_to_end(db, clock):
    await add_chats(db, 30, linked=True)
    tg = FakeChannel("telegram")
    async with db.session() as s:
        assert (await count(s, Segment()))["total"] == 30
        b = await service.create(s, title="t", text="Halo {nama} {nomor_porsi_masked}", segment=Segment(), actor="cli")
        await service.submit(s, b.id, "cli", require_approval=False, admin=True)
    w = BroadcastWorker(db, {"telegram": tg}, fast_settings(max_in_flight=7), clock=clock)
    for _ in range(20):
        await w.step()
    async with db.session() as s:
        p = await service.progress(s, b.id, clock())
    assert p.status == "completed", p
    assert p.by_state == {"sent": 30}
    assert len(tg.sends) == 30 and set(tg.per_user().values()) == {1}
    assert "Halo Jamaah Nomor 1 *******001" in tg.sends[0][1]
    assert tg.sends[0][1].endswith("Balas STOP untuk berhenti menerima pengumuman.")
