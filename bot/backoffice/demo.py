"""Demo data for the back office (`hajibot init --demo`): an admin account with a random password (printed
once) and one submitted pembatalan case with two sample documents, so the pages have something to show."""
from __future__ import annotations

import io
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

import click
from PIL import Image, ImageDraw
from sqlalchemy import select

from bot.backoffice.staff_accounts import create_staff
from dialogues.engine import DialogueEngine
from storage.models import Case, CaseDocument, Conversation, Pilgrim, StaffUser

DEMO_TICKET = "PBT-DEMO-00001"
# the answers as the pembatalan flow stores them: slot -> (value, response key of its label, of the value's label)
DEMO_ANSWERS = {
    "variant": ("sendiri", "label_cancel_variant", "opt_cancel_self"),
    "reason": ("ekonomi", "label_reason", "opt_reason_money"),
    "bank_name": ("Bank Syariah Indonesia", "label_bank_name", None),
    "account_holder": ("SITI AMINAH", "label_account_holder", None),
    "account_number": ("7000000001", "label_account_number", None),  # fictitious
}


def _demo_answers(settings: Any) -> dict[str, Any]:
    config = settings.config
    engine = DialogueEngine.load(config.dialogue, config.office, settings.base_dir)
    answers: dict[str, Any] = {"_checklist": "pembatalan_sendiri", "_labels": {}}
    for slot, (value, label_key, value_key) in DEMO_ANSWERS.items():
        answers[slot] = value
        answers["_labels"][slot] = engine.render(label_key)
        if value_key:
            answers[f"{slot}_label"] = engine.render(value_key)
    return answers


def _sample_image(title: str) -> bytes:
    img = Image.new("RGB", (1200, 760), (236, 242, 250))
    draw = ImageDraw.Draw(img)
    draw.rectangle([30, 30, 1170, 730], outline=(40, 60, 120), width=8)
    for y in range(160, 700, 48):
        draw.line([(80, y), (1100, y)], fill=(120, 130, 160), width=3)
    draw.text((80, 80), f"{title} - CONTOH / SAMPLE", fill=(20, 20, 20))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


async def seed_demo_backoffice(settings: Any, db: Any) -> None:
    """Idempotent: skips what already exists."""
    files = settings.file_store()
    async with db.session() as session:
        if (await session.execute(select(StaffUser.id).where(StaffUser.username == "admin"))).first() is None:
            password = secrets.token_urlsafe(12)
            await create_staff(session, "admin", "Admin Demo", "admin", password)
            click.echo(f"demo back office: /backoffice  user admin  password {password}")
        if (await session.execute(select(Case.id).where(Case.ticket == DEMO_TICKET))).first() is not None:
            await session.commit()
            return
        pilgrim = (await session.execute(select(Pilgrim).order_by(Pilgrim.id).limit(1))).scalar_one_or_none()
        conversation = Conversation(channel="webchat", channel_user_id="demo-pilgrim", display_name="Jemaah Demo",
                                    state={})
        session.add(conversation)
        await session.flush()
        now = datetime.now(timezone.utc)
        case = Case(ticket=DEMO_TICKET, service="pembatalan", variant="sendiri", status="submitted",
                    conversation_id=conversation.id, pilgrim_id=pilgrim.id if pilgrim else None,
                    nomor_porsi=pilgrim.nomor_porsi if pilgrim else None,
                    applicant_name=pilgrim.nama if pilgrim else None, submitted_at=now - timedelta(hours=50),
                    created_at=now - timedelta(hours=50), answers=_demo_answers(settings))
        session.add(case)
        await session.flush()
        for key, title in (("ktp_jemaah", "KTP"), ("sph", "SPH")):
            stored = await files.put(_sample_image(title), f"{key}.png")
            session.add(CaseDocument(case_id=case.id, conversation_id=conversation.id, item_key=key,
                                     sha256=stored.sha256, content_type=stored.content_type, size=stored.size))
        await session.commit()
