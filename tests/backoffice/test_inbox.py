"""Live hand-off: waiting conversations, take over, reply through the pilgrim's channel, return to bot."""
from sqlalchemy import select

from storage.models import AuditLog, Conversation, Message
from tests.backoffice.conftest import ADMIN_PASSWORD, login


async def _waiting_conversation(webchat, services):
    await webchat.say("halo")
    async with services.db.session() as s:
        conv = (await s.execute(select(Conversation).where(Conversation.channel_user_id == webchat.user_id))
                ).scalar_one()
        conv.mode = "waiting_staff"
        await s.commit()
        return conv.id


async def test_take_over_reply_and_return(client, webchat, admin_id, demo_services):
    conversation_id = await _waiting_conversation(webchat, demo_services)
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    inbox = await (await client.get("/backoffice/inbox.json")).json()
    assert [c["id"] for c in inbox["conversations"]] == [conversation_id]
    assert inbox["conversations"][0]["mode"] == "waiting_staff"
    base = f"/backoffice/conversations/{conversation_id}"
    r = await client.post(f"{base}/take", data={"csrf_token": csrf}, allow_redirects=False)
    assert r.status == 303
    # the pilgrim writes; the bot stays quiet and staff see it in the live feed
    assert await webchat.say("tolong dibantu, berkas saya bagaimana?") == []
    feed = await (await client.get(f"{base}/messages.json", params={"after": "0"})).json()
    assert feed["mode"] == "staff"
    assert any(m["direction"] == "in" and "berkas saya" in m["text"] for m in feed["messages"])
    r = await client.post(f"{base}/reply", data={"csrf_token": csrf, "text": "Berkas Bapak sedang kami cek."},
                          headers={"X-Requested-With": "fetch"})
    assert r.status == 200 and (await r.json())["ok"]
    texts = [m["text"] for m in await webchat.poll() if m["from"] != "me"]
    assert "Berkas Bapak sedang kami cek." in texts
    assert any("dilayani oleh petugas" in t for t in texts)
    r = await client.post(f"{base}/return", data={"csrf_token": csrf}, allow_redirects=False)
    assert r.status == 303
    async with demo_services.db.session() as s:
        conv = await s.get(Conversation, conversation_id)
        staff_msgs = (await s.execute(select(Message).where(Message.sender == "staff"))).scalars().all()
        actions = (await s.execute(select(AuditLog.action).where(AuditLog.conversation_id == conversation_id))
                   ).scalars().all()
    assert conv.mode == "bot" and conv.handoff_staff_id is None
    assert all(m.staff_id == admin_id for m in staff_msgs)
    assert {"conversation.take_over", "conversation.reply", "conversation.return_to_bot"} <= set(actions)
    assert (await (await client.get("/backoffice/inbox.json")).json())["conversations"] == []
    assert await webchat.say("menu")  # the bot answers again


async def test_reply_validation(client, webchat, admin_id, demo_services):
    conversation_id = await _waiting_conversation(webchat, demo_services)
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    r = await client.post(f"/backoffice/conversations/{conversation_id}/reply", data={"csrf_token": csrf, "text": " "},
                          headers={"X-Requested-With": "fetch"})
    assert r.status == 400
    r = await client.post(f"/backoffice/conversations/{conversation_id}/reply",
                          data={"csrf_token": csrf, "text": "x" * 5000}, headers={"X-Requested-With": "fetch"})
    assert r.status == 400
    assert (await client.get("/backoffice/conversations/424242")).status == 404


async def test_inbox_page_lists_waiting(client, webchat, admin_id, demo_services):
    await _waiting_conversation(webchat, demo_services)
    await login(client, "admin", ADMIN_PASSWORD)
    page = await (await client.get("/backoffice/inbox")).text()
    assert "Menunggu petugas" in page and 'data-poll="/backoffice/inbox.json"' in page


async def test_staff_open_files_sent_in_chat(client, webchat, admin_id, demo_services):
    import base64

    from tests.backoffice.conftest import png_bytes

    conversation_id = await _waiting_conversation(webchat, demo_services)
    await webchat.say("ini fotonya", attachments=[{"filename": "foto.png", "content_type": "image/png",
                                                   "data_base64": base64.b64encode(png_bytes()).decode()}])
    await login(client, "admin", ADMIN_PASSWORD)
    feed = await (await client.get(f"/backoffice/conversations/{conversation_id}/messages.json")).json()
    url = next(a["url"] for m in feed["messages"] for a in m["attachments"])
    r = await client.get(url)
    assert r.status == 200 and r.headers["Content-Type"] == "image/png" and await r.read() == png_bytes()
    assert (await client.get(url.replace("/attachments/1", "/attachments/5"))).status == 404
