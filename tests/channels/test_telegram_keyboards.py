"""Telegram choice keyboards, through the real python-telegram-bot against the fake Bot API (real wire
format): buttons are numbered like the web chat and WhatsApp lists; once the pilgrim answers, by pressing a
button or by typing, the keyboard is removed with editMessageReplyMarkup, so an old button cannot be pressed
later."""
from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import select

from storage.models import Conversation, Message
from tests.channels import fake_telegram as tg
from tests.channels.conftest import TELEGRAM_SECRET, eventually

CHAT = 81000777
_updates = itertools.count(900001)


async def _all_sent(services: Any) -> bool:
    async with services.db.session() as session:
        conv = (await session.execute(select(Conversation).where(
            Conversation.channel == "telegram", Conversation.channel_user_id == str(CHAT)))).scalar_one_or_none()
        if conv is None:
            return False
        statuses = (await session.execute(select(Message.status).where(
            Message.conversation_id == conv.id, Message.direction == "out"))).scalars().all()
    return bool(statuses) and all(s not in ("pending", "sending") for s in statuses)


async def _post(client: Any, services: Any, update: dict[str, Any]) -> None:
    response = await client.post("/telegram/webhook", json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
    assert response.status == 200
    await services.channels["telegram"].wait_idle()
    await eventually(lambda: _all_sent(services))
    await services.channels["telegram"].wait_idle()


async def say(client: Any, services: Any, text: str) -> None:
    await _post(client, services, tg.text_update(next(_updates), CHAT, text))


async def press(client: Any, services: Any, fake: tg.FakeTelegram, message: dict[str, Any], label_part: str) -> None:
    """Press a button of a message the bot really sent (its id and keyboard as the chat shows them)."""
    labels = [row[0]["text"] for row in message["reply_markup"]["inline_keyboard"]]
    index = next(i for i, label in enumerate(labels, 1) if label_part.lower() in label.lower())
    await _post(client, services, tg.callback_update(next(_updates), CHAT, str(index), labels,
                                                     message_id=message["message_id"]))


async def inbound_texts(services: Any) -> list[str]:
    async with services.db.session() as session:
        return list((await session.execute(select(Message.text).where(Message.direction == "in")
                                           .order_by(Message.id))).scalars().all())


async def test_keyboards_are_numbered_and_removed_once_answered(channel_client, channel_services, fake_telegram):
    await say(channel_client, channel_services, "assalamualaikum")
    [menu] = fake_telegram.with_keyboard(CHAT)
    assert fake_telegram.keyboard(CHAT, menu["message_id"])[:2] == ["1. Cek nomor porsi & estimasi",
                                                                    "2. Pembatalan porsi"]

    # pressing a button: the label (without its number) continues the flow; that keyboard is removed
    await press(channel_client, channel_services, fake_telegram, menu, "Info biaya")
    assert (await inbound_texts(channel_services))[-1] == "Info biaya, jadwal & kantor"
    assert fake_telegram.keyboard(CHAT, menu["message_id"]) is None
    edits = [c for c in fake_telegram.calls if c.method == "editMessageReplyMarkup"]
    assert [(c.ok, c.params["message_id"]) for c in edits] == [(True, str(menu["message_id"]))]
    assert "reply_markup" not in edits[0].result and edits[0].result["edit_date"]

    # typing the number instead of pressing: the question's keyboard is removed too
    [info] = fake_telegram.with_keyboard(CHAT)
    assert fake_telegram.keyboard(CHAT, info["message_id"]) == ["1. Biaya haji", "2. Jadwal layanan",
                                                                "3. Alamat kantor"]
    await say(channel_client, channel_services, "2")
    assert fake_telegram.keyboard(CHAT, info["message_id"]) is None
    assert fake_telegram.with_keyboard(CHAT) == [] or all(
        m["message_id"] > info["message_id"] for m in fake_telegram.with_keyboard(CHAT))

    # a late press on a removed keyboard (sent before the edit reached the phone) is answered, nothing breaks
    calls = len(fake_telegram.calls)
    await press(channel_client, channel_services, fake_telegram, menu, "Pembatalan")
    late = [c for c in fake_telegram.calls[calls:] if c.method == "editMessageReplyMarkup"
            and c.params["message_id"] == str(menu["message_id"])]
    assert [c.ok for c in late] == [False]  # "message is not modified": logged, not retried
    assert [c.method for c in fake_telegram.calls[calls:]].count("answerCallbackQuery") == 1
