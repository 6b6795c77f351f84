"""Survei Kepuasan Masyarakat (SKM): offered in chat when staff close a case, answered informally, stored per
case and element, aggregated into the IKM (PermenPANRB 14/2017), shown on the dashboard and reported by the CLI."""
from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import select

from bot.backoffice.skm.data import ALL_SERVICES, ikm_report, parse_period
from bot.backoffice.skm.ikm import category, compute
from storage.broadcast_models import BroadcastOptout
from storage.models import Case, Conversation, SkmAnswer, SkmSurvey
from tests.backoffice.conftest import ADMIN_PASSWORD, PILGRIM_USER, login
from tests.conftest import WebChat

ELEMENTS = ["persyaratan", "prosedur", "waktu", "biaya", "produk", "kompetensi", "perilaku", "pengaduan", "sarana"]


async def _act(client, csrf, case_id, action, **fields):
    r = await client.post(f"/backoffice/cases/{case_id}/action", allow_redirects=False,
                          data={"csrf_token": csrf, "action": action, **fields})
    assert r.status == 303, await r.text()
    return r


async def _complete(client, csrf, case_id):
    for action in ("start_review", "approve", "complete"):
        await _act(client, csrf, case_id, action)


async def _answers(services, case_id):
    async with services.db.session() as s:
        rows = (await s.execute(select(SkmAnswer.element, SkmAnswer.score).where(SkmAnswer.case_id == case_id)
                                .order_by(SkmAnswer.id))).all()
        surveys = (await s.execute(select(SkmSurvey).where(SkmSurvey.case_id == case_id))).scalars().all()
    return dict(rows), surveys


async def test_closed_pembatalan_gets_survey_answered_informally(client, admin_id, seeded, demo_services):
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    await _complete(client, csrf, seeded.case_id)
    pilgrim = WebChat(client, PILGRIM_USER)
    offer = [m for m in await pilgrim.poll() if m["from"] != "me"][-1]
    assert "Survei Kepuasan Masyarakat" in offer["text"] and seeded.ticket in offer["text"]
    assert offer["choices"] == ["Mulai survei", "Lewati survei"]
    first = (await pilgrim.say("boleh"))[-1]
    assert "1/9" in first["text"] and "persyaratan" in first["text"].lower()
    assert first["choices"][:4] == ["Tidak sesuai", "Kurang sesuai", "Sesuai", "Sangat sesuai"]
    assert "Lewati" in first["choices"]
    second = await pilgrim.say_text("4")
    assert "2/9" in second and "Sangat mudah" not in second  # labels are buttons, the text is the question
    assert "3/9" in await pilgrim.say_text("sangat mudah")
    assert "4/9" in await pilgrim.say_text("cpt bgt, sangat cepat")
    assert "5/9" in await pilgrim.say_text("lewati")  # biaya skipped
    assert "6/9" in await pilgrim.say_text("sesuai bgt")
    reply = await pilgrim.say_text("hmmm")  # not an answer: asked again once, with the scale
    assert "1 sampai 4" in reply and "1 = Tidak kompeten" in reply
    assert "7/9" in await pilgrim.say_text("3.")
    assert "8/9" in await pilgrim.say_text("mantap")
    assert "9/9" in await pilgrim.say_text("Dikelola dengan baik")
    thanks = await pilgrim.say_text("rancak bana")
    assert "Terima kasih" in thanks and seeded.ticket in thanks
    answers, surveys = await _answers(demo_services, seeded.case_id)
    assert answers == {"persyaratan": 4, "prosedur": 4, "waktu": 4, "produk": 4, "kompetensi": 3,
                       "perilaku": 4, "pengaduan": 4, "sarana": 4}
    assert len(surveys) == 1 and surveys[0].status == "completed" and surveys[0].service == "pembatalan"
    # afterwards the chat is the ordinary bot again
    assert "Survei" not in await pilgrim.say_text("4")
    async with demo_services.db.session() as s:
        conversation = await s.get(Conversation, seeded.conversation_id)
    assert "skm" not in conversation.state


async def test_nanti_saja_stops_and_keeps_answers_and_at_most_once(client, admin_id, seeded, demo_services):
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    await _complete(client, csrf, seeded.case_id)
    pilgrim = WebChat(client, PILGRIM_USER)
    await pilgrim.say("mulai survei")
    await pilgrim.say("kurang sesuai")
    stopped = await pilgrim.say_text("nanti saja")
    assert "survei kami hentikan" in stopped
    answers, surveys = await _answers(demo_services, seeded.case_id)
    assert answers == {"persyaratan": 2} and surveys[0].status == "stopped"
    # the case cannot be closed twice, and a repeated offer for the same case is refused
    from dialogues.survey import ChatSurvey

    async with demo_services.db.session() as s:
        case = await s.get(Case, seeded.case_id)
        assert await ChatSurvey(demo_services.engine).offer(s, case, datetime.now(timezone.utc)) == []
    _, surveys = await _answers(demo_services, seeded.case_id)
    assert len(surveys) == 1


async def test_declined_offer_and_rejected_case(client, admin_id, seeded, demo_services):
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    await _act(client, csrf, seeded.case_id, "reject", text="Nomor porsi bukan milik pemohon")
    pilgrim = WebChat(client, PILGRIM_USER)
    texts = [m["text"] for m in await pilgrim.poll() if m["from"] != "me"]
    assert any("Nomor porsi bukan milik pemohon" in t for t in texts)
    assert "Survei Kepuasan Masyarakat" in texts[-1]
    assert "tidak apa-apa" in await pilgrim.say_text("gak usah")
    answers, surveys = await _answers(demo_services, seeded.case_id)
    assert answers == {} and surveys[0].status == "declined"


async def test_opted_out_chat_gets_no_survey(client, admin_id, seeded, demo_services):
    async with demo_services.db.session() as s:
        s.add(BroadcastOptout(conversation_id=seeded.conversation_id, source="keyword:STOP"))
        await s.commit()
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    await _complete(client, csrf, seeded.case_id)
    texts = [m["text"] for m in await WebChat(client, PILGRIM_USER).poll() if m["from"] != "me"]
    assert any("selesai" in t for t in texts)
    assert not any("Survei" in t for t in texts)
    _, surveys = await _answers(demo_services, seeded.case_id)
    assert surveys == []


async def test_survey_offer_does_not_break_a_flow_in_progress(client, admin_id, seeded, demo_services):
    pilgrim = WebChat(client, PILGRIM_USER)
    await pilgrim.say("mau batal haji")
    async with demo_services.db.session() as s:
        before = dict((await s.get(Conversation, seeded.conversation_id)).state)
    assert before.get("flow"), before
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    await _complete(client, csrf, seeded.case_id)
    async with demo_services.db.session() as s:
        state = dict((await s.get(Conversation, seeded.conversation_id)).state)
    assert state["flow"] == before["flow"] and state["step"] == before["step"] and state["skm"]["stage"] == "offered"
    # "ya" inside the flow is the flow's answer, not the survey's; the offer stays open
    await pilgrim.say("ya")
    async with demo_services.db.session() as s:
        state = dict((await s.get(Conversation, seeded.conversation_id)).state)
    assert state["skm"]["stage"] == "offered"
    assert "1/9" in await pilgrim.say_text("Mulai survei")


async def test_second_miss_ends_survey_and_message_goes_to_the_bot(client, admin_id, seeded, demo_services):
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    await _complete(client, csrf, seeded.case_id)
    pilgrim = WebChat(client, PILGRIM_USER)
    await pilgrim.say("iyo")
    reply = await pilgrim.say_text("berapa biaya pelunasan haji tahun ini?")
    assert "survei kami hentikan" in reply and len(reply.splitlines()) > 1  # the bot answered the question too
    _, surveys = await _answers(demo_services, seeded.case_id)
    assert surveys[0].status == "stopped"


def test_ikm_worked_example():
    """Worked example (formula of PermenPANRB 14/2017, Lampiran): 4 respondents, 9 elements.
    NRR: U1 (4+3+3+4)/4=3.5, U2 3.25, U3 3.0, U4 4.0, U5 3.0, U6 3.5, U7 3.75, U8 2.75, U9 3.25;
    sum of NRR = 30.0; IKM = 30.0 × 1/9 = 3.3333; × 25 = 83.33 → mutu B (Baik).
    With the printed weight 0.111: 30.0 × 0.111 = 3.33 → 83.25, also B."""
    scores = {
        "persyaratan": [4, 3, 3, 4], "prosedur": [3, 3, 4, 3], "waktu": [3, 3, 3, 3], "biaya": [4, 4, 4, 4],
        "produk": [3, 3, 3, 3], "kompetensi": [4, 3, 4, 3], "perilaku": [4, 4, 4, 3], "pengaduan": [3, 2, 3, 3],
        "sarana": [3, 3, 4, 3],
    }
    result = compute(ELEMENTS, scores, respondents=4)
    assert result.nrr["prosedur"] == 3.25 and result.nrr["pengaduan"] == 2.75
    assert result.index == pytest.approx(30.0 / 9)
    assert round(result.value, 2) == 83.33 and result.grade == "B" and result.performance == "Baik"
    printed = compute(ELEMENTS, scores, respondents=4, weight=0.111)
    assert round(printed.value, 2) == 83.25 and printed.grade == "B"
    assert compute(ELEMENTS, {k: [4] for k in ELEMENTS}, 1).value == 100
    assert compute(ELEMENTS, {k: [1] for k in ELEMENTS}, 1).grade == "D"


@pytest.mark.parametrize("value,grade", [(100, "A"), (88.31, "A"), (88.30, "B"), (76.61, "B"), (76.60, "C"),
                                         (65.00, "C"), (64.99, "D"), (25, "D")])
def test_quality_category_boundaries(value, grade):
    assert category(value)[0] == grade


def test_skipped_element_left_out_and_weights_stay_equal():
    result = compute(ELEMENTS, {k: [3] for k in ELEMENTS if k != "biaya"}, respondents=1)
    assert "biaya" not in result.nrr and result.value == 75.0 and result.grade == "C"
    with pytest.raises(ValueError):
        compute(ELEMENTS, {"waktu": [5]}, 1)


async def _seed_surveys(db, when: datetime) -> None:
    """Two answered pembatalan surveys and one pelimpahan survey of cases closed at `when`."""
    sets = [("pembatalan", [4, 3, 3, 4, 3, 4, 4, 3, 3]), ("pembatalan", [3, 3, 3, 4, 3, 3, 4, 2, 4]),
            ("pelimpahan", [2, 2, 3, 4, 2, 2, 3, 2, 3])]
    async with db.session() as s:
        for n, (service, scores) in enumerate(sets, start=1):
            conversation = Conversation(channel="webchat", channel_user_id=f"skm-{n}", state={})
            s.add(conversation)
            await s.flush()
            case = Case(ticket=f"PBT-2026-9{n:04d}", service=service, status="completed", closed_at=when,
                        conversation_id=conversation.id, answers={})
            s.add(case)
            await s.flush()
            survey = SkmSurvey(case_id=case.id, conversation_id=conversation.id, service=service,
                               status="completed", offered_at=when, finished_at=when)
            s.add(survey)
            await s.flush()
            s.add_all([SkmAnswer(survey_id=survey.id, case_id=case.id, service=service, element=key, score=v,
                                 answered_at=when) for key, v in zip(ELEMENTS, scores)])
        await s.commit()


async def test_ikm_per_service_and_period(demo_services):
    await _seed_surveys(demo_services.db, datetime(2026, 11, 10, 3, tzinfo=timezone.utc))
    rules = demo_services.engine.rules.skm
    tz = ZoneInfo("Asia/Jakarta")
    async with demo_services.db.session() as s:
        q4 = await ikm_report(s, rules, parse_period("2026-Q4"), tz)
        october = await ikm_report(s, rules, parse_period("2026-10"), tz)
    assert october.by_service == {}
    assert q4.by_service["pembatalan"].respondents == 2 and q4.by_service["pelimpahan"].respondents == 1
    # pembatalan: NRR sum = 3.5+3+3+4+3+3.5+4+2.5+3.5 = 30 → 83.33 (B); pelimpahan: 23/9×25 = 63.89 (D)
    assert round(q4.by_service["pembatalan"].value, 2) == 83.33 and q4.by_service["pembatalan"].grade == "B"
    assert round(q4.by_service["pelimpahan"].value, 2) == 63.89 and q4.by_service["pelimpahan"].grade == "D"
    assert q4.by_service[ALL_SERVICES].respondents == 3 and q4.offered[ALL_SERVICES] == 3


def test_period_parsing():
    assert parse_period("2026-Q4").start.month == 10 and parse_period("2026-Q4").end.year == 2027
    assert parse_period("2026-02").end.month == 3 and parse_period("2026").label == "2026"
    with pytest.raises(ValueError):
        parse_period("2026-Q5")


def test_cli_report_writes_csv_and_pdf_with_chart(make_settings, database_url, tmp_path: Path):
    import asyncio

    from bot.cli import _register, cli
    from storage.db import Database

    make_settings()  # writes tmp_path/config.yml

    async def seed() -> None:
        db = Database(database_url)
        await _seed_surveys(db, datetime(2026, 11, 10, 3, tzinfo=timezone.utc))
        await db.dispose()

    asyncio.run(seed())
    if "report" not in cli.commands:
        _register()
    out = tmp_path / "laporan"
    config = ["--config", str(tmp_path / "config.yml")]
    env = {"HAJIBOT_DATABASE_URL": database_url}
    result = CliRunner().invoke(cli, [*config, "report", "skm", "--period", "2026-Q4", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "skm-2026-Q4.csv").open(encoding="utf-8")))
    by_service = {r["layanan"]: r for r in rows}
    assert by_service["pembatalan"]["nilai_ikm"] == "83.33" and by_service["pembatalan"]["mutu"] == "B"
    assert by_service["pelimpahan"]["mutu"] == "D" and by_service["semua"]["responden"] == "3"
    reader = PdfReader(str(out / "skm-2026-Q4.pdf"))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Survei Kepuasan Masyarakat" in text and "2026-Q4" in text and "83.33" in text
    assert "PermenPANRB" in text and "Sangat Baik" in text
    assert sum(len(page.images) for page in reader.pages) >= 2
    bad = CliRunner().invoke(cli, [*config, "report", "skm", "--period", "Q4", "--out", str(out)], env=env)
    assert bad.exit_code == 2 and "YYYY-Qn" in bad.output


async def test_dashboard_shows_ikm_per_service(client, admin_id, demo_services):
    now = datetime.now(timezone.utc)
    await _seed_surveys(demo_services.db, now - timedelta(minutes=5))
    await login(client, "admin", ADMIN_PASSWORD)
    page = await (await client.get("/backoffice/dashboard")).text()
    section = page.split('id="skm"', 1)[1]
    assert "Indeks Kepuasan Masyarakat" in page
    assert "pembatalan" in section and "83.33" in section and "Baik" in section
    assert "63.89" in section and "Tidak Baik" in section
    quarter = f"{now.year}-Q{(now.month - 1) // 3 + 1}"
    assert quarter in section
    empty = await (await client.get("/backoffice/dashboard", params={"skm": "2020-Q1"})).text()
    assert "Belum ada jawaban survei" in empty


async def test_privacy_export_includes_survey_answers(client, admin_id, seeded, demo_services):
    import io
    import json
    import zipfile

    from storage.privacy import export_subject, find_subject

    csrf = await login(client, "admin", ADMIN_PASSWORD)
    await _complete(client, csrf, seeded.case_id)
    pilgrim = WebChat(client, PILGRIM_USER)
    await pilgrim.say("mulai survei")
    await pilgrim.say("sesuai")
    subject = await find_subject(demo_services.db, f"webchat:{PILGRIM_USER}")
    archive = zipfile.ZipFile(io.BytesIO(await export_subject(demo_services.db, demo_services.files, subject)))
    data = json.loads(archive.read("data.json"))
    assert [(a["element"], a["score"]) for a in data["satisfaction_survey"]] == [("persyaratan", 3)]
