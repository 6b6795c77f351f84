"""Composer pages through the full app: login, count, preview, save, approval by a second officer, the worker
running with the app, progress JSON, failed CSV, pause/cancel."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select, update

from storage.broadcast_models import BroadcastDelivery
from storage.models import Conversation, Message
from tests.backoffice.conftest import add_staff, csrf_from, login
from tests.broadcast.conftest import add_chats

PASSWORD = "Rahasia-Sekali-123"


@pytest.fixture
async def bc_client(make_settings: Any, aiohttp_client: Any) -> Any:
    from bot.app import create_app
    from bot.services import build_services

    settings = make_settings({"broadcast": {"poll_seconds": 0.05, "require_approval": True}})
    services = await build_services(settings)
    client = await aiohttp_client(create_app(services))
    client.services = services
    return client


async def wait_for(predicate: Any, timeout: float = 15.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not reached in time")


async def test_compose_approve_send(bc_client: Any) -> None:
    services = bc_client.services
    await add_chats(services.db, 5, channel="webchat", linked=True, estimasi=2022)
    await add_chats(services.db, 3, channel="webchat", start=100, linked=True, estimasi=2030)
    await add_staff(services, "siti", "petugas", PASSWORD)
    await add_staff(services, "budi", "petugas", PASSWORD)
    csrf = await login(bc_client, "siti", PASSWORD)

    page = await bc_client.get("/backoffice/broadcasts/new?template=berangkat_kuota_terbatas")
    html = await page.text()
    assert page.status == 200 and "Keberangkatan 2027" in html and "2022" not in html  # the current season
    form = {"csrf_token": csrf, "title": "Info 2022", "text": "Yth. {nama}, porsi {nomor_porsi_masked}.",
            "audience": "linked", "estimasi_from": "2022", "estimasi_to": "2022", "op": "count"}
    counted = await bc_client.post("/backoffice/broadcasts/new", data=form)
    assert "Jumlah penerima: 5" in await counted.text()
    previewed = await bc_client.post("/backoffice/broadcasts/new", data={**form, "op": "preview"})
    text = await previewed.text()
    assert "Yth. Jamaah Nomor 1, porsi *******001." in text and "Balas STOP" in text
    chosen = await bc_client.post("/backoffice/broadcasts/new", data={**form, "op": "preview",
                                                                      "preview_porsi": "0300000003"})
    assert "Yth. Jamaah Nomor 3, porsi *******003." in await chosen.text()
    bad = await bc_client.post("/backoffice/broadcasts/new", data={**form, "text": "Halo {alamat}", "op": "save"})
    assert bad.status == 400 and "alamat" in await bad.text()
    saved = await bc_client.post("/backoffice/broadcasts/new", data={**form, "op": "save"}, allow_redirects=False)
    assert saved.status == 303, await saved.text()
    url = saved.headers["Location"]
    unconfirmed = await bc_client.post(f"{url}/submit", data={"csrf_token": csrf}, allow_redirects=False)
    assert "/confirm?action=submit" in unconfirmed.headers["Location"]  # nothing sent without the confirmation
    confirm = await (await bc_client.get(f"{url}/confirm?action=submit")).text()
    assert 'data-total="5"' in confirm
    await bc_client.post(f"{url}/submit", data={"csrf_token": csrf, "confirmed_total": "5"})
    shown = await (await bc_client.get(url)).text()
    assert "Menunggu persetujuan" in shown
    denied = await bc_client.post(f"{url}/approve", data={"csrf_token": csrf, "confirmed_total": "5"},
                                  allow_redirects=False)
    assert "result=" in denied.headers["Location"]  # the author cannot approve

    await bc_client.post("/backoffice/logout", data={"csrf_token": csrf})
    csrf2 = await login(bc_client, "budi", PASSWORD)
    await bc_client.post(f"{url}/approve", data={"csrf_token": csrf2, "confirmed_total": "5"})

    async def completed() -> bool:
        data = await (await bc_client.get(f"{url}/progress.json")).json()
        return data["status"] == "completed"

    await wait_for(completed)
    data = await (await bc_client.get(f"{url}/progress.json")).json()
    assert data["by_state"] == {"sent": 5} and data["by_channel"] == {"webchat": {"sent": 5}}
    async with services.db.session() as session:
        texts = (await session.execute(select(Message.text).where(Message.sender == "broadcast"))).scalars().all()
        broadcast_id = int(url.rsplit("/", 1)[1])
        await session.execute(update(BroadcastDelivery).where(BroadcastDelivery.broadcast_id == broadcast_id,
                                                              BroadcastDelivery.id == 1)
                              .values(status="failed", error="=HYPERLINK(1)"))
        await session.commit()
    assert len(texts) == 5 and all(t.endswith("Balas STOP untuk berhenti menerima pengumuman.") for t in texts)
    csv_response = await bc_client.get(f"{url}/failed.csv")
    body = await csv_response.text()
    assert csv_response.status == 200 and body.splitlines()[0].startswith("delivery_id,")
    assert "'=HYPERLINK(1)" in body and "u1" in body
    listing = await (await bc_client.get("/backoffice/broadcasts")).text()
    assert "Info 2022" in listing


async def test_pages_need_login_and_csrf(bc_client: Any) -> None:
    anonymous = await bc_client.get("/backoffice/broadcasts", allow_redirects=False)
    assert anonymous.status in (302, 303)
    await add_staff(bc_client.services, "siti", "petugas", PASSWORD)
    await login(bc_client, "siti", PASSWORD)
    forged = await bc_client.post("/backoffice/broadcasts/new", data={"title": "x", "text": "y", "op": "save"})
    assert forged.status == 403


async def test_test_send_to_linked_staff_chat(bc_client: Any) -> None:
    from bot.broadcast import service
    from bot.broadcast.audience import Segment

    services = bc_client.services
    staff_id = await add_staff(services, "siti", "petugas", PASSWORD)
    [conv_id] = await add_chats(services.db, 1, channel="webchat", start=900, subscribed=False)
    csrf = await login(bc_client, "siti", PASSWORD)
    async with services.db.session() as session:
        b = await service.create(session, title="t", text="Tes {nama}", segment=Segment(), actor="staff:siti")
    no_chat = await bc_client.post(f"/backoffice/broadcasts/{b.id}/test", data={"csrf_token": csrf})
    assert "link-chat" in await no_chat.text()
    async with services.db.session() as session:
        await service.link_staff_chat(session, staff_id, conv_id)
    sent = await bc_client.post(f"/backoffice/broadcasts/{b.id}/test", data={"csrf_token": csrf})
    assert "terkirim" in await sent.text()
    async with services.db.session() as session:
        texts = (await session.execute(select(Message.text).where(Message.conversation_id == conv_id))).scalars().all()
    assert texts == ["[UJI COBA] Tes Pengguna 900\n\nBalas STOP untuk berhenti menerima pengumuman."]
    assert csrf_from(await (await bc_client.get(f"/backoffice/broadcasts/{b.id}")).text())
    _ = Conversation
