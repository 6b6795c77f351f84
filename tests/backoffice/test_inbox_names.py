"""The staff inbox names the pilgrim (verified registry name, else the channel's display name, else a masked
id) and shows what the pilgrim last wrote, not the bot's automatic answer."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from storage.models import Conversation, Message
from tests.backoffice.conftest import ADMIN_PASSWORD, login
from tests.conftest import WebChat


async def _to_staff(services: Any, channel_user_id: str, **values: Any) -> int:
    async with services.db.session() as s:
        conv = (await s.execute(select(Conversation).where(Conversation.channel_user_id == channel_user_id))
                ).scalar_one()
        conv.mode = "waiting_staff"
        for key, value in values.items():
            setattr(conv, key, value)
        await s.commit()
        return conv.id


async def test_inbox_shows_names_and_the_pilgrims_last_message(client: Any, admin_id: int,
                                                              demo_services: Any) -> None:
    # a verified pilgrim: the registry's name
    siti = WebChat(client, "web-siti-verified")
    await siti.say("cek porsi 0312345678")
    assert "SITI A***" in "\n".join(m["text"] for m in await siti.say("5 Juni 1960"))
    await siti.say("sy mau bicara sm petugas, berkas almarhumah ibu gmn?")
    verified = await _to_staff(demo_services, "web-siti-verified")
    # a Telegram user: the display name the channel gave
    async with demo_services.db.session() as s:
        tg = Conversation(channel="telegram", channel_user_id="5550001234", display_name="Buyung Rajo", state={},
                          mode="waiting_staff")
        s.add(tg)
        await s.flush()
        s.add_all([Message(conversation_id=tg.id, channel="telegram", direction="in", text="pak, ambo alah kirim surek",
                           status="processed", sender="user"),
                   Message(conversation_id=tg.id, channel="telegram", direction="out", sender="bot", status="sent",
                           text="Mohon tunggu, petugas kami akan segera membalas.")])
        await s.commit()
        telegram = tg.id
    # an anonymous web chat: only a masked id, never the whole session id
    anon = WebChat(client, "web-anonymous-7xq9")
    await anon.say("tolong dibantu")
    anonymous = await _to_staff(demo_services, "web-anonymous-7xq9")

    await login(client, "admin", ADMIN_PASSWORD)
    rows = {c["id"]: c for c in (await (await client.get("/backoffice/inbox.json")).json())["conversations"]}
    assert rows[verified]["name"] == "SITI AMINAH"
    assert rows[verified]["last_text"] == "sy mau bicara sm petugas, berkas almarhumah ibu gmn?"
    assert rows[telegram]["name"] == "Buyung Rajo"
    assert rows[telegram]["last_text"] == "pak, ambo alah kirim surek"  # not the bot's automatic answer
    assert rows[anonymous]["name"] == "Jemaah …7xq9"
    assert rows[anonymous]["last_text"] == "tolong dibantu"
    page = await (await client.get("/backoffice/inbox")).text()
    assert "SITI AMINAH" in page and "Buyung Rajo" in page and "pak, ambo alah kirim surek" in page
    assert "Mohon tunggu, petugas" not in page and "web-anonymous" not in page
    conversation = await (await client.get(f"/backoffice/conversations/{verified}")).text()
    assert "<h1>SITI AMINAH" in conversation
