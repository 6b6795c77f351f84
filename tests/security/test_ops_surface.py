"""The operations surface from outside: /metrics is not open and costs no database work per scrape; a
PostgreSQL service does not start without a shared session key; documents are encrypted at rest after
`hajibot init`, with a key rotation; failures that are handled are still logged and counted."""
from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner
from sqlalchemy import event

from bot.core.metrics import GAUGES_KEY, REGISTRY
from storage.crypto import MAGIC, FileCipher
from tests.conftest import chat_cookies

TOKEN = "rahasia-prometheus-2026"


async def app_client(make_settings: Any, aiohttp_client: Any, overrides: dict[str, Any] | None = None,
                     env: dict[str, str] | None = None) -> Any:
    from bot.app import create_app
    from bot.services import build_services

    services = await build_services(make_settings(overrides, env))
    client = await aiohttp_client(create_app(services))
    client.services = services
    return client


@pytest.fixture
async def closing() -> Any:
    opened: list[Any] = []
    yield opened
    for client in opened:
        await client.services.close()


async def test_metrics_need_the_bearer_token(make_settings, aiohttp_client, closing):
    client = await app_client(make_settings, aiohttp_client, env={"HAJIBOT_METRICS_TOKEN": TOKEN})
    closing.append(client)
    assert (await client.get("/metrics")).status == 401
    assert (await client.get("/metrics", headers={"Authorization": "Bearer tebakan"})).status == 401
    assert (await client.get("/metrics", headers={"Authorization": TOKEN})).status == 401
    ok = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status == 200 and "hajibot_messages_in" in await ok.text()


async def test_metrics_not_served_without_token_or_listener(make_settings, aiohttp_client, closing):
    client = await app_client(make_settings, aiohttp_client)
    closing.append(client)
    assert (await client.get("/metrics")).status == 404


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_metrics_on_a_separate_listen_address(make_settings, aiohttp_client, closing):
    port = free_port()
    client = await app_client(make_settings, aiohttp_client,
                              {"ops": {"metrics_listen": f"127.0.0.1:{port}", "metrics_refresh_seconds": 60}})
    closing.append(client)
    assert (await client.get("/metrics")).status == 404  # not on the public port
    await client.app[GAUGES_KEY].first_reading.wait()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
            assert response.status == 200
            body = await response.text()
    assert "hajibot_cases" in body and "hajibot_metrics_db_read_timestamp" in body


async def test_a_scrape_runs_no_database_query(make_settings, aiohttp_client, closing):
    quiet = {"ops": {"metrics_refresh_seconds": 3600, "sweep_seconds": 3600, "retention": {"enabled": False}},
             "broadcast": {"worker_enabled": False},  # no other background job touches the database meanwhile
             "updates": {"worker_enabled": False}}
    client = await app_client(make_settings, aiohttp_client, quiet, env={"HAJIBOT_METRICS_TOKEN": TOKEN})
    closing.append(client)
    await client.app[GAUGES_KEY].first_reading.wait()
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = client.services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(50):
            response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert response.status == 200
            assert "hajibot_outbox_messages" in await response.text()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert statements == []


@pytest.fixture
def run_cli(tmp_path: Path) -> Any:
    from bot.cli import _register, cli
    from tests.conftest import write_config

    if "privacy" not in cli.commands:
        _register()
    config = write_config(tmp_path, {"storage": {"database_url": "sqlite+aiosqlite:///var/hajibot.db",
                                                 "files_dir": "var/files", "files_key_file": "var/files.key"}})

    def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
        base = {"HAJIBOT_DATABASE_URL": "", "HAJIBOT_FILES_KEY": "", "HAJIBOT_SESSION_KEY": ""}
        return CliRunner().invoke(cli, ["--config", str(config), *args], env={**base, **(env or {})},
                                  catch_exceptions=False)

    return invoke


def test_postgres_service_refuses_to_start_without_session_key(run_cli):
    result = run_cli("serve", env={"HAJIBOT_DATABASE_URL": "postgresql+asyncpg://hajibot@127.0.0.1:1/hajibot"})
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "HAJIBOT_SESSION_KEY" in lines[0]


def test_init_creates_a_private_key_and_documents_are_encrypted(run_cli, tmp_path):
    from bot.config import load_settings

    result = run_cli("init")
    assert result.exit_code == 0, result.output
    key_file = tmp_path / "var" / "files.key"
    assert key_file.exists() and (key_file.stat().st_mode & 0o777) == 0o600
    first_key = key_file.read_text()
    assert run_cli("init").exit_code == 0 and key_file.read_text() == first_key  # never replaced
    settings = load_settings(tmp_path / "config.yml", env={})
    store = settings.file_store()
    stored = store.put_sync(b"%PDF-1.4 surat keterangan waris ALMARHUM H. AHMAD", "waris.pdf")
    raw = store.path_for(stored.sha256).read_bytes()
    assert raw.startswith(MAGIC) and b"ALMARHUM" not in raw
    assert store.read_sync(stored.sha256).endswith(b"AHMAD")


def test_key_rotation_reencrypts_and_keeps_old_documents_readable(run_cli, tmp_path):
    from bot.config import load_settings

    assert run_cli("init").exit_code == 0
    settings = load_settings(tmp_path / "config.yml", env={})
    stored = settings.file_store().put_sync(b"\x89PNG foto KTP jemaah", "ktp.png")
    old_key = (tmp_path / "var" / "files.key").read_text().strip()
    result = run_cli("privacy", "rotate-key")
    assert result.exit_code == 0, result.output
    assert "re-encrypted 1 files" in result.output
    key_file = tmp_path / "var" / "files.key"
    keys = key_file.read_text().strip().split(",")
    assert keys[1] == old_key and keys[0] != old_key and (key_file.stat().st_mode & 0o777) == 0o600
    store = load_settings(tmp_path / "config.yml", env={}).file_store()
    raw = store.path_for(stored.sha256).read_bytes()
    assert FileCipher(keys[0]).under_primary(raw, stored.sha256)  # now under the new key
    assert store.read_sync(stored.sha256) == b"\x89PNG foto KTP jemaah"
    # with HAJIBOT_FILES_KEY the rotation is by hand (documented), the command refuses
    assert run_cli("privacy", "rotate-key", env={"HAJIBOT_FILES_KEY": keys[0]}).exit_code == 2


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_handled_failures_are_logged_and_counted(client, demo_services, monkeypatch, caplog):
    original = demo_services.nlu.parse
    calls = {"n": 0}

    async def flaky_parse(text: str) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("model reload in progress")
        return await original(text)

    monkeypatch.setattr(demo_services.nlu, "parse", flaky_parse)
    before = sample("hajibot_suppressed_errors_total", {"where": "pipeline_early_parse"})
    caplog.set_level(logging.WARNING)
    response = await client.post("/webchat/messages", json={"text": "ambo nio cek porsi 0312345678"},
                                 cookies=chat_cookies(client, "uda-1"))
    assert response.status == 200 and (await response.json())["messages"]
    assert sample("hajibot_suppressed_errors_total", {"where": "pipeline_early_parse"}) == before + 1
    lines = [r.getMessage() for r in caplog.records if "early NLU parse failed" in r.getMessage()]
    assert len(lines) == 1 and "0312345678" not in lines[0] and "RuntimeError" in lines[0]


async def test_readiness_failure_is_logged_and_counted(client, demo_services, caplog):
    from sqlalchemy.ext.asyncio import create_async_engine

    before = sample("hajibot_suppressed_errors_total", {"where": "readyz_database"})
    original = demo_services.db.engine
    demo_services.db.engine = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    caplog.set_level(logging.WARNING)
    try:
        assert (await client.get("/readyz")).status == 503
    finally:
        await demo_services.db.engine.dispose()
        demo_services.db.engine = original
    assert sample("hajibot_suppressed_errors_total", {"where": "readyz_database"}) == before + 1
    assert any("readyz: database check failed" in r.getMessage() for r in caplog.records)
