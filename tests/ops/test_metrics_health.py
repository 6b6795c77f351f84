"""/healthz, /readyz and /metrics."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from storage.models import Case, Conversation, Message
from tests.conftest import chat_cookies


async def test_health_and_readiness(client: Any) -> None:
    assert (await client.get("/healthz")).status == 200
    response = await client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["checks"] == {"database": True, "migrations": True, "nlu": True}


async def test_readiness_fails_when_the_database_is_gone(client: Any, demo_services: Any) -> None:
    await demo_services.db.engine.dispose()
    demo_services.db.engine.url  # noqa: B018 - keep the engine object
    original = demo_services.db.engine
    from sqlalchemy.ext.asyncio import create_async_engine

    demo_services.db.engine = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        response = await client.get("/readyz")
        assert response.status == 503
        assert (await response.json())["checks"]["database"] is False
    finally:
        await demo_services.db.engine.dispose()
        demo_services.db.engine = original


METRICS_TOKEN = "scrape-token-for-tests"


@pytest.fixture
def settings(make_settings: Any) -> Any:
    return make_settings(env={"HAJIBOT_METRICS_TOKEN": METRICS_TOKEN})


async def test_metrics_count_messages_latency_nlu_outbox_cases(client: Any, demo_services: Any) -> None:
    for text in ("assalamualaikum", "xqzv blorp"):
        assert (await client.post("/webchat/messages", json={"text": text}, cookies=chat_cookies(client, "m1"))).status == 200
    async with demo_services.db.session() as session:
        conversation = Conversation(channel="telegram", channel_user_id="999", state={})
        session.add(conversation)
        await session.flush()
        session.add(Message(conversation_id=conversation.id, channel="telegram", direction="out", text="x",
                            status="pending"))
        session.add(Message(conversation_id=conversation.id, channel="telegram", direction="out", text="y",
                            status="failed", error="gave up"))
        session.add(Case(ticket="PBT-2026-00001", service="pembatalan", status="submitted"))
        session.add(Case(ticket="PBT-2026-00002", service="pembatalan", status="done",
                         closed_at=datetime.now(timezone.utc)))
        await session.commit()
    from bot.core.metrics import GAUGES_KEY

    await client.app[GAUGES_KEY].refresh()  # the background job's reading (a scrape never queries)
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status == 200
    body = await response.text()
    assert 'hajibot_messages_in_total{channel="webchat"}' in body
    assert 'hajibot_messages_out_total{channel="webchat"}' in body
    assert 'hajibot_processing_seconds_bucket{channel="webchat",le="0.1"}' in body
    assert 'hajibot_nlu_parses_total{outcome="fallback"}' in body
    assert 'hajibot_outbox_messages{channel="telegram",status="pending"} 1.0' in body
    assert 'hajibot_outbox_messages{channel="telegram",status="failed"} 1.0' in body
    assert 'hajibot_cases{status="submitted"} 1.0' in body
    assert 'hajibot_cases{status="done"}' not in body
    assert "hajibot_broadcast_deliveries" in body and "hajibot_broadcasts" in body
    assert 'hajibot_http_requests_total{route="/webchat/messages",status="2xx"}' in body
    assert response.headers.get("X-Request-Id")


async def test_readiness_fails_when_the_schema_is_not_current(client: Any, demo_services: Any, tmp_path: Any) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    original = demo_services.db.engine
    demo_services.db.engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        response = await client.get("/readyz")
        assert response.status == 503
        assert (await response.json())["checks"] == {"database": True, "migrations": False, "nlu": True}
    finally:
        await demo_services.db.engine.dispose()
        demo_services.db.engine = original
