"""A fake Telegram Bot API server (aiohttp) speaking the real wire format: `POST /bot<token>/<method>`
with form or multipart parameters, `{"ok": true, "result": ...}` answers, files under
`/file/bot<token>/<path>`. It records every call and can be told to fail the next calls of a method."""
from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_USER = {"id": 777000111, "is_bot": True, "first_name": "Hajibot", "username": "hajibot_test_bot"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    ok: bool = True  # False when the fake answered with an error
    result: Any = None  # the "result" the fake answered with


class ApiError(Exception):
    """An error answer of the Bot API ({"ok": false, "error_code": ..., "description": ...})."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


class FakeTelegram:
    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, data)
        self.failures: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.updates: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] = {}
        self._ids: dict[int, itertools.count[int]] = {}  # message ids count per chat, as on Telegram
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}  # what the bot sent, as the chat shows it now
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_route("*", "/bot{token}/{method}", self._api)
        self.app.router.add_get("/file/bot{token}/{path:.+}", self._file)

    # test helpers -------------------------------------------------------------------------------
    def add_file(self, file_id: str, data: bytes, path: str) -> None:
        self.files[file_id] = (path, data)

    def fail_next(self, method: str, status: int, description: str, **parameters: Any) -> None:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        self.failures.setdefault(method, []).append((status, body))

    def sent(self, *methods: str) -> list[Call]:
        """Successful sends (of the given methods; default: messages, photos and documents)."""
        wanted = methods or ("sendMessage", "sendPhoto", "sendDocument")
        return [c for c in self.calls if c.method in wanted and c.ok]

    def keyboard(self, chat_id: int, message_id: int) -> list[str] | None:
        """The button labels the chat shows under a sent message now (None: no keyboard)."""
        markup = self.messages[(chat_id, message_id)].get("reply_markup")
        return [b["text"] for row in markup["inline_keyboard"] for b in row] if markup else None

    def with_keyboard(self, chat_id: int) -> list[dict[str, Any]]:
        """Sent messages of a chat that still show a keyboard, oldest first."""
        return [m for (chat, _), m in sorted(self.messages.items()) if chat == chat_id and m.get("reply_markup")]

    def texts(self) -> list[str]:
        return [c.params.get("text") or c.params.get("caption") or "" for c in self.sent("sendMessage")]

    # handlers -----------------------------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params, files = await self._params(request)
        self.calls.append(Call(method, params, files))
        queued = self.failures.get(method)
        if queued:
            status, body = queued.pop(0)
            self.calls[-1].ok = False
            return web.json_response(body, status=status)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found: method not found"},
                                     status=404)
        try:
            result = handler(params, files)
        except ApiError as exc:
            self.calls[-1].ok = False
            return web.json_response({"ok": False, "error_code": exc.status, "description": exc.description},
                                     status=exc.status)
        self.calls[-1].result = result
        if method == "getUpdates" and not result and int(params.get("timeout") or 0) > 0:
            await asyncio.sleep(0.05)  # a (very short) long poll
        return web.json_response({"ok": True, "result": result})

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
        params: dict[str, Any] = {}
        files: dict[str, tuple[str, bytes]] = {}
        if request.content_type == "application/json":
            params = await request.json()
        else:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = (value.filename, value.file.read())
                else:
                    params[key] = _decode(value)
        return params, files

    async def _file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        for path, data in self.files.values():
            if path == request.match_info["path"]:
                return web.Response(body=data, content_type="application/octet-stream")
        return web.Response(status=404)

    # methods ------------------------------------------------------------------------------------
    def _message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        ids = self._ids.setdefault(chat_id, itertools.count(5000))
        message = {"message_id": next(ids), "from": BOT_USER, "date": int(time.time()),
                   "chat": {"id": chat_id, "type": "private", "first_name": "Jamaah"}}
        message = {**message, **extra}
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def _m_getMe(self, params: dict[str, Any], files: Any) -> dict[str, Any]:
        return {**BOT_USER, "can_join_groups": False, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    def _m_sendMessage(self, params: dict[str, Any], files: Any) -> dict[str, Any]:
        extra: dict[str, Any] = {"text": params["text"]}
        if "reply_markup" in params:
            extra["reply_markup"] = params["reply_markup"]
        return self._message(params, **extra)

    def _m_sendPhoto(self, params: dict[str, Any], files: Any) -> dict[str, Any]:
        fid = f"photo-{len(self.calls)}"
        return self._message(params, photo=[{"file_id": fid, "file_unique_id": fid, "width": 800, "height": 600}])

    def _m_sendDocument(self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> dict[str, Any]:
        name = files["document"][0] if "document" in files else "file"
        fid = f"doc-{len(self.calls)}"
        return self._message(params, document={"file_id": fid, "file_unique_id": fid, "file_name": name})

    def _m_answerCallbackQuery(self, params: dict[str, Any], files: Any) -> bool:
        return True

    def _m_editMessageReplyMarkup(self, params: dict[str, Any], files: Any) -> dict[str, Any] | bool:
        """As the Bot API: the edited message (True for inline messages); 400 for an unknown message or when
        nothing changes; a message without `reply_markup` no longer shows a keyboard."""
        if params.get("inline_message_id"):
            return True
        key = (int(params["chat_id"]), int(params["message_id"]))
        message = self.messages.get(key)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        markup = params.get("reply_markup") or None
        if markup is not None and not markup.get("inline_keyboard"):
            markup = None
        if markup == message.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                "markup are exactly the same as a current content and reply markup of the message")
        edited = {k: v for k, v in message.items() if k != "reply_markup"}
        edited["edit_date"] = int(time.time())
        if markup is not None:
            edited["reply_markup"] = markup
        self.messages[key] = edited
        return edited

    def _m_getFile(self, params: dict[str, Any], files: Any) -> dict[str, Any]:
        file_id = params["file_id"]
        path, data = self.files[file_id]
        return {"file_id": file_id, "file_unique_id": file_id[::-1], "file_size": len(data), "file_path": path}

    def _m_setWebhook(self, params: dict[str, Any], files: Any) -> bool:
        self.webhook = dict(params)
        return True

    def _m_getWebhookInfo(self, params: dict[str, Any], files: Any) -> dict[str, Any]:
        return {"url": self.webhook.get("url", ""), "has_custom_certificate": False, "pending_update_count": 0,
                "max_connections": int(self.webhook.get("max_connections", 40)),
                "allowed_updates": self.webhook.get("allowed_updates", [])}

    def _m_deleteWebhook(self, params: dict[str, Any], files: Any) -> bool:
        self.webhook = {}
        return True

    def _m_getUpdates(self, params: dict[str, Any], files: Any) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        return list(self.updates)


def _decode(value: str) -> Any:
    """Bot API clients send complex parameters (reply_markup, allowed_updates) as JSON strings."""
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# Update JSON as Telegram sends it ------------------------------------------------------------------
def user(chat_id: int, first_name: str = "Siti") -> dict[str, Any]:
    return {"id": chat_id, "is_bot": False, "first_name": first_name, "last_name": "Aminah", "language_code": "id"}


def chat(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "first_name": "Siti", "last_name": "Aminah", "type": "private"}


def message_update(update_id: int, chat_id: int, **fields: Any) -> dict[str, Any]:
    return {"update_id": update_id, "message": {
        "message_id": update_id % 100000, "from": user(chat_id), "chat": chat(chat_id),
        "date": int(time.time()), **fields}}


def text_update(update_id: int, chat_id: int, text: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"text": text}
    if text.startswith("/"):
        fields["entities"] = [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]
    return message_update(update_id, chat_id, **fields)


def photo_update(update_id: int, chat_id: int, file_id: str, size: int, caption: str | None = None) -> dict[str, Any]:
    sizes = [
        {"file_id": file_id + "-s", "file_unique_id": file_id + "s", "file_size": 1200, "width": 90, "height": 120},
        {"file_id": file_id + "-m", "file_unique_id": file_id + "m", "file_size": 18000, "width": 320, "height": 427},
        {"file_id": file_id, "file_unique_id": file_id + "x", "file_size": size, "width": 960, "height": 1280},
    ]
    fields: dict[str, Any] = {"photo": sizes}
    if caption:
        fields["caption"] = caption
    return message_update(update_id, chat_id, **fields)


def document_update(update_id: int, chat_id: int, file_id: str, size: int, file_name: str,
                    mime_type: str = "application/pdf", caption: str | None = None) -> dict[str, Any]:
    fields: dict[str, Any] = {"document": {"file_name": file_name, "mime_type": mime_type, "file_id": file_id,
                                           "file_unique_id": file_id + "u", "file_size": size}}
    if caption:
        fields["caption"] = caption
    return message_update(update_id, chat_id, **fields)


def contact_update(update_id: int, chat_id: int, phone: str, first_name: str = "Siti",
                   last_name: str | None = None) -> dict[str, Any]:
    contact: dict[str, Any] = {"phone_number": phone, "first_name": first_name, "user_id": chat_id}
    if last_name:
        contact["last_name"] = last_name
    return message_update(update_id, chat_id, contact=contact)


def callback_update(update_id: int, chat_id: int, data: str, keyboard: list[str],
                    message_id: int = 4242) -> dict[str, Any]:
    return {"update_id": update_id, "callback_query": {
        "id": f"cbq-{update_id}", "from": user(chat_id), "chat_instance": "-8001",
        "data": data,
        "message": {"message_id": message_id, "from": BOT_USER, "chat": chat(chat_id), "date": int(time.time()),
                    "text": "Silakan pilih layanan:",
                    "reply_markup": {"inline_keyboard": [[{"text": label, "callback_data": str(i)}]
                                                         for i, label in enumerate(keyboard, 1)]}}}}


def voice_update(update_id: int, chat_id: int, file_id: str, size: int, duration: int = 7) -> dict[str, Any]:
    """A voice note recorded in the Telegram app (Opus in Ogg)."""
    return message_update(update_id, chat_id, voice={"file_id": file_id, "file_unique_id": file_id + "u",
                                                     "duration": duration, "mime_type": "audio/ogg",
                                                     "file_size": size})


def audio_update(update_id: int, chat_id: int, file_id: str, size: int, file_name: str = "rekaman.mp3",
                 mime_type: str = "audio/mpeg") -> dict[str, Any]:
    return message_update(update_id, chat_id, audio={"file_id": file_id, "file_unique_id": file_id + "u",
                                                     "duration": 42, "file_name": file_name,
                                                     "mime_type": mime_type, "file_size": size})


def sticker_update(update_id: int, chat_id: int, file_id: str, size: int, emoji: str = "🙏") -> dict[str, Any]:
    return message_update(update_id, chat_id, sticker={"file_id": file_id, "file_unique_id": file_id + "u",
                                                       "type": "regular", "width": 512, "height": 512,
                                                       "is_animated": False, "is_video": False, "emoji": emoji,
                                                       "set_name": "Salam", "file_size": size})


def location_update(update_id: int, chat_id: int, latitude: float, longitude: float,
                    venue: str | None = None) -> dict[str, Any]:
    location = {"latitude": latitude, "longitude": longitude}
    if venue is None:
        return message_update(update_id, chat_id, location=location)
    return message_update(update_id, chat_id, location=location,
                          venue={"location": location, "title": venue, "address": "Bukittinggi"})
