"""A fake Twilio REST API (aiohttp): message creation as `POST /2010-04-01/Accounts/<sid>/Messages.json`
(form-encoded, basic auth, JSON answers and errors shaped like Twilio's), and inbound media behind basic
auth that redirects to an unauthenticated 'S3' URL the way Twilio does. It also builds signed inbound
webhook requests the way Twilio sends them."""
from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f00dfeedf00dfeedf00dfeedf00dfeed"


@dataclass
class Created:
    params: dict[str, list[str]]

    def one(self, key: str) -> str | None:
        values = self.params.get(key)
        return values[0] if values else None


class FakeTwilio:
    def __init__(self) -> None:
        self.url = ""
        self.created: list[Created] = []
        self.attempts = 0
        self.media: dict[str, tuple[str, bytes]] = {}  # media id -> (content type, data)
        self.media_requests: list[str] = []
        self.failures: list[tuple[int, dict[str, Any]]] = []
        self._sids = itertools.count(1)
        self.app = web.Application()
        self.app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)
        self.app.router.add_get("/2010-04-01/Accounts/{sid}/Messages/{mm}/Media/{me}", self._media)
        self.app.router.add_get("/s3/{me}", self._s3)

    # helpers ------------------------------------------------------------------------------------
    def fail_next(self, status: int, code: int, message: str) -> None:
        self.failures.append((status, {"code": code, "message": message, "status": status,
                                       "more_info": f"https://www.twilio.com/docs/errors/{code}"}))

    def add_media(self, media_id: str, content_type: str, data: bytes, message_sid: str = "MM" + "1" * 32) -> str:
        self.media[media_id] = (content_type, data)
        return f"{self.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message_sid}/Media/{media_id}"

    def bodies(self) -> list[str]:
        return [c.one("Body") or "" for c in self.created]

    # handlers -----------------------------------------------------------------------------------
    def _authorised(self, request: web.Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        return request.headers.get("Authorization") == expected and request.match_info["sid"] == ACCOUNT_SID

    async def _create(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401)
        form = await request.post()
        params = {key: [str(v) for v in form.getall(key)] for key in set(form.keys())}
        self.attempts += 1
        if self.failures:
            status, body = self.failures.pop(0)
            return web.json_response(body, status=status)
        if not params.get("To") or not (params.get("Body") or params.get("ContentSid") or params.get("MediaUrl")):
            return web.json_response({"code": 21602, "message": "Message body is required.", "status": 400},
                                     status=400)
        self.created.append(Created(params))
        sid = f"SM{next(self._sids):032x}"
        return web.json_response({
            "account_sid": ACCOUNT_SID, "api_version": "2010-04-01", "body": params.get("Body", [""])[0],
            "date_created": "Mon, 23 Nov 2026 20:00:00 +0000", "date_sent": None, "date_updated": None,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": params.get("From", [""])[0], "messaging_service_sid": None,
            "num_media": str(len(params.get("MediaUrl", []))), "num_segments": "1", "price": None,
            "price_unit": "USD", "sid": sid, "status": "queued", "subresource_uris": {},
            "to": params["To"][0], "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
        }, status=201)

    async def _media(self, request: web.Request) -> web.StreamResponse:
        self.media_requests.append(request.match_info["me"])
        if not self._authorised(request):
            return web.Response(status=401, text="Unauthorized")
        if request.match_info["me"] not in self.media:
            return web.Response(status=404)
        raise web.HTTPTemporaryRedirect(f"/s3/{request.match_info['me']}")

    async def _s3(self, request: web.Request) -> web.StreamResponse:
        content_type, data = self.media[request.match_info["me"]]
        return web.Response(body=data, content_type=content_type)


def signed(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> dict[str, str]:
    """Headers of a Twilio webhook request to `url` (the public URL) with form `params`."""
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}


def inbound_params(body: str, sid: str, phone: str = "+6281234567890", media: list[tuple[str, str]] = (),
                   profile: str = "Siti Aminah") -> dict[str, str]:
    """Form fields of an inbound WhatsApp message as Twilio posts them."""
    params = {"SmsMessageSid": sid, "NumMedia": str(len(media)), "ProfileName": profile, "MessageType":
              "image" if media else "text", "SmsSid": sid, "WaId": phone.lstrip("+"), "SmsStatus": "received",
              "Body": body, "To": "whatsapp:+14155238886", "NumSegments": "1", "ReferralNumMedia": "0",
              "MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": f"whatsapp:{phone}", "ApiVersion": "2010-04-01"}
    for i, (url, content_type) in enumerate(media):
        params[f"MediaUrl{i}"] = url
        params[f"MediaContentType{i}"] = content_type
    return params
