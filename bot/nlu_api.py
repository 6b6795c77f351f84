"""POST /model/parse: the same request and response shape as a Rasa server's."""
from __future__ import annotations

import json

from aiohttp import web

from bot.health import SERVICES_KEY


async def model_parse(request: web.Request) -> web.Response:
    try:
        payload = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return web.json_response({"error": "body is not valid JSON"}, status=400)
    if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
        return web.json_response({"error": "expected {\"text\": string}"}, status=400)
    services = request.app[SERVICES_KEY]
    text = payload["text"]
    result = await services.nlu.parse(text[: services.settings.config.nlu.max_chars])
    result["text"] = text
    return web.json_response(result, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/model/parse", model_parse)
