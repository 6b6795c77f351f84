"""`hajibot cases list` / `hajibot cases show TICKET`: cases submitted through chat, for staff at a terminal."""
from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import click
from sqlalchemy import func, select

from bot.cli.context import CliContext, pass_cli
from storage.files import FileStore


@click.group("cases")
def cases_group() -> None:
    """Pengajuan (pembatalan, pelimpahan, pendaftaran) dari chat."""


@cases_group.command("list")
@click.option("--status", default=None, help="Hanya status ini (mis. submitted)")
@click.option("--service", default=None, help="Hanya layanan ini (pembatalan, pelimpahan, pendaftaran)")
@click.option("--limit", default=50, show_default=True)
@pass_cli
def list_cmd(cli: CliContext, status: str | None, service: str | None, limit: int) -> None:
    """Daftar pengajuan terbaru."""
    asyncio.run(_list(cli.settings.database_url, status, service, limit))


@cases_group.command("show")
@click.argument("ticket")
@click.option("--json", "as_json", is_flag=True, help="Keluaran JSON")
@pass_cli
def show_cmd(cli: CliContext, ticket: str, as_json: bool) -> None:
    """Semua jawaban dan dokumen satu pengajuan."""
    found = asyncio.run(_show(cli.settings.database_url, ticket.strip().upper(), as_json, cli.settings.file_store()))
    if not found:
        click.echo(f"error: case {ticket} not found", err=True)
        sys.exit(1)


async def _list(url: str, status: str | None, service: str | None, limit: int) -> None:
    from storage.db import Database
    from storage.models import Case, CaseDocument

    db = Database(url)
    try:
        async with db.session() as s:
            stmt = select(Case, func.count(CaseDocument.id)).outerjoin(
                CaseDocument, (CaseDocument.case_id == Case.id) & (CaseDocument.status != "replaced")
            ).group_by(Case.id).order_by(Case.id.desc()).limit(limit)
            if status:
                stmt = stmt.where(Case.status == status)
            if service:
                stmt = stmt.where(Case.service == service)
            rows = (await s.execute(stmt)).all()
    finally:
        await db.dispose()
    if not rows:
        click.echo("no cases")
        return
    click.echo(f"{'TICKET':<16} {'SERVICE':<12} {'VARIANT':<16} {'STATUS':<12} {'PORSI':<11} {'DOCS':>4}  "
               f"{'SUBMITTED':<17} APPLICANT")
    for case, docs in rows:
        submitted = case.submitted_at.strftime("%Y-%m-%d %H:%M") if case.submitted_at else "-"
        click.echo(f"{case.ticket:<16} {case.service:<12} {case.variant or '-':<16} {case.status:<12} "
                   f"{case.nomor_porsi or '-':<11} {docs:>4}  {submitted:<17} {case.applicant_name or '-'}")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "ya" if value else "tidak"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


async def _show(url: str, ticket: str, as_json: bool, store: FileStore) -> bool:
    from storage.db import Database
    from storage.models import Appointment, AuditLog, Case, CaseDocument, Message

    db = Database(url)
    try:
        async with db.session() as s:
            case = (await s.execute(select(Case).where(Case.ticket == ticket))).scalar_one_or_none()
            if case is None:
                return False
            docs = (await s.execute(select(CaseDocument).where(CaseDocument.case_id == case.id)
                                    .order_by(CaseDocument.id))).scalars().all()
            appts = (await s.execute(select(Appointment).where(Appointment.case_id == case.id))).scalars().all()
            audit = (await s.execute(select(AuditLog).where(AuditLog.case_id == case.id)
                                     .order_by(AuditLog.id))).scalars().all()
            messages = 0
            if case.conversation_id:
                messages = (await s.execute(select(func.count()).select_from(Message).where(
                    Message.conversation_id == case.conversation_id))).scalar_one()
    finally:
        await db.dispose()
    answers = dict(case.answers or {})
    labels: dict[str, str] = answers.pop("_labels", {}) or {}
    documents: dict[str, Any] = answers.pop("_documents", {}) or {}
    checklist = answers.pop("_checklist", None)
    if as_json:
        click.echo(json.dumps({
            "ticket": case.ticket, "service": case.service, "variant": case.variant, "status": case.status,
            "nomor_porsi": case.nomor_porsi, "applicant_name": case.applicant_name,
            "submitted_at": case.submitted_at.isoformat() if case.submitted_at else None,
            "conversation_id": case.conversation_id, "answers": answers, "labels": labels,
            "checklist": checklist, "checklist_items": documents,
            "documents": [{"id": d.id, "item_key": d.item_key, "status": d.status, "content_type": d.content_type,
                           "size": d.size, "page_count": d.page_count, "sha256": d.sha256,
                           "path": str(store.path_for(d.sha256))} for d in docs],
            "appointments": [{"slot_start": a.slot_start.isoformat(), "status": a.status} for a in appts],
        }, ensure_ascii=False, indent=2))
        return True
    click.echo(f"Ticket:      {case.ticket}")
    click.echo(f"Service:     {case.service} ({case.variant or '-'})")
    click.echo(f"Status:      {case.status}")
    click.echo(f"Porsi:       {case.nomor_porsi or '-'}")
    click.echo(f"Applicant:   {case.applicant_name or '-'}")
    click.echo(f"Submitted:   {case.submitted_at.isoformat() if case.submitted_at else '-'}")
    click.echo(f"Transcript:  conversation {case.conversation_id} ({messages} messages)")
    for a in appts:
        click.echo(f"Appointment: {a.slot_start.isoformat()} ({a.status})")
    click.echo("")
    click.echo("Answers:")
    for key, value in answers.items():
        if key.endswith("_label") and key[: -len("_label")] in answers:
            continue
        label = labels.get(key, key)
        shown = _value(value)
        if f"{key}_label" in answers:
            shown = f"{answers[key + '_label']} [{shown}]"
        click.echo(f"  {label:<28} {shown}")
    click.echo("")
    click.echo(f"Checklist:   {checklist or '-'}")
    for key, item in documents.items():
        mark = {"sent": "x", "skipped": "-", "missing": "!"}.get(item.get("status"), "?")
        click.echo(f"  [{mark}] {item.get('name', key)} ({item.get('form')}, {item.get('status')}, "
                   f"{item.get('files', 0)} file(s))")
    click.echo("")
    click.echo("Documents:")
    if not docs:
        click.echo("  (none)")
    for d in docs:
        click.echo(f"  #{d.id:<5} {d.item_key:<26} {d.status:<9} {d.content_type:<16} {d.size:>9} B  "
                   f"{d.page_count} page(s)  sha256={d.sha256}")
        click.echo(f"         {store.path_for(d.sha256)}")
    if audit:
        click.echo("")
        click.echo("Audit:")
        for entry in audit:
            click.echo(f"  {entry.at.isoformat()}  {entry.actor:<12} {entry.action}  "
                       f"{json.dumps(entry.detail, ensure_ascii=False)}")
    return True


COMMANDS: list[click.Command] = [cases_group]
