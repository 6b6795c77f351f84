"""Fast tests of RasaNLU against a tiny fake Rasa server (no Rasa needed)."""
from __future__ import annotations

import logging
import socket
from typing import Any

import pytest
from aiohttp import web

from nlu.backend import ENTITIES, FALLBACK_INTENT, INTENTS
from nlu.rasa.client import RasaNLU
from nlu.rasa.normalize import normalize_parse

RASA_ANSWER: dict[str, Any] = {
    "text": "cek porsi 0123456789",
    "intent": {"name": "check_porsi", "confidence": 0.93, "id": 123},
    "entities": [
        {"entity": "porsi_number", "start": 10, "end": 20, "value": "0123456789",
         "extractor": "RegexEntityExtractor"},
        {"entity": "porsi_number", "start": 10, "end": 20, "value": "0123456789",
         "confidence_entity": 0.8, "extractor": "DIETClassifier"},
        {"entity": "relationship", "start": 0, "end": 3, "value": "ibu", "confidence_entity": 0.7,
         "extractor": "DIETClassifier", "processors": ["EntitySynonymMapper"]},
        {"entity": "broken"},
    ],
    "text_tokens": [[0, 3], [4, 9], [10, 20]],
    "intent_ranking": [
        {"name": "check_porsi", "confidence": 0.93, "id": 1},
        {"name": "faq/biaya_pelunasan", "confidence": 0.04, "id": 2},
        {"name": "faq/jadwal", "confidence": 0.02, "id": 3},
        {"name": "some_new_intent", "confidence": 0.01, "id": 4},
    ],
    "response_selector": {"all_retrieval_intents": ["faq"],
                          "default": {"response": {"intent_response_key": "faq/jadwal"}, "ranking": []}},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeRasa:
    """Records what it was asked; answers with `answer` or `status`."""

    def __init__(self) -> None:
        self.answer: Any = RASA_ANSWER
        self.status = 200
        self.texts: list[str] = []
        self.model_file: str | None = "models/nlu.tar.gz"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/model/parse", self.parse)
        app.router.add_get("/status", self.status_handler)
        return app

    async def parse(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.texts.append(body["text"])
        if self.status != 200:
            return web.json_response({"error": "boom"}, status=self.status)
        if isinstance(self.answer, str):
            return web.Response(text=self.answer)
        return web.json_response(self.answer)

    async def status_handler(self, request: web.Request) -> web.Response:
        return web.json_response({"model_file": self.model_file, "model_id": "x", "num_active_training_jobs": 0})


@pytest.fixture
async def fake(aiohttp_server):
    fake = FakeRasa()
    server = await aiohttp_server(fake.app())
    fake.url = str(server.make_url("")).rstrip("/")
    return fake


async def test_parse_normalises_rasa_output(fake) -> None:
    nlu = RasaNLU(fake.url, timeout=2, entities="rasa")
    try:
        result = await nlu.parse("cek porsi 0123456789")
    finally:
        await nlu.close()
    assert result["text"] == "cek porsi 0123456789"
    assert result["intent"] == {"name": "check_porsi", "confidence": 0.93}
    porsi = [e for e in result["entities"] if e["entity"] == "porsi_number"]
    assert porsi == [{"entity": "porsi_number", "value": "0123456789", "start": 10, "end": 20,
                      "confidence": 1.0, "extractor": "RegexEntityExtractor"}]
    rel = [e for e in result["entities"] if e["entity"] == "relationship"][0]
    assert rel["processors"] == ["EntitySynonymMapper"] and rel["confidence"] == 0.7
    assert all(e["entity"] in ENTITIES for e in result["entities"])
    names = [r["name"] for r in result["intent_ranking"]]
    assert names == ["check_porsi", "faq", FALLBACK_INTENT]
    assert set(names) <= set(INTENTS) | {FALLBACK_INTENT}
    assert result["response_selector"]["all_retrieval_intents"] == ["faq"]


async def test_long_text_is_truncated_for_rasa_only(fake) -> None:
    nlu = RasaNLU(fake.url, timeout=2, max_chars=20)
    text = "x" * 50
    result = await nlu.parse(text)
    await nlu.close()
    assert fake.texts == ["x" * 20]
    assert result["text"] == text


async def test_empty_text_does_not_call_rasa(fake) -> None:
    nlu = RasaNLU(fake.url, timeout=2)
    result = await nlu.parse("   ")
    await nlu.close()
    assert fake.texts == [] and result["intent"]["name"] == FALLBACK_INTENT


@pytest.mark.parametrize("status, answer", [(500, None), (200, "not json"), (200, ["a", "list"])])
async def test_bad_answers_give_fallback(fake, status, answer) -> None:
    fake.status = status
    if answer is not None:
        fake.answer = answer
    nlu = RasaNLU(fake.url, timeout=2)
    result = await nlu.parse("assalamualaikum")
    await nlu.close()
    assert result["intent"] == {"name": FALLBACK_INTENT, "confidence": 0.0}
    assert result["entities"] == [] and result["text"] == "assalamualaikum"


async def test_server_down_gives_fallback_and_one_log_line_without_text(caplog) -> None:
    nlu = RasaNLU(f"http://127.0.0.1:{free_port()}", timeout=1)
    secret = "NIK saya 1306012345678901"
    with caplog.at_level(logging.DEBUG, logger="nlu.rasa.client"):
        results = [await nlu.parse(secret) for _ in range(3)]
        assert await nlu.check_health() is False
    await nlu.close()
    assert all(r["intent"]["name"] == FALLBACK_INTENT for r in results)
    assert results[0]["text"] == secret
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert all("1306012345678901" not in r.getMessage() for r in caplog.records)
    assert not nlu.is_ready()


async def test_timeout_gives_fallback(aiohttp_server) -> None:
    import asyncio

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response(RASA_ANSWER)

    app = web.Application()
    app.router.add_post("/model/parse", slow)
    server = await aiohttp_server(app)
    nlu = RasaNLU(str(server.make_url("")), timeout=0.3)
    result = await nlu.parse("halo")
    await nlu.close()
    assert result["intent"]["name"] == FALLBACK_INTENT
    assert "TimeoutError" in (nlu.last_error or "")


async def test_is_ready_follows_health_and_parses(fake) -> None:
    nlu = RasaNLU(fake.url, timeout=2, health_interval=None)
    assert not nlu.is_ready()
    assert await nlu.check_health() is True and nlu.is_ready()
    fake.model_file = None
    assert await nlu.check_health() is False and not nlu.is_ready()
    await nlu.parse("halo")  # a good parse marks it ready again
    assert nlu.is_ready()
    fake.status = 503
    await nlu.parse("halo")
    assert not nlu.is_ready()
    await nlu.close()
    assert not nlu.is_ready()


def test_normalize_handles_missing_fields() -> None:
    result = normalize_parse({"intent": None, "entities": None}, "x")
    assert result["intent"]["name"] == FALLBACK_INTENT
    assert result["entities"] == [] and result["intent_ranking"] == [] and result["response_selector"] == {}
    assert normalize_parse({"intent": {"name": "greet", "confidence": "0.5"}}, "x")["intent"] == \
        {"name": "greet", "confidence": 0.5}


def test_from_settings() -> None:
    from nlu.settings import NluSettings

    nlu = RasaNLU.from_settings(NluSettings(rasa_url="http://127.0.0.1:5999/", rasa_timeout_seconds=3))
    assert nlu.url == "http://127.0.0.1:5999" and nlu.timeout == 3 and nlu.name == "rasa"


async def test_background_health_checks_mark_ready_and_stop_on_close(fake) -> None:
    import asyncio

    nlu = RasaNLU(fake.url, timeout=2, health_interval=0.05)
    for _ in range(100):
        if nlu.is_ready():
            break
        await asyncio.sleep(0.02)
    assert nlu.is_ready()
    fake.model_file = None
    await asyncio.sleep(0.2)
    assert not nlu.is_ready()
    task = nlu._health_task
    await nlu.close()
    assert task is not None and task.done()


def test_no_background_checks_without_a_loop() -> None:
    nlu = RasaNLU("http://127.0.0.1:1", health_interval=1.0)
    assert nlu._health_task is None and not nlu.is_ready()


async def test_hybrid_entities_take_structured_types_from_rules(fake) -> None:
    text = "porsi ibu 0300 5511 22, hp 0813-6312-4455"
    fake.answer = {
        "text": text, "intent": {"name": "check_porsi", "confidence": 0.9},
        "entities": [
            {"entity": "relationship", "start": 6, "end": 9, "value": "ibu", "extractor": "RegexEntityExtractor"},
            {"entity": "porsi_number", "start": 10, "end": 22, "value": "0300 5511 22", "extractor": "DIETClassifier",
             "confidence_entity": 0.9},
            {"entity": "nik", "start": 27, "end": 31, "value": "0813", "extractor": "DIETClassifier",
             "confidence_entity": 0.4},
        ],
    }
    nlu = RasaNLU(fake.url, timeout=2)  # hybrid is the default
    result = await nlu.parse(text)
    await nlu.close()
    got = {(e["entity"], e["value"]) for e in result["entities"]}
    assert got == {("relationship", "ibu"), ("porsi_number", "0300551122"), ("phone", "+6281363124455")}
    porsi = next(e for e in result["entities"] if e["entity"] == "porsi_number")
    assert text[porsi["start"]:porsi["end"]] == "0300 5511 22"


def test_merge_entities_modes() -> None:
    from nlu.rasa.entities import merge_entities

    raw = [{"entity": "porsi_number", "value": "2013", "start": 23, "end": 27, "confidence": 0.5,
            "extractor": "DIETClassifier"}]
    text = "saya sudah daftar dari 2013, kira kira kapan berangkat ya"
    assert merge_entities(text, raw, "rasa") == raw
    assert merge_entities(text, raw, "hybrid") == []


async def test_several_questions_get_parts_parsed_one_by_one(fake) -> None:
    from pathlib import Path

    from nlu.settings import NluSettings

    data_dir = Path(__file__).resolve().parents[2] / "nlu" / "data"
    client = RasaNLU.from_settings(NluSettings(rasa_url=fake.url), data_dir)
    try:
        result = await client.parse("brp biaya haji skrg? trs kantor dmn?")
        assert fake.texts == ["brp biaya haji skrg? trs kantor dmn?", "brp biaya haji skrg", "kantor dmn"]
        assert [p["text"] for p in result["parts"]] == ["brp biaya haji skrg", "kantor dmn"]
        assert result["parts"][0]["intent"]["name"] == "check_porsi"  # the fake's answer
        single = await client.parse("brp biaya haji skrg?")
        assert "parts" not in single
    finally:
        await client.close()
