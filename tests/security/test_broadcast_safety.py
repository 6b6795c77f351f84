"""Broadcasts as an officer (and a careless or hostile one) would use them: a petugas cannot send to every
pilgrim alone, nothing goes out before the audience size was shown and confirmed, the families of deceased,
cancelled or transferred pilgrims are never in an audience, and the ready-made templates speak of the
current season, not 2022."""
from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.broadcast.audience import Segment, count
from storage.broadcast_models import Broadcast, BroadcastDelivery
from storage.db import Database
from storage.models import Case, Conversation
from tests.backoffice.conftest import add_staff, login
from tests.broadcast.conftest import add_chats

PASSWORD = "Rahasia-Sekali-123"
SEASON = {"tahun_haji": "2027", "tahun_hijriah": "1448 H", "tanggal_berangkat_awal": "12 April 2027",
          "tanggal_pelunasan_mulai": "5 Januari 2027", "tanggal_pelunasan_selesai": "4 Februari 2027"}
HEALTH_TEXT = "Yth. {nama}, jamaah estimasi {estimasi_tahun} diminta segera memeriksa kesehatan di puskesmas."


async def app_client(make_settings: Any, aiohttp_client: Any, **broadcast: Any) -> Any:
    from bot.app import create_app
    from bot.services import build_services

    settings = make_settings({"broadcast": {"poll_seconds": 0.05, "season": SEASON, **broadcast}})
    services = await build_services(settings)
    client = await aiohttp_client(create_app(services))
    client.services = services
    return client


@pytest.fixture
async def office(make_settings: Any, aiohttp_client: Any) -> Any:
    """The app with the shipped default (approval required), an admin and two petugas, 5 pilgrims' chats."""
    client = await app_client(make_settings, aiohttp_client)
    services = client.services
    await add_chats(services.db, 5, channel="webchat", linked=True, estimasi=2027)
    for name, role in (("kepala", "admin"), ("siti", "petugas"), ("budi", "petugas")):
        await add_staff(services, name, role, PASSWORD)
    yield client
    await services.close()


async def draft(client: Any, csrf: str, text: str = HEALTH_TEXT) -> str:
    form = {"csrf_token": csrf, "title": "Periksa kesehatan", "text": text, "audience": "linked",
            "estimasi_from": "2027", "estimasi_to": "2027", "op": "save"}
    saved = await client.post("/backoffice/broadcasts/new", data=form, allow_redirects=False)
    assert saved.status == 303, await saved.text()
    return saved.headers["Location"]


async def status_of(client: Any, url: str) -> str:
    return (await (await client.get(f"{url}/progress.json")).json())["status"]


async def confirmed_total(client: Any, url: str, action: str) -> str:
    page = await (await client.get(f"{url}/confirm?action={action}")).text()
    return re.search(r'data-total="(\d+)"', page).group(1)


def test_approval_is_on_by_default():
    from bot.broadcast.settings import BroadcastSettings
    from bot.config import load_settings

    assert BroadcastSettings().require_approval is True
    repo_config = Path(__file__).resolve().parents[2] / "config.yml"
    assert load_settings(repo_config, env={}).config.broadcast.require_approval is True


async def test_petugas_alone_cannot_send(office):
    csrf = await login(office, "siti", PASSWORD)
    url = await draft(office, csrf)
    total = await confirmed_total(office, url, "submit")
    await office.post(f"{url}/submit", data={"csrf_token": csrf, "confirmed_total": total})
    assert await status_of(office, url) == "pending_approval"  # waits for a second officer
    # the author cannot approve her own broadcast, not even by posting the form directly
    await office.post(f"{url}/approve", data={"csrf_token": csrf, "confirmed_total": total})
    assert await status_of(office, url) == "pending_approval"
    await office.post("/backoffice/logout", data={"csrf_token": csrf})
    csrf2 = await login(office, "budi", PASSWORD)
    await office.post(f"{url}/approve", data={"csrf_token": csrf2, "confirmed_total": total})
    assert await status_of(office, url) in ("scheduled", "running", "completed")


async def test_without_approval_only_an_admin_sends(make_settings, aiohttp_client):
    client = await app_client(make_settings, aiohttp_client, require_approval=False)
    try:
        await add_chats(client.services.db, 3, channel="webchat", linked=True, estimasi=2027)
        await add_staff(client.services, "siti", "petugas", PASSWORD)
        await add_staff(client.services, "kepala", "admin", PASSWORD)
        csrf = await login(client, "siti", PASSWORD)
        url = await draft(client, csrf)
        refused = await client.post(f"{url}/submit", data={"csrf_token": csrf, "confirmed_total": "3"},
                                    allow_redirects=False)
        assert "Hanya%20admin" in refused.headers["Location"]
        assert await status_of(client, url) == "draft"
        await client.post("/backoffice/logout", data={"csrf_token": csrf})
        csrf = await login(client, "kepala", PASSWORD)
        await client.post(f"{url}/submit", data={"csrf_token": csrf, "confirmed_total": "3"})
        assert await status_of(client, url) in ("scheduled", "running", "completed")
    finally:
        await client.services.close()


async def test_nothing_is_sent_before_the_audience_size_is_confirmed(office):
    csrf = await login(office, "kepala", PASSWORD)
    url = await draft(office, csrf)
    blind = await office.post(f"{url}/submit", data={"csrf_token": csrf}, allow_redirects=False)
    assert blind.status == 303 and "/confirm?action=submit" in blind.headers["Location"]
    assert await status_of(office, url) == "draft"
    page = await (await office.get(f"{url}/confirm?action=submit")).text()
    assert "akan dikirim ke" in page and 'data-total="5"' in page and "webchat 5" in page
    # the audience grew after the page was shown: confirm again with the new number
    await add_chats(office.services.db, 2, channel="webchat", start=50, linked=True, estimasi=2027)
    stale = await office.post(f"{url}/submit", data={"csrf_token": csrf, "confirmed_total": "5"},
                              allow_redirects=False)
    assert "/confirm" in stale.headers["Location"] and "berubah" in stale.headers["Location"].replace("%20", " ")
    assert await status_of(office, url) == "draft"
    await office.post(f"{url}/submit", data={"csrf_token": csrf, "confirmed_total": "7"})
    assert await status_of(office, url) in ("scheduled", "running", "completed")


async def people(db: Database) -> dict[str, int]:
    """A small town's chats: living pilgrims, a deceased one, cancelled and transferred porsi, the widow who
    wrote to cancel her husband's porsi, and a family whose pembatalan was rejected."""
    ids = {}
    [ids["aktif"]] = await add_chats(db, 1, start=1, linked=True, estimasi=2027)
    [ids["aktif_2"]] = await add_chats(db, 1, start=2, linked=True, estimasi=2027, status="berhak lunas")
    [ids["meninggal"]] = await add_chats(db, 1, start=3, linked=True, estimasi=2027, status="Meninggal Dunia")
    [ids["wafat"]] = await add_chats(db, 1, start=4, linked=True, estimasi=2027, status="WAFAT")
    [ids["batal"]] = await add_chats(db, 1, start=5, linked=True, estimasi=2027, status="batal")
    [ids["dilimpahkan"]] = await add_chats(db, 1, start=6, linked=True, estimasi=2027, status="dilimpahkan")
    [ids["janda"]] = await add_chats(db, 1, start=7, linked=True, estimasi=2027)  # registry not updated yet
    [ids["ditolak"]] = await add_chats(db, 1, start=8, linked=True, estimasi=2027)
    async with db.session() as session:
        session.add(Case(ticket="PBT-2026-00011", service="pembatalan", status="submitted",
                         conversation_id=ids["janda"], answers={"alasan": "meninggal dunia"}))
        session.add(Case(ticket="PBT-2026-00012", service="pembatalan", status="rejected",
                         conversation_id=ids["ditolak"]))
        await session.commit()
    return ids


async def test_audience_leaves_out_the_deceased_cancelled_transferred_and_their_families(make_settings):
    settings = make_settings()
    db = Database(settings.database_url)
    try:
        ids = await people(db)
        config = settings.config.broadcast
        segment = Segment(audience="linked", estimasi_from=2027, estimasi_to=2027,
                          exclude_porsi_statuses=config.excluded_porsi_statuses,
                          exclude_case_services=config.excluded_case_services)
        async with db.session() as session:
            assert (await count(session, segment))["total"] == 3
            # an old saved segment (without exclusion fields) gets the same protection
            assert (await count(session, Segment.model_validate({"audience": "linked"})))["total"] == 3
            # asking for 'meninggal' explicitly still reaches nobody
            assert (await count(session, segment.model_copy(update={"statuses": ["meninggal dunia"]})))["total"] == 0
            # a notice to applicants about their case reaches the widow's chat (that is what she waits for)
            about_cases = segment.model_copy(update={"case_statuses": ["submitted"]})
            assert (await count(session, about_cases))["total"] == 1
        # the full send: the worker materialises and delivers; the excluded chats get nothing
        from bot.broadcast import service

        async with db.session() as session:
            b = await service.create(session, title="Kesehatan", text=HEALTH_TEXT, segment=segment, actor="cli")
            await service.submit(session, b.id, "cli", True, admin=True)
        from bot.broadcast.audience import materialize_batch

        async with db.session() as session:
            await materialize_batch(session, b.id, 100)
        async with db.session() as session:
            reached = set((await session.execute(select(BroadcastDelivery.conversation_id)
                                                 .where(BroadcastDelivery.broadcast_id == b.id))).scalars())
        assert reached == {ids["aktif"], ids["aktif_2"], ids["ditolak"]}
    finally:
        await db.dispose()


async def test_templates_speak_of_the_current_season(office):
    csrf = await login(office, "kepala", PASSWORD)
    for key in ("berangkat_kuota_penuh", "berangkat_kuota_terbatas", "tidak_berangkat", "pelunasan", "manasik"):
        page = await (await office.get(f"/backoffice/broadcasts/new?template={key}")).text()
        composer = page[page.index("<textarea"):page.index("</textarea>")]
        assert "2022" not in composer and "1443" not in composer and "{tahun" not in composer
        assert "2027" in composer
    page = await (await office.get("/backoffice/broadcasts/new?template=pelunasan")).text()
    assert "5 Januari 2027" in page and "4 Februari 2027" in page
    assert csrf


async def test_a_template_with_an_unannounced_date_is_not_saved(make_settings, aiohttp_client):
    client = await app_client(make_settings, aiohttp_client,
                              season={"tahun_haji": "2027", "tahun_hijriah": "1448 H", "tanggal_berangkat_awal": ""})
    try:
        await add_staff(client.services, "kepala", "admin", PASSWORD)
        csrf = await login(client, "kepala", PASSWORD)
        text = "Yth. {nama}, kloter pertama berangkat {tanggal_berangkat_awal}."
        saved = await client.post("/backoffice/broadcasts/new", allow_redirects=False, data={
            "csrf_token": csrf, "title": "Keberangkatan {tahun_haji}", "text": text, "op": "save"})
        assert saved.status == 400 and "{tanggal_berangkat_awal}" in await saved.text()
        # typed in by the officer: saved with the year filled in
        fixed = await client.post("/backoffice/broadcasts/new", allow_redirects=False, data={
            "csrf_token": csrf, "title": "Keberangkatan {tahun_haji}", "op": "save",
            "text": text.replace("{tanggal_berangkat_awal}", "12 April 2027")})
        assert fixed.status == 303
        async with client.services.db.session() as session:
            b = (await session.execute(select(Broadcast))).scalar_one()
        assert b.title == "Keberangkatan 2027"
    finally:
        await client.services.close()


@pytest.fixture
def run_cli(make_settings: Any, tmp_path: Path, database_url: str) -> Any:
    from bot.cli import _register, cli

    make_settings({"broadcast": {"season": SEASON}})
    if "broadcast" not in cli.commands:
        _register()

    def invoke(*args: str, stdin: str | None = None) -> Any:
        return CliRunner().invoke(cli, ["--config", str(tmp_path / "config.yml"), "broadcast", *args], input=stdin,
                                  env={"HAJIBOT_DATABASE_URL": database_url}, catch_exceptions=False)

    return invoke


def test_cli_shows_the_audience_and_asks_before_sending(run_cli, database_url):
    async def seed() -> None:
        db = Database(database_url)
        await people(db)
        await db.dispose()

    asyncio.run(seed())
    created = run_cli("create", "--template", "pelunasan", "--audience", "linked", "--submit", stdin="n\n")
    assert "will be sent to 3 recipients" in created.output and created.exit_code == 1
    shown = run_cli("show", "1").output
    assert "[draft]" in shown and "5 Januari 2027" in shown and "2022" not in shown
    sent = run_cli("submit", "1", stdin="y\n")
    assert "will be sent to 3 recipients" in sent.output and "broadcast 1: scheduled" in sent.output
