"""Segments, recipient counts, variables and the opt-out line."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.broadcast import service
from bot.broadcast.audience import Segment, count, materialize_batch
from bot.core.optout import handle_inbound, is_optout_keyword
from bot.broadcast.render import Recipient, TemplateError, check_template, mask_porsi, render
from bot.broadcast.texts import ready_templates
from storage.broadcast_models import BroadcastOptout
from storage.models import Conversation
from tests.broadcast.conftest import add_case, add_chats


@pytest.fixture
async def population(db):
    """u1-u4 linked, 2022, Guguk Panjang · u5-u7 linked, 2030, Mandiangin · u8-u9 subscribers only (whatsapp)
    · u10 linked but not subscribed, status 'batal' · u11 blocked · u12 console."""
    await add_chats(db, 4, linked=True, estimasi=2022)
    await add_chats(db, 3, start=5, linked=True, estimasi=2030, kecamatan="Mandiangin Koto Selayan")
    await add_chats(db, 2, start=8, channel="whatsapp")
    await add_chats(db, 1, start=10, linked=True, subscribed=False, status="batal", kab_kota="Kabupaten Agam")
    [blocked] = await add_chats(db, 1, start=11)
    await add_chats(db, 1, start=12, channel="console")
    async with db.session() as s:
        (await s.get(Conversation, blocked)).blocked = True
        await s.commit()
    await add_case(db, 2, "need_info", "PBT-2026-00001")
    await add_case(db, 3, "completed", "PBT-2026-00002")


NO_EXCLUSIONS = {"exclude_porsi_statuses": [], "exclude_case_services": []}


async def total(db, **filters) -> int:
    """Recipients of the filters alone (the default exclusions are tested in tests/security)."""
    async with db.session() as s:
        return (await count(s, Segment(**{**NO_EXCLUSIONS, **filters})))["total"]


async def test_segments(db, population):
    assert await total(db) == 10
    assert await total(db, audience="subscribers") == 9
    assert await total(db, audience="linked") == 8
    assert await total(db, channels=["whatsapp"]) == 2
    assert await total(db, estimasi_from=2022, estimasi_to=2022) == 4
    assert await total(db, estimasi_from=2025) == 4
    assert await total(db, estimasi_to=2025) == 4
    assert await total(db, statuses=["BATAL"]) == 1
    assert await total(db, kab_kota=["kota bukittinggi"]) == 7
    assert await total(db, kecamatan=["Mandiangin Koto Selayan"], estimasi_from=2030) == 3
    assert await total(db, case_statuses=["need_info", "submitted"]) == 1
    assert await total(db, case_statuses=["need_info", "completed"], audience="linked") == 2
    async with db.session() as s:
        per_channel = await count(s, Segment(**NO_EXCLUSIONS))
        default = await count(s, Segment())
    assert per_channel == {"telegram": 8, "whatsapp": 2, "total": 10}
    # by default 'batal' (u10) and the chats with a pembatalan case (u2, u3) are left out
    assert default == {"telegram": 5, "whatsapp": 2, "total": 7}


async def test_optouts_excluded_until_subscribed_again(db, population):
    async with db.session() as s:
        assert await handle_inbound(s, 1, "STOP") is True
        assert await handle_inbound(s, 2, "stop dulu ya") is False
        await s.commit()
    assert await total(db) == 9
    async with db.session() as s:
        conv = await s.get(Conversation, 1)
        conv.subscribed, conv.subscribed_at = True, datetime.now(timezone.utc)  # `subscribe` intent later
        await s.commit()
    assert await total(db) == 10
    async with db.session() as s:
        conv = await s.get(Conversation, 5)
        conv.subscribed = False  # `unsubscribe` intent (after having subscribed)
        await s.commit()
        assert await s.get(BroadcastOptout, 5) is None
    assert await total(db) == 9


async def test_audience_rows_created_in_batches_once(db, population):
    async with db.session() as s:
        b = await service.create(s, title="t", text="x", segment=Segment(**NO_EXCLUSIONS), actor="cli")
    created = []
    for _ in range(6):
        async with db.session() as s:
            created.append(await materialize_batch(s, b.id, 3))
    assert created == [3, 3, 3, 1, 0, 0]
    async with db.session() as s:
        b = await service.get(s, b.id)
    assert b.total == 10 and b.audience_done


def test_variables_and_footer():
    linked = Recipient(1, "telegram", "42", "siti_tg", "SITI AMINAH", 2031, "0312345678")
    text = render("Yth. {nama}, porsi {nomor_porsi_masked}, estimasi {estimasi_tahun}.", linked)
    assert text == ("Yth. Siti Aminah, porsi *******678, estimasi 2031.\n\n"
                    "Balas STOP untuk berhenti menerima pengumuman.")
    stranger = Recipient(2, "whatsapp", "whatsapp:+62811", None)
    assert render("{nama} {estimasi_tahun} {nomor_porsi_masked}", stranger).startswith("Bapak/Ibu - -\n\n")
    assert render("Halo", stranger, test=True).startswith("[UJI COBA] Halo")
    assert mask_porsi("0100000001") == "*******001"
    with pytest.raises(TemplateError) as err:
        check_template("Halo {alamat}")
    assert err.value.name == "alamat"
    for bad in ("Halo {", "Halo {0}", "Halo {nama.__class__}"):
        with pytest.raises(TemplateError):
            check_template(bad)


SEASON = {"tahun_haji": "2027", "tahun_hijriah": "1448 H", "tanggal_berangkat_awal": "12 April 2027",
          "tanggal_pelunasan_mulai": "5 Januari 2027", "tanggal_pelunasan_selesai": "4 Februari 2027"}


def test_ready_templates_render():
    templates = ready_templates(SEASON)
    assert set(templates) == {"berangkat_kuota_penuh", "berangkat_kuota_terbatas", "tidak_berangkat",
                              "pelunasan", "manasik"}
    for template in templates.values():
        check_template(template.text)
        assert "2022" not in template.title + template.text
        assert render(template.text, Recipient(1, "telegram", "1", None, "A", 2027, "0123456789"))
    assert "12 April 2027" in templates["berangkat_kuota_penuh"].text


@pytest.mark.parametrize("text,keyword", [("STOP", "STOP"), (" stop ", "STOP"), ("Berhenti.", "BERHENTI"),
                                          ("berhenti  langganan", "BERHENTI LANGGANAN"), ("stop dulu", None),
                                          ("saya mau berhenti", None), ("", None)])
def test_optout_keywords(text, keyword):
    assert is_optout_keyword(text) == keyword
