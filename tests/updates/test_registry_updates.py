"""A registry re-import tells exactly the changed pilgrims' verified chats, once: preview and counts first,
confirmation, the outbox; opted-out, deceased, unverified and mid-pembatalan chats are skipped with a reason;
a re-import of the same file and retried confirmations or senders tell nobody again."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from bot.broadcast.settings import BroadcastSettings
from bot.updates import service
from storage.broadcast_models import BroadcastOptout
from storage.models import Case, Message, Pilgrim
from storage.update_models import PilgrimUpdate, RegistryImport
from tests.updates.conftest import (
    BASE, changed, do_import, fast_updates, registry_csv, sender_for, update_messages, utc, verified_chat,
)

EXCLUSIONS = BroadcastSettings()


async def seed(db):  # type: ignore[no-untyped-def]
    """The registry, and chats: 1 verified (web chat), 2 verified (Telegram) but opted out, 3 verified, 4 a chat
    that never passed the check, 5 verified but its pilgrim does not change, 6 verified with a pembatalan case."""
    report = await do_import(db, registry_csv(BASE))
    assert report.changes == {} and report.updates == 0
    chats = {
        1: await verified_chat(db, "0300000001"),
        2: await verified_chat(db, "0300000002", channel="telegram", user="222"),
        3: await verified_chat(db, "0300000003"),
        4: await verified_chat(db, None, user="webchat-stranger"),
        5: await verified_chat(db, "0300000005"),
        6: await verified_chat(db, "0300000006"),
    }
    async with db.session() as session:
        session.add(BroadcastOptout(conversation_id=chats[2], source="keyword:STOP"))
        session.add(Case(ticket="PBT-2026-00009", service="pembatalan", status="submitted",
                         conversation_id=chats[6]))
        await session.commit()
    return chats


CHANGES = changed(p1=("berhak lunas", 2026), p2=("menunggu", 2028), p3=("meninggal", 2029),
                  p4=("menunggu", 2035), p6=("berhak lunas", 2026))


async def test_reimport_tells_exactly_the_changed_pilgrims_once(db, engine):
    chats = await seed(db)
    report = await do_import(db, registry_csv(CHANGES), actor="staff:admin", source="backoffice")
    assert report.committed and report.import_id
    assert report.changes == {"estimasi:maju": 3, "estimasi:mundur": 1, "status:berhak_lunas": 2,
                              "status:meninggal": 1}
    assert report.updates == 4  # pilgrims 1, 2, 3, 6 have a verified chat; 4 has none, 5 did not change

    async with db.session() as session:
        before = await service.summarize(session, report.import_id, EXCLUSIONS)
    assert before.batch.status == "preview"
    assert before.recipients == {"webchat": 1, "total": 1}
    assert before.skipped == {"opted_out": 1, "pilgrim_status": 1, "case_in_progress": 1}
    assert await update_messages(db) == []  # nothing is sent before confirmation

    async with db.session() as session:
        await service.confirm(session, report.import_id, "staff:admin", EXCLUSIONS, admin=True, expected_total=1)
    sender = sender_for(db, engine)
    assert await sender.step() == 1
    messages = await update_messages(db)
    assert [m.conversation_id for m in messages] == [chats[1]]
    text = messages[0].text
    assert "BERHAK LUNAS" in text and "0300000001" not in text and "*******001" in text
    assert "2031" in text and "2026" in text and "Balas STOP" in text
    assert messages[0].status == "pending" and messages[0].direction == "out"

    async with db.session() as session:
        after = await service.summarize(session, report.import_id, EXCLUSIONS)
    assert after.delivery == {"pending": 1} and after.waiting == 0
    assert after.skipped == {"opted_out": 1, "pilgrim_status": 1, "case_in_progress": 1}
    await sender.step()
    async with db.session() as session:
        assert (await service.get(session, report.import_id)).status == "done"

    # the same file again: nothing changed, nobody is told
    again = await do_import(db, registry_csv(CHANGES))
    assert again.changes == {} and again.updates == 0
    async with db.session() as session:
        assert (await service.get(session, again.import_id)).status == "none"
        with pytest.raises(service.UpdateError):  # a retried confirmation of the first import
            await service.confirm(session, report.import_id, "staff:admin", EXCLUSIONS, admin=True,
                                  expected_total=None)
    assert await sender.step() == 0
    assert len(await update_messages(db)) == 1


async def test_only_admins_confirm_and_the_count_must_still_be_right(db):
    await seed(db)
    report = await do_import(db, registry_csv(CHANGES))
    async with db.session() as session:
        with pytest.raises(service.UpdateError) as refused:
            await service.confirm(session, report.import_id, "staff:petugas", EXCLUSIONS, admin=False,
                                  expected_total=1)
        assert refused.value.key == "error_admin_only"
        with pytest.raises(service.UpdateError) as stale:  # the page showed 2, one opted out since
            await service.confirm(session, report.import_id, "staff:admin", EXCLUSIONS, admin=True,
                                  expected_total=2)
        assert stale.value.key == "error_changed" and stale.value.values == {"total": 1}
        assert (await service.get(session, report.import_id)).status == "preview"


async def test_preview_saves_and_sends_nothing(db):
    await seed(db)
    seen = {}

    async def look(session, report):  # type: ignore[no-untyped-def]
        seen["summary"] = await service.summarize(session, report.import_id, EXCLUSIONS)

    report = await do_import(db, registry_csv(CHANGES), dry_run=True, before_commit=look)
    assert not report.committed and report.import_id is None and report.updates == 4
    assert seen["summary"].recipients["total"] == 1
    async with db.session() as session:
        p1 = (await session.execute(select(Pilgrim).where(Pilgrim.nomor_porsi == "0300000001"))).scalar_one()
        assert (p1.status, p1.estimasi_tahun) == ("menunggu", 2031)
        assert await session.scalar(select(func.count()).select_from(PilgrimUpdate)) == 0
        assert await session.scalar(select(func.count()).select_from(RegistryImport)) == 1  # the first import
        assert await session.scalar(select(func.count()).select_from(Message)) == 0


async def test_opt_out_after_confirmation_and_typed_stop_are_respected(db, engine):
    await seed(db)
    extra = await verified_chat(db, "0300000001", channel="telegram", user="111")  # the son's phone, also verified
    report = await do_import(db, registry_csv(CHANGES))
    async with db.session() as session:
        summary = await service.confirm(session, report.import_id, "cli", EXCLUSIONS, admin=True,
                                        expected_total=2)
        assert summary.waiting == 2
        # the son types STOP before the sender's turn (not processed yet)
        session.add(Message(conversation_id=extra, channel="telegram", direction="in", text="stop",
                            status="received", sender="user"))
        await session.commit()
    await sender_for(db, engine).step()
    assert [m.channel for m in await update_messages(db)] == ["webchat"]
    async with db.session() as session:
        after = await service.summarize(session, report.import_id, EXCLUSIONS)
        assert after.skipped["opted_out"] == 2
        assert await session.get(BroadcastOptout, extra) is not None


async def test_unconfirmed_update_is_superseded_by_the_next_import(db):
    chats = await seed(db)
    first = await do_import(db, registry_csv(changed(p1=("menunggu", 2029))))
    second = await do_import(db, registry_csv(changed(p1=("berhak lunas", 2026))))
    async with db.session() as session:
        rows = (await session.execute(select(PilgrimUpdate).where(PilgrimUpdate.conversation_id == chats[1])
                                      .order_by(PilgrimUpdate.id))).scalars().all()
    assert [(r.import_id, r.status, r.skip_reason) for r in rows] == [
        (first.import_id, "skipped", "superseded"), (second.import_id, "pending", None)]
    assert (rows[1].old_status, rows[1].old_year, rows[1].new_year) == ("menunggu", 2031, 2026)
    assert rows[1].kinds == "status:berhak_lunas,estimasi:maju"
    back = await do_import(db, registry_csv(BASE))  # back to what the chat last heard: nothing to tell
    assert back.updates == 0
    async with db.session() as session:
        assert (await session.get(PilgrimUpdate, rows[1].id)).skip_reason == "superseded"


async def test_concurrent_senders_and_confirmations_queue_each_update_once(db, engine):
    await seed(db)
    for n in range(10):
        await verified_chat(db, "0300000001", user=f"family-{n}")
    report = await do_import(db, registry_csv(CHANGES))

    async def confirm() -> str:
        async with db.session() as session:
            try:
                await service.confirm(session, report.import_id, "cli", EXCLUSIONS, admin=True, expected_total=None)
                return "ok"
            except service.UpdateError as exc:
                return exc.key

    outcomes = await asyncio.gather(confirm(), confirm())
    assert sorted(outcomes) == ["error_state", "ok"]
    await asyncio.gather(sender_for(db, engine).step(), sender_for(db, engine).step(), sender_for(db, engine).step())
    messages = await update_messages(db)
    assert len(messages) == 11 and len({m.conversation_id for m in messages}) == 11
    async with db.session() as session:
        queued = (await session.execute(select(PilgrimUpdate.message_id).where(PilgrimUpdate.status == "queued"))
                  ).scalars().all()
    assert sorted(queued) == sorted(m.id for m in messages)


async def test_sender_keeps_each_channels_pace(db, engine):
    for n in range(3):
        await verified_chat(db, None, user=f"x{n}")  # (unrelated chats)
    await do_import(db, registry_csv(BASE))
    for n in range(3):
        await verified_chat(db, "0300000001", channel="whatsapp", user=f"whatsapp:+6281100{n}")
    report = await do_import(db, registry_csv(changed(p1=("berhak lunas", 2026))))
    async with db.session() as session:
        await service.confirm(session, report.import_id, "cli", EXCLUSIONS, admin=True, expected_total=3)

    class Clock:
        now = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)

        def __call__(self) -> datetime:
            return self.now

    clock = Clock()
    sender = sender_for(db, engine, settings=fast_updates(whatsapp=0.5), clock=clock)
    assert await sender.step() == 1
    assert await sender.step() == 0  # the next token comes in 2 s
    clock.now = utc(2026, 12, 1, 8, 0, 2)
    assert await sender.step() == 1
    assert len(await update_messages(db)) == 2


async def test_data_subject_export_and_erasure_cover_the_updates(db, tmp_path):
    import json
    import zipfile
    from io import BytesIO

    from storage.files import FileStore
    from storage.privacy import erase_subject, export_subject, find_subject

    chats = await seed(db)
    await do_import(db, registry_csv(CHANGES))
    files = FileStore(tmp_path / "files")
    subject = await find_subject(db, "webchat:webchat-0300000001")
    exported = json.loads(zipfile.ZipFile(BytesIO(await export_subject(db, files, subject))).read("data.json"))
    assert [u["new_status"] for u in exported["personal_updates"]] == ["berhak lunas"]
    await erase_subject(db, files, subject)
    async with db.session() as session:
        left = (await session.execute(select(PilgrimUpdate.conversation_id))).scalars().all()
    assert chats[1] not in left and len(left) == 3


async def test_changes_are_found_across_batches_of_a_large_file(db):
    rows = {f"03100{n:05d}": (f"JEMAAH {n}", "menunggu", 2030 + n % 7) for n in range(1, 1301)}
    await do_import(db, registry_csv(rows))
    watched = ["0310000007", "0310000777", "0310001299"]  # first, second and third batch of 500 rows
    for porsi in watched:
        await verified_chat(db, porsi)
    moved = {p: (nama, "menunggu", year + 1) for p, (nama, status, year) in rows.items()}  # everyone later
    moved["0310000777"] = (rows["0310000777"][0], "berhak lunas", rows["0310000777"][2])
    report = await do_import(db, registry_csv(moved))
    assert report.changes == {"estimasi:mundur": 1299, "status:berhak_lunas": 1}
    assert report.updates == 3
    async with db.session() as session:
        kinds = dict((await session.execute(
            select(Pilgrim.nomor_porsi, PilgrimUpdate.kinds).join(Pilgrim, Pilgrim.id == PilgrimUpdate.pilgrim_id)
        )).all())
    assert kinds == {"0310000007": "estimasi:mundur", "0310000777": "status:berhak_lunas",
                     "0310001299": "estimasi:mundur"}
