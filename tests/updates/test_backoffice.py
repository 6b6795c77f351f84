"""The office's side and the pilgrim's: a pilgrim verified in the web chat with `cek porsi`, the admin uploads
a registry in which her porsi may now be paid off, sees the counts and a sample, confirms, and the pilgrim
finds the personal message in her web chat. A petugas sees the page but cannot send."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.updates.web import SENDER_KEY
from tests.backoffice.conftest import (  # noqa: F401 - fixtures
    ADMIN_PASSWORD, PETUGAS_PASSWORD, admin_id, csrf_from, login, petugas_id,
)
from tests.updates.conftest import update_messages

DEMO = (Path(__file__).resolve().parents[2] / "storage" / "demo_registry.csv").read_text(encoding="utf-8")
SITI_NOW = "0312345678,SITI AMINAH,1375014506600001,1960-06-05,P,Kota Bukittinggi,Sumatera Barat,menunggu,2031,"
SITI_NEXT = SITI_NOW.replace("menunggu,2031", "berhak lunas,2026")


@pytest.fixture
def settings(make_settings: Any) -> Any:
    """The update sender does not run by itself: the tests call its step()."""
    return make_settings({"updates": {"worker_enabled": False}})


def upload(csrf: str, content: str) -> aiohttp.FormData:
    data = aiohttp.FormData()
    data.add_field("csrf_token", csrf)
    data.add_field("file", content.encode(), filename="registri.csv", content_type="text/csv")
    return data


async def verify_in_webchat(webchat: Any) -> None:
    await webchat.say_text("cek porsi 0312345678")
    reply = await webchat.say_text("5 Juni 1960")
    assert "SITI" in reply and "2031" in reply, reply


async def test_pilgrim_sees_the_update_in_the_web_chat(client, webchat, admin_id, demo_services):
    await verify_in_webchat(webchat)
    seen = max(m["id"] for m in await webchat.poll())
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    page = await (await client.post("/backoffice/registry", data=upload(csrf, DEMO.replace(SITI_NOW, SITI_NEXT)))
                  ).text()
    link = re.search(r'href="/backoffice/updates/(\d+)"', page)
    assert link and "1 chat terverifikasi perlu dikabari" in page
    import_id = link.group(1)

    show = await (await client.get(f"/backoffice/updates/{import_id}")).text()
    assert 'data-total="1"' in show and "status menjadi berhak lunas: <b>1</b>" in show
    assert "estimasi maju: <b>1</b>" in show and "BERHAK LUNAS" in show and "SITI A***" in show
    assert await update_messages(demo_services.db) == []  # the page sends nothing

    stale = await client.post(f"/backoffice/updates/{import_id}/confirm",
                              data={"csrf_token": csrf_from(show), "confirmed_total": "5"})
    assert "Jumlah penerima berubah menjadi 1" in await stale.text()
    done = await client.post(f"/backoffice/updates/{import_id}/confirm",
                             data={"csrf_token": csrf_from(show), "confirmed_total": "1"})
    page = await done.text()
    assert "Kabar sedang dikirim" in page and "Menunggu giliran kirim" in page

    assert await client.app[SENDER_KEY].step() == 1
    new = [m for m in await webchat.poll(after=seen) if m["from"] == "bot"]
    assert len(new) == 1 and "BERHAK LUNAS" in new[0]["text"] and "Bipih" in new[0]["text"]
    assert "2026" in new[0]["text"] and "0312345678" not in new[0]["text"]

    summary = await (await client.get(f"/backoffice/updates/{import_id}")).text()
    assert 'data-state="pending"' not in summary and "terkirim" in summary  # the browser fetched it

    # the same file again tells nobody
    page = await (await client.post("/backoffice/registry", data=upload(csrf, DEMO.replace(SITI_NOW, SITI_NEXT)))
                  ).text()
    assert "Tidak ada chat terverifikasi yang perlu dikabari" in page
    assert await client.app[SENDER_KEY].step() == 0
    assert [m for m in await webchat.poll(after=new[0]["id"]) if m["from"] == "bot"] == []


async def test_petugas_sees_the_counts_but_cannot_send(client, webchat, admin_id, petugas_id, demo_services):
    await verify_in_webchat(webchat)
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    page = await (await client.post("/backoffice/registry", data=upload(csrf, DEMO.replace(SITI_NOW, SITI_NEXT)))
                  ).text()
    import_id = re.search(r'href="/backoffice/updates/(\d+)"', page).group(1)  # type: ignore[union-attr]
    await client.post("/backoffice/logout", data={"csrf_token": csrf})
    csrf = await login(client, "petugas", PETUGAS_PASSWORD)
    show = await (await client.get(f"/backoffice/updates/{import_id}")).text()
    assert 'data-total="1"' in show and 'id="confirm"' not in show and "Hanya admin" in show
    refused = await client.post(f"/backoffice/updates/{import_id}/confirm",
                                data={"csrf_token": csrf, "confirmed_total": "1"})
    assert "Hanya admin yang dapat" in await refused.text()
    listing = await (await client.get("/backoffice/updates")).text()
    assert f'href="/backoffice/updates/{import_id}"' in listing and "menunggu konfirmasi" in listing
    assert await client.app[SENDER_KEY].step() == 0
