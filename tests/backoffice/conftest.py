"""Back-office fixtures: staff accounts, a submitted case with documents linked to a web-chat
conversation, and a logged-in test client."""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from PIL import Image, ImageDraw

from bot.backoffice.staff_accounts import create_staff
from storage.models import Case, CaseDocument, Conversation, Message, Pilgrim

ADMIN_PASSWORD = "admin-password-123"
PETUGAS_PASSWORD = "petugas-password-123"
PILGRIM_USER = "pilgrim-bo"


def png_bytes(text: str = "KTP", size: tuple[int, int] = (900, 600)) -> bytes:
    """A sharp synthetic 'document photo'."""
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    for i in range(0, size[0], 12):
        draw.line([(i, 0), (i, size[1])], fill=(i % 255, 40, 90), width=2)
    draw.rectangle([40, 40, size[0] - 40, size[1] - 40], outline="black", width=6)
    draw.text((80, 80), text, fill="black")
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def pdf_bytes(pages: int = 2) -> bytes:
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    c = canvas.Canvas(out)
    for n in range(pages):
        c.drawString(100, 750, f"Surat permohonan halaman {n + 1}")
        c.showPage()
    c.save()
    return out.getvalue()


@dataclass
class SeededCase:
    case_id: int
    ticket: str
    conversation_id: int
    document_ids: list[int]


async def add_staff(services: Any, username: str, role: str, password: str) -> int:
    async with services.db.session() as session:
        staff = await create_staff(session, username, username.title(), role, password)
        await session.commit()
        return staff.id


async def seed_case(services: Any, user_id: str = PILGRIM_USER, ticket: str = "PBT-2026-00001",
                    submitted_hours_ago: float = 1, status: str = "submitted") -> SeededCase:
    """A pembatalan case from a web-chat pilgrim with an image and a PDF document."""
    now = datetime.now(timezone.utc)
    image = await services.files.put(png_bytes(), "ktp.png")
    pdf = await services.files.put(pdf_bytes(), "permohonan.pdf")
    async with services.db.session() as session:
        conversation = (await session.execute(
            Conversation.__table__.select().where(Conversation.channel == "webchat",
                                                  Conversation.channel_user_id == user_id))).first()
        if conversation is None:
            conv = Conversation(channel="webchat", channel_user_id=user_id, display_name="Ahmad", state={})
            session.add(conv)
            await session.flush()
            conversation_id = conv.id
        else:
            conversation_id = conversation.id
        pilgrim = (await session.execute(Pilgrim.__table__.select().limit(1))).first()
        case = Case(ticket=ticket, service="pembatalan", variant="sendiri", status=status,
                    conversation_id=conversation_id, pilgrim_id=pilgrim.id if pilgrim else None,
                    nomor_porsi=pilgrim.nomor_porsi if pilgrim else "0100000001", applicant_name="Ahmad Fauzi",
                    answers={"alasan": "keinginan sendiri", "nomor_hp": "081234567890"},
                    submitted_at=now - timedelta(hours=submitted_hours_ago),
                    created_at=now - timedelta(hours=submitted_hours_ago))
        session.add(case)
        await session.flush()
        docs = [CaseDocument(case_id=case.id, conversation_id=conversation_id, item_key="ktp_jemaah",
                             sha256=image.sha256, content_type=image.content_type, size=image.size),
                CaseDocument(case_id=case.id, conversation_id=conversation_id, item_key="surat_permohonan",
                             sha256=pdf.sha256, content_type=pdf.content_type, size=pdf.size, page_count=2)]
        session.add_all(docs)
        session.add(Message(conversation_id=conversation_id, channel="webchat", direction="in",
                            text="saya mau batal haji", status="processed", sender="user"))
        await session.commit()
        return SeededCase(case.id, ticket, conversation_id, [d.id for d in docs])


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in page"
    return match.group(1)


async def login(client: Any, username: str, password: str) -> str:
    """Log the test client in; returns the session's CSRF token."""
    page = await client.get("/backoffice/login")
    token = csrf_from(await page.text())
    response = await client.post("/backoffice/login", data={"username": username, "password": password,
                                                            "csrf_token": token, "next": "/backoffice/cases"},
                                 allow_redirects=False)
    assert response.status == 303, await response.text()
    cases = await client.get("/backoffice/cases")
    assert cases.status == 200
    return csrf_from(await cases.text())


@pytest.fixture
async def admin_id(demo_services: Any) -> int:
    return await add_staff(demo_services, "admin", "admin", ADMIN_PASSWORD)


@pytest.fixture
async def petugas_id(demo_services: Any) -> int:
    return await add_staff(demo_services, "petugas", "petugas", PETUGAS_PASSWORD)


@pytest.fixture
async def seeded(demo_services: Any) -> SeededCase:
    return await seed_case(demo_services)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def live_server(demo_services: Any) -> Any:
    """The full app on a real listening socket (127.0.0.1, free port) for the browser."""
    from aiohttp import web

    from bot.app import create_app

    runner = web.AppRunner(create_app(demo_services))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def browser() -> Any:
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    import os

    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium not installed (apt-get install chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        instance = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            await instance.close()
